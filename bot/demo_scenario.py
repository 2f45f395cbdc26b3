"""The demo's scenario: what a step can use (:class:`Demo`) and the steps it plays.

Each :class:`Step` does one thing as a user or a script would (a slash command, the
update modal, an EPM job followed to its end, a REST call, the close report) and returns
its outcome: a line, or more for an example to copy. :func:`default_steps` is the scenario
``epmpulse demo`` plays (:mod:`bot.demo`).
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bot.api import ApiPart
from bot.canvas.part import CanvasPart
from bot.close.archive import archive_key
from bot.close.periods import period_at, shift
from bot.model import DomainRecord, Status, utcnow
from bot.report.model import report_timezone
from bot.report.samples import sample_archives
from bot.runtime import Runtime
from bot.sandbox.epm import EpmSandbox, script
from bot.sandbox.slack import DEFAULT_CHANNEL_ID, DEFAULT_USER_ID, SlackSandbox
from bot.slack.modal import CALLBACK_ID, MESSAGE_ACTION, MESSAGE_BLOCK, status_block_id
from bot.store import WorkingState

DEBOUNCE_SECONDS = 1.0
POLL_SECONDS = 1.0
WAIT_SECONDS = 5.0
# A tracked job needs a few polls; at most this many poll periods are waited for.
JOB_WAIT_POLLS = 10
EPM_SERVER = "planning"
API_KEY_NAME, API_KEY = "demo", "demo-key"
# Where the demo leaves files worth keeping (the close report PNG), relative to the cwd.
OUTPUT_DIR = Path("epmpulse-demo")
SAMPLE_CLOSES = 6


@dataclass
class Demo:
    """What a step can use: both sandboxes and the running app."""

    slack: SlackSandbox
    epm: EpmSandbox
    runtime: Runtime
    user_id: str = DEFAULT_USER_ID
    channel_id: str = DEFAULT_CHANNEL_ID
    output_dir: Path = OUTPUT_DIR

    @property
    def canvas(self) -> CanvasPart:
        """The running canvas part."""
        part = self.runtime.leader_part("canvas")
        if not isinstance(part, CanvasPart):
            raise RuntimeError("the canvas part is not running")
        return part

    @property
    def api_url(self) -> str:
        """The base URL of the running REST API (its real port)."""
        return next(p for p in self.runtime.parts if isinstance(p, ApiPart)).url

    @property
    def canvas_id(self) -> str:
        """The id of the canvas the app maintains."""
        publisher = self.canvas.publisher
        if publisher is None:
            raise RuntimeError("the canvas part has not started")
        return publisher.canvas_id

    def command(self, text: str) -> str:
        """Run ``/epmpulse TEXT`` as the demo user; the first line of the app's reply."""
        reply = self.reply_body(text)
        first = str(reply.get("text") or "").strip()
        return first.splitlines()[0] if first else "(no text)"

    def reply_body(self, text: str) -> dict[str, Any]:
        """Run ``/epmpulse TEXT`` as the demo user; the reply posted to the response_url."""
        before = len(self.slack.responses())
        self.slack.send_command(text, user_id=self.user_id, channel_id=self.channel_id)
        post = self.slack.wait_for_response(count=before + 1, timeout=WAIT_SECONDS)
        return post.body

    def wait_for_canvas(self, timeout: float = DEBOUNCE_SECONDS + WAIT_SECONDS) -> float:
        """Wait until the canvas shows the current board; the seconds it took."""
        publisher = self.canvas.publisher
        assert publisher is not None
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.slack.canvas_markdown(self.canvas_id) == publisher.render():
                return time.monotonic() - started
            time.sleep(0.05)
        raise TimeoutError(f"the canvas did not show the board within {timeout:g} s")


@dataclass(frozen=True)
class Step:
    """One scripted step: a title to print and an action returning a one-line outcome."""

    title: str
    action: Callable[[Demo], str]


def slash(text: str) -> Step:
    """A step that runs ``/epmpulse TEXT``."""
    return Step(f"/epmpulse {text}", lambda demo: demo.command(text))


def slash_rows(text: str) -> Step:
    """A step that runs ``/epmpulse TEXT`` and shows every line of the reply (e.g. a board)."""
    return Step(f"/epmpulse {text}", lambda demo: "\n".join(reply_lines(demo.reply_body(text))))


_DATE = re.compile(r"<!date\^[^|>]*\|([^>]*)>")
_MENTION = re.compile(r"<@([A-Z0-9]+)>")


