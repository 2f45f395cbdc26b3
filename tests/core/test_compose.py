"""compose.yaml under compose's own rules: interpolation first, then profiles (issue 22).

Docker is not needed: the file is loaded as compose loads it. Compose replaces every
``${VAR}`` in the whole file before it applies profiles (so ``${VAR:?…}`` anywhere fails
every profile), starts the services without ``profiles`` always and the others only
when a profile of theirs is active, and refuses a reference (``depends_on``,
``network_mode: service:…``) to a service left out, unless that ``depends_on`` says
``required: false``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOKENS = {
    "SLACK_BOT_TOKEN": "xoxb-real",
    "SLACK_APP_TOKEN": "xapp-real",
    "SLACK_CHANNEL_ID": "C0REAL",
    "EPMPULSE_API_KEYS": "ci:real-key",
}
INSTANCES = ("epmpulse-1", "epmpulse-2")
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}, $$.
REFERENCE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(Exception):
    """A ``${NAME:?message}`` whose variable is unset (compose refuses the whole file)."""


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """``value`` with every variable reference replaced as compose does."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        unset = name not in env or (op is not None and op.startswith(":") and not env[name])
        if op is None:
            return env.get(name, "")
        if op.endswith("-"):
            return arg if unset else env[name]
        if unset:
            raise MissingVariable(f"{name}: {arg}")
        return env[name]

    return REFERENCE.sub(replace, value)


def project(env: dict[str, str], profiles: set[str]) -> dict[str, dict[str, Any]]:
    """The services compose would start after interpolation and profiles, checked as it does."""
    model = interpolate(yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8")), env)
    services = {
        name: service
        for name, service in model["services"].items()
        if not service.get("profiles") or profiles & set(service["profiles"])
    }
    for name, service in services.items():
        for needed, how in service.get("depends_on", {}).items():
            assert needed in services or how.get("required") is False, (name, needed)
        shared = service.get("network_mode", "")
        if shared.startswith("service:"):
            assert shared.removeprefix("service:") in services, (name, shared)
    return services


def test_the_model_refuses_a_required_variable_that_is_unset() -> None:
    """The rules above can fail: ``${X:?…}`` with X unset (or empty) refuses the file."""
    with pytest.raises(MissingVariable, match="X: set it"):
        interpolate({"a": ["${X:?set it}"]}, {"X": ""})
    assert interpolate("${X:-d} ${X-e} $$X ${Y}", {"X": ""}) == "d  $X "


def test_the_sandbox_profile_needs_no_token() -> None:
    """``docker compose --profile sandbox up`` with an empty environment: a valid project."""
    services = project({}, {"sandbox"})
    assert set(services) == {"postgres", "redis", "sandbox", *INSTANCES}

    sandbox = services["sandbox"]
    env_file = re.search(r"epmpulse sandbox --env-file (\S+)", sandbox["command"][-1])
    assert env_file is not None
    path = env_file.group(1)
    volume = next(v for v in sandbox["volumes"] if v.endswith(":" + os.path.dirname(path)))
    assert path in sandbox["healthcheck"]["test"]  # healthy once the lines are written
    for name in INSTANCES:
        instance = services[name]
        assert volume in instance["volumes"]  # the same directory at the same place
        assert f". {path};" in instance["command"][-1]
        assert instance["depends_on"]["sandbox"]["condition"] == "service_healthy"
        # The sandbox listens on 127.0.0.1 only: its loopback must be the instance's.
        assert instance["network_mode"] == sandbox["network_mode"]


def test_without_a_profile_the_tokens_of_dot_env_reach_both_instances() -> None:
    """``docker compose up`` with a .env of real tokens: no sandbox, the tokens passed on."""
    services = project(TOKENS, set())
    assert "sandbox" not in services
    ports = []
    for name in INSTANCES:
        environment = services[name]["environment"]
        assert {key: environment[key] for key in TOKENS} == TOKENS
        ports.append(environment["EPMPULSE_HTTP_PORT"])
    assert ports == ["8081", "8082"]  # one network namespace: a port each
    owner = services[INSTANCES[0]]["network_mode"].removeprefix("service:")
    assert services[owner]["ports"] == ["8081:8081", "8082:8082"]


def test_without_a_profile_and_without_tokens_run_names_each_missing_one(tmp_path: Path) -> None:
    """No sandbox and no .env: the instances' own validation lists the tokens, exit 2."""
    environment = project({}, set())[INSTANCES[0]]["environment"]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EPMPULSE_", "SLACK_"))}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        cwd=tmp_path,
        env={**base, **environment, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "SLACK_BOT_TOKEN is required" in done.stdout
    assert "SLACK_APP_TOKEN is required" in done.stdout
    assert "SLACK_CANVAS_ID or SLACK_CHANNEL_ID is required" in done.stdout
