"""Alerts: channel posts for changes to Error/Warning and recoveries, DMs for subscribers.

This module builds the messages; :mod:`bot.slack.delivery` posts them from the durable
change log on the leader, so a slow or rate-limited Slack never delays the reply to the
user and never undoes a change.

They are posted through the leader's :class:`~bot.slack.client.LeasedWebClient`, which
never sleeps through a Retry-After in place: the delivery retries on a later tick.
"""

from __future__ import annotations

from bot.model import Status
from bot.service import Change
from bot.slack.blocks import Message, section_blocks, to_messages
from bot.slack.mrkdwn import author, escape

ALERT_STATUSES = frozenset({Status.ERROR, Status.WARNING})


def is_alert(change: Change) -> bool:
    """A change to Error or Warning, or a recovery from them to OK."""
    if not change.status_changed:
        return False
    new, old = change.new.status, change.old.status
    return new in ALERT_STATUSES or (new is Status.OK and old in ALERT_STATUSES)


def change_line(change: Change) -> str:
    """One change as an mrkdwn line: emoji, app / domain, old → new, who, message."""
    new = change.new
    line = (
        f"{new.status.emoji} *{escape(new.app)} / {escape(new.domain)}* "
        f"{change.old.status.value} → *{new.status.value}* by {author(new.updated_by)}"
    )
    if new.message:
        line += f" · {escape(new.message.replace(chr(10), ' '))}"
    return line


def alert_messages(changes: list[Change]) -> list[Message]:
    """The channel message(s) announcing ``changes``."""
    first = changes[0].new
    text = f"{first.app} / {first.domain} is now {first.status.value}"
    if len(changes) > 1:
        text += f" (and {len(changes) - 1} more change(s))"
    return to_messages(section_blocks(change_line(c) for c in changes), text)


def dm_messages(changes: list[Change]) -> list[Message]:
    """The direct message(s) telling a subscriber about ``changes``."""
    first = changes[0].new
    text = f"EPMPulse: {first.app} / {first.domain} changed"
    lines = [change_line(c) for c in changes]
    lines.append("_You get this because you subscribed with `/epmpulse subscribe`._")
    return to_messages(section_blocks(lines), text)