def reply_lines(body: dict[str, Any]) -> list[str]:
    """The lines a reply shows: its header and section texts, dates and mentions as text."""
    lines: list[str] = []
    for block in body.get("blocks") or []:
        text = (block.get("text") or {}).get("text") if isinstance(block, dict) else None
        if isinstance(text, str):
            lines.extend(text.splitlines())
    if not lines:
        lines = str(body.get("text") or "(no text)").splitlines()
    return [_MENTION.sub(r"@\1", _DATE.sub(r"\1", line)) for line in lines]


def modal_batch(app: str, statuses: dict[str, str], message: str) -> Step:
    """A step that opens the update shortcut and submits several domains of ``app`` at once."""

    def submit(demo: Demo) -> str:
        estate = demo.runtime.config.estate
        domains = estate.apps[app].domains
        demo.slack.open_shortcut(CALLBACK_ID, user_id=demo.user_id)
        modal = demo.slack.wait_for_modal(demo.user_id, timeout=WAIT_SECONDS)
        values: dict[str, object] = {
            status_block_id(estate.layout, app, domains.index(domain)): status
            for domain, status in statuses.items()
        }
        values[MESSAGE_BLOCK] = {MESSAGE_ACTION: message}
        ack = demo.slack.submit_view(modal["id"], values, user_id=demo.user_id)
        errors = (ack.payload or {}).get("errors")
        if errors or ack.refusal:
            return f"refused: {errors or ack.refusal}"
        return f"applied {len(statuses)} change(s) in one batch"

    changes = ", ".join(f"{d}={s}" for d, s in statuses.items())
    return Step(f"update modal for {app}: {changes}, message for both: {message!r}", submit)


def tracked_job(app: str, domain: str, job_id: int, details: str) -> Step:
    """A step that scripts an EPM job, tracks it with ``/epmpulse track`` and waits for OK."""

    def track(demo: Demo) -> str:
        demo.epm.add_job(EPM_SERVER, job_id, script("ok", running=2), details=details)
        started = time.monotonic()
        reply = demo.command(f"track {app} {domain} {job_id}")
        record = _wait_for_ok(demo, app, domain, started, f"tracking EPM job {job_id}")
        polls = demo.epm.job_polls(EPM_SERVER, job_id)
        return (
            f"{reply}\n{app} {domain} is {record.status.value} ({record.message}, by "
            f"{record.updated_by}) after {polls} EPM poll(s), {time.monotonic() - started:.1f} s"
        )

    return Step(f"EPM job {job_id}: /epmpulse track {app} {domain} {job_id}", track)


def started_job(app: str, domain: str, details: str) -> Step:
    """A step that starts the domain's EPM job with ``/epmpulse run`` and waits for OK."""

    def run(demo: Demo) -> str:
        job = demo.runtime.config.estate.apps[app].jobs[domain]
        demo.epm.script_start(job.name, script("ok", running=1), details=details)
        started = time.monotonic()
        reply = demo.command(f"run {app} {domain}")
        record = _wait_for_ok(demo, app, domain, started, f"running {job.name}")
        body = demo.epm.starts()[-1].body
        return (
            f"{reply}\nEPM received {json.dumps(body)}\n{app} {domain} is "
            f"{record.status.value} ({record.message}, by {record.updated_by}) after "
            f"{time.monotonic() - started:.1f} s"
        )

    return Step(f"EPM job start: /epmpulse run {app} {domain}", run)


def chained_start(app: str, domain: str) -> Step:
    """A step that waits for a job the close conductor starts by itself (SPEC §17)."""

    def wait(demo: Demo) -> str:
        job = demo.runtime.config.estate.apps[app].jobs[domain]
        started = time.monotonic()
        record = _wait_for_ok(demo, app, domain, started, f"the automatic start of {job.name}")
        announced = [
            _DATE.sub(r"\1", m.text or "")
            for m in demo.slack.messages(demo.channel_id)
            if (m.text or "").find(f"Starting *{job.name}*") >= 0
        ]
        body = next(s.body for s in demo.epm.starts() if s.body.get("jobName") == job.name)
        start = next(
            e for e in demo.runtime.service.history(app, domain) if e.new_status is Status.LOADING
        )
        return "\n".join(
            [
                *(announced or ["(no announcement)"]),
                f"EPM received {json.dumps(body)}",
                f"{app} {domain} started by {start.by} ({start.message}), then "
                f"{record.status.value} ({record.message}, by {record.updated_by})",
            ]
        )

    return Step(f"close conductor: {app} {domain} starts by itself (what it waits on is OK)", wait)


