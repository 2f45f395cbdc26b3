"""The Web API methods the sandbox implements, with Slack's argument rules and errors.

Authentication, rate limits and fault injection happen before these handlers run
(see ``server``); a handler only sees parsed arguments and answers a dict or raises
``ApiError``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.sandbox.slack.blocks import validate_message_blocks, validate_view
from bot.sandbox.slack.canvases import check_document_content
from bot.sandbox.slack.errors import ApiError, invalid_arguments
from bot.sandbox.slack.records import Identity, PostedMessage, User
from bot.sandbox.slack.workspace import CONNECTIONS_WRITE, USER_ID, Workspace

Args = dict[str, Any]
Handler = Callable[[Args], dict[str, Any]]
MESSAGE_TEXT_MAX = 40_000
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})


def _required(args: Args, name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value:
        raise invalid_arguments("missing required field", f"/{name}")
    return value


def _optional(args: Args, name: str) -> str | None:
    value = args.get(name)
    return value if isinstance(value, str) and value else None


def user_profile(user: User, team_id: str) -> dict[str, Any]:
    """The ``user`` object of ``users.info``."""
    now = datetime.now(ZoneInfo(user.tz))
    offset = now.utcoffset()
    return {
        "id": user.id,
        "team_id": team_id,
        "name": user.name,
        "deleted": False,
        "real_name": user.real_name,
        "tz": user.tz,
        "tz_label": now.tzname() or user.tz,
        "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
        "is_admin": False,
        "is_owner": False,
        "is_bot": user.is_bot,
        "is_app_user": False,
        "updated": int(now.timestamp()),
        "profile": {
            "real_name": user.real_name,
            "real_name_normalized": user.real_name,
            "display_name": user.name,
            "display_name_normalized": user.name,
            "email": f"{user.name}@{team_id.lower()}.example.com",
            "team": team_id,
        },
    }


def bot_profile(ident: Identity) -> dict[str, Any]:
    """The ``bot_profile`` Slack attaches to every message the bot posts."""
    return {
        "id": ident.bot_id,
        "app_id": ident.app_id,
        "name": "EPMPulse",
        "icons": {
            size: f"https://a.slack-edge.com/80588/img/plugins/app/bot_{size[6:]}.png"
            for size in ("image_36", "image_48", "image_72")
        },
        "deleted": False,
        "updated": 1700000000,
        "team_id": ident.team_id,
    }


class WebApi:
    """Method name to handler, all working on one ``Workspace``."""

    def __init__(self, workspace: Workspace, open_connection: Callable[[], str]) -> None:
        self._ws = workspace
        self._open_connection = open_connection
        self.methods: dict[str, Handler] = {
            "auth.test": self.auth_test,
            "apps.connections.open": self.apps_connections_open,
            "chat.postMessage": self.chat_post_message,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.update": self.chat_update,
            "views.open": self.views_open,
            "views.push": self.views_push,
            "views.update": self.views_update,
            "views.publish": self.views_publish,
            "canvases.create": self.canvases_create,
            "canvases.edit": self.canvases_edit,
            "canvases.delete": self.canvases_delete,
            "canvases.sections.lookup": self.canvases_sections_lookup,
            "conversations.canvases.create": self.conversations_canvases_create,
            "conversations.info": self.conversations_info,
            "users.info": self.users_info,
            "usergroups.users.list": self.usergroups_users_list,
        }

    def call(self, method: str, args: Args) -> dict[str, Any]:
        """Run one method under the workspace lock; ``{"ok": true, ...}`` or ``ApiError``."""
        with self._ws.changed:
            result = self.methods[method](args)
            self._ws.changed.notify_all()
        return {"ok": True, **result}

    # -- auth and connections ------------------------------------------------------------

    def auth_test(self, args: Args) -> dict[str, Any]:
        """Who the bot token belongs to."""
        ident = self._ws.identity
        return {
            "url": f"https://{ident.team_domain}.slack.com/",
            "team": "EPMPulse Sandbox",
            "user": "epmpulse",
            "team_id": ident.team_id,
            "user_id": ident.bot_user_id,
            "bot_id": ident.bot_id,
            "is_enterprise_install": False,
        }

    def apps_connections_open(self, args: Args) -> dict[str, Any]:
        """A single-use Socket Mode WebSocket URL (the app token needs connections:write)."""
        scopes = self._ws.app_token_scopes
        if CONNECTIONS_WRITE not in scopes:
            extra = {"needed": CONNECTIONS_WRITE, "provided": ",".join(sorted(scopes))}
            raise ApiError("missing_scope", extra=extra)
        return {"url": self._open_connection()}

    # -- messages --------------------------------------------------------------------------

    def _channel(self, args: Args, name: str = "channel", *, by_name: bool = False) -> str:
        return self._ws.channels.resolve(_optional(args, name), by_name=by_name)

    @staticmethod
    def _content(args: Args) -> tuple[str | None, list[dict[str, Any]] | None]:
        text, blocks = args.get("text"), args.get("blocks")
        if text is not None and not isinstance(text, str):
            raise invalid_arguments("must be a string", "/text")
        if blocks is not None:
            validate_message_blocks(blocks)
        if not text and not blocks and not args.get("attachments"):
            raise ApiError("no_text")
        if text and len(text) > MESSAGE_TEXT_MAX:
            raise ApiError("msg_too_long")
        return text, blocks

    def _message_body(self, message: PostedMessage) -> dict[str, Any]:
        ident = self._ws.identity
        body: dict[str, Any] = {
            "type": "message",
            "user": ident.bot_user_id,
            "bot_id": ident.bot_id,
            "app_id": ident.app_id,
            "team": ident.team_id,
            "bot_profile": bot_profile(ident),
            "text": message.text or "",
            "ts": message.ts,
        }
        if message.blocks is not None:
            body["blocks"] = message.blocks
        if message.thread_ts:
            body["thread_ts"] = message.thread_ts
        return body

    def chat_post_message(self, args: Args) -> dict[str, Any]:
        """Post a message to a channel (by id or name, or a DM when given a user id)."""
        channel = self._channel(args, by_name=True)
        text, blocks = self._content(args)
        message = PostedMessage(
            channel, self._ws.next_ts(), text, blocks, thread_ts=_optional(args, "thread_ts")
        )
        self._ws.add_message(message)
        return {"channel": channel, "ts": message.ts, "message": self._message_body(message)}

    def chat_post_ephemeral(self, args: Args) -> dict[str, Any]:
        """Show a message to one user in a channel (by id or name)."""
        channel = self._channel(args, by_name=True)
        user = _optional(args, "user")
        if user is None or not USER_ID.match(user):
            raise ApiError("user_not_found")
        text, blocks = self._content(args)
        message = PostedMessage(
            channel, self._ws.next_ts(), text, blocks, user=user, ephemeral=True
        )
        self._ws.add_message(message)
        return {"message_ts": message.ts}

    def chat_update(self, args: Args) -> dict[str, Any]:
        """Replace a message the bot posted."""
        channel = self._channel(args)
        ts = _optional(args, "ts")
        old = self._ws.find_message(channel, ts) if ts else None
        if old is None:
            raise ApiError("message_not_found")
        text, blocks = self._content(args)
        message = PostedMessage(channel, old.ts, text, blocks, thread_ts=old.thread_ts, edited=True)
        self._ws.replace_message(message)
        body = self._message_body(message)
        return {"channel": channel, "ts": message.ts, "text": text or "", "message": body}

    # -- views -------------------------------------------------------------------------------

    def _exchange_trigger(self, args: Args) -> str:
        return self._ws.triggers.exchange(
            args.get("trigger_id") or args.get("interactivity_pointer")
        )

    def views_open(self, args: Args) -> dict[str, Any]:
        """Open a modal with a fresh trigger_id."""
        view = validate_view(args.get("view"), ["modal"])
        user_id = self._exchange_trigger(args)
        return {"view": self._ws.views.open(view, user_id)}

    def views_push(self, args: Args) -> dict[str, Any]:
        """Push a modal onto the open stack with a fresh trigger_id."""
        view = validate_view(args.get("view"), ["modal"])
        user_id = self._exchange_trigger(args)
        return {"view": self._ws.views.push(view, user_id)}

    def views_update(self, args: Args) -> dict[str, Any]:
        """Replace an open modal or a home tab, guarded by ``hash``."""
        view = validate_view(args.get("view"), ["modal", "home"])
        view_id, external_id = _optional(args, "view_id"), _optional(args, "external_id")
        current = self._ws.views.get(view_id) if view_id else None
        if current is not None and current["type"] != view["type"]:
            raise invalid_arguments(f"must be one of: {current['type']}", "/view/type")
        hash_ = _optional(args, "hash")
        return {"view": self._ws.views.update(view, view_id, external_id, hash_)}

    def views_publish(self, args: Args) -> dict[str, Any]:
        """Publish a user's App Home tab."""
        user_id = _required(args, "user_id")
        if not USER_ID.match(user_id):
            raise ApiError("user_not_found")
        view = validate_view(args.get("view"), ["home"])
        return {"view": self._ws.views.publish(view, user_id, _optional(args, "hash"))}

    # -- canvases ----------------------------------------------------------------------------

    def canvases_create(self, args: Args) -> dict[str, Any]:
        """Create a standalone canvas."""
        markdown = ""
        if args.get("document_content") is not None:
            markdown = check_document_content(
                args["document_content"], "/document_content", "canvas_creation_failed"
            )
        canvas_id = self._ws.canvases.create(markdown, _optional(args, "title") or "")
        return {"canvas_id": canvas_id}

    def conversations_canvases_create(self, args: Args) -> dict[str, Any]:
        """Create the channel canvas; a channel has at most one."""
        channel = self._channel(args, "channel_id")
        if self._ws.canvases.channel_canvas(channel) is not None:
            raise ApiError("channel_canvas_already_exists")
        markdown = ""
        if args.get("document_content") is not None:
            markdown = check_document_content(
                args["document_content"], "/document_content", "canvas_creation_failed"
            )
        title = _optional(args, "title") or ""
        return {"canvas_id": self._ws.canvases.create(markdown, title, channel)}

    def canvases_edit(self, args: Args) -> dict[str, Any]:
        """Apply exactly one change to a canvas."""
        canvas_id = _required(args, "canvas_id")
        self._ws.canvases.edit(canvas_id, args.get("changes"))
        return {}

    def canvases_delete(self, args: Args) -> dict[str, Any]:
        """Delete a canvas."""
        self._ws.canvases.delete(_required(args, "canvas_id"))
        return {}

    def canvases_sections_lookup(self, args: Args) -> dict[str, Any]:
        """Find sections by heading type and text."""
        canvas_id = _required(args, "canvas_id")
        ids = self._ws.canvases.lookup(canvas_id, args.get("criteria"))
        return {"sections": [{"id": section_id} for section_id in ids]}

    def conversations_info(self, args: Args) -> dict[str, Any]:
        """A channel, with its channel canvas under ``properties.canvas``."""
        channel = self._channel(args)
        known = self._ws.channels.get(channel)
        info: dict[str, Any] = {
            "id": channel,
            "name": self._ws.channel_name(channel),
            "is_channel": channel.startswith("C"),
            "is_im": channel.startswith("D"),
            "is_private": known.private if known else channel.startswith("D"),
            "is_member": known.member if known else True,
            "properties": {},
        }
        canvas = self._ws.canvases.channel_canvas(channel)
        if canvas is not None:
            info["properties"]["canvas"] = {"file_id": canvas.id, "is_empty": not canvas.markdown}
        return {"channel": info}

    # -- directory ---------------------------------------------------------------------------

    def users_info(self, args: Args) -> dict[str, Any]:
        """A user with profile and time zone."""
        user_id = _optional(args, "user")
        try:
            user = self._ws.user(user_id or "")
        except KeyError:
            raise ApiError("user_not_found") from None
        return {"user": user_profile(user, self._ws.identity.team_id)}

    def usergroups_users_list(self, args: Args) -> dict[str, Any]:
        """The members of a user group."""
        group = _required(args, "usergroup")
        members = self._ws.usergroups.get(group)
        if members is None:
            raise ApiError("no_such_subteam")
        return {"users": list(members)}
