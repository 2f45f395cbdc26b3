"""The ``close:`` section of the YAML file (SPEC §11) and the checks that need the estate.

Checks that need only the section (deadline syntax, weekend names, timezone, the
holiday country) are field validators, so pydantic reports each bad value on its own.
Checks that need the apps (unknown names, dependency cycles) are in
:func:`close_reference_problems`, which lists every problem at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.close.holiday_cache import is_known
from bot.close.rules import (
    DEADLINE_PATTERN,
    WEEKDAYS,
    CloseRules,
    SignOffRules,
    parse_deadline,
)
from bot.errors import closest_match

LONGEST_MONTH_DAYS = 31
# A Slack user (U…, W…) or usergroup (S…) id.
SLACK_ID = re.compile(r"^[UWS][A-Z0-9]{2,}$")


def _deadline_text(text: str) -> str:
    parse_deadline(text)
    return text.strip()


DeadlineText = Annotated[str, AfterValidator(_deadline_text)]


class HolidaySettings(BaseModel):
    """Public holidays from the ``holidays`` package plus extra closed dates."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    country: str | None = None
    subdivision: str | None = None
    extra: list[date] = Field(default_factory=list)

    @field_validator("country")
    @classmethod
    def _country_code(cls, code: str | None) -> str | None:
        # ISO 3166 codes are case-insensitive to people (gb, GB), like every other name here.
        return code.strip().upper() if code else code

    @model_validator(mode="after")
    def _known_country(self, info: ValidationInfo) -> HolidaySettings:
        if self.subdivision and not self.country:
            raise ValueError("'subdivision' needs a 'country'")
        kept = (info.context or {}).get("holiday_cache")
        if self.country and not (kept and is_known(kept, self.country, self.subdivision)):
            import holidays  # only configurations with holidays pay for the import

            try:
                holidays.country_holidays(self.country, subdiv=self.subdivision, years=[2026])
            except NotImplementedError as exc:
                supported = holidays.list_supported_countries()
                if self.country not in supported:
                    hint = closest_match(self.country, list(supported))
                    guess = f"; did you mean {hint}?" if hint else ""
                    raise ValueError(
                        f"unknown holiday country '{self.country}' (an ISO 3166 code, e.g. GB, "
                        f"US, DE{guess})"
                    ) from exc
                valid = ", ".join(supported[self.country]) or "(none)"
                raise ValueError(
                    f"unknown subdivision '{self.subdivision}' of {self.country}; valid: {valid}"
                ) from exc
        return self


class SignOffSection(BaseModel):
    """Four-eyes sign-off (SPEC §18): the domains whose OK needs approval, and who approves."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    domains: list[str] | Literal["all"] = Field(min_length=1)
    approvers: list[str] = Field(min_length=1)

    @field_validator("approvers")
    @classmethod
    def _slack_ids(cls, ids: list[str]) -> list[str]:
        bad = [i for i in ids if not SLACK_ID.match(i.strip())]
        if bad:
            raise ValueError(
                f"{', '.join(repr(b) for b in bad)}: not a Slack user (U…, W…) or usergroup (S…) id"
            )
        return [i.strip() for i in ids]

    def rules(self) -> SignOffRules:
        """The validated section as plain data."""
        domains = None if self.domains == "all" else tuple(d.strip() for d in self.domains)
        return SignOffRules(domains=domains, approvers=tuple(self.approvers))


class CloseSection(BaseModel):
    """The monthly close: where working days are counted, deadlines and dependencies."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    timezone: str | None = None
    holidays: HolidaySettings = Field(default_factory=HolidaySettings)
    weekend: list[str] = Field(default_factory=lambda: ["Saturday", "Sunday"])
    reset: bool = False
    deadlines: dict[str, DeadlineText] = Field(default_factory=dict)
    depends_on: dict[str, list[str]] = Field(default_factory=dict)
    sign_off: SignOffSection | None = None
    # How long the close conductor waits after announcing a start (SPEC §17); 0 = at once.
    start_delay_minutes: int = Field(default=2, ge=0, le=1440)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str | None) -> str | None:
        if name is None:
            return None
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone '{name}'") from exc
        return name

    @field_validator("weekend")
    @classmethod
    def _weekday_names(cls, names: list[str]) -> list[str]:
        canonical = []
        for name in names:
            match = next((d for d in WEEKDAYS if d.lower() == name.strip().lower()), None)
            if match is None:
                hint = closest_match(name, WEEKDAYS)
                raise ValueError(
                    f"'{name}' is not a day of the week (did you mean {hint}?); "
                    f"valid: {', '.join(WEEKDAYS)}"
                )
            canonical.append(match)
        if len(set(canonical)) == len(WEEKDAYS):
            raise ValueError("every day is a weekend day: no working day is left")
        return canonical

    def rules(self) -> CloseRules:
        """The validated section as plain data (what the calendar reads)."""
        return CloseRules(
            timezone=self.timezone,
            weekend=tuple(self.weekend),
            country=self.holidays.country,
            subdivision=self.holidays.subdivision,
            extra_holidays=tuple(self.holidays.extra),
            reset=self.reset,
            deadlines=dict(self.deadlines),
            depends_on={name: tuple(up) for name, up in self.depends_on.items()},
            sign_off=None if self.sign_off is None else self.sign_off.rules(),
        )


