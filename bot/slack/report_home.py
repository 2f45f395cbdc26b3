"""The last close on App Home: its headline numbers and a button sending the report."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, ButtonElement, MarkdownTextObject, SectionBlock

from bot.report.model import NoArchiveError, build_report, report_timezone
from bot.report.text import SLOWEST, duration, headline
from bot.service import StatusService
from bot.slack.text import clip, escape

REPORT_ACTION = "send_close_report"
REPORT_BLOCK = "home_close_report"
SECTION_TEXT_MAX = 3000


def report_home_blocks(service: StatusService) -> list[Block]:
    """A section on the last archived close with a *Send me the report* button (none yet: [])."""
    meta = service.store.snapshot().meta
    try:
        report = build_report(meta, None, report_timezone(service.layout))
    except NoArchiveError:
        return []
    lines = [f"*Last close: {report.period}*", headline(report, with_period=False)]
    slowest = [r for r in report.slowest_first if not r.never_ok][:SLOWEST]
    if slowest:
        names = ", ".join(f"{escape(r.label)} ({duration(r.to_ok)})" for r in slowest)
        lines.append(f"Slowest to OK: {names}")
    button = ButtonElement(text="Send me the report", action_id=REPORT_ACTION, value=report.period)
    text = MarkdownTextObject(text=clip("\n".join(lines), SECTION_TEXT_MAX))
    return [SectionBlock(block_id=REPORT_BLOCK, text=text, accessory=button)]
