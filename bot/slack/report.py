"""``/epmpulse report [PERIOD]`` and the App Home button: the close report in Slack.

The chart is uploaded with ``files_upload_v2`` (alt text set) to the conversation the
command came from, with the short text as its comment. When the bot may not post
there (``not_in_channel``, ``channel_not_found``), it opens a DM with the user
(``conversations.open``), uploads there, and says so in the ephemeral reply.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.report.chart import render_chart
from bot.report.model import CloseReport, build_report, report_timezone
from bot.report.text import alt_text, summary_lines
from bot.service import StatusService
from bot.slack.blocks import Message, text_messages
from bot.slack.commandline import CommandContext, SubCommand
from bot.slack.text import escape

logger = logging.getLogger(__name__)

# Where Slack will not let the bot share: the chart goes to the user's DM instead.
FALLBACK_ERRORS = frozenset({"not_in_channel", "channel_not_found"})


def load_report(service: StatusService, period: str | None) -> CloseReport:
    """The report of ``period`` (default: the last archived close); errors name the choices."""
    return build_report(service.store.snapshot().meta, period, report_timezone(service.layout))


def open_dm(client: WebClient, user_id: str) -> str:
    """The id of the bot's DM channel with ``user_id``."""
    response = client.conversations_open(users=user_id)
    return str(response["channel"]["id"])


def draw_report(service: StatusService, report: CloseReport) -> bytes:
    """The report's chart, with the close calendar's working days."""
    return render_chart(report, is_working_day=service.close.calendar.is_working_day)


def upload_report(client: WebClient, channel: str, report: CloseReport, png: bytes) -> None:
    """Share the chart ``png`` in ``channel`` with the report's summary as its comment."""
    client.files_upload_v2(
        channel=channel,
        file=png,
        filename=f"epmpulse-close-{report.period}.png",
        title=f"Close report {report.period}",
        alt_txt=alt_text(report),
        initial_comment="\n".join(summary_lines(report, escape=escape)),
    )
    logger.info(
        "close report %s (%d domains, %d bytes) shared in %s",
        report.period,
        len(report.rows),
        len(png),
        channel,
    )


def post_report(
    client: WebClient, service: StatusService, channel: str, user_id: str, period: str | None
) -> list[Message]:
    """Share the report in ``channel`` (or the user's DM when the bot may not); the reply."""
    report = load_report(service, period)
    png = draw_report(service, report)
    try:
        upload_report(client, channel, report, png)
        return []
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "unknown_error")
        if error not in FALLBACK_ERRORS:
            logger.warning("close report upload to %s refused: %s", channel, error)
            return _refused(error)
        logger.info("cannot share in %s (%s); sending the report to %s", channel, error, user_id)
    try:
        upload_report(client, open_dm(client, user_id), report, png)
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "unknown_error")
        logger.warning("close report DM to %s refused: %s", user_id, error)
        return _refused(error)
    return text_messages(
        f":envelope_with_arrow: I can't post in this conversation (`{error}`), so I sent "
        f"the {report.period} close report to you as a direct message."
    )


def send_report_to_user(
    client: WebClient, service: StatusService, user_id: str, period: str | None = None
) -> None:
    """Share the report in the user's DM (the App Home button)."""
    report = load_report(service, period)
    upload_report(client, open_dm(client, user_id), report, draw_report(service, report))


def report_subcommand(client: WebClient) -> SubCommand:
    """``/epmpulse report [PERIOD]``, sharing through ``client``."""

    def report(ctx: CommandContext, args: Sequence[str]) -> list[Message]:
        """Post the close report chart where it was asked for."""
        period = args[0] if args else None
        return post_report(client, ctx.service, ctx.channel_id, ctx.user_id, period)

    return SubCommand(
        "report",
        "[PERIOD]",
        "the close report chart (default: the last archived close, e.g. 2026-10)",
        report,
    )


def _refused(error: str) -> list[Message]:
    return text_messages(
        f":warning: Slack refused the report upload (`{error}`); nothing was posted."
    )
