"""What a test reads back from the sandbox: calls, messages, views and canvases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.sandbox.slack.actions import DEFAULT_USER_ID
from bot.sandbox.slack.records import Call, PostedMessage, ResponsePost
from bot.sandbox.slack.workspace import Workspace


class Observations:
    """Recorded calls and the current Slack-side state, with bounded waits (a mixin)."""

    _workspace: Workspace

    def calls(self, method: str | None = None) -> list[Call]:
        """Every Web API call so far (of ``method`` when given), oldest first."""
        with self._workspace.lock:
            return [c for c in self._workspace.calls if method is None or c.method == method]

    def wait_for_call(
        self,
        method: str,
        *,
        count: int = 1,
        where: Callable[[Call], bool] | None = None,
        timeout: float = 5.0,
    ) -> Call:
        """Wait until ``count`` calls of ``method`` (matching ``where``) arrived; the last one."""

        def probe() -> Call | None:
            found = [c for c in self.calls(method) if where is None or where(c)]
            return found[count - 1] if len(found) >= count else None

        return self._workspace.wait_for(probe, timeout, f"{count} call(s) of {method}")

    def messages(self, channel: str | None = None) -> list[PostedMessage]:
        """Messages posted through ``chat.*`` (latest version of each), oldest first."""
        with self._workspace.lock:
            found = self._workspace.messages
            return [m for m in found if channel is None or m.channel == channel]

    def responses(self) -> list[ResponsePost]:
        """Posts the app made to response_urls, oldest first."""
        with self._workspace.lock:
            return list(self._workspace.responses)

    def wait_for_response(self, *, count: int = 1, timeout: float = 5.0) -> ResponsePost:
        """Wait until ``count`` response_url posts arrived; the last one."""

        def probe() -> ResponsePost | None:
            found = self.responses()
            return found[count - 1] if len(found) >= count else None

        return self._workspace.wait_for(probe, timeout, f"{count} response_url post(s)")

    def view(self, view_id: str) -> dict[str, Any] | None:
        """The latest version of a view by id, or None."""
        with self._workspace.lock:
            return self._workspace.views.get(view_id)

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        """The latest App Home view published for ``user_id``, or None."""
        with self._workspace.lock:
            return self._workspace.views.home(user_id)

    def open_modals(self, user_id: str) -> list[dict[str, Any]]:
        """The user's open modal stack, root first."""
        with self._workspace.lock:
            return self._workspace.views.stack(user_id)

    def wait_for_modal(
        self,
        user_id: str = DEFAULT_USER_ID,
        *,
        where: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """Wait until the user's top open modal matches ``where`` (any modal by default)."""

        def top_modal() -> dict[str, Any] | None:
            stack = self.open_modals(user_id)
            return stack[-1] if stack else None

        return self._wait_for_view(top_modal, where, timeout, f"a modal for {user_id}")

    def wait_for_home_view(
        self,
        user_id: str = DEFAULT_USER_ID,
        *,
        where: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """Wait until the user's home view exists and matches ``where``."""
        return self._wait_for_view(
            lambda: self.home_view(user_id), where, timeout, f"a home view for {user_id}"
        )

    def _wait_for_view(
        self,
        find: Callable[[], dict[str, Any] | None],
        where: Callable[[dict[str, Any]], bool] | None,
        timeout: float,
        what: str,
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            view = find()
            return view if view is not None and (where is None or where(view)) else None

        return self._workspace.wait_for(probe, timeout, what)

    def canvas_markdown(self, canvas_id: str) -> str:
        """The current markdown of a canvas; ``KeyError`` for an unknown canvas."""
        with self._workspace.lock:
            canvas = self._workspace.canvases.find(canvas_id)
            if canvas is None:
                raise KeyError(canvas_id)
            return canvas.markdown

    def canvas_title(self, canvas_id: str) -> str:
        """The current title of a canvas; ``KeyError`` for an unknown canvas."""
        with self._workspace.lock:
            canvas = self._workspace.canvases.find(canvas_id)
            if canvas is None:
                raise KeyError(canvas_id)
            return canvas.title

    def channel_canvas_id(self, channel_id: str) -> str | None:
        """The id of the channel canvas of ``channel_id``, or None."""
        with self._workspace.lock:
            canvas = self._workspace.canvases.channel_canvas(channel_id)
            return canvas.id if canvas else None

    def clear_records(self) -> None:
        """Forget recorded calls and response_url posts (messages, views, canvases stay)."""
        with self._workspace.changed:
            self._workspace.calls.clear()
            self._workspace.responses.clear()
