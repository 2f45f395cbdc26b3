"""trigger_id issuing and exchange: valid for a few seconds, usable once, like Slack's."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.sandbox.slack.errors import ApiError, invalid_arguments


@dataclass
class _Trigger:
    user_id: str
    issued_at: float
    used: bool = False


class TriggerStore:
    """Issues trigger_ids with interaction payloads and checks them in ``views.open/push``."""

    def __init__(self, clock: Callable[[], float], ttl: float = 3.0) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._triggers: dict[str, _Trigger] = {}
        self.ttl = ttl

    def issue(self, user_id: str) -> str:
        """A fresh trigger_id for ``user_id``, shaped like ``132456.7890123.abcdef``."""
        trigger_id = f"{int(time.time())}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}"
        with self._lock:
            self._triggers[trigger_id] = _Trigger(user_id, self._clock())
        return trigger_id

    def exchange(self, trigger_id: object) -> str:
        """Use up ``trigger_id`` and return its user, or refuse like Slack does."""
        if not isinstance(trigger_id, str) or not trigger_id:
            raise invalid_arguments("missing required field", "/trigger_id")
        with self._lock:
            trigger = self._triggers.get(trigger_id)
            if trigger is None:
                raise ApiError("invalid_trigger_id")
            if trigger.used:
                raise ApiError("exchanged_trigger_id")
            if self._clock() - trigger.issued_at > self.ttl:
                raise ApiError("expired_trigger_id")
            trigger.used = True
            return trigger.user_id
