"""A strict Slack emulator on loopback for end-to-end tests and ``epmpulse demo``.

``SlackSandbox`` serves the Web API over HTTP (``api_url``) and Socket Mode over
WebSocket, so the real ``slack_bolt`` app and ``slack_sdk`` clients talk to it unchanged.
It refuses what Slack refuses (tokens, trigger_ids, Block Kit limits, ``canvases.edit``
rules, rate-limit tiers) and records everything for assertions.

Modules: ``sandbox`` (public face, built from the mixins ``control``, ``actions`` and
``observe``), ``server`` (HTTP gate), ``webapi`` (methods), ``socket_mode`` (WebSocket
envelopes), ``workspace`` (state and records), ``views``, ``view_state``, ``canvases``,
``blocks`` (validation), ``payloads`` (envelope payloads), ``triggers``, ``ratelimit``,
``faults``, ``records``, ``errors``.
"""

from __future__ import annotations

from bot.sandbox.slack.errors import AckTimeout, ApiError, SandboxError
from bot.sandbox.slack.records import Ack, Call, PostedMessage, ResponsePost, User
from bot.sandbox.slack.sandbox import (
    DEFAULT_CHANNEL_ID,
    DEFAULT_COMMAND,
    DEFAULT_USER_ID,
    SlackSandbox,
)

__all__ = [
    "DEFAULT_CHANNEL_ID",
    "DEFAULT_COMMAND",
    "DEFAULT_USER_ID",
    "Ack",
    "AckTimeout",
    "ApiError",
    "Call",
    "PostedMessage",
    "ResponsePost",
    "SandboxError",
    "SlackSandbox",
    "User",
]
