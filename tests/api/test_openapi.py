"""The OpenAPI document: served, complete, and true to what the API answers."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance

from bot.api import create_api
from bot.api.guard import MAX_BODY_BYTES
from bot.api.openapi import BODY_LIMIT_EXTENSION
from bot.api.ratelimit import RateLimits
from bot.config import load_config
from bot.metrics import Metrics
from bot.runtime import Check
from bot.service import StatusService
from bot.store import JsonStore
from tests.api.conftest import CI_KEY, KEYS, TestClient

KEYED_ERRORS = {"400", "401", "403", "413", "429", "503"}


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    """The served OpenAPI document."""
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def test_every_route_of_the_spec_is_documented(spec: dict[str, Any]) -> None:
    """The routes of SPEC §7, §11 (close), §13 (jobs) and §14 (chart), and nothing else."""
    operations = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert operations == {
        ("POST", "/api/v1/status"),
        ("POST", "/api/v1/status/batch"),
        ("GET", "/api/v1/status"),
        ("GET", "/api/v1/status/{app}"),
        ("GET", "/api/v1/status/{app}/{domain}"),
        ("GET", "/api/v1/history"),
        ("GET", "/api/v1/close/{period}/chart.png"),
        ("GET", "/api/v1/close"),  # SPEC §11
        ("GET", "/api/v1/close/{period}"),
        ("POST", "/api/v1/jobs"),
        ("POST", "/api/v1/holds"),  # SPEC §17
        ("GET", "/api/v1/export"),
        ("GET", "/api/v1/health"),
        ("GET", "/metrics"),
    }


def test_keyed_routes_declare_their_errors_and_the_bearer_scheme(spec: dict[str, Any]) -> None:
    """Every keyed route lists 400/401/403/413/429/503 with the error models, never 422."""
    schemas = spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = set(operation["responses"])
            assert "422" not in responses, (method, path)
            if path in ("/api/v1/health", "/metrics"):
                assert "security" not in operation
                continue
            assert responses >= KEYED_ERRORS, (method, path)
            assert operation["security"] == [{"apiKey": []}]
            assert "Retry-After" in operation["responses"]["429"]["headers"]
    codes = schemas["BadRequestError"]["properties"]["code"]["enum"]
    assert set(codes) == {"INVALID_REQUEST", "INVALID_APP", "INVALID_DOMAIN", "INVALID_STATUS"}
    assert schemas["MissingAuthError"]["properties"]["code"]["const"] == "MISSING_AUTH"
    assert "ValidationError" not in schemas
    assert spec["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"


def test_a_change_is_documented_as_the_record_plus_the_previous_status(
    spec: dict[str, Any],
) -> None:
    """POST /status answers ``data`` with the record's fields at top level, not nested."""
    schemas = spec["components"]["schemas"]
    ok = spec["paths"]["/api/v1/status"]["post"]["responses"]["200"]
    envelope = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    data = schemas[envelope]["properties"]["data"]["$ref"].rsplit("/", 1)[1]
    fields = set(schemas[data]["properties"])
    assert fields == {
        *("app", "domain", "status", "message", "updated_at", "updated_by", "jobs", "since"),
        *("due_at", "overdue", "waiting_on"),  # SPEC §11
        "disputed",  # SPEC §17
        *("previous_status", "status_changed"),
        *("pending_approval", "approved_by"),  # SPEC §18
    }
    update = schemas["StatusUpdate"]["properties"]
    for optional in ("message", "jobs"):
        assert {"type": "null"} in update[optional]["anyOf"], optional


def test_every_request_body_states_the_64_kib_cap_and_its_413(spec: dict[str, Any]) -> None:
    """Each operation with a body states the cap (extension and text) and documents 413."""
    bodies = 0
    for operations in spec["paths"].values():
        for operation in operations.values():
            if "requestBody" not in operation:
                continue
            bodies += 1
            body = operation["requestBody"]
            assert body[BODY_LIMIT_EXTENSION] == MAX_BODY_BYTES == 65536
            assert "64 KiB" in body["description"]
            assert "413" in body["description"]
            assert "65536 bytes" in operation["responses"]["413"]["description"]
    assert bodies == 4  # POST /status, /status/batch, /jobs, /holds


def test_the_docs_page_is_served(client: TestClient) -> None:
    """Interactive docs live at /api/v1/docs."""
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert "/api/v1/openapi.json" in response.text


