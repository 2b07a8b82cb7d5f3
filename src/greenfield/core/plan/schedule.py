"""Sprint calendars, the dependency-aware scheduler, critical path/slack, and checks of given schedules.

Two strategies (the two seed documents):
- manifests-first: manifest stories (1-41) are written and validated offline, so only their *build* dependencies
  order them; every runtime story (42-50) comes in a sprint after the last manifest story (the phase barrier) and
  follows build and runtime dependencies; a validation story (45-49) deploys the stories it `validates`, so it
  inherits their runtime dependencies (mapped to the validation story that deploys the dependency).
- gitops-first: every story is deployed when it is done, so build and runtime dependencies both order it.

A dependency is satisfied when the dependency's sprint is the same as or earlier than the story's (work inside a
sprint is sequenced); the phase barrier needs a strictly earlier sprint. Stories that depend on each other in a
circle under a strategy (gitops-first: bootstrap reads the GitOps releases that can only run after bootstrap) are
scheduled together, in one sprint.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from greenfield.core.plan.catalog import Catalog, DepKind, Freeze, Kind, Story, parse_duration
from greenfield.errors import InputError, quoted

WORKING_DAYS_PER_CAPACITY = 10  # capacity is given per 10 working days (a two-week sprint)
ALL_LANES = "*"


class Strategy(StrEnum):
    MANIFESTS_FIRST = "manifests-first"
    GITOPS_FIRST = "gitops-first"


# ------------------------------------------------------------------------------------------------ calendar
@dataclass(frozen=True)
class Sprint:
    number: int
    start: dt.date
    end: dt.date
    working_days: int
    title: str = ""
    gate: str = ""
    parallel: bool = False

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def weeks(self) -> float:
        return round(((self.end - self.start).days + 3) / 7, 1)

    def overlaps(self, start: dt.date, end: dt.date) -> bool:
        return self.start <= end and start <= self.end

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "start": self.start.isoformat(), "end": self.end.isoformat(),
                "weeks": self.weeks, "working_days": self.working_days, "title": self.title}


@dataclass(frozen=True)
class CalendarSpec:
    start: dt.date
    sprint_days: int = 14
    lengths: dict[int, int] = field(default_factory=dict)  # sprint number -> calendar days
    freezes: tuple[tuple[dt.date, dt.date], ...] = ()
    holidays: tuple[dt.date, ...] = ()
    first_number: int = 1


def working_days(start: dt.date, end: dt.date, holidays: tuple[dt.date, ...] = ()) -> int:
    count, day = 0, start
    while day <= end:
        if day.weekday() < 5 and day not in holidays:
            count += 1
        day += dt.timedelta(days=1)
    return count


def _last_weekday(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


def _next_weekday(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def sprints(spec: CalendarSpec) -> Iterator[Sprint]:
    """The calendar's sprints, one after another, never overlapping a freeze (endless; the caller stops).
    A calendar that runs past the last date Python knows (year 9999) is an input error, not an OverflowError."""
    try:
        yield from _sprints(spec)
    except OverflowError as error:
        raise InputError("the sprint calendar runs past the year 9999",
                         hint="check the start date, --sprint-length and --freeze") from error


def _sprints(spec: CalendarSpec) -> Iterator[Sprint]:
    start, number = _next_weekday(spec.start), spec.first_number
    while True:
        days = spec.lengths.get(number, spec.sprint_days)
        for _ in range(len(spec.freezes) + 1):
            end = _last_weekday(start + dt.timedelta(days=days - 1))
            blocking = [f for f in spec.freezes if start <= f[1] and f[0] <= end]
            if not blocking:
                break
            resume = max(f[1] for f in blocking) + dt.timedelta(days=1)
            # restart on the same weekday as the calendar's cadence (Monday for a Monday start), after the freeze
            while resume.weekday() != spec.start.weekday() or resume.weekday() >= 5:
                resume += dt.timedelta(days=1)
            start = resume
        end = _last_weekday(start + dt.timedelta(days=days - 1))
        yield Sprint(number, start, end, working_days(start, end, spec.holidays))
        start, number = _next_weekday(start + dt.timedelta(days=days)), number + 1


def calendar_from_planning(catalog: Catalog) -> CalendarSpec:
    planning = catalog.planning
    return CalendarSpec(
        start=planning.start,
        sprint_days=parse_duration(planning.sprint_length),
        lengths={n: parse_duration(v) for n, v in planning.sprint_lengths.items()},
        freezes=tuple((f.start, f.end) for f in planning.freezes),
        holidays=tuple(planning.holidays),
    )


# ------------------------------------------------------------------------------------------------ constraints
@dataclass(frozen=True)
class Constraint:
    """`story` must be scheduled in the same sprint as `after` or later (strictly later when `strict`)."""

    story: str
    after: str
    kind: Literal["build", "runtime", "deploys", "inherited", "barrier"]
    reason: str
    strict: bool = False


def constraints(catalog: Catalog, strategy: Strategy) -> list[Constraint]:
    out: list[Constraint] = []
    by_number = {s.number: s for s in catalog.stories}
    manifests = [s for s in catalog.stories if s.kind is Kind.MANIFEST]
    for story in catalog.stories:
        ordered_by_runtime = strategy is Strategy.GITOPS_FIRST or story.kind is Kind.RUNTIME
        for dep in story.depends_on.build:
            out.append(Constraint(story.id, dep, "build", f"{story.id} builds on {dep}"))
        if ordered_by_runtime:
            for dep in story.depends_on.runtime:
                out.append(Constraint(story.id, dep, "runtime", f"{story.id} runs after {dep}"))
        for number in story.validated_numbers:
            target = by_number[number]
            out.append(Constraint(story.id, target.id, "deploys", f"{story.id} deploys and validates {target.id}"))
            if strategy is not Strategy.MANIFESTS_FIRST:
                continue
            for dep in target.depends_on.runtime:
                dep_story = catalog.by_id[dep]
                owner = dep_story if dep_story.kind is Kind.RUNTIME else catalog.validator_of(dep_story)
                if owner is None or owner.id == story.id:
                    continue
                out.append(Constraint(story.id, owner.id, "inherited",
                                      f"{target.id} (deployed by {story.id}) runs after {dep}"
                                      + (f", deployed by {owner.id}" if owner.id != dep else "")))
        entry = catalog.planning.gitops_entry
        if strategy is Strategy.GITOPS_FIRST and story.kind is Kind.MANIFEST and entry and entry != story.id:
            out.append(Constraint(story.id, entry, "runtime", f"gitops-first: Flux deploys {story.id}, so it runs "
                                  f"after {entry}"))
        if strategy is Strategy.MANIFESTS_FIRST and story.kind is Kind.RUNTIME:
            for manifest in manifests:
                out.append(Constraint(story.id, manifest.id, "barrier",
                                      "manifests-first: clusters are created only after every manifest story",
                                      strict=True))
    unique: dict[tuple[str, str, str], Constraint] = {}
    for item in out:
        unique.setdefault((item.story, item.after, item.kind), item)
    return list(unique.values())


def _components(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = [0]

    def strong(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                strong(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                group.append(item)
                if item == node:
                    break
            result.append(sorted(group))

    for node in nodes:
        if node not in index:
            strong(node)
    return result


# ------------------------------------------------------------------------------------------------ scheduling
@dataclass
class PlannedSprint:
    sprint: Sprint
    stories: list[str] = field(default_factory=list)
    capacity: dict[str, float] = field(default_factory=dict)  # lane (or "*") -> points
    load: dict[str, float] = field(default_factory=dict)
    overloaded: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**self.sprint.to_dict(), "stories": self.stories,
                "capacity": {k: round(v, 1) for k, v in self.capacity.items()},
                "load": {k: round(v, 1) for k, v in self.load.items()}, "overloaded": self.overloaded}


@dataclass
class Schedule:
    strategy: Strategy
    sprints: list[PlannedSprint]
    assignment: dict[str, int]  # story id -> sprint number
    critical_path: list[str]
    critical_points: float
    slack: dict[str, int]  # story id -> sprints it can slip without pushing a dependent past the last sprint
    groups: list[list[str]]  # stories scheduled together because they depend on each other in a circle
    notes: list[str] = field(default_factory=list)

    def sprint_of(self, story_id: str) -> PlannedSprint | None:
        number = self.assignment.get(story_id)
        return next((p for p in self.sprints if p.sprint.number == number), None)

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": str(self.strategy), "sprints": [p.to_dict() for p in self.sprints],
                "assignment": self.assignment, "critical_path": self.critical_path,
                "critical_points": self.critical_points, "slack": self.slack, "groups": self.groups,
                "notes": self.notes}


def _capacity_for(sprint: Sprint, capacity: dict[str, float]) -> dict[str, float]:
    share = sprint.working_days / WORKING_DAYS_PER_CAPACITY
    return {lane: points * share for lane, points in capacity.items()}


def critical_path(catalog: Catalog, rules: list[Constraint]) -> tuple[list[str], float]:
    """Longest chain of estimates through the constraint graph (capacity ignored)."""
    est = {s.id: s.estimate for s in catalog.stories}
    preds: dict[str, set[str]] = {s.id: set() for s in catalog.stories}
    for rule in rules:
        preds[rule.story].add(rule.after)
    groups = _components(list(est), preds)
    group_of = {member: i for i, g in enumerate(groups) for member in g}
    finish: dict[int, float] = {}
    best_pred: dict[int, int | None] = {}

    def done(i: int, depth: int = 0) -> float:
        if i in finish:
            return finish[i]
        start, chosen = 0.0, None
        for member in groups[i]:
            for pred in preds[member]:
                j = group_of[pred]
                if j != i and done(j, depth + 1) > start:
                    start, chosen = done(j, depth + 1), j
        finish[i] = start + sum(est[m] for m in groups[i])
        best_pred[i] = chosen
        return finish[i]

    for i in range(len(groups)):
        done(i)
    if not finish:
        return [], 0.0
    last = max(finish, key=lambda i: (finish[i], -min(catalog.by_id[m].number for m in groups[i])))
    chain: list[str] = []
    cursor: int | None = last
    while cursor is not None:
        chain[:0] = sorted(groups[cursor], key=lambda m: catalog.by_id[m].number)
        cursor = best_pred[cursor]
    return chain, finish[last]


def plan_schedule(catalog: Catalog, strategy: Strategy, calendar: CalendarSpec,
                  capacity: dict[str, float], max_sprints: int = 60) -> Schedule:
    """Assign every story to a sprint: dependencies first, then the longest remaining chain, within capacity."""
    for lane in capacity:
        if lane != ALL_LANES and lane not in catalog.lanes:
            raise InputError(f"unknown lane {lane!r} in --capacity", hint=f"lanes: {', '.join(catalog.lanes)}")
    rules = constraints(catalog, strategy)
    ids = [s.id for s in catalog.stories]
    preds: dict[str, set[str]] = {i: set() for i in ids}
    strict_preds: dict[str, set[str]] = {i: set() for i in ids}
    for rule in rules:
        (strict_preds if rule.strict else preds)[rule.story].add(rule.after)
    groups = _components(ids, {k: preds[k] | strict_preds[k] for k in ids})
    multi = [g for g in groups if len(g) > 1]
    # priority: longest chain of estimates from the unit to the end (over dependents)
    succ: dict[str, set[str]] = {i: set() for i in ids}
    for rule in rules:
        succ[rule.after].add(rule.story)
    group_of = {m: i for i, g in enumerate(groups) for m in g}
    tail: dict[int, float] = {}

    def rest(i: int) -> float:
        if i not in tail:
            tail[i] = 0.0  # provisional, guards against pathological recursion
            after = {group_of[s] for m in groups[i] for s in succ[m]} - {i}
            tail[i] = sum(catalog.by_id[m].estimate for m in groups[i]) + max((rest(j) for j in after), default=0.0)
        return tail[i]

    def first_number(i: int) -> int:
        return min(catalog.by_id[m].number for m in groups[i])

    if strategy is Strategy.MANIFESTS_FIRST:
        # the phase barrier makes every manifest story equally urgent: follow the plan's sequence (story numbers)
        order = sorted(range(len(groups)), key=first_number)
    else:  # longest remaining chain of estimates first (classic list scheduling), then the plan's sequence
        order = sorted(range(len(groups)), key=lambda i: (-rest(i), first_number(i)))
    assignment: dict[str, int] = {}
    planned: list[PlannedSprint] = []
    notes: list[str] = []
    lanes_of = {s.id: s.lane for s in catalog.stories}
    per_lane = ALL_LANES not in capacity
    for sprint in sprints(calendar):
        if len(assignment) == len(ids):
            break
        if len(planned) >= max_sprints:
            raise InputError(f"could not place every story within {max_sprints} sprints",
                             hint="raise --capacity or check the lanes given capacity")
        entry = PlannedSprint(sprint, capacity=_capacity_for(sprint, capacity))
        entry.load = dict.fromkeys(entry.capacity, 0.0)
        progress = True
        while progress:
            progress = False
            for i in order:
                members = groups[i]
                if members[0] in assignment:
                    continue
                inside = set(members)
                ready = all(p in assignment or p in inside for m in members for p in preds[m]) and all(
                    p in inside or (p in assignment and assignment[p] < sprint.number)
                    for m in members for p in strict_preds[m])
                if not ready or any(p in inside for m in members for p in strict_preds[m]):
                    continue
                need: dict[str, float] = {}
                for m in members:
                    key = lanes_of[m] if per_lane else ALL_LANES
                    need[key] = need.get(key, 0.0) + catalog.by_id[m].estimate
                if any(key not in entry.capacity for key in need):
                    missing = sorted(k for k in need if k not in entry.capacity)
                    raise InputError(f"no capacity given for lane(s) {', '.join(missing)}",
                                     hint="give --capacity N, or --capacity LANE=N for every lane")
                fits = all(entry.load[k] + v <= entry.capacity[k] + 1e-9 for k, v in need.items())
                if not fits and not entry.stories and all(
                        entry.capacity[k] > 0 and v > entry.capacity[k] for k, v in need.items()):
                    fits, entry.overloaded = True, True  # larger than a whole sprint: give it one alone
                    notes.append(f"sprint {sprint.number}: {', '.join(members)} ({sum(need.values()):g} points) "
                                 "exceeds the sprint's capacity and is scheduled alone")
                if fits:
                    for m in members:
                        assignment[m] = sprint.number
                        entry.stories.append(m)
                    for k, v in need.items():
                        entry.load[k] += v
                    progress = True
                    break
        entry.stories.sort(key=lambda m: catalog.by_id[m].number)
        planned.append(entry)
    while planned and not planned[-1].stories:
        planned.pop()
    path, points = critical_path(catalog, rules)
    last = planned[-1].sprint.number if planned else 0
    slack = _slack(catalog, rules, assignment, last)
    for group in multi:
        notes.append(f"scheduled together ({strategy}): {', '.join(group)} depend on each other in a circle")
    return Schedule(strategy, planned, assignment, path, points, slack, multi, notes)


def _slack(catalog: Catalog, rules: list[Constraint], assignment: dict[str, int], last: int) -> dict[str, int]:
    latest = {s.id: last for s in catalog.stories}
    dependents: dict[str, list[Constraint]] = {s.id: [] for s in catalog.stories}
    for rule in rules:
        dependents[rule.after].append(rule)
    # relax until stable (graph is small; cycles inside a sprint keep their common sprint)
    for _ in range(len(latest) + 1):
        changed = False
        for story, rules_after in dependents.items():
            for rule in rules_after:
                bound = latest[rule.story] - (1 if rule.strict else 0)
                if bound < latest[story]:
                    latest[story], changed = bound, True
        if not changed:
            break
    return {sid: max(0, latest[sid] - sprint) for sid, sprint in assignment.items()}


# ------------------------------------------------------------------------------------------------ seed schedules
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class SeedSprint(_Strict):
    number: int = Field(ge=0)
    title: str = ""
    start: dt.date
    end: dt.date
    parallel: bool = False  # the seed claims its stories have no dependencies on each other
    gate: str = ""


class SeedSchedule(_Strict):
    name: str
    title: str
    source: str = ""
    strategy: Strategy
    freezes: list[Freeze] = Field(default_factory=list)
    holidays: list[dt.date] = Field(default_factory=list)
    sprints: list[SeedSprint]
    chains: list[list[str]] = Field(default_factory=list)

    def calendar(self) -> list[Sprint]:
        return [Sprint(s.number, s.start, s.end, working_days(s.start, s.end, tuple(self.holidays)), s.title,
                       s.gate, s.parallel) for s in self.sprints]

    def assignment(self, catalog: Catalog) -> dict[str, int]:
        return {s.id: s.sprint[self.name] for s in catalog.stories if self.name in s.sprint}


def parse_seed(data: Any, source: str) -> SeedSchedule:
    try:
        seed = SeedSchedule.model_validate(data)
    except ValidationError as error:
        lines = [f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors()]
        raise InputError("invalid schedule:\n  " + "\n  ".join(lines), path=source) from error
    numbers = [s.number for s in seed.sprints]
    if len(set(numbers)) != len(numbers):
        raise InputError("duplicate sprint numbers", path=source)
    for sprint in seed.sprints:
        if sprint.end < sprint.start:
            raise InputError(f"sprints[{sprint.number}]: ends before it starts", path=source)
    return seed


class Severity(StrEnum):
    VIOLATION = "violation"  # the schedule breaks a dependency or the calendar
    CONTRADICTION = "contradiction"  # the seed claims independence, the catalog says otherwise
    NOTE = "note"


@dataclass(frozen=True)
class CheckItem:
    severity: Severity
    story: str
    message: str
    dependency: str = ""
    kind: str = ""
    story_sprint: int | None = None
    dependency_sprint: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"severity": str(self.severity), "story": self.story, "dependency": self.dependency,
                "kind": self.kind, "story_sprint": self.story_sprint, "dependency_sprint": self.dependency_sprint,
                "message": self.message}


def _transitive(rules: list[Constraint]) -> dict[str, set[str]]:
    direct: dict[str, set[str]] = {}
    for rule in rules:
        direct.setdefault(rule.story, set()).add(rule.after)
    closure: dict[str, set[str]] = {}

    def reach(node: str) -> set[str]:
        if node not in closure:
            closure[node] = set()
            found: set[str] = set()
            for nxt in direct.get(node, ()):
                found |= {nxt} | reach(nxt)
            closure[node] = found
        return closure[node]

    for node in list(direct):
        reach(node)
    return closure


def check_schedule(catalog: Catalog, seed: SeedSchedule, strategy: Strategy | None = None) -> list[CheckItem]:
    """Every dependency the given schedule violates, under its own strategy (or the one given)."""
    chosen = strategy or seed.strategy
    assignment = seed.assignment(catalog)
    calendar = {s.number: s for s in seed.calendar()}
    items: list[CheckItem] = []
    for story_id, number in assignment.items():
        if number not in calendar:
            items.append(CheckItem(Severity.VIOLATION, story_id, f"assigned to sprint {number}, which the schedule "
                                   "does not define", story_sprint=number))
    rules = [r for r in constraints(catalog, chosen) if r.kind != "barrier"]
    for rule in rules:
        if rule.story not in assignment:
            continue
        mine = assignment[rule.story]
        if rule.after not in assignment:
            items.append(CheckItem(Severity.VIOLATION, rule.story, f"{rule.reason}, but {rule.after} is not "
                                   "scheduled", rule.after, rule.kind, mine, None))
            continue
        theirs = assignment[rule.after]
        if theirs > mine:
            items.append(CheckItem(Severity.VIOLATION, rule.story, f"{rule.reason}, but {rule.after} is "
                                   f"scheduled later (sprint {theirs} > {mine})", rule.after, rule.kind, mine, theirs))
        elif theirs == mine and calendar.get(mine) is not None and calendar[mine].parallel:
            items.append(CheckItem(Severity.CONTRADICTION, rule.story, f"sprint {mine} is declared free of "
                                   f"dependencies, but {rule.reason} (same sprint: must be sequenced)",
                                   rule.after, rule.kind, mine, theirs))
    if chosen is Strategy.MANIFESTS_FIRST:
        manifest_last = max((n for s, n in assignment.items() if catalog.by_id[s].kind is Kind.MANIFEST), default=0)
        for story in catalog.stories:
            if story.kind is Kind.RUNTIME and story.id in assignment and assignment[story.id] <= manifest_last:
                items.append(CheckItem(Severity.VIOLATION, story.id, "manifests-first: runtime story scheduled "
                                       f"before the last manifest sprint ({manifest_last})", kind="barrier",
                                       story_sprint=assignment[story.id]))
    ordered = sorted(calendar.values(), key=lambda s: s.number)
    for sprint in ordered:
        for freeze in seed.freezes:
            if sprint.overlaps(freeze.start, freeze.end):
                items.append(CheckItem(Severity.VIOLATION, f"sprint {sprint.number}", f"sprint {sprint.number} "
                                       f"({sprint.start}..{sprint.end}) overlaps the freeze {freeze.start}..{freeze.end}"))
    for before, after in itertools.pairwise(ordered):
        if after.start <= before.end:
            items.append(CheckItem(Severity.VIOLATION, f"sprint {after.number}",
                                   f"sprint {after.number} starts before sprint {before.number} ends"))
    reach = _transitive(rules)
    for chain in seed.chains:
        for first, second in itertools.pairwise(chain):
            for name in (first, second):
                if name not in catalog.by_id:
                    items.append(CheckItem(Severity.VIOLATION, name, "chain names an unknown story"))
            if first not in catalog.by_id or second not in catalog.by_id:
                continue
            forward, backward = first in reach.get(second, set()), second in reach.get(first, set())
            if forward and backward:
                items.append(CheckItem(Severity.NOTE, second, f"the seed orders {first} before {second}; under "
                                       f"{chosen} they depend on each other and can only be done together",
                                       first, "chain"))
            elif backward:
                items.append(CheckItem(Severity.VIOLATION, second, f"the seed orders {first} before {second}, but "
                                       f"the catalog needs {second} first", first, "chain"))
            elif not forward:
                items.append(CheckItem(Severity.NOTE, second, f"the seed orders {first} before {second}; the "
                                       "catalog does not require it (an ordering choice)", first, "chain"))
    unscheduled = [s.id for s in catalog.stories if s.id not in assignment]
    if unscheduled:
        items.append(CheckItem(Severity.NOTE, "-", f"{len(unscheduled)} stories not scheduled: "
                               + ", ".join(str(catalog.by_id[s].number) for s in unscheduled)))
    rank = {Severity.VIOLATION: 0, Severity.CONTRADICTION: 1, Severity.NOTE: 2}
    number_of = {s.id: s.number for s in catalog.stories}
    return sorted(items, key=lambda i: (rank[i.severity], number_of.get(i.story, 0), i.dependency, i.message))


def story_label(story: Story) -> str:
    return f"{story.number:>2} {story.id}"


def lanes_capacity(values: list[str], default: float) -> dict[str, float]:
    """`--capacity 20` or `--capacity infra=10 --capacity apps=6 ...` -> lane -> points."""
    if not values:
        return {ALL_LANES: default}
    result: dict[str, float] = {}
    for value in values:
        lane, sep, amount = value.partition("=")
        key, text = (lane.strip(), amount) if sep else (ALL_LANES, lane)
        try:
            points = float(text)
        except ValueError as error:
            raise InputError(f"--capacity {quoted(value)}: not a number", hint="use N or LANE=N") from error
        if not math.isfinite(points) or points <= 0:
            raise InputError(f"--capacity {quoted(value)}: must be a positive number")
        result[key] = points
    if ALL_LANES in result and len(result) > 1:
        raise InputError("--capacity: give one total (N) or per-lane values (LANE=N), not both")
    return result


def dependency_kind_of(catalog: Catalog, story: str, dep: str) -> DepKind | None:
    item = catalog.by_id[story]
    if dep in item.depends_on.build:
        return DepKind.BUILD
    if dep in item.depends_on.runtime:
        return DepKind.RUNTIME
    return None
