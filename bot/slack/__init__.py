"""The Slack boundary: socket-mode Bolt app, listeners, Block Kit views, alerts.

``part`` (SlackPart, what ``epmpulse run`` starts) · ``app`` (builds the Bolt app) ·
``listeners/`` (one module per kind of request) · ``commandline`` (parsing and
dispatch of ``/epmpulse``) · ``subcommands`` (one function per sub-command) ·
``modal`` / ``home`` / ``blocks`` / ``mrkdwn`` (what users see) · ``editors`` (who may
write) · ``subscriptions`` and ``alerts`` (who is told about changes) · ``client``
(the Web API client).
"""

# The meta value holding the alert cursor: delivery keeps it, `epmpulse import` sets it.
# Here, not in bot.slack.delivery, so the import command loads no Slack code.
CURSOR_META = "alerts_cursor"
