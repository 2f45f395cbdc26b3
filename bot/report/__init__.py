"""The close report (SPEC §14): one archived close as a picture, and its trend.

``model`` turns archives from store meta into a :class:`~bot.report.model.CloseReport`
(pure, no clock; :func:`~bot.report.model.load_report` reads them through the status
service); ``summary`` says the same in words (Slack text, alt text, App
Home headline); ``chart`` draws the PNG. matplotlib is imported by ``chart`` only,
and only when a chart is drawn, so importing this package (or the Slack app and the
REST API, which use it) stays light.
"""
