"""Starting EPM jobs from Slack: ``/epmpulse run APP DOMAIN`` and App Home's *Run* buttons.

Both call :meth:`bot.epm.launch.JobLauncher.run` through :func:`run_job`, which turns
its outcome into the reply: the started job, a refusal, EPM's own message when EPM did
not start it, or "may have started; check EPM" when its answer was lost.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ConfirmObject,
    MarkdownTextObject,
    SectionBlock,
)

from bot.errors import JobStartError, ValidationError
from bot.model import DomainRecord, most_severe
from bot.slack.blocks import SECTION_TEXT_MAX, Message, header, section_blocks, text_messages
from bot.slack.commandline import COMMAND, CommandContext
from bot.slack.mrkdwn import clip, escape, record_line

if TYPE_CHECKING:
    from bot.epm.launch import JobLauncher
    from bot.estate import Estate, JobSpec
    from bot.service import StatusService

RUN_JOB_ACTION = "run_epm_job"
CONFIRM_TEXT_MAX = 300


def run(ctx: CommandContext, args: Sequence[str]) -> list[Message]:
    """``/epmpulse run APP DOMAIN``: start the domain's EPM job and follow it (editors only)."""
    ctx.require_editor()
    return run_job(ctx.launcher, args[0], args[1], by=ctx.by)


def run_job(launcher: JobLauncher | None, app: str, domain: str, *, by: str) -> list[Message]:
    """Start the job and describe the outcome; ValidationError for refusals before EPM."""
    # Imported here: the EPM package (requests, the poller) loads only when a job runs.
    from bot.epm.launch import JobNotRecordedError

    if launcher is None:
        return text_messages(":warning: This EPMPulse process cannot start EPM jobs.")
    key, _ = launcher.job_of(app, domain)
    try:
        launched = launcher.run(*key, by=by)
    except JobStartError as exc:
        return _not_started(key, exc)
    except JobNotRecordedError as exc:
        return text_messages(f":warning: {escape(str(exc))}")
    new = launched.change.new
    return text_messages(
        f":arrow_forward: Started *{escape(launched.job_name)}* on {escape(launched.server)} "
        f"(job {escape(launched.job_id)}): *{escape(new.app)} / {escape(new.domain)}* is now "
        f"*{new.status.value}*; EPMPulse sets the result when the job ends.",
        record_line(new),
    )


def _not_started(key: tuple[str, str], exc: JobStartError) -> list[Message]:
    target = f"*{escape(key[0])} / {escape(key[1])}*"
    if exc.maybe_started:
        return text_messages(
            f":warning: {escape(str(exc))}.",
            f"{target} is unchanged. If the job is running in EPM, follow it with "
            f"`{COMMAND} track {_quoted(key[0])} {_quoted(key[1])} JOB_ID`.",
        )
    return text_messages(
        f":x: EPM did not start the job of {target}: {escape(str(exc))}.",
        f"{target} is unchanged.",
    )


def _quoted(name: str) -> str:
    return f'"{name}"' if " " in name else name


# --- App Home --------------------------------------------------------------------------


def run_value(app: str, domain: str) -> str:
    """The button value naming a domain."""
    return json.dumps({"app": app, "domain": domain}, separators=(",", ":"))


def parse_run_value(value: str) -> tuple[str, str]:
    """``(app, domain)`` from a button value; ValidationError when it is not one."""
    try:
        data = json.loads(value)
        return str(data["app"]), str(data["domain"])
    except (ValueError, TypeError, KeyError) as exc:
        raise ValidationError("That button is out of date; reopen the Home tab.") from exc


def run_button(spec: JobSpec, record: DomainRecord) -> ButtonElement:
    """A *Run* button for ``spec``, the job of one domain, confirmed before the job starts."""
    text = (
        f"Start {spec.type} job *{escape(spec.name)}* in EPM for {escape(record.app)} / "
        f"{escape(record.domain)}? It cannot be undone from Slack."
    )
    return ButtonElement(
        text="Run",
        action_id=RUN_JOB_ACTION,
        value=run_value(record.app, record.domain),
        confirm=ConfirmObject(
            title="Start the EPM job?",
            text=clip(text, CONFIRM_TEXT_MAX),
            confirm="Run",
            deny="Cancel",
        ),
    )


def runnable_board_blocks(service: StatusService, estate: Estate) -> list[Block]:
    """The board for an editor: one header per app, rows with a job carry a *Run* button."""
    blocks: list[Block] = []
    for app, records in service.board().items():
        jobs = estate.apps[app].jobs
        blocks.append(header(f"{_worst(records)} {app}"))
        pending: list[str] = []
        for record in records:
            if record.domain not in jobs:
                pending.append(record_line(record))
                continue
            blocks.extend(section_blocks(pending))
            pending = []
            blocks.append(
                SectionBlock(
                    text=MarkdownTextObject(text=clip(record_line(record), SECTION_TEXT_MAX)),
                    accessory=run_button(jobs[record.domain], record),
                )
            )
        blocks.extend(section_blocks(pending))
    return blocks


def _worst(records: list[DomainRecord]) -> str:
    return most_severe([r.status for r in records]).emoji
