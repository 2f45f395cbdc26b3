"""Oracle EPM Cloud emulator for tests and `epmpulse demo`, served over real HTTP on loopback.

Endpoints (all but the token endpoint need HTTP Basic or a bearer access token):

- `GET /HyperionPlanning/rest/v3/applications/{app}/jobs/{id}` (planning, fccs)
- `GET /aif/rest/V1/jobs/{id}` (data_integration; numbers sent as strings)
- `GET /armARCS/rest/v1/jobs/{id}` (arcs)
- `POST /HyperionPlanning/rest/v3/applications/{app}/jobs`, `POST /aif/rest/V1/jobs`
  (job starts, see `starts`)
- `POST /oauth2/v1/token` (`refresh_token` with rotation, `client_credentials`)

    with EpmSandbox() as epm:
        epm.add_job("planning", 42, script("ok", running=2), details="Cube refreshed")
        requests.get(epm.job_url("planning", 42), auth=(epm.username, epm.password))
"""

from __future__ import annotations

from bot.sandbox.epm.jobs import KINDS, OUTCOMES, JobState, Kind, Outcome, ScriptedJob, script
from bot.sandbox.epm.log import RequestRecord
from bot.sandbox.epm.sandbox import EpmSandbox
from bot.sandbox.epm.starts import StartRecord

__all__ = [
    "KINDS",
    "OUTCOMES",
    "EpmSandbox",
    "JobState",
    "Kind",
    "Outcome",
    "RequestRecord",
    "ScriptedJob",
    "StartRecord",
    "script",
]
