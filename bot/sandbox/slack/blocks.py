"""Block Kit validation with Slack's limits, reporting violations the way Slack does.

Each problem becomes ``[ERROR] <what> [json-pointer:<where>]``; views answer
``invalid_arguments`` and messages ``invalid_blocks`` with those lines in
``response_metadata.messages``. Only the limits an app is likely to trip are checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from bot.sandbox.slack.errors import ApiError, schema_error

MODAL_TEXT_MAX = 24
VIEW_BLOCKS_MAX = 100
MESSAGE_BLOCKS_MAX = 50
VIEW_BYTES_MAX = 250_000
SECTION_TEXT_MAX = 3000
SECTION_FIELD_MAX = 2000
SECTION_FIELDS_MAX = 10
HEADER_TEXT_MAX = 150
INPUT_LABEL_MAX = 2000
ID_MAX = 255
PRIVATE_METADATA_MAX = 3000
OPTIONS_MAX = 100
CHOICES_MAX = 10  # radio buttons and checkboxes
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
PLACEHOLDER_MAX = 150
TEXT_INPUT_LENGTH_MAX = 3000
ACTIONS_ELEMENTS_MAX = 25
CONFIRM_TITLE_MAX, CONFIRM_TEXT_MAX, CONFIRM_BUTTON_MAX = 100, 300, 30
CONTEXT_ELEMENTS_MAX = 10

BLOCK_TYPES = frozenset(
    {"section", "divider", "header", "context", "actions", "input", "image", "rich_text"}
    | {"markdown", "video", "file", "table"}
)
STATIC_SELECTS = frozenset({"static_select", "multi_static_select"})
CHOICE_ELEMENTS = frozenset({"radio_buttons", "checkboxes"})


def input_blocks(blocks: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """The ``input`` blocks among ``blocks``."""
    return (b for b in blocks if isinstance(b, dict) and b.get("type") == "input")


def block_elements(block: dict[str, Any]) -> list[dict[str, Any]]:
    """The interactive elements of one block (input element, accessory, actions elements)."""
    found: list[Any] = []
    if block.get("type") == "input":
        found.append(block.get("element"))
    elif block.get("type") == "section":
        found.append(block.get("accessory"))
    elif block.get("type") == "actions":
        found.extend(block.get("elements") or [])
    return [e for e in found if isinstance(e, dict)]


def validate_view(view: object, surfaces: Iterable[str]) -> dict[str, Any]:
    """Return ``view`` if it is a valid view of one of ``surfaces``, else ``invalid_arguments``."""
    checker = _Checker()
    checker.view(view, "/view", frozenset(surfaces))
    if checker.messages or not isinstance(view, dict):
        raise ApiError("invalid_arguments", messages=checker.messages)
    if len(json.dumps(view)) > VIEW_BYTES_MAX:
        raise ApiError("view_too_large")
    return view


def validate_message_blocks(blocks: object, pointer: str = "/blocks") -> None:
    """Raise ``invalid_blocks`` unless ``blocks`` are valid message blocks."""
    checker = _Checker()
    checker.blocks(blocks, pointer, MESSAGE_BLOCKS_MAX)
    if checker.messages:
        raise ApiError("invalid_blocks", messages=checker.messages)


class _Checker:
    """Collects every violation instead of stopping at the first, as Slack does."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def fail(self, text: str, pointer: str) -> None:
        """Note one violation at ``pointer``."""
        self.messages.append(schema_error(text, pointer))

    def string(self, value: object, pointer: str, max_len: int, *, required: bool = False) -> None:
        """Check a string field and its length."""
        if value is None:
            if required:
                self.fail("missing required field", pointer)
        elif not isinstance(value, str):
            self.fail("must be a string", pointer)
        elif len(value) > max_len:
            self.fail(f"must be less than {max_len + 1} characters", pointer)

    def text(
        self, obj: object, pointer: str, max_len: int, *, plain: bool = False, required: bool = True
    ) -> None:
        """Check a text object: its type, and a text of 1 to ``max_len`` characters."""
        if obj is None:
            if required:
                self.fail("missing required field", pointer)
            return
        if not isinstance(obj, dict):
            self.fail("must be a text object", pointer)
            return
        allowed = ("plain_text",) if plain else ("plain_text", "mrkdwn")
        if obj.get("type") not in allowed:
            self.fail(f"must be one of: {', '.join(allowed)}", f"{pointer}/type")
        text = obj.get("text")
        if not isinstance(text, str):
            self.fail("must be a string", f"{pointer}/text")
        elif not text:
            self.fail("must be more than 0 characters", f"{pointer}/text")
        elif len(text) > max_len:
            self.fail(f"must be less than {max_len + 1} characters", f"{pointer}/text")

    def items(self, value: object, pointer: str, max_items: int, min_items: int = 1) -> list[Any]:
        """Check an array's length; its items (or [] when it is no array)."""
        if not isinstance(value, list):
            self.fail("must be an array", pointer)
            return []
        if len(value) > max_items:
            self.fail(f"no more than {max_items} items allowed", pointer)
        elif len(value) < min_items:
            self.fail(f"must provide at least {min_items} items", pointer)
        return value

    def view(self, view: object, pointer: str, surfaces: frozenset[str]) -> None:
        """Check a whole view: type, modal texts, blocks, metadata."""
        if not isinstance(view, dict):
            self.fail("must be an object", pointer)
            return
        if view.get("type") not in surfaces:
            self.fail(f"must be one of: {', '.join(sorted(surfaces))}", f"{pointer}/type")
        if view.get("type") == "modal":
            self.text(view.get("title"), f"{pointer}/title", MODAL_TEXT_MAX, plain=True)
            for key in ("submit", "close"):
                self.text(
                    view.get(key), f"{pointer}/{key}", MODAL_TEXT_MAX, plain=True, required=False
                )
            if view.get("submit") is None and any(input_blocks(view.get("blocks") or [])):
                self.fail("must provide submit when using input blocks", f"{pointer}/submit")
        self.blocks(view.get("blocks"), f"{pointer}/blocks", VIEW_BLOCKS_MAX)
        self.string(
            view.get("private_metadata"), f"{pointer}/private_metadata", PRIVATE_METADATA_MAX
        )
        for key in ("callback_id", "external_id"):
            self.string(view.get(key), f"{pointer}/{key}", ID_MAX)

    def blocks(self, blocks: object, pointer: str, max_blocks: int) -> None:
        """Check a list of blocks, their types and unique block_ids."""
        seen: set[str] = set()
        for index, block in enumerate(self.items(blocks, pointer, max_blocks, min_items=0)):
            where = f"{pointer}/{index}"
            if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
                self.fail("failed to match all allowed schemas", where)
                continue
            block_id = block.get("block_id")
            self.string(block_id, f"{where}/block_id", ID_MAX)
            if isinstance(block_id, str):
                if block_id in seen:
                    self.fail("duplicate block_id", f"{where}/block_id")
                seen.add(block_id)
            self.block(block, where)

    def block(self, block: dict[str, Any], where: str) -> None:
        """Check one block of a known type."""
        kind = block["type"]
        if kind == "section":
            if block.get("text") is None and block.get("fields") is None:
                self.fail("must provide either text or fields", where)
            self.text(block.get("text"), f"{where}/text", SECTION_TEXT_MAX, required=False)
            if block.get("fields") is not None:
                fields = self.items(block["fields"], f"{where}/fields", SECTION_FIELDS_MAX)
                for i, field in enumerate(fields):
                    self.text(field, f"{where}/fields/{i}", SECTION_FIELD_MAX)
            if block.get("accessory") is not None:
                self.element(block["accessory"], f"{where}/accessory")
        elif kind == "header":
            self.text(block.get("text"), f"{where}/text", HEADER_TEXT_MAX, plain=True)
        elif kind == "context":
            self.items(block.get("elements"), f"{where}/elements", CONTEXT_ELEMENTS_MAX)
        elif kind == "actions":
            elements = self.items(block.get("elements"), f"{where}/elements", ACTIONS_ELEMENTS_MAX)
            action_ids: set[str] = set()
            for i, element in enumerate(elements):
                self.element(element, f"{where}/elements/{i}")
                action_id = element.get("action_id") if isinstance(element, dict) else None
                if isinstance(action_id, str):
                    if action_id in action_ids:
                        self.fail("duplicate action_id", f"{where}/elements/{i}/action_id")
                    action_ids.add(action_id)
        elif kind == "input":
            self.text(block.get("label"), f"{where}/label", INPUT_LABEL_MAX, plain=True)
            self.text(
                block.get("hint"), f"{where}/hint", INPUT_LABEL_MAX, plain=True, required=False
            )
            self.element(block.get("element"), f"{where}/element")

    def element(self, element: object, where: str) -> None:
        """Check one interactive element."""
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            self.fail("failed to match all allowed schemas", where)
            return
        kind = element["type"]
        self.string(element.get("action_id"), f"{where}/action_id", ID_MAX)
        self.text(
            element.get("placeholder"), f"{where}/placeholder", PLACEHOLDER_MAX, required=False
        )
        if element.get("confirm") is not None:
            self.confirm(element["confirm"], f"{where}/confirm")
        if kind == "button":
            self.text(element.get("text"), f"{where}/text", BUTTON_TEXT_MAX, plain=True)
            self.string(element.get("value"), f"{where}/value", BUTTON_VALUE_MAX)
        elif kind in STATIC_SELECTS:
            self.select_options(element, where)
        elif kind in CHOICE_ELEMENTS:
            options = self.items(element.get("options"), f"{where}/options", CHOICES_MAX)
            self.options(options, f"{where}/options", plain=False)
        elif kind == "overflow":
            options = self.items(element.get("options"), f"{where}/options", 5, min_items=2)
            self.options(options, f"{where}/options", plain=True)
        elif kind == "plain_text_input":
            for key in ("min_length", "max_length"):
                value = element.get(key)
                if isinstance(value, int) and value > TEXT_INPUT_LENGTH_MAX:
                    self.fail(f"must be less than {TEXT_INPUT_LENGTH_MAX + 1}", f"{where}/{key}")

    def confirm(self, confirm: object, where: str) -> None:
        """Check a confirmation dialog: title 100, text 300, confirm and deny 30 characters."""
        if not isinstance(confirm, dict):
            self.fail("must be a confirmation dialog object", where)
            return
        self.text(confirm.get("title"), f"{where}/title", CONFIRM_TITLE_MAX, plain=True)
        self.text(confirm.get("text"), f"{where}/text", CONFIRM_TEXT_MAX)
        for key in ("confirm", "deny"):
            self.text(confirm.get(key), f"{where}/{key}", CONFIRM_BUTTON_MAX, plain=True)

    def select_options(self, element: dict[str, Any], where: str) -> None:
        """Check a static select's options or option groups and its initial option."""
        offered: list[Any] = []
        if element.get("options") is not None:
            offered = self.items(element["options"], f"{where}/options", OPTIONS_MAX)
            self.options(offered, f"{where}/options", plain=True)
        elif element.get("option_groups") is not None:
            groups = self.items(element["option_groups"], f"{where}/option_groups", OPTIONS_MAX)
            for g, group in enumerate(groups):
                pointer = f"{where}/option_groups/{g}/options"
                group_options = group.get("options") if isinstance(group, dict) else None
                listed = self.items(group_options, pointer, OPTIONS_MAX)
                self.options(listed, pointer, plain=True)
                offered.extend(listed)
        else:
            self.fail("must provide either options or option_groups", where)
        values = {o.get("value") for o in offered if isinstance(o, dict)}
        initial = element.get("initial_option")
        if isinstance(initial, dict) and initial.get("value") not in values:
            self.fail("must match one of the options", f"{where}/initial_option")

    def options(self, options: list[Any], pointer: str, *, plain: bool) -> None:
        """Check option objects: text and value lengths."""
        for i, option in enumerate(options):
            if not isinstance(option, dict):
                self.fail("must be an object", f"{pointer}/{i}")
                continue
            self.text(option.get("text"), f"{pointer}/{i}/text", OPTION_TEXT_MAX, plain=plain)
            self.string(
                option.get("value"), f"{pointer}/{i}/value", OPTION_VALUE_MAX, required=True
            )
