"""The leader's sign-off sender (SPEC §15, §18): request messages, their updates, DMs.

:class:`SignOffOutbox` follows the overdue alerts' claim, post, record
(:mod:`bot.close.overdue`): a request message and a rejection DM are each claimed in a
commit fenced by the leader's epoch before they are sent, and recorded after. A crash
between the post and its record repeats that one post; nothing is lost or sent twice
otherwise. Updating a posted message with the decision is idempotent and needs no claim.
A finished request (decided, its message showing that, no DM due) is dropped from the
store. :class:`SignOffPart` runs it as a leader-only part.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient

from bot import signoff
from bot.errors import StoreError
from bot.lease import FencedError, Lease
from bot.parts import Check, Host
from bot.schedule import RepeatingPart
from bot.sending import Posted, Sender
from bot.service import StatusService
from bot.signoff import PENDING, Request
from bot.slack.blocks import Message
from bot.slack.client import WEB_API_ERRORS
from bot.slack.posting import post_message
from bot.slack.signoff import rejection_dm, request_message
from bot.store import WorkingState

logger = logging.getLogger(__name__)

JOB_ID = "signoff-outbox"


class SignOffOutbox(Sender):
    """Posts request messages, updates them with decisions, DMs rejections (module docs)."""

    what = "sign-off messages"

    def __init__(
        self,
        service: StatusService,
        client: WebClient,
        channel: str | None,
        *,
        lease: Lease | None = None,
    ) -> None:
        super().__init__(lease)
        self._service = service
        self._client = client
        self._channel = channel
        # Posted, but the record failed: record these, never post them again.
        self._posted: dict[str, str] = {}
        self._dm_posted: set[str] = set()

    def run_once(self) -> bool:
        """Bring every request's message and DM up to date; True when nothing is left to do."""
        try:
            for request in signoff.requests(self._service.store.snapshot().meta).values():
                if self._halted or not self._one(request):
                    return False
        except FencedError as exc:
            return self._fenced_out(exc)
        except StoreError as exc:
            self.last_error = f"cannot record sign-off messages: {exc}"
            logger.warning("%s; will retry", self.last_error)
            return False
        self.last_error = None
        return True

    def _one(self, request: Request) -> bool:
        if request.ts is None and request.state == PENDING and self._channel:
            if not self._post_request(request):
                return False
            request = self._read(request.id) or request
        elif request.ts and request.shown != request.state:
            if not self._update(request):
                return False
            request = self._read(request.id) or request
        if request.dm_due and not self._dm(request):
            return False
        current = self._read(request.id)
        if current is not None and current.finished:
            self._commit(lambda work: signoff.drop_request(work, request.id))
        return True

    def _post_request(self, request: Request) -> bool:
        epoch, channel = self._lease.epoch, self._channel
        assert channel is not None  # checked by the caller
        if request.id not in self._posted:
            self._change(request.id, lambda r: r._replace(claimed=epoch, channel=channel))
            what = f"the sign-off request for {request.name}"
            result = self._send(channel, request_message(request), what)
            if result is None:
                return False
            # "" marks a post Slack refused for good: it is not tried again.
            self._posted[request.id] = result.ts or ""
        ts = self._posted[request.id]

        def record(current: Request) -> Request:
            # Decided meanwhile: the message shows the request pending; the next tick updates it.
            return current._replace(ts=ts, shown=PENDING)

        self._change(request.id, record)
        del self._posted[request.id]
        return True

    def _update(self, request: Request) -> bool:
        message = request_message(request)
        try:
            self._client.chat_update(
                channel=request.channel or "",
                ts=request.ts or "",
                text=message.text,
                blocks=message.blocks,
            )
        except WEB_API_ERRORS as exc:
            if _gone(exc):  # deleted by hand: nothing left to update
                logger.warning("sign-off message of %s is gone; not updated", request.name)
            else:
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("could not update the sign-off message of %s", request.name)
                return False
        state = request.state
        self._change(request.id, lambda r: r._replace(shown=state))
        return True

    def _dm(self, request: Request) -> bool:
        if request.id not in self._dm_posted:
            epoch = self._lease.epoch
            self._change(request.id, lambda r: r._replace(dm_claimed=epoch))
            user = request.by.removeprefix(signoff.SLACK_PREFIX)
            what = f"the rejection DM for {request.name}"
            if self._send(user, rejection_dm(request), what) is None:
                return False
            self._dm_posted.add(request.id)
        self._change(request.id, lambda r: r._replace(dm_sent=True))
        self._dm_posted.discard(request.id)
        return True

    def _send(self, channel: str, message: Message, what: str) -> Posted | None:
        """Post ``message``; None when the run stops here (no lease, or failed for now).

        A post refused for good is logged and counts as done: it must not block the others.
        """
        result = post_message(self._client, channel, message.text, blocks=message.blocks, what=what)
        return result if self._went_out(result) else None

    def _read(self, request_id: str) -> Request | None:
        return signoff.requests(self._service.store.snapshot().meta).get(request_id)

    def _change(self, request_id: str, edit: Callable[[Request], Request]) -> None:
        def mutation(work: WorkingState) -> None:
            current = signoff.requests(work.meta).get(request_id)
            if current is not None:
                signoff.put_request(work, edit(current))

        self._commit(mutation)

    def _commit(self, mutation: Callable[[WorkingState], None]) -> None:
        self._service.store.commit(self._lease.fenced(mutation))


def _gone(exc: Exception) -> bool:
    response: Any = getattr(exc, "response", None)
    return response is not None and response.get("error") in {
        "message_not_found",
        "channel_not_found",
        "is_archived",
        "cant_update_message",
    }


class SignOffPart(RepeatingPart[SignOffOutbox]):
    """The sign-off outbox as a leader-only part: one scheduler job, every second."""

    name = "signoff"
    job_id = JOB_ID

    @classmethod
    def from_runtime(cls, runtime: Host, client: WebClient) -> SignOffPart:
        """Requests to ``SLACK_CHANNEL_ID``, DMs to requesters, through the leased ``client``."""
        channel = runtime.config.settings.slack_channel_id
        outbox = SignOffOutbox(runtime.service, client, channel, lease=runtime.lease)
        return cls(outbox, runtime.scheduler)

    def health(self) -> Check:
        """Failing while posts or updates keep failing."""
        if not self.started:
            return Check(False, "not started")
        if self.worker.last_error:
            return Check(False, self.worker.last_error)
        return Check(True, "sign-off messages up to date")