def _wait_for_ok(demo: Demo, app: str, domain: str, started: float, what: str) -> DomainRecord:
    timeout = JOB_WAIT_POLLS * POLL_SECONDS
    record = demo.runtime.service.get(app, domain)
    while record.status is not Status.OK:
        if time.monotonic() - started > timeout:
            raise TimeoutError(
                f"{app} {domain} was not OK {timeout:g} s after {what} "
                f"(now {record.status.value}: {record.message})"
            )
        time.sleep(0.05)
        record = demo.runtime.service.get(app, domain)
    return record


def rest_call(app: str, domain: str, status: str, message: str) -> Step:
    """A step that sets a status with ``POST /api/v1/status`` and shows the same as curl."""
    body = {"app": app, "domain": domain, "status": status, "message": message}

    def post(demo: Demo) -> str:
        url = f"{demo.api_url}/api/v1/status"
        with requests.Session() as session:
            session.trust_env = False  # loopback: no proxy from the environment
            response = session.post(
                url, json=body, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10
            )
        if response.ok:
            record = demo.runtime.service.get(app, domain)
            outcome = (
                f"{record.app} {record.domain} is now {record.status.value} ({record.updated_by})"
            )
        else:
            try:  # the API's error body; anything else in front of it answers otherwise
                error = response.json().get("error") or {}
            except (ValueError, AttributeError):
                error = {}
            outcome = f"{error.get('code', 'error')}: {error.get('message', response.text[:200])}"
        return "\n".join(
            [
                f"HTTP {response.status_code} {outcome}",
                "The same call with curl (this demo's API stops when the demo ends):",
                f"  curl -sS -X POST {url} \\",
                '    -H "Authorization: Bearer $EPMPULSE_KEY" \\',
                '    -H "Content-Type: application/json" \\',
                f"    -d {shlex.quote(json.dumps(body))}",
                f"The demo's API key is {API_KEY} (EPMPULSE_KEY={API_KEY}).",
            ]
        )

    return Step(f"REST API: POST /api/v1/status {app} {domain} {status}", post)


def canvas_caught_up(demo: Demo) -> str:
    """Wait for the canvas to show the final board."""
    return f"canvas up to date {demo.wait_for_canvas():.1f} s after the last step"


def close_report(demo: Demo) -> str:
    """Seed sample archives of six earlier closes, run ``/epmpulse report``, keep the PNG."""
    service = demo.runtime.service
    tz = report_timezone(service.layout)
    last = shift(period_at(utcnow(), tz), -1)  # the latest close that has finished
    archives = sample_archives(service.layout.domain_keys(), last, closes=SAMPLE_CLOSES, tz=tz)

    def seed(work: WorkingState) -> None:
        for period, archive in archives.items():
            work.put_meta(archive_key(period), archive)

    service.store.commit(seed)
    before = len(demo.slack.files.uploads(demo.channel_id))
    demo.slack.send_command("report", user_id=demo.user_id, channel_id=demo.channel_id)
    upload = demo.slack.files.wait_for_upload(
        demo.channel_id, count=before + 1, timeout=WAIT_SECONDS
    )
    demo.output_dir.mkdir(parents=True, exist_ok=True)
    path = (demo.output_dir / upload.filename).resolve()
    path.write_bytes(upload.data)
    first, *_ = (upload.initial_comment or "").splitlines() or [""]
    return "\n".join(
        [
            f'SAMPLE archives (marked "sample": true) of {", ".join(archives)} seeded',
            f"{upload.filename} ({len(upload.data)} bytes) shared in {upload.channel}: {first}",
            f"close report PNG written to {path}",
        ]
    )


def default_steps() -> list[Step]:
    """The scenario a newcomer sees first."""
    return [
        slash("status Planning Actuals OK Loaded 1.2M rows"),
        slash('status FCCS Consolidation Error "Rule 12 failed | see log"'),
        slash("status ARCS Reconciliation Loading"),
        # The modal's one message is saved on every changed domain: pick one that fits both.
        modal_batch(
            "Planning", {"Forecast": "Warning", "Budget": "OK"}, "Reviewed in the close call"
        ),
        tracked_job("Planning", "Actuals", 4711, "Actuals loaded"),
        started_job("Planning", "Budget", "Budget aggregated"),
        rest_call("FCCS", "Actuals", "OK", "Posted through the REST API"),
        slash_rows("status Planning"),
        # FCCS Actuals became OK over REST (step 7): FCCS Reporting starts by itself.
        chained_start("FCCS", "Reporting"),
        slash_rows("close"),
        slash("refresh"),
        Step("canvas catches up", canvas_caught_up),
        Step("/epmpulse report (six sample closes)", close_report),
    ]