def most_working_days(weekend: Iterable[str]) -> int:
    """The most working days a month can have with ``weekend`` (holidays aside)."""
    off = {WEEKDAYS.index(d) for d in weekend}
    return max(
        sum(1 for offset in range(LONGEST_MONTH_DAYS) if (start + offset) % 7 not in off)
        for start in range(7)
    )


def close_reference_problems(
    apps: Mapping[str, Sequence[str]],
    deadlines: Mapping[str, object],
    depends_on: Mapping[str, object],
    weekend: object = ("Saturday", "Sunday"),
    sign_off: object = None,
) -> list[str]:
    """Every unknown ``APP/DOMAIN`` name (with the closest match), every deadline on a
    working day no month has, and every dependency cycle."""
    known = {f"{a}/{d}".lower(): f"{a}/{d}" for a, domains in apps.items() for d in domains}
    problems: list[str] = []

    def resolve(name: object, where: str) -> str | None:
        text = str(name)
        found = known.get(text.strip().lower())
        if found is None:
            hint = closest_match(text, list(known.values()))
            problems.append(
                f"{where}: unknown domain '{text}' (use APP/DOMAIN"
                + (f"; did you mean {hint}?)" if hint else ")")
            )
        return found

    names = weekend if isinstance(weekend, list | tuple) else ()
    given = {str(w).strip().lower() for w in names}
    off = [d for d in WEEKDAYS if d.lower() in given]
    most = most_working_days(off)
    for name, text in deadlines.items():
        resolve(name, "close.deadlines")
        match = DEADLINE_PATTERN.match(text) if isinstance(text, str) else None
        if match and int(match.group(1)) > most:
            problems.append(
                f"close.deadlines.{name}: '{text}' is a working day no month has "
                f"(at most WD{most} with this weekend)"
            )
    graph: dict[str, list[str]] = {}
    for name, upstream in depends_on.items():
        key = resolve(name, "close.depends_on")
        if not isinstance(upstream, list):
            continue  # the field validator reports the wrong type
        resolved = [resolve(u, f"close.depends_on.{name}") for u in upstream]
        if key is not None:
            graph[key] = [u for u in resolved if u is not None]
    problems.extend(f"close.depends_on: {cycle}" for cycle in dependency_cycles(graph))
    signed = sign_off.get("domains") if isinstance(sign_off, Mapping) else None
    for name in signed if isinstance(signed, list) else []:
        resolve(name, "close.sign_off.domains")
    return problems


def auto_start_problems(apps: Mapping[str, object], close: object) -> list[str]:
    """Jobs with ``auto_start: true`` that nothing could ever start (SPEC §17).

    The conductor starts a job when what it waits on is OK, so an auto-started domain
    needs a ``close:`` section naming its upstream domains in ``depends_on``.
    """
    depends_on = close.get("depends_on") if isinstance(close, Mapping) else None
    waits = (
        {str(k).strip().lower() for k in depends_on} if isinstance(depends_on, Mapping) else set()
    )
    problems = []
    for app, cfg in apps.items():
        jobs = cfg.get("jobs") if isinstance(cfg, Mapping) else None
        for domain, job in jobs.items() if isinstance(jobs, Mapping) else []:
            if not (isinstance(job, Mapping) and job.get("auto_start") is True):
                continue
            where = f"apps.{app}.jobs.{domain}.auto_start"
            if not isinstance(close, Mapping):
                problems.append(
                    f"{where}: starting by itself needs a close: section whose depends_on "
                    f"names what {app}/{domain} waits on"
                )
            elif f"{app}/{domain}".lower() not in waits:
                problems.append(
                    f"{where}: {app}/{domain} waits on nothing; add it to close.depends_on "
                    "(the job starts once those domains are OK)"
                )
    return problems


def dependency_cycles(graph: Mapping[str, Sequence[str]]) -> list[str]:
    """Each cycle of ``graph`` once, as ``"a cycle: A -> B -> A"``."""
    cycles: list[str] = []
    seen_cycles: set[frozenset[str]] = set()
    done: set[str] = set()
    for start in graph:
        if start in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            node, index = stack.pop()
            if index == 0:
                path.append(node)
                on_path.add(node)
            children = graph.get(node, [])
            if index < len(children):
                stack.append((node, index + 1))
                child = children[index]
                if child in on_path:
                    members = path[path.index(child) :]
                    if frozenset(members) not in seen_cycles:
                        seen_cycles.add(frozenset(members))
                        cycles.append("a cycle: " + " -> ".join([*members, child]))
                elif child not in done:
                    stack.append((child, 0))
            else:
                path.pop()
                on_path.discard(node)
                done.add(node)
    return cycles
