"""Canvas documents and the rules of ``canvases.edit``.

A canvas is kept as markdown split into sections (a new section starts at each h1-h3
heading), which is enough for ``canvases.sections.lookup`` and section edits. A ``replace``
without ``section_id`` stores the markdown exactly as sent, so tests can compare it.
Not thread-safe by itself; the Web API and the sandbox use it under one shared lock.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.slack.errors import ApiError, invalid_arguments, schema_error

OPERATIONS = (
    "insert_after",
    "insert_before",
    "insert_at_start",
    "insert_at_end",
    "replace",
    "delete",
    "rename",
)
_NEEDS_SECTION = frozenset({"insert_after", "insert_before", "delete"})
_NEEDS_CONTENT = frozenset({"insert_after", "insert_before", "insert_at_start"})
_NEEDS_CONTENT |= {"insert_at_end", "replace"}
SECTION_TYPES = frozenset({"h1", "h2", "h3", "any_header"})
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
MAX_HEADING_DEPTH = 3


def _canvas_id() -> str:
    return "F" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(10))


def heading_depth(line: str) -> int:
    """The level of a markdown heading line, 0 for any other line."""
    match = _HEADING.match(line)
    return len(match.group(1)) if match else 0


def _lines_outside_fences(markdown: str) -> list[tuple[str, bool]]:
    fenced = False
    lines = []
    for line in markdown.splitlines(keepends=True):
        if _FENCE.match(line):
            fenced = not fenced
        lines.append((line, fenced))
    return lines


@dataclass
class Section:
    """A run of markdown starting at a heading (or at the top of the document)."""

    markdown: str
    id: str = field(default_factory=lambda: f"temp:C:{secrets.token_hex(14)}")

    @property
    def depth(self) -> int:
        """The heading level this section starts with, 0 when it starts with text."""
        return heading_depth(self.markdown)


def split_sections(markdown: str) -> list[Section]:
    """Split markdown into sections at each h1-h3 heading outside code fences."""
    sections: list[Section] = []
    current = ""
    for line, fenced in _lines_outside_fences(markdown):
        if not fenced and 0 < heading_depth(line) <= MAX_HEADING_DEPTH and current:
            sections.append(Section(current))
            current = ""
        current += line
    if current:
        sections.append(Section(current))
    return sections


@dataclass
class Canvas:
    """One canvas: title, sections and the channel it is tabbed in, if any."""

    id: str
    title: str
    sections: list[Section]
    channel_id: str | None = None

    @property
    def markdown(self) -> str:
        """The whole document."""
        return "".join(section.markdown for section in self.sections)


def check_document_content(content: object, pointer: str, failure: str) -> str:
    """The markdown of a ``document_content`` object, or the refusal Slack would give."""
    if not isinstance(content, dict):
        raise invalid_arguments("must be an object", pointer)
    problems = []
    if content.get("type") != "markdown":
        problems.append(schema_error("must be one of: markdown", f"{pointer}/type"))
    if not isinstance(content.get("markdown"), str):
        problems.append(schema_error("must be a string", f"{pointer}/markdown"))
    if problems:
        raise ApiError("invalid_arguments", messages=problems)
    markdown: str = content["markdown"]
    for line, fenced in _lines_outside_fences(markdown):
        if not fenced and heading_depth(line) > MAX_HEADING_DEPTH:
            detail = f"Unsupported heading depth ({heading_depth(line)})"
            raise ApiError(failure, extra={"detail": detail})
    return markdown


def _matches_type(section: Section, types: list[str]) -> bool:
    if not section.depth:
        return False
    return "any_header" in types or f"h{section.depth}" in types


def _joined(sections: list[Section]) -> list[Section]:
    """Make sure every section but the last ends with a newline so sections never merge."""
    for section in sections[:-1]:
        if not section.markdown.endswith("\n"):
            section.markdown += "\n"
    return sections


class CanvasStore:
    """Every canvas of the workspace and the one channel canvas of each channel."""

    def __init__(self) -> None:
        self._canvases: dict[str, Canvas] = {}

    def create(self, markdown: str, title: str = "", channel_id: str | None = None) -> str:
        """Store a new canvas and return its id."""
        canvas = Canvas(_canvas_id(), title, split_sections(markdown), channel_id)
        self._canvases[canvas.id] = canvas
        return canvas.id

    def get(self, canvas_id: object) -> Canvas:
        """The canvas, or ``canvas_not_found``."""
        canvas = self._canvases.get(canvas_id) if isinstance(canvas_id, str) else None
        if canvas is None:
            raise ApiError("canvas_not_found")
        return canvas

    def find(self, canvas_id: str) -> Canvas | None:
        """The canvas, or None."""
        return self._canvases.get(canvas_id)

    def channel_canvas(self, channel_id: str) -> Canvas | None:
        """The channel canvas of ``channel_id``, if it has one."""
        for canvas in self._canvases.values():
            if canvas.channel_id == channel_id:
                return canvas
        return None

    def delete(self, canvas_id: object) -> None:
        """Remove a canvas."""
        del self._canvases[self.get(canvas_id).id]

    def edit(self, canvas_id: object, changes: object) -> None:
        """Apply the single change ``canvases.edit`` accepts, or refuse like Slack."""
        change = self._check_changes(changes)
        canvas = self.get(canvas_id)
        operation: str = change["operation"]
        if operation == "rename":
            title = check_document_content(
                change.get("title_content"), "/changes/0/title_content", "canvas_editing_failed"
            )
            canvas.title = title
            return
        markdown = ""
        if operation in _NEEDS_CONTENT:
            markdown = check_document_content(
                change.get("document_content"),
                "/changes/0/document_content",
                "canvas_editing_failed",
            )
        section_id = change.get("section_id")
        if operation == "replace" and section_id is None:
            canvas.sections = split_sections(markdown)
            return
        if operation == "insert_at_start":
            canvas.sections = _joined(split_sections(markdown) + canvas.sections)
            return
        if operation == "insert_at_end":
            canvas.sections = _joined(canvas.sections + split_sections(markdown))
            return
        index = self._section_index(canvas, section_id)
        if operation == "delete":
            del canvas.sections[index]
            return
        new = split_sections(markdown)
        if operation == "replace":
            canvas.sections[index : index + 1] = new
        elif operation == "insert_before":
            canvas.sections[index:index] = new
        else:  # insert_after
            canvas.sections[index + 1 : index + 1] = new
        _joined(canvas.sections)

    def lookup(self, canvas_id: object, criteria: object) -> list[str]:
        """Ids of the sections matching ``criteria`` (``section_types``, ``contains_text``)."""
        if not isinstance(criteria, dict):
            raise invalid_arguments("must be an object", "/criteria")
        types = criteria.get("section_types") or []
        text = criteria.get("contains_text")
        if not isinstance(types, list) or not set(types) <= SECTION_TYPES:
            allowed = ", ".join(sorted(SECTION_TYPES))
            raise invalid_arguments(f"must be one of: {allowed}", "/criteria/section_types")
        canvas = self.get(canvas_id)
        found = []
        for section in canvas.sections:
            if types and not _matches_type(section, types):
                continue
            haystack = section.markdown.splitlines()[0] if types else section.markdown
            if isinstance(text, str) and text.lower() not in haystack.lower():
                continue
            found.append(section.id)
        return found

    @staticmethod
    def _check_changes(changes: object) -> dict[str, Any]:
        if not isinstance(changes, list):
            raise invalid_arguments("must be an array", "/changes")
        if len(changes) != 1:
            text = (
                "must provide at least 1 items" if not changes else "no more than 1 items allowed"
            )
            raise invalid_arguments(text, "/changes")
        change = changes[0]
        if not isinstance(change, dict):
            raise invalid_arguments("must be an object", "/changes/0")
        if change.get("operation") not in OPERATIONS:
            allowed = ", ".join(OPERATIONS)
            raise invalid_arguments(f"must be one of: {allowed}", "/changes/0/operation")
        if change["operation"] in _NEEDS_SECTION and not change.get("section_id"):
            raise invalid_arguments("missing required field", "/changes/0/section_id")
        return change

    @staticmethod
    def _section_index(canvas: Canvas, section_id: object) -> int:
        for index, section in enumerate(canvas.sections):
            if section.id == section_id:
                return index
        raise ApiError("canvas_editing_failed", extra={"detail": "section_id not found"})
