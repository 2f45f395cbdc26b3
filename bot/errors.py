"""The exceptions EPMPulse raises, in one tree.

    EpmPulseError                 base of everything below
    ├── ValidationError           bad input from a user or script; changes nothing
    │   ├── UnknownNameError      unknown app / domain / status / server; names the choices
    │   ├── MessageTooLongError   a message over 200 characters
    │   ├── NoJobError            ``run`` on a domain that has no EPM job configured
    │   ├── JobRunningError       ``run`` on a domain that still follows an unfinished job
    │   └── StaleRequestError     a sign-off decision on a request no longer pending
    ├── NotAllowedError           the caller may read but not write
    ├── ConfigError               configuration problems, every one listed
    ├── StoreError                the data directory cannot be read or written
    ├── SlackError                Slack refused a call or could not be reached
    │   └── CanvasError           the canvas could not be checked or created at start-up
    └── EpmError                  an EPM request failed (``permanent`` says whether to retry)
        └── JobStartError         EPM did not start a job or its answer was lost

Third-party errors are translated at the boundary with ``raise … from exc``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# How similar (difflib ratio, 0..1) a choice must be to be offered as "Did you mean …?".
# 0.6 keeps one or two typos in short names ("Erorr" 0.8, "Plannig" 0.93) and drops
# unrelated words ("Done" vs Pending 0.36, "Budget" vs Consolidation 0.21).
SUGGESTION_CUTOFF = 0.6


class EpmPulseError(Exception):
    """Base class of every EPMPulse error."""


class ValidationError(EpmPulseError):
    """Input that cannot be accepted; nothing was changed.

    ``code`` is the REST error code (SPEC §7) that describes the problem.
    """

    code = "INVALID_REQUEST"


class UnknownNameError(ValidationError):
    """An app, domain, status or server name that does not exist."""

    def __init__(
        self,
        kind: str,
        given: str,
        choices: Sequence[str],
        *,
        context: str = "",
        code: str = "INVALID_REQUEST",
    ) -> None:
        self.kind = kind
        self.given = given
        self.choices = list(choices)
        self.suggestion = closest_match(given, self.choices)
        self.code = code
        where = f" for {context}" if context else ""
        text = f"Unknown {kind} '{given}'{where}. Valid: {', '.join(self.choices) or '(none)'}."
        if self.suggestion:
            text += f" Did you mean {self.suggestion}?"
        super().__init__(text)


class MessageTooLongError(ValidationError):
    """A status message longer than the limit."""

    def __init__(self, length: int, limit: int) -> None:
        self.length = length
        self.limit = limit
        super().__init__(f"Message is {length} characters; the limit is {limit}.")


class NoJobError(ValidationError):
    """A job start for a domain that has no EPM job configured; names those that have one."""

    code = "INVALID_DOMAIN"


class JobRunningError(ValidationError):
    """A job start for a domain that still follows an unfinished EPM job; nothing was sent."""

    code = "JOB_RUNNING"


class StaleRequestError(ValidationError):
    """An approval or rejection of a sign-off request that was decided or cancelled already."""


class NotAllowedError(EpmPulseError):
    """The caller is not allowed to change statuses."""


class ConfigError(EpmPulseError):
    """Invalid configuration; ``problems`` lists every problem found."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"Invalid configuration ({len(self.problems)} problem(s)):\n{lines}")


class StoreError(EpmPulseError):
    """The store could not read or durably write its files.

    ``reason`` is a short phrase for people (``lock timeout``); without one the cause
    chain is described (see :func:`bot.store.health.failure_reason`).
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class SlackError(EpmPulseError):
    """Slack refused a call or could not be reached."""


class CanvasError(SlackError):
    """The canvas could not be checked or created at start-up."""


class EpmError(EpmPulseError):
    """An EPM request failed; ``permanent`` is True when retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool, status_code: int | None = None) -> None:
        self.permanent = permanent
        self.status_code = status_code
        super().__init__(message)


class JobStartError(EpmError):
    """EPM refused, failed or could not be asked to start a job; the status is unchanged.

    ``maybe_started`` is True when the request was sent but its answer was lost
    (a timeout or a dropped connection): the job may be running in EPM, so the
    caller must check there rather than simply start it again.
    """

    def __init__(
        self, message: str, *, maybe_started: bool, status_code: int | None = None
    ) -> None:
        self.maybe_started = maybe_started
        super().__init__(message, permanent=True, status_code=status_code)


def closest_match(given: str, choices: Sequence[str]) -> str | None:
    """The choice closest to ``given`` (case-insensitive), or None when none is close.

    A choice that begins with what was typed (or is the beginning of it) is close;
    otherwise the most similar choice, only when its similarity reaches
    ``SUGGESTION_CUTOFF`` ("Forcast" suggests Forecast, "Done" suggests nothing).
    """
    lowered = {c.lower(): c for c in choices}
    needle = given.strip().lower()
    if not lowered or not needle:
        return None
    for low, original in lowered.items():
        if low.startswith(needle) or needle.startswith(low):
            return original
    import difflib  # only a wrong name pays for it (one-shot start-up, SPEC §12)

    close = difflib.get_close_matches(needle, list(lowered), n=1, cutoff=SUGGESTION_CUTOFF)
    return lowered[close[0]] if close else None
