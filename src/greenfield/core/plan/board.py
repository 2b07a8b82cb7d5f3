"""The live story board: every story's status now, and the go/no-go gate of every sprint (pure).

Inputs are data: which catalog paths exist, the engine's findings and rendered Kustomizations per cluster (None
when validation could not run), the registered rule ids, and the runtime evidence per (cluster, story).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any

from greenfield.core.findings import Finding, Severity
from greenfield.core.plan.catalog import Catalog, Kind, Story
from greenfield.core.plan.evidence import EvidenceVerdict, Verdict


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCOMPLETE = "incomplete"  # started, but some paths / evidence checks are still missing
    UNVERIFIED = "unverified"  # present, but a gate could not be evaluated (engine or rule missing)
    NOT_STARTED = "not-started"  # manifest story: none of its paths exist
    NOT_RUN = "not-run"  # runtime story: no evidence


ORDER = [Status.FAIL, Status.INCOMPLETE, Status.UNVERIFIED, Status.NOT_RUN, Status.NOT_STARTED, Status.PASS]


@dataclass(frozen=True)
class KustomizationInfo:
    """What the board (and the report's graph) needs of a rendered Flux Kustomization."""

    name: str
    namespace: str
    path: str
    built: bool
    parent: str = ""  # name of the parent Kustomization
    depends_on: tuple[str, ...] = ()
    file: str = ""


@dataclass
class ClusterStatus:
    cluster: str
    status: Status
    reasons: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # failing gate findings
    other_findings: list[Finding] = field(default_factory=list)  # warnings and findings of rules outside the gates
    missing_paths: list[str] = field(default_factory=list)
    evidence: EvidenceVerdict | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"cluster": self.cluster, "status": str(self.status), "reasons": self.reasons,
                                "findings": [f.to_dict() for f in self.findings],
                                "other_findings": [f.to_dict() for f in self.other_findings],
                                "missing_paths": self.missing_paths}
        if self.evidence and self.evidence.evidence:
            ev = self.evidence.evidence
            data["evidence"] = {"target": ev.target, "time": ev.time.isoformat(), "verdict": str(self.evidence.verdict),
                                "checks": [c.model_dump(mode="json") for c in ev.checks]}
        return data


@dataclass
class StoryStatus:
    story: Story
    status: Status
    clusters: list[ClusterStatus]

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.story.number, "id": self.story.id, "title": self.story.title,
                "kind": str(self.story.kind), "lane": self.story.lane, "phase": self.story.phase,
                "status": str(self.status), "clusters": [c.to_dict() for c in self.clusters]}


@dataclass
class SprintGate:
    number: int
    title: str
    start: str
    end: str
    stories: list[str]
    go: bool
    blocking: list[str]  # story ids not passing

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "title": self.title, "start": self.start, "end": self.end,
                "go": self.go, "stories": self.stories, "blocking": self.blocking}


@dataclass
class Board:
    stories: list[StoryStatus]
    sprints: list[SprintGate]
    schedule: str
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = {str(s): 0 for s in ORDER}
        for item in self.stories:
            counts[str(item.status)] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {"schedule": self.schedule, "counts": self.counts(), "notes": self.notes,
                "stories": [s.to_dict() for s in self.stories], "sprints": [s.to_dict() for s in self.sprints]}


