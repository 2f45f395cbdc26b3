"""Turn "the user picked X" into the ``state.values`` and ``actions`` Slack would send.

Tests name only what the user chose per block (or per block and action); everything else
comes from the stored view, so a payload can only contain what the view really offered.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from bot.sandbox.slack.blocks import block_elements

VALUE_KEYS: dict[str, str] = {
    "plain_text_input": "value",
    "number_input": "value",
    "email_text_input": "value",
    "url_text_input": "value",
    "static_select": "selected_option",
    "external_select": "selected_option",
    "radio_buttons": "selected_option",
    "multi_static_select": "selected_options",
    "multi_external_select": "selected_options",
    "checkboxes": "selected_options",
    "users_select": "selected_user",
    "multi_users_select": "selected_users",
    "conversations_select": "selected_conversation",
    "multi_conversations_select": "selected_conversations",
    "channels_select": "selected_channel",
    "multi_channels_select": "selected_channels",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "datetimepicker": "selected_date_time",
}
_INITIAL_KEYS = {"value": "initial_value", "selected_date_time": "initial_date_time"}
_OPTION_ELEMENTS = frozenset({"static_select", "radio_buttons", "overflow"})
_MULTI_OPTION_ELEMENTS = frozenset({"multi_static_select", "checkboxes"})


def _initial_key(value_key: str) -> str:
    return _INITIAL_KEYS.get(value_key, value_key.replace("selected_", "initial_"))


def _options(element: dict[str, Any]) -> list[dict[str, Any]]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return [o for o in options if isinstance(o, dict)]


def find_option(element: dict[str, Any], choice: object) -> dict[str, Any]:
    """The option of ``element`` whose value is ``choice`` (a value or an option object)."""
    wanted = choice.get("value") if isinstance(choice, dict) else choice
    for option in _options(element):
        if option.get("value") == wanted:
            return copy.deepcopy(option)
    offered = [o.get("value") for o in _options(element)]
    raise ValueError(f"{element.get('action_id')!r} offers no option {wanted!r}; it has {offered}")


def _convert(element: dict[str, Any], choice: object) -> object:
    kind = element["type"]
    if kind in _OPTION_ELEMENTS:
        return None if choice is None else find_option(element, choice)
    if kind in _MULTI_OPTION_ELEMENTS:
        if not isinstance(choice, list | tuple):
            raise ValueError(f"{element.get('action_id')!r} takes a list of option values")
        return [find_option(element, c) for c in choice]
    if choice == "":
        return None  # Slack sends null, not "", for an empty text input
    return copy.deepcopy(choice)


def _is_empty(value: object) -> bool:
    return value is None or value == [] or value == ""


def find_element(
    blocks: list[dict[str, Any]], block_id: str, action_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The block and element a user interacts with; ``ValueError`` if the view has none."""
    for block in blocks:
        if block.get("block_id") == block_id:
            for element in block_elements(block):
                if element.get("action_id") == action_id:
                    return block, element
            raise ValueError(f"block {block_id!r} has no element with action_id {action_id!r}")
    raise ValueError(f"the view has no block {block_id!r}")


def build_state(
    blocks: list[dict[str, Any]], values: dict[str, Any], *, require: bool = True
) -> dict[str, Any]:
    """``state.values`` for a submission where the user chose ``values``.

    ``values`` maps block_id to the chosen value (for a block with one element) or to
    ``{action_id: value}``. Select menus take option values, multi-selects lists of them.
    Raises ``ValueError`` for unknown blocks/options or (with ``require``) an empty
    required input, which Slack's client would never submit.
    """
    remaining = dict(values)
    state: dict[str, Any] = {}
    for block in blocks:
        elements = [e for e in block_elements(block) if e.get("type") in VALUE_KEYS]
        if not elements:
            continue
        block_id = block["block_id"]
        chosen = _per_action(block_id, elements, remaining.pop(block_id, None))
        for element in elements:
            action_id = element["action_id"]
            key = VALUE_KEYS[element["type"]]
            if action_id in chosen:
                value = _convert(element, chosen.pop(action_id))
            else:
                value = copy.deepcopy(element.get(_initial_key(key)))
                if value is None and key.endswith("s"):  # multi-selects send []
                    value = []
            state.setdefault(block_id, {})[action_id] = {"type": element["type"], key: value}
            required = require and block.get("type") == "input" and not block.get("optional")
            if required and _is_empty(value):
                raise ValueError(f"input block {block_id!r} is required; Slack would not submit")
        if chosen:
            raise ValueError(f"block {block_id!r} has no elements {sorted(chosen)}")
    if remaining:
        raise ValueError(f"the view has no input blocks {sorted(remaining)}")
    return state


def _per_action(block_id: str, elements: list[dict[str, Any]], chosen: object) -> dict[str, Any]:
    if chosen is None:
        return {}
    action_ids = {e["action_id"] for e in elements}
    if isinstance(chosen, dict) and chosen and set(chosen) <= action_ids:
        return dict(chosen)
    if len(elements) == 1:
        return {elements[0]["action_id"]: chosen}
    raise ValueError(f"block {block_id!r} has several elements; give {{action_id: value}}")


def build_action(
    block: dict[str, Any], element: dict[str, Any], value: object, selected_option: object
) -> dict[str, Any]:
    """The ``actions[0]`` entry of a ``block_actions`` payload for one click or choice."""
    kind = element["type"]
    action: dict[str, Any] = {
        "type": kind,
        "block_id": block["block_id"],
        "action_id": element["action_id"],
        "action_ts": f"{time.time():.6f}",
    }
    if kind == "button":
        action["text"] = copy.deepcopy(element.get("text"))
        action["value"] = element.get("value") if value is None else value
        if "style" in element:
            action["style"] = element["style"]
    elif kind in _OPTION_ELEMENTS:
        action["selected_option"] = find_option(element, selected_option or value)
    elif kind in VALUE_KEYS:
        action[VALUE_KEYS[kind]] = _convert(element, selected_option or value)
    return action
