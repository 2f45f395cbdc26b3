"""``epmpulse demo``: the whole app against the bundled sandboxes on loopback.

The Slack and EPM sandboxes start on 127.0.0.1, the one-process runtime of ``epmpulse
run`` starts against them with a temporary data directory, the tokens the sandbox
accepts and the API key ``demo-key``, a short scenario is played (slash commands, the
update modal, an EPM job followed to its end, one started from Slack with ``run``, a REST
call, and a job the close conductor starts by itself when that call makes what it waits on
OK), and the canvas and the Slack
calls made are reported. No credentials, no network beyond loopback, every wait bounded.

The scenario is a list of :class:`~bot.demo_scenario.Step` (:mod:`bot.demo_scenario`);
each does one thing as a user or a script would and returns its outcome. Extend it::

    def my_step(demo: Demo) -> str:
        ...
        return "what happened"

    run_demo(emit=print, steps=[*default_steps(), Step("Describe it", my_step)])
"""

from __future__ import annotations

import logging
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import requests
import yaml

from bot.app import start_runtime
from bot.config import Config, load_config
from bot.demo_scenario import (
    API_KEY,
    API_KEY_NAME,
    DEBOUNCE_SECONDS,
    EPM_SERVER,
    POLL_SECONDS,
    WAIT_SECONDS,
    Demo,
    Step,
    default_steps,
)
from bot.epm.device import sign_in
from bot.sandbox.epm import EpmSandbox
from bot.sandbox.slack import DEFAULT_CHANNEL_ID, SlackSandbox

logger = logging.getLogger(__name__)

# The sandbox's identity domain: a public client, signed in once with the device flow.
EPM_CLIENT_ID = "epmpulse-demo"
EPM_SCOPE = "urn:opc:serviceInstanceID=demo offline_access"
Emit = Callable[[str], None]


def demo_config(slack: SlackSandbox, epm: EpmSandbox, data_dir: Path) -> Config:
    """The configuration ``run`` gets: sandbox URLs and tokens, a temp dir, short periods."""
    estate = {
        "apps": {
            "Planning": {
                "domains": ["Actuals", "Forecast", "Budget"],
                "server": EPM_SERVER,
                "jobs": {
                    "Budget": {
                        "type": "RULES",
                        "name": "Aggregate Budget",
                        "parameters": {"Scenario": "Budget", "Period": "$PERIOD"},
                    }
                },
            },
            "FCCS": {
                "domains": ["Actuals", "Consolidation", "Reporting"],
                "server": EPM_SERVER,
                # Started by the close conductor once FCCS Actuals is OK (SPEC §17).
                "jobs": {"Reporting": {"type": "RULES", "name": "Run Reports", "auto_start": True}},
            },
            "ARCS": {"domains": ["Reconciliation"]},
        },
        "epm": {
            "servers": {
                EPM_SERVER: {
                    "kind": "planning",
                    "base_url": epm.base_url,
                    "application": "Vision",
                    "auth": {
                        "type": "oauth_device",
                        "token_url": epm.token_url,
                        "device_url": epm.device_url,
                        "client_id": EPM_CLIENT_ID,
                        "scope": EPM_SCOPE,
                    },
                }
            }
        },
        "canvas": {"title": "EPM Status (demo)", "timezone": "UTC"},
        # A close calendar whose deadline has always passed (WD1 00:00, no weekend): FCCS
        # Consolidation is overdue from the start, ARCS Reconciliation waits on it.
        "close": {
            "weekend": [],
            "deadlines": {"FCCS/Consolidation": "WD1 00:00"},
            "depends_on": {
                "ARCS/Reconciliation": ["FCCS/Consolidation"],
                "FCCS/Reporting": ["FCCS/Actuals"],
            },
            "start_delay_minutes": 0,  # the demo does not wait two minutes
        },
    }
    path = data_dir / "epmpulse.yml"
    path.write_text(yaml.safe_dump(estate, sort_keys=False), encoding="utf-8")
    env = {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_APP_TOKEN": slack.app_token,
        "SLACK_API_URL": slack.api_url,
        "SLACK_CHANNEL_ID": DEFAULT_CHANNEL_ID,
        "EPMPULSE_CONFIG": str(path),
        "EPMPULSE_DATA_DIR": str(data_dir / "data"),
        "EPMPULSE_HTTP_HOST": "127.0.0.1",
        "EPMPULSE_HTTP_PORT": "0",
        "EPMPULSE_API_KEYS": f"{API_KEY_NAME}:{API_KEY}",
        "EPMPULSE_CANVAS_DEBOUNCE_SECONDS": str(DEBOUNCE_SECONDS),
        "EPMPULSE_POLL_INTERVAL_SECONDS": f"{POLL_SECONDS:g}",
    }
    return load_config(env, cwd=data_dir)


