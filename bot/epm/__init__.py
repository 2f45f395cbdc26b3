"""The EPM boundary: per-server clients, job-status mapping, job tracking and the poller.

- ``client``: EpmClient — requests + urllib3 Retry, timeouts, 401 → refresh → retry
- ``auth``: Basic, OAuth refresh-token (rotating) and client-credentials
- ``tokens``: rotated refresh tokens persisted 0600 under the data directory
- ``mapping``: job-status JSON → Status (SPEC §6)
- ``tracking``: track() — set Loading and follow a job
- ``start_request``: the job-start HTTP request per server kind, sent once, and its answer
- ``launch``: JobLauncher — ``run APP DOMAIN``: refuse, reserve, start once, track
- ``poller``: Poller — one parallel poll cycle, resolution, outage note, stale rule
- ``part``: EpmPart — the scheduler jobs of ``epmpulse run``
- ``check``: check_servers() — ``epmpulse check``
"""

from __future__ import annotations

from bot.epm.client import EpmClient
from bot.epm.mapping import JobResult, parse_job
from bot.epm.part import EpmPart
from bot.epm.poller import CycleSummary, Poller
from bot.epm.tracking import track

__all__ = [
    "CycleSummary",
    "EpmClient",
    "EpmPart",
    "JobResult",
    "Poller",
    "parse_job",
    "track",
]