def _generated_api() -> FastAPI:
    """An app over its own temp store, limits high enough for hundreds of generated calls.

    Built at import (not from a fixture): schemathesis's lazy fixture loader relies on a
    pytest internal that pytest 9.2 removed.
    """
    data_dir = Path(tempfile.mkdtemp(prefix="epmpulse-openapi-"))
    atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    config = load_config({"EPMPULSE_DATA_DIR": str(data_dir)})
    metrics = Metrics()
    service = StatusService(config.estate.layout, JsonStore(data_dir), metrics=metrics)
    return create_api(
        service,
        api_keys={k: SecretStr(v) for k, v in KEYS.items()},
        metrics=metrics,
        health=lambda: {"store": Check(True, "board version 1")},
        rate_limits=RateLimits.parse("status=100000/minute,batch=100000/minute,read=100000/minute"),
    )


def _negative_data_rejections(document: dict[str, Any]) -> list[str]:
    """The statuses that reject invalid data: schemathesis's own, plus the documented 413.

    Invalid data is often large (an array far over ``maxItems``, a string far over
    ``maxLength``); over the body cap the guard refuses it with 413 before it is parsed.
    The document states that cap on every body (``x-max-body-bytes``); read it from there
    so the fuzzer counts the 413 as the rejection it is.
    """
    capped = [
        operation
        for operations in document["paths"].values()
        for operation in operations.values()
        if BODY_LIMIT_EXTENSION in operation.get("requestBody", {})
    ]
    assert capped and all("413" in operation["responses"] for operation in capped)
    return [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]


_api = _generated_api()

# Authenticate through the document's own security scheme, so schemathesis knows the
# key is supplied (and still checks that requests without it are refused).
schema = schemathesis.openapi.from_asgi(
    "/api/v1/openapi.json",
    _api,
    config=SchemathesisConfig.from_dict(
        {
            "auth": {"openapi": {"apiKey": {"bearer": CI_KEY}}},
            "checks": {
                "negative_data_rejection": {
                    "expected-statuses": _negative_data_rejections(_api.openapi())
                }
            },
        }
    ),
)

# CI runs the same examples every time (a red build then always means a real change);
# a developer's run keeps exploring new ones.
IN_CI = bool(os.environ.get("CI"))
CLIPPED_LINE = 400


def _clipped(report: str) -> str:
    """A failure report with every line cut to ``CLIPPED_LINE`` characters.

    The reproducing ``curl`` holds the whole generated body, which can be tens of KiB
    of escaped JSON on one line; the status, the failed check and the body's start
    say what went wrong.
    """
    lines = report.splitlines()
    return "\n".join(
        line if len(line) <= CLIPPED_LINE else f"{line[:CLIPPED_LINE]}… ({len(line)} chars)"
        for line in lines
    )


def parses_schema_valid_input(_ctx: Any, response: Any, case: Any) -> None:
    """Input the schema calls valid is never refused by parsing (only by unknown names).

    Replaces schemathesis's ``positive_data_acceptance``: app, domain, status and EPM
    server names are configuration, not schema, so a valid-looking unknown name is
    rightly 400 INVALID_APP/DOMAIN/STATUS; a parse error would mean the schema lies.
    """
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if response.status_code == 400:
        error = response.json()["error"]
        assert not error["message"].startswith("Invalid request:"), error


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    derandomize=IN_CI,
    suppress_health_check=[HealthCheck.too_slow],
)
def test_generated_requests_never_fail_and_match_the_schema(case: Any) -> None:
    """Valid and invalid generated requests: no 5xx, documented codes, conforming bodies."""
    try:
        case.call_and_validate(
            excluded_checks=[positive_data_acceptance],
            additional_checks=[parses_schema_valid_input],
        )
    except FailureGroup as failures:
        raise AssertionError(_clipped(str(failures))) from None


def test_a_failure_report_keeps_each_line_short() -> None:
    """A reproducing curl with a huge body is cut, the lines around it stay whole."""
    report = "- ST201 Schema-violating request accepted\n" + "curl -d '" + "x" * 90_000 + "'"
    clipped = _clipped(report).splitlines()
    assert clipped[0] == "- ST201 Schema-violating request accepted"
    assert len(clipped[1]) < CLIPPED_LINE + 40
    assert clipped[1].endswith("(90010 chars)")
