"""`greenfield schedule`: plan sprints from the catalog, or check a seed schedule's dependencies."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from greenfield.app.plan import load_catalog, load_seeds
from greenfield.core.plan.catalog import Catalog, parse_duration
from greenfield.core.plan.schedule import (
    CalendarSpec,
    CheckItem,
    Schedule,
    SeedSchedule,
    Strategy,
    calendar_from_planning,
    check_schedule,
    lanes_capacity,
    plan_schedule,
)
from greenfield.errors import InputError, quoted


@dataclass
class ScheduleRequest:
    strategy: Strategy = Strategy.MANIFESTS_FIRST
    start: dt.date | None = None
    sprint_lengths: list[str] = field(default_factory=list)  # "2w" (default) or "6=3w" (one sprint)
    freezes: list[str] = field(default_factory=list)  # "2025-12-22..2026-01-02"
    holidays: list[str] = field(default_factory=list)
    capacity: list[str] = field(default_factory=list)  # "20" or "infra=10"


SPRINT_NUMBER = re.compile(r"^[1-9][0-9]{0,2}$")
MAX_FREEZE_DAYS = 366


def _date(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError as error:
        raise InputError(f"{what} {quoted(text)}: not a date", hint="use YYYY-MM-DD") from error


def _duration(text: str, what: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise InputError(f"{what}: {error}", hint="use 2w, 3w or 10d") from error


def calendar_for(catalog: Catalog, request: ScheduleRequest) -> CalendarSpec:
    """The catalog's planning defaults (the seed calendar) with the request's overrides."""
    base = calendar_from_planning(catalog)
    sprint_days, lengths = base.sprint_days, dict(base.lengths)
    if request.sprint_lengths:
        lengths = {}
    for value in request.sprint_lengths:
        number, sep, length = value.partition("=")
        if sep:
            if not SPRINT_NUMBER.match(number.strip()):
                raise InputError(f"--sprint-length {quoted(value)}: expected N=LENGTH (N a sprint number, 1 to 999)",
                                 hint="e.g. 6=3w")
            lengths[int(number)] = _duration(length, "--sprint-length")
        else:
            sprint_days = _duration(value, "--sprint-length")
    freezes = base.freezes
    if request.freezes:
        parsed = []
        for value in request.freezes:
            start, sep, end = value.partition("..")
            if not sep:
                raise InputError(f"--freeze {quoted(value)}: expected FROM..TO", hint="e.g. 2025-12-22..2026-01-02")
            first, last = _date(start, "--freeze"), _date(end, "--freeze")
            if last < first:
                raise InputError(f"--freeze {quoted(value)}: ends before it starts")
            if (last - first).days >= MAX_FREEZE_DAYS:
                raise InputError(f"--freeze {quoted(value)}: longer than {MAX_FREEZE_DAYS} days",
                                 hint="a freeze blocks sprints for weeks, not years")
            parsed.append((first, last))
        freezes = tuple(parsed)
    holidays = tuple(_date(h, "--holiday") for h in request.holidays) if request.holidays else base.holidays
    return CalendarSpec(start=request.start or base.start, sprint_days=sprint_days, lengths=lengths,
                        freezes=freezes, holidays=holidays)


def make_schedule(catalog: Catalog, request: ScheduleRequest) -> Schedule:
    capacity = lanes_capacity(request.capacity, catalog.planning.capacity)
    return plan_schedule(catalog, request.strategy, calendar_for(catalog, request), capacity)


def default_schedule(catalog: Catalog, strategy: Strategy) -> Schedule:
    return make_schedule(catalog, ScheduleRequest(strategy=strategy))


def schedule_repository(repo: Path, request: ScheduleRequest) -> tuple[Catalog, Schedule]:
    catalog = load_catalog(repo)
    return catalog, make_schedule(catalog, request)


def check_seed(repo: Path, name: str, strategy: Strategy | None = None
               ) -> tuple[Catalog, SeedSchedule, list[CheckItem]]:
    catalog = load_catalog(repo)
    seeds = load_seeds(repo)
    if name not in seeds:
        raise InputError(f"no seed schedule {name!r}", path="plan/schedules",
                         hint=f"known: {', '.join(seeds) or 'none'}")
    seed = seeds[name]
    return catalog, seed, check_schedule(catalog, seed, strategy)
