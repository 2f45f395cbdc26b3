"""Block Kit building for replies and views, within Slack's limits for any estate size.

Content is described as :class:`Paragraph` objects (an optional heading and mrkdwn
lines); :func:`paragraph_blocks` turns them into header and section blocks with every
section under 3000 characters, and :func:`to_messages` / :func:`fit_blocks` split or
trim the blocks so no message holds more than 50 and no view more than 100.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.model import DomainRecord, HistoryEntry, most_severe
from bot.slack.mrkdwn import clip, history_line, record_line

SECTION_TEXT_MAX = 3000
HEADER_TEXT_MAX = 150
MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
# A response_url accepts five replies; more would be refused by Slack.
MESSAGES_MAX = 5
FALLBACK_TEXT_MAX = 3000


@dataclass(frozen=True)
class Paragraph:
    """A heading (shown as a header block) over mrkdwn lines."""

    heading: str | None = None
    lines: Sequence[str] = ()


@dataclass(frozen=True)
class Message:
    """One Slack message: notification/fallback text and its blocks."""

    text: str
    blocks: list[Block] = field(default_factory=list)


def mrkdwn(text: str) -> SectionBlock:
    """A section holding ``text`` (clipped to the section limit)."""
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_TEXT_MAX)))


def header(text: str) -> HeaderBlock:
    """A header block; emoji codes render, the text is clipped to 150 characters."""
    return HeaderBlock(text=PlainTextObject(text=clip(text, HEADER_TEXT_MAX), emoji=True))


def note(text: str) -> ContextBlock:
    """A small grey context line."""
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, SECTION_TEXT_MAX))])


def section_blocks(lines: Iterable[str]) -> list[SectionBlock]:
    """Pack lines into as few sections as the 3000-character limit allows."""
    sections: list[SectionBlock] = []
    current: list[str] = []
    size = 0
    for line in lines:
        line = clip(line, SECTION_TEXT_MAX)
        added = len(line) + (1 if current else 0)
        if current and size + added > SECTION_TEXT_MAX:
            sections.append(mrkdwn("\n".join(current)))
            current, size = [], 0
            added = len(line)
        current.append(line)
        size += added
    if current:
        sections.append(mrkdwn("\n".join(current)))
    return sections


def paragraph_blocks(paragraphs: Iterable[Paragraph]) -> list[Block]:
    """Header and section blocks for ``paragraphs``, in order."""
    blocks: list[Block] = []
    for paragraph in paragraphs:
        if paragraph.heading:
            blocks.append(header(paragraph.heading))
        blocks.extend(section_blocks(paragraph.lines))
    return blocks


def fit_blocks(blocks: Sequence[Block], limit: int, overflow: str) -> list[Block]:
    """``blocks`` if at most ``limit``, else the first ones and a note saying what to do."""
    if len(blocks) <= limit:
        return list(blocks)
    shown = list(blocks[: limit - 1])
    return [*shown, note(f"_{len(blocks) - len(shown)} more blocks not shown. {overflow}_")]


def to_messages(blocks: Sequence[Block], text: str, overflow: str = "") -> list[Message]:
    """Split ``blocks`` into at most five messages of at most 50 blocks each."""
    fitted = fit_blocks(blocks, MESSAGE_BLOCKS_MAX * MESSAGES_MAX, overflow)
    fallback = clip(text, FALLBACK_TEXT_MAX)
    if not fitted:
        return [Message(fallback, [mrkdwn(fallback)])]
    return [
        Message(fallback, fitted[start : start + MESSAGE_BLOCKS_MAX])
        for start in range(0, len(fitted), MESSAGE_BLOCKS_MAX)
    ]


def text_messages(*lines: str) -> list[Message]:
    """A reply of plain mrkdwn lines; the first line doubles as the notification text."""
    return to_messages(section_blocks(lines), lines[0] if lines else "")


def board_paragraphs(board: dict[str, list[DomainRecord]]) -> list[Paragraph]:
    """One paragraph per app: its roll-up emoji and name, then one line per domain."""
    return [
        Paragraph(
            heading=f"{most_severe([r.status for r in records]).emoji} {app}",
            lines=[record_line(r) for r in records],
        )
        for app, records in board.items()
    ]


def history_lines(entries: Sequence[HistoryEntry]) -> list[str]:
    """One line per change, newest first; a placeholder when there are none."""
    return [history_line(e) for e in entries] or ["_No changes yet._"]
