"""Modal stacks and App Home tabs: the views Slack would hold for each user.

Not thread-safe by itself; the Web API and the sandbox use it under one shared lock.
"""

from __future__ import annotations

import copy
import secrets
import string
import time
from dataclasses import dataclass
from typing import Any

from bot.sandbox.slack.blocks import block_elements, input_blocks, validate_view
from bot.sandbox.slack.errors import ApiError, invalid_arguments
from bot.sandbox.slack.records import Identity

MODAL_STACK_MAX = 3
_ID_ALPHABET = string.ascii_uppercase + string.digits


def _random_id(prefix: str, length: int = 10) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def _new_hash() -> str:
    return f"{time.time():.6f}.{secrets.token_hex(4)}"


def with_generated_ids(blocks: list[Any]) -> list[Any]:
    """Copy ``blocks`` and fill in missing block_id/action_id at random, as Slack does."""
    blocks = copy.deepcopy(blocks)
    for block in blocks:
        if isinstance(block, dict):
            block.setdefault("block_id", secrets.token_urlsafe(4))
            for element in block_elements(block):
                element.setdefault("action_id", secrets.token_urlsafe(4))
    return blocks


@dataclass
class _Stored:
    view: dict[str, Any]
    user_id: str
    open: bool = True


class ViewStore:
    """Every view ever opened or published, the open modal stack and home tab of each user."""

    def __init__(self, identity: Identity) -> None:
        self._identity = identity
        self._views: dict[str, _Stored] = {}
        self._stacks: dict[str, list[str]] = {}
        self._homes: dict[str, str] = {}

    # -- Web API operations ------------------------------------------------------------

    def open(self, view: dict[str, Any], user_id: str) -> dict[str, Any]:
        """Open ``view`` as the user's root modal (closing any modal still open)."""
        self._check_external_id(view)
        for old in self._stacks.pop(user_id, []):
            self._views[old].open = False
        stored = self._store(view, user_id, _random_id("V"), previous=None, root=None)
        self._stacks[user_id] = [stored["id"]]
        return copy.deepcopy(stored)

    def push(self, view: dict[str, Any], user_id: str) -> dict[str, Any]:
        """Push ``view`` onto the user's open modal stack (at most three deep)."""
        self._check_external_id(view)
        stack = self._stacks.setdefault(user_id, [])
        if len(stack) >= MODAL_STACK_MAX:
            raise ApiError("push_limit_reached")
        previous = stack[-1] if stack else None
        root = stack[0] if stack else None
        stored = self._store(view, user_id, _random_id("V"), previous=previous, root=root)
        stack.append(stored["id"])
        return copy.deepcopy(stored)

    def update(
        self, view: dict[str, Any], view_id: str | None, external_id: str | None, hash_: str | None
    ) -> dict[str, Any]:
        """Replace an open view; ``hash`` must match the current one when given."""
        stored = self._find(view_id, external_id)
        if stored is None or not stored.open:
            raise ApiError("not_found")
        if hash_ is not None and hash_ != stored.view["hash"]:
            raise ApiError("hash_conflict")
        self._check_external_id(view, allow_id=stored.view["id"])
        old = stored.view
        updated = self._store(
            view,
            stored.user_id,
            old["id"],
            previous=old.get("previous_view_id"),
            root=old.get("root_view_id"),
        )
        return copy.deepcopy(updated)

    def publish(self, view: dict[str, Any], user_id: str, hash_: str | None) -> dict[str, Any]:
        """Publish ``view`` as the user's App Home tab."""
        view_id = self._homes.get(user_id)
        current = self._views[view_id].view if view_id else None
        if hash_ is not None and current is not None and hash_ != current["hash"]:
            raise ApiError("hash_conflict")
        view_id = view_id or _random_id("V")
        self._check_external_id(view, allow_id=view_id)
        self._homes[user_id] = view_id
        return copy.deepcopy(self._store(view, user_id, view_id, previous=None, root=None))

    # -- lifecycle driven by the sandbox -----------------------------------------------

    def close(self, view_id: str) -> None:
        """The user closed the modal (or its submission closed it)."""
        stored = self._views.get(view_id)
        if stored is None:
            return
        stack = self._stacks.get(stored.user_id, [])
        if view_id in stack:
            for closed in stack[stack.index(view_id) :]:
                self._views[closed].open = False
            del stack[stack.index(view_id) :]
        stored.open = False

    def clear(self, user_id: str) -> None:
        """Close every modal of the user (``response_action: clear``)."""
        for view_id in self._stacks.pop(user_id, []):
            self._views[view_id].open = False

    def apply_response_action(
        self, view: dict[str, Any], user_id: str, response: dict[str, Any] | None
    ) -> str | None:
        """Do what Slack does after a ``view_submission`` ack; why Slack would refuse, or None.

        No ``response_action`` closes the modal; ``errors`` must name input blocks of the
        view; ``update``/``push`` take a valid modal; ``clear`` closes the whole stack.
        """
        response = response or {}
        action = response.get("response_action")
        try:
            if action is None:
                self.close(view["id"])
            elif action == "errors":
                errors = response.get("errors") or {}
                inputs = {block.get("block_id") for block in input_blocks(view["blocks"])}
                unknown = sorted(set(errors) - inputs)
                if unknown or not errors:
                    return f"errors must name input blocks of the view, got {unknown}"
            elif action == "update":
                self.update(validate_view(response.get("view"), ["modal"]), view["id"], None, None)
            elif action == "push":
                self.push(validate_view(response.get("view"), ["modal"]), user_id)
            elif action == "clear":
                self.clear(user_id)
            else:
                return f"unknown response_action {action!r}"
        except ApiError as exc:
            return str(exc)
        return None

    def set_state(self, view_id: str, values: dict[str, Any]) -> None:
        """Remember the state the user submitted."""
        self._views[view_id].view["state"] = {"values": copy.deepcopy(values)}

    # -- lookups -------------------------------------------------------------------------

    def get(self, view_id: str) -> dict[str, Any] | None:
        """The latest version of a view, or None."""
        stored = self._views.get(view_id)
        return copy.deepcopy(stored.view) if stored else None

    def owner(self, view_id: str) -> str:
        """The user a view belongs to; ``KeyError`` for an unknown view."""
        return self._views[view_id].user_id

    def is_open(self, view_id: str) -> bool:
        """True while a modal is on screen (home tabs are always open)."""
        stored = self._views.get(view_id)
        return bool(stored and stored.open)

    def home(self, user_id: str) -> dict[str, Any] | None:
        """The user's App Home view, or None before the first ``views.publish``."""
        view_id = self._homes.get(user_id)
        return self.get(view_id) if view_id else None

    def stack(self, user_id: str) -> list[dict[str, Any]]:
        """The user's open modals, root first."""
        return [copy.deepcopy(self._views[v].view) for v in self._stacks.get(user_id, [])]

    # -- internals -----------------------------------------------------------------------

    def _find(self, view_id: str | None, external_id: str | None) -> _Stored | None:
        if view_id:
            return self._views.get(view_id)
        if external_id:
            matches = [s for s in self._views.values() if s.view.get("external_id") == external_id]
            return matches[-1] if matches else None
        raise invalid_arguments("missing required field", "/view_id")

    def _check_external_id(self, view: dict[str, Any], allow_id: str | None = None) -> None:
        external_id = view.get("external_id")
        if not external_id:
            return
        for stored in self._views.values():
            if stored.view.get("external_id") == external_id and stored.view["id"] != allow_id:
                raise ApiError("duplicate_external_id")

    def _store(
        self,
        view: dict[str, Any],
        user_id: str,
        view_id: str,
        *,
        previous: str | None,
        root: str | None,
    ) -> dict[str, Any]:
        ident = self._identity
        full: dict[str, Any] = {
            "id": view_id,
            "team_id": ident.team_id,
            "type": view["type"],
            "blocks": with_generated_ids(view.get("blocks") or []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": _new_hash(),
            "title": copy.deepcopy(view.get("title")),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": copy.deepcopy(view.get("close")),
            "submit": copy.deepcopy(view.get("submit")),
            "submit_disabled": bool(view.get("submit_disabled", False)),
            "previous_view_id": previous,
            "root_view_id": root or view_id,
            "app_id": ident.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": ident.team_id,
            "bot_id": ident.bot_id,
        }
        self._views[view_id] = _Stored(full, user_id)
        return full
