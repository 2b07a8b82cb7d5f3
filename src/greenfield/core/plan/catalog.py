"""The story catalog (`plan/stories.yaml`): a strict model plus the cross-story rules.

A malformed catalog (unknown fields or story IDs, duplicate IDs or numbers, dependency cycles, unknown gates,
lanes or phases) is a load error. A path that does not exist yet is not: it only makes the story "not started".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from greenfield.errors import InputError, quoted

STORY_ID = re.compile(r"^STORY-[A-Z0-9]+(-[A-Z0-9]+)*$")
DURATION = re.compile(r"^([0-9]+)([wd])$")
MANIFEST_LAST = 41  # stories 1-41 are manifest stories (offline gates), 42-50 runtime stories (evidence)


class Kind(StrEnum):
    MANIFEST = "manifest"
    RUNTIME = "runtime"


class DepKind(StrEnum):
    BUILD = "build"
    RUNTIME = "runtime"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Lane(_Strict):
    title: str
    scope: str = ""
    priority: str = ""


class Gate(_Strict):
    summary: str
    rules: list[str] = Field(default_factory=list)  # rule ids or prefixes ending in "/"


class Freeze(_Strict):
    start: dt.date = Field(alias="from")
    end: dt.date = Field(alias="to")
    reason: str = ""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


MAX_SPRINT_DAYS = 26 * 7
"""The longest sprint (half a year): longer is a typo, and dates a few million days out do not exist."""


def parse_duration(value: str) -> int:
    """'2w' -> 14, '10d' -> 10 (calendar days), at most MAX_SPRINT_DAYS."""
    match = DURATION.match(value.strip())
    if not match or len(match.group(1)) > 4 or int(match.group(1)) == 0:
        raise ValueError(f"{quoted(value)} is not a duration like 2w or 10d (1d to {MAX_SPRINT_DAYS // 7}w)")
    amount = int(match.group(1))
    days = amount * 7 if match.group(2) == "w" else amount
    if days > MAX_SPRINT_DAYS:
        raise ValueError(f"{quoted(value)} is longer than {MAX_SPRINT_DAYS // 7}w ({MAX_SPRINT_DAYS} days)")
    return days


class Planning(_Strict):
    start: dt.date
    sprint_length: str = "2w"
    sprint_lengths: dict[int, str] = Field(default_factory=dict)
    freezes: list[Freeze] = Field(default_factory=list)
    holidays: list[dt.date] = Field(default_factory=list)
    capacity: float = Field(default=20, gt=0)
    gitops_entry: str = ""  # gitops-first: Flux deploys every manifest story, so each runs after this story

    @field_validator("sprint_length")
    @classmethod
    def _length(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("sprint_lengths")
    @classmethod
    def _lengths(cls, value: dict[int, str]) -> dict[int, str]:
        for length in value.values():
            parse_duration(length)
        return value


class Dependencies(_Strict):
    build: list[str] = Field(default_factory=list)
    runtime: list[str] = Field(default_factory=list)


class Story(_Strict):
    number: int = Field(ge=1)
    id: str
    title: str
    phase: int
    lane: str
    clusters: list[str] = Field(min_length=1)
    depends_on: Dependencies = Field(default_factory=Dependencies)
    validates: str = ""  # "1-13": the manifest stories a runtime validation story deploys
    paths: list[str] = Field(default_factory=list)
    kustomizations: list[str] | dict[str, list[str]] = Field(default_factory=list)
    gates: list[str] = Field(default_factory=list)
    estimate: float = Field(gt=0)
    sprint: dict[str, int] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not STORY_ID.match(value):
            raise ValueError(f"{quoted(value)} is not a story ID like STORY-NET-CILIUM-IPAM")
        return value

    @field_validator("validates")
    @classmethod
    def _validates(cls, value: str) -> str:
        if value and not re.match(r"^\d+-\d+$", value):
            raise ValueError(f"{quoted(value)} is not a range like 1-13")
        return value

    @property
    def kind(self) -> Kind:
        return Kind.MANIFEST if self.number <= MANIFEST_LAST else Kind.RUNTIME

    @property
    def validated_numbers(self) -> list[int]:
        if not self.validates:
            return []
        low, high = (int(part) for part in self.validates.split("-"))
        return list(range(low, high + 1))

    def kustomizations_on(self, cluster: str) -> list[str]:
        if isinstance(self.kustomizations, dict):
            return list(self.kustomizations.get(cluster, []))
        return list(self.kustomizations) if cluster in self.clusters else []

    def deps(self, kind: DepKind | None = None) -> list[str]:
        if kind is DepKind.BUILD:
            return list(self.depends_on.build)
        if kind is DepKind.RUNTIME:
            return list(self.depends_on.runtime)
        return [*self.depends_on.build, *self.depends_on.runtime]


class Catalog(_Strict):
    version: Literal[1]
    lanes: dict[str, Lane]
    phases: dict[int, str]
    gates: dict[str, Gate]
    planning: Planning
    stories: list[Story]

    def story(self, key: str | int) -> Story:
        for item in self.stories:
            if item.id == key or item.number == key or str(item.number) == str(key):
                return item
        raise KeyError(key)

    @property
    def by_id(self) -> dict[str, Story]:
        return {item.id: item for item in self.stories}

    @property
    def clusters(self) -> list[str]:
        seen: dict[str, None] = {}
        for item in self.stories:
            for cluster in item.clusters:
                seen.setdefault(cluster, None)
        return list(seen)

    def validator_of(self, story: Story) -> Story | None:
        """The runtime story that deploys and validates a manifest story (45-49), if any."""
        for item in self.stories:
            if story.number in item.validated_numbers:
                return item
        return None

    def dependents(self, story_id: str) -> list[Story]:
        return [item for item in self.stories if story_id in item.deps()]


def _where(loc: Iterable[Any], data: Any) -> str:
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(key, int) and isinstance(node, list) and 0 <= key < len(node):
            node = node[key]
            label = node.get("id") if isinstance(node, dict) else None
            parts.append(f"[{label}]" if label else f"[{key}]")
            continue
        parts.append(f".{key}" if parts else str(key))
        node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts)


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """One cycle of a directed graph (node -> successors) as a closed path, or None."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = grey
        stack.append(node)
        for nxt in graph.get(node, []):
            if colour.get(nxt, white) == grey:
                return [*stack[stack.index(nxt):], nxt]
            if colour.get(nxt, white) == white and nxt in graph:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        colour[node] = black
        return None

    for start in sorted(graph):
        if colour[start] == white:
            found = visit(start)
            if found:
                return found
    return None


