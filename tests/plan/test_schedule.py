"""The scheduler and the checks of the two seed schedules."""

from __future__ import annotations

import datetime as dt

import pytest

from greenfield.app.schedule import ScheduleRequest, calendar_for, make_schedule
from greenfield.core.plan.catalog import Catalog
from greenfield.core.plan.schedule import (
    ALL_LANES,
    CalendarSpec,
    SeedSchedule,
    Severity,
    Strategy,
    check_schedule,
    constraints,
    plan_schedule,
    sprints,
)
from greenfield.errors import InputError

SEED_CALENDAR = ScheduleRequest(strategy=Strategy.MANIFESTS_FIRST, start=dt.date(2025, 10, 27),
                                sprint_lengths=["2w", "6=3w", "7=3w"], freezes=["2025-12-22..2026-01-02"])


def test_manifests_first_reproduces_the_seed_sprint_dates(catalog: Catalog, seeds: dict[str, SeedSchedule]) -> None:
    schedule = make_schedule(catalog, SEED_CALENDAR)
    got = [(p.sprint.number, p.sprint.start, p.sprint.end) for p in schedule.sprints]
    want = [(s.number, s.start, s.end) for s in seeds["v3"].sprints]
    assert got == want
    assert want[0] == (1, dt.date(2025, 10, 27), dt.date(2025, 11, 7))
    assert want[6] == (7, dt.date(2026, 2, 9), dt.date(2026, 2, 27))


def test_manifests_first_keeps_the_phase_barrier_and_dependencies(catalog: Catalog) -> None:
    schedule = make_schedule(catalog, SEED_CALENDAR)
    sprint = schedule.assignment
    last_manifest = max(sprint[s.id] for s in catalog.stories if s.number <= 41)
    assert all(sprint[s.id] > last_manifest for s in catalog.stories if s.number > 41)
    for rule in constraints(catalog, Strategy.MANIFESTS_FIRST):
        assert sprint[rule.after] <= sprint[rule.story], rule
    for planned in schedule.sprints:
        assert sum(planned.load.values()) <= sum(planned.capacity.values()) + 1e-9
    assert schedule.critical_path[-1] == "STORY-BOOT-AUTOMATION-ALIGN"
    assert schedule.slack["STORY-BOOT-AUTOMATION-ALIGN"] == 0


def test_no_sprint_overlaps_a_freeze_and_lengths_are_individual() -> None:
    spec = CalendarSpec(start=dt.date(2025, 12, 1), sprint_days=14, lengths={2: 21},
                        freezes=((dt.date(2025, 12, 22), dt.date(2026, 1, 2)),))
    made = sprints(spec)
    first, second, third = next(made), next(made), next(made)
    assert (first.start, first.end) == (dt.date(2025, 12, 1), dt.date(2025, 12, 12))
    assert (second.start, second.end) == (dt.date(2026, 1, 5), dt.date(2026, 1, 23))  # 3 weeks, after the freeze
    assert third.start == dt.date(2026, 1, 26)


def test_holidays_reduce_a_sprints_capacity(catalog: Catalog) -> None:
    request = ScheduleRequest(strategy=Strategy.MANIFESTS_FIRST, holidays=["2025-11-27", "2025-11-28"],
                              capacity=["20"])
    schedule = make_schedule(catalog, request)
    third = schedule.sprints[2]
    assert third.sprint.working_days == 8
    assert third.capacity[ALL_LANES] == pytest.approx(16)


def test_per_lane_capacity(catalog: Catalog) -> None:
    request = ScheduleRequest(strategy=Strategy.MANIFESTS_FIRST,
                              capacity=["infra=20", "apps=6", "cross-platform=8"])
    schedule = make_schedule(catalog, request)
    for planned in schedule.sprints:
        for lane, load in planned.load.items():
            assert load <= planned.capacity[lane] + 1e-9 or planned.overloaded
    with pytest.raises(InputError, match="no capacity given for lane"):
        make_schedule(catalog, ScheduleRequest(capacity=["infra=20"]))
    with pytest.raises(InputError, match="unknown lane"):
        make_schedule(catalog, ScheduleRequest(capacity=["backend=5"]))