def run_demo(emit: Emit, steps: Sequence[Step] | None = None) -> None:
    """Start the sandboxes and the app, play ``steps``, report canvas and Slack calls."""
    steps = default_steps() if steps is None else steps
    with (
        tempfile.TemporaryDirectory(prefix="epmpulse-demo-") as tmp,
        SlackSandbox() as slack,
        EpmSandbox() as epm,
    ):
        config = demo_config(slack, epm, Path(tmp))
        epm_sign_in(config, epm, emit)
        runtime = start_runtime(config)
        demo = Demo(slack, epm, runtime)
        try:
            slack.wait_connected(WAIT_SECONDS)
            emit(f"Slack sandbox at {slack.api_url}, EPM sandbox at {epm.base_url}")
            emit(f"Canvas {demo.canvas_id} in channel {demo.channel_id}\n")
            for number, step in enumerate(steps, start=1):
                emit(f"{number}. {step.title}")
                first, *more = step.action(demo).splitlines() or [""]
                emit(f"   -> {first}")
                for line in more:
                    emit(f"      {line}")
            markdown = slack.canvas_markdown(demo.canvas_id)
        finally:
            runtime.stop()
        report(emit, markdown, slack)


def epm_sign_in(config: Config, epm: EpmSandbox, emit: Emit) -> None:
    """Sign in to the EPM sandbox once, as ``epmpulse epm login`` does, and show it.

    The demo plays the person too: while the command waits, it enters the code on
    the sandbox's verification page with the sandbox user's password.
    """
    epm.register_client(EPM_CLIENT_ID, secrets.token_urlsafe(16))  # used as a public client
    epm.devices.interval = 1  # Oracle's 5 s default would only slow the demo down

    def person_signs_in_meanwhile(seconds: float) -> None:
        for code in epm.devices.pending_user_codes():
            form = {"user_code": code, "username": epm.username, "password": epm.password}
            requests.post(epm.verification_url, data=form, timeout=WAIT_SECONDS)
            emit(f"   (the demo enters {code} on that page as {epm.username})")
        time.sleep(seconds)

    emit(f"EPM sign-in: epmpulse epm login {EPM_SERVER} (OAuth 2 device flow)")
    signed_in = sign_in(
        config, EPM_SERVER, lambda line: emit(f"   {line}"), sleep=person_signs_in_meanwhile
    )
    emit(f"   -> signed in; refresh token stored in {signed_in.stored_in}\n")


def report(emit: Emit, markdown: str, slack: SlackSandbox) -> None:
    """Print the canvas and the Slack Web API calls the app made."""
    emit("\n--- canvas markdown " + "-" * 50)
    emit(markdown.rstrip("\n"))
    calls = slack.calls()
    emit(f"\n--- Slack Web API calls ({len(calls)}) " + "-" * 40)
    width = max((len(c.method) for c in calls), default=0)
    first = calls[0].at if calls else 0.0
    for call in calls:
        outcome = "ok" if call.ok else f"{call.status} {call.error}"
        emit(f"  +{call.at - first:6.2f}s  {call.method:<{width}}  {outcome}{_about(call.args)}")
    totals = Counter(c.method for c in calls)
    emit("\n" + ", ".join(f"{method}: {n}" for method, n in sorted(totals.items())))


def _about(args: dict[str, object]) -> str:
    for key in ("channel", "channel_id", "canvas_id", "user_id"):
        value = args.get(key)
        if isinstance(value, str) and value:
            return f"  ({key}={value})"
    return ""