def catalog_problems(catalog: Catalog, schedules: Iterable[str] = ()) -> list[str]:
    """Cross-story rules of a parsed catalog; each problem is `where: what`."""
    problems: list[str] = []
    ids: dict[str, int] = {}
    numbers: dict[int, str] = {}
    for story in catalog.stories:
        if story.id in ids:
            problems.append(f"stories[{story.id}]: duplicate story ID (also story {ids[story.id]})")
        ids.setdefault(story.id, story.number)
        if story.number in numbers:
            problems.append(f"stories[{story.id}].number: duplicate number {story.number} (also {numbers[story.number]})")
        numbers.setdefault(story.number, story.id)
    known_schedules = set(schedules)
    for story in catalog.stories:
        where = f"stories[{story.id}]"
        if story.lane not in catalog.lanes:
            problems.append(f"{where}.lane: unknown lane {story.lane!r} (known: {', '.join(catalog.lanes)})")
        if story.phase not in catalog.phases:
            problems.append(f"{where}.phase: unknown phase {story.phase}")
        for kind in DepKind:
            for dep in story.deps(kind):
                if dep not in ids:
                    problems.append(f"{where}.depends_on.{kind}: unknown story ID {dep}")
                elif dep == story.id:
                    problems.append(f"{where}.depends_on.{kind}: a story cannot depend on itself")
        both = set(story.depends_on.build) & set(story.depends_on.runtime)
        for dep in sorted(both):
            problems.append(f"{where}.depends_on: {dep} listed as both build and runtime dependency")
        for number in story.validated_numbers:
            if number not in numbers:
                problems.append(f"{where}.validates: no story number {number}")
            elif number == story.number:
                problems.append(f"{where}.validates: a story cannot validate itself")
        if story.validates and story.kind is not Kind.RUNTIME:
            problems.append(f"{where}.validates: only runtime stories (42-50) validate other stories")
        for gate in story.gates:
            if gate not in catalog.gates and not re.match(r"^[a-z0-9-]+/([a-z0-9-]+)?$", gate):
                problems.append(f"{where}.gates: {gate!r} is neither a catalog gate nor a rule id like cluster/lb-pool")
        if story.kind is Kind.MANIFEST and "STD-OFFLINE" in catalog.gates and "STD-OFFLINE" not in story.gates:
            problems.append(f"{where}.gates: manifest stories share the STD-OFFLINE gate")
        if story.kind is Kind.RUNTIME and "EVIDENCE" in catalog.gates and "EVIDENCE" not in story.gates:
            problems.append(f"{where}.gates: runtime stories are proven by EVIDENCE")
        if isinstance(story.kustomizations, dict):
            for cluster in story.kustomizations:
                if cluster not in story.clusters:
                    problems.append(f"{where}.kustomizations.{cluster}: not one of the story's clusters")
        if not story.paths:
            problems.append(f"{where}.paths: a story needs at least one path")
        for path in story.paths:
            if path.startswith(("/", "./")) or ".." in path.split("/"):
                problems.append(f"{where}.paths: {path!r} must be repository-relative without ./ or ..")
        if known_schedules:
            for name in story.sprint:
                if name not in known_schedules:
                    problems.append(f"{where}.sprint: unknown schedule {name!r} (known: {', '.join(sorted(known_schedules))})")
    entry = catalog.planning.gitops_entry
    if entry and entry not in ids:
        problems.append(f"planning.gitops_entry: unknown story ID {entry}")
    for kind in DepKind:
        graph = {story.id: [d for d in story.deps(kind) if d in ids] for story in catalog.stories}
        cycle = find_cycle(graph)
        if cycle:
            problems.append(f"stories: {kind} dependency cycle: {' -> '.join(cycle)}")
    return problems


def parse_catalog(data: Any, source: str = "plan/stories.yaml", schedules: Iterable[str] = ()) -> Catalog:
    """A validated catalog or one InputError listing every problem."""
    if not isinstance(data, dict):
        raise InputError("expected a mapping with version, lanes, phases, gates, planning, stories", path=source)
    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as error:
        lines = [f"{_where(item['loc'], data)}: {item['msg']}" for item in error.errors()]
        raise InputError("invalid story catalog:\n  " + "\n  ".join(lines), path=source,
                         hint="see the header of plan/stories.yaml for the fields") from error
    problems = catalog_problems(catalog, schedules)
    if problems:
        raise InputError("invalid story catalog:\n  " + "\n  ".join(problems), path=source,
                         hint="fix the story entries named above")
    return catalog