def test_gitops_first_schedules_the_bootstrap_circle_together(catalog: Catalog) -> None:
    calendar = calendar_for(catalog, ScheduleRequest())
    schedule = plan_schedule(catalog, Strategy.GITOPS_FIRST, calendar, {ALL_LANES: 40})
    group = next(g for g in schedule.groups if "STORY-BOOT-CORE" in g)
    assert {"STORY-BOOT-CRDS", "STORY-SEC-EXTERNAL-SECRETS-BASE", "STORY-NET-CILIUM-CORE-GITOPS"} <= set(group)
    assert len({schedule.assignment[s] for s in group}) == 1
    assert schedule.assignment["STORY-BOOT-TALOS"] <= schedule.assignment["STORY-BOOT-CRDS"]


def test_check_v3_finds_its_independence_claims_contradicted(catalog: Catalog,
                                                             seeds: dict[str, SeedSchedule]) -> None:
    items = check_schedule(catalog, seeds["v3"])
    assert [i for i in items if i.severity is Severity.VIOLATION] == []
    contradictions = {(i.story, i.dependency) for i in items if i.severity is Severity.CONTRADICTION}
    assert ("STORY-NET-CILIUM-GATEWAY", "STORY-SEC-CERT-MANAGER-ISSUERS") in contradictions
    assert ("STORY-MSG-KAFKA-CLUSTER-APPS", "STORY-MSG-STRIMZI-OPERATOR") in contradictions


def test_check_v3_under_gitops_first_reports_runtime_order(catalog: Catalog, seeds: dict[str, SeedSchedule]) -> None:
    items = check_schedule(catalog, seeds["v3"], Strategy.GITOPS_FIRST)
    runtime = {(i.story, i.dependency) for i in items if i.severity is Severity.VIOLATION and i.kind == "runtime"}
    assert ("STORY-SEC-EXTERNAL-SECRETS-BASE", "STORY-BOOT-CRDS") in runtime


def test_check_gitops_first_reports_every_violated_dependency(catalog: Catalog,
                                                              seeds: dict[str, SeedSchedule]) -> None:
    items = check_schedule(catalog, seeds["gitops-first"])
    violations = {(i.story, i.dependency) for i in items if i.severity is Severity.VIOLATION}
    assert ("STORY-BOOT-CRDS", "STORY-BOOT-TALOS") in violations  # Talos is never scheduled
    assert ("STORY-BOOT-CORE", "STORY-SEC-EXTERNAL-SECRETS-BASE") in violations  # bootstrap reads sprint-1 values
    assert ("STORY-BOOT-CRDS", "STORY-GITOPS-SELF-MGMT-FLUX") in violations
    notes = [i.message for i in items if i.severity is Severity.NOTE]
    assert any("stories not scheduled" in n for n in notes)
    assert any("STORY-OBS-VM-STACK before STORY-OBS-VICTORIA-LOGS" in n for n in notes)


def test_seed_calendars_never_overlap_the_freeze(seeds: dict[str, SeedSchedule]) -> None:
    for seed in seeds.values():
        for sprint in seed.calendar():
            for freeze in seed.freezes:
                assert not sprint.overlaps(freeze.start, freeze.end)


def test_gitops_first_respects_every_constraint_and_capacity(catalog: Catalog) -> None:
    schedule = make_schedule(catalog, ScheduleRequest(strategy=Strategy.GITOPS_FIRST, capacity=["30"]))
    sprint = schedule.assignment
    assert len(sprint) == 50
    for rule in constraints(catalog, Strategy.GITOPS_FIRST):
        assert sprint[rule.after] <= sprint[rule.story], rule
    for planned in schedule.sprints:
        assert planned.overloaded or sum(planned.load.values()) <= sum(planned.capacity.values()) + 1e-9
    # everything Flux deploys comes after bootstrap core
    assert all(sprint[s.id] >= sprint["STORY-BOOT-CORE"] for s in catalog.stories if s.number <= 41)


def test_an_oversized_story_gets_a_sprint_alone(catalog: Catalog) -> None:
    schedule = make_schedule(catalog, ScheduleRequest(capacity=["6"]))
    over = [p for p in schedule.sprints if p.overloaded]
    assert over and all(len(p.stories) == 1 for p in over)
    assert any("exceeds the sprint's capacity" in n for n in schedule.notes)