@cache
def _pattern(glob: str) -> re.Pattern[str]:
    out = ""
    for part in re.split(r"(\*\*|\*|\?)", glob):
        out += {"**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
    return re.compile(f"^{out}(/.*)?$")


def path_matches(glob: str, path: str) -> bool:
    """`kubernetes/*/kube-system/cilium` matches that folder and every file below it."""
    return bool(_pattern(glob).match(path.lstrip("./")))


def rule_selected(selector: str, rule_id: str) -> bool:
    return rule_id.startswith(selector) if selector.endswith("/") else rule_id == selector


def gate_rules(catalog: Catalog, story: Story) -> list[str]:
    selectors: list[str] = []
    for gate in story.gates:
        selectors.extend(catalog.gates[gate].rules if gate in catalog.gates else [gate])
    return selectors


def unknown_gate_rules(catalog: Catalog, story: Story, known_rules: Iterable[str]) -> list[str]:
    """Named story gates (rule ids outside the catalog's shared gates) that no registered rule implements."""
    known = list(known_rules)
    return [g for g in story.gates if g not in catalog.gates and not any(rule_selected(g, r) for r in known)]


def _kustomization_name(value: str) -> str:
    return value.rsplit("/", 1)[-1]


def attributed(story: Story, cluster: str, findings: Iterable[Finding]) -> list[Finding]:
    """Findings on the story's files or Kustomizations on this cluster (platform-wide findings: any cluster)."""
    names = set(story.kustomizations_on(cluster))
    out = []
    for finding in findings:
        if finding.cluster and finding.cluster != cluster:
            continue
        by_file = bool(finding.file) and any(path_matches(p, finding.file) for p in story.paths)
        by_name = bool(finding.kustomization) and _kustomization_name(finding.kustomization) in names
        if by_file or by_name:
            out.append(finding)
    return out


def _combine(statuses: list[Status]) -> Status:
    if not statuses:
        return Status.NOT_STARTED
    if len(set(statuses)) == 1:
        return statuses[0]
    for status in (Status.FAIL, Status.UNVERIFIED):
        if status in statuses:
            return status
    return Status.INCOMPLETE


def manifest_status(catalog: Catalog, story: Story, cluster: str, present: dict[str, bool],
                    findings: list[Finding] | None, kustomizations: dict[str, KustomizationInfo] | None,
                    known_rules: Iterable[str]) -> ClusterStatus:
    here = [p for p in story.paths if present.get(p)]
    missing = [p for p in story.paths if not present.get(p)]
    if not here:
        return ClusterStatus(cluster, Status.NOT_STARTED, [f"no path present: {', '.join(story.paths)}"],
                             missing_paths=missing)
    if findings is None:
        return ClusterStatus(cluster, Status.UNVERIFIED, ["validation did not run (engine unavailable)"],
                             missing_paths=missing)
    selectors = gate_rules(catalog, story)
    mine = attributed(story, cluster, findings)
    failing = [f for f in mine if f.severity is Severity.ERROR and any(rule_selected(s, f.rule) for s in selectors)]
    others = [f for f in mine if f not in failing]
    reasons: list[str] = []
    if failing:
        reasons.append(f"{len(failing)} failing finding(s): " + ", ".join(sorted({f.rule for f in failing})))
    absent: list[str] = []
    unbuilt: list[str] = []
    if kustomizations is not None:
        absent = [name for name in story.kustomizations_on(cluster) if name not in kustomizations]
        unbuilt = [name for name in story.kustomizations_on(cluster)
                   if name in kustomizations and not kustomizations[name].built]
        if absent:
            reasons.append(f"Kustomization(s) not rendered on {cluster}: {', '.join(absent)}")
        if unbuilt:  # a failed build comes with error findings; without them the source is not local
            reasons.append(f"Kustomization(s) not built offline on {cluster}: {', '.join(unbuilt)}")
    if failing:
        return ClusterStatus(cluster, Status.FAIL, reasons, failing, others, missing)
    if absent or missing:
        if missing:
            reasons.append(f"missing path(s): {', '.join(missing)}")
        return ClusterStatus(cluster, Status.INCOMPLETE, reasons, [], others, missing)
    unknown = unknown_gate_rules(catalog, story, known_rules)
    if unknown:
        reasons.append(f"gate rule(s) not implemented: {', '.join(unknown)}")
    if unknown or unbuilt:
        return ClusterStatus(cluster, Status.UNVERIFIED, reasons, [], others, missing)
    return ClusterStatus(cluster, Status.PASS, ["all gates pass"], [], others, missing)


def runtime_status(catalog: Catalog, story: Story, cluster: str, verdict: EvidenceVerdict,
                   findings: list[Finding] | None) -> ClusterStatus:
    selectors = [s for s in gate_rules(catalog, story)]
    failing = [f for f in attributed(story, cluster, findings or [])
               if f.severity is Severity.ERROR and any(rule_selected(s, f.rule) for s in selectors)]
    mapping = {Verdict.PASS: Status.PASS, Verdict.FAIL: Status.FAIL, Verdict.INVALID: Status.FAIL,
               Verdict.INCOMPLETE: Status.INCOMPLETE, Verdict.NOT_RUN: Status.NOT_RUN}
    status = mapping[verdict.verdict]
    reasons = [verdict.reason]
    if failing:
        status = Status.FAIL
        reasons.append(f"{len(failing)} failing offline finding(s): " + ", ".join(sorted({f.rule for f in failing})))
    return ClusterStatus(cluster, status, reasons, failing, evidence=verdict)


def build_board(catalog: Catalog, present: dict[str, bool], findings: list[Finding] | None,
                kustomizations: dict[str, dict[str, KustomizationInfo]] | None, known_rules: Iterable[str],
                evidence: dict[tuple[str, str], EvidenceVerdict], sprint_plan: list[tuple[int, str, str, str, list[str]]],
                schedule: str, cluster: str | None = None, notes: Iterable[str] = ()) -> Board:
    """sprint_plan: (number, title, start, end, story ids) of the chosen schedule."""
    known = sorted(set(known_rules) | {f.rule for f in findings or []})  # engine findings count as evaluated rules
    statuses: list[StoryStatus] = []
    for story in catalog.stories:
        clusters = [c for c in story.clusters if cluster in (None, c)]
        if not clusters:
            continue
        per_cluster: list[ClusterStatus] = []
        for name in clusters:
            if story.kind is Kind.MANIFEST:
                ks = None if kustomizations is None else kustomizations.get(name)
                per_cluster.append(manifest_status(catalog, story, name, present, findings, ks, known))
            else:
                verdict = evidence.get((name, story.id), EvidenceVerdict(Verdict.NOT_RUN, "no evidence recorded"))
                per_cluster.append(runtime_status(catalog, story, name, verdict, findings))
        statuses.append(StoryStatus(story, _combine([c.status for c in per_cluster]), per_cluster))
    by_id = {s.story.id: s for s in statuses}
    gates = []
    for number, title, start, end, ids in sprint_plan:
        shown = [i for i in ids if i in by_id]
        blocking = [i for i in shown if by_id[i].status is not Status.PASS]
        gates.append(SprintGate(number, title, start, end, shown, bool(shown) and not blocking, blocking))
    board_notes = list(notes)
    orphans = [f for f in findings or [] if f.severity is Severity.ERROR
               and not any(attributed(s, f.cluster or c, [f]) for s in catalog.stories for c in s.clusters)]
    if orphans:
        where = ", ".join(sorted({f"{f.rule} ({f.location()})" for f in orphans})[:5])
        board_notes.append(f"{len(orphans)} error finding(s) belong to no story's paths: {where}")
    return Board(statuses, gates, schedule, board_notes)
