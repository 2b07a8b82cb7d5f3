"""Gate evaluation is pure: synthetic findings, Kustomization info and evidence in, statuses out."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from greenfield.app.plan import read_evidence, write_evidence
from greenfield.core.findings import Finding, Severity
from greenfield.core.plan.board import KustomizationInfo, Status, build_board, path_matches
from greenfield.core.plan.catalog import Catalog
from greenfield.core.plan.evidence import EvidenceVerdict, Verdict, evaluate, evidence_document, parse_evidence

RULES = ["graph/depends-on-missing", "cluster/lb-pool", "policy/service-selector", "schema/invalid"]


def _rules(catalog: Catalog, without: str = "") -> list[str]:
    """Every rule the catalog's story gates name (as if all were registered), minus a prefix."""
    named = {g.rstrip("/") + ("/any" if g.endswith("/") else "") for s in catalog.stories for g in s.gates
             if g not in catalog.gates}
    return sorted(r for r in named | set(RULES) if not (without and r.startswith(without)))
T0 = dt.datetime(2026, 2, 10, 9, 30, tzinfo=dt.UTC)


def _ks(*names: str, built: bool = True) -> dict[str, KustomizationInfo]:
    return {n: KustomizationInfo(n, "flux-system", f"kubernetes/x/{n}", built) for n in names}


def _all_present(catalog: Catalog) -> dict[str, bool]:
    return {p: True for s in catalog.stories for p in s.paths}


def _board(catalog: Catalog, present: dict[str, bool], findings: list[Finding] | None,
           ks: dict[str, dict[str, KustomizationInfo]] | None,
           evidence: dict[tuple[str, str], EvidenceVerdict] | None = None, cluster: str | None = None):
    plan = [(1, "one", "2025-10-27", "2025-11-07", ["STORY-NET-CILIUM-CORE-GITOPS", "STORY-NET-CILIUM-IPAM"]),
            (7, "seven", "2026-02-09", "2026-02-27", ["STORY-BOOT-TALOS"])]
    return build_board(catalog, present, findings, ks, _rules(catalog), evidence or {}, plan, "test", cluster)


def _every_kustomization(catalog: Catalog) -> dict[str, dict[str, KustomizationInfo]]:
    return {c: _ks(*{n for s in catalog.stories for n in s.kustomizations_on(c)}) for c in catalog.clusters}


def test_paths_absent_means_not_started_never_an_error(catalog: Catalog) -> None:
    board = _board(catalog, {}, [], {})
    first = board.stories[0]
    assert first.status is Status.NOT_STARTED
    assert "no path present" in first.clusters[0].reasons[0]


def test_a_clean_story_passes_and_its_sprint_is_go(catalog: Catalog) -> None:
    board = _board(catalog, _all_present(catalog), [], _every_kustomization(catalog))
    by_number = {s.story.number: s for s in board.stories}
    assert by_number[1].status is Status.PASS
    assert by_number[2].status is Status.PASS
    assert board.sprints[0].go is True
    assert by_number[42].status is Status.NOT_RUN  # runtime stories never pass without evidence
    assert board.sprints[1].go is False and board.sprints[1].blocking == ["STORY-BOOT-TALOS"]


def test_findings_on_a_storys_files_or_kustomizations_fail_its_gates(catalog: Catalog) -> None:
    folder = catalog.story(2).paths[0].replace("*", "infrastructure")
    findings = [
        Finding("graph/depends-on-missing", Severity.ERROR, "dependsOn coredns not found", cluster="apps",
                kustomization="flux-system/cilium-config"),
        Finding("cluster/lb-pool", Severity.ERROR, "pool overlaps", cluster="infra",
                file=f"{folder}/pool.yaml", line=4),
        Finding("policy/service-selector", Severity.ERROR, "selector matches nothing", cluster="infra",
                file=f"{folder}/pool.yaml"),
        Finding("graph/depends-on-missing", Severity.WARNING, "only a warning", cluster="infra",
                kustomization="flux-system/coredns"),
    ]
    board = _board(catalog, _all_present(catalog), findings, _every_kustomization(catalog))
    ipam = next(s for s in board.stories if s.story.number == 2)
    assert ipam.status is Status.FAIL
    infra, apps = ipam.clusters
    assert [f.rule for f in infra.findings] == ["cluster/lb-pool"]  # service-selector is not one of story 2's gates
    assert [f.rule for f in infra.other_findings] == ["policy/service-selector"]
    assert [f.rule for f in apps.findings] == ["graph/depends-on-missing"]
    bgp_legacy = next(s for s in board.stories if s.story.number == 10)  # lb-pool is not its gate
    assert "cluster/lb-pool" not in {f.rule for c in bgp_legacy.clusters for f in c.findings}
    coredns = next(s for s in board.stories if s.story.number == 4)
    assert coredns.status is Status.PASS  # warnings never fail a gate
    assert board.sprints[0].go is False


def test_a_kustomization_missing_or_unbuilt_on_a_cluster(catalog: Catalog) -> None:
    ks = _every_kustomization(catalog)
    del ks["apps"]["coredns"]
    ks["infra"]["coredns"] = KustomizationInfo("coredns", "flux-system", "x", built=False)
    board = _board(catalog, _all_present(catalog), [], ks)
    coredns = next(s for s in board.stories if s.story.number == 4)
    infra, apps = coredns.clusters
    assert infra.status is Status.UNVERIFIED and "not built offline on infra: coredns" in infra.reasons[0]
    assert apps.status is Status.INCOMPLETE and "not rendered on apps: coredns" in apps.reasons[0]
    assert coredns.status is Status.UNVERIFIED
    build_error = Finding("build/kustomize", Severity.ERROR, "kustomize failed", cluster="infra",
                          kustomization="flux-system/coredns")
    failed = _board(catalog, _all_present(catalog), [build_error], ks)
    assert next(s for s in failed.stories if s.story.number == 4).status is Status.FAIL


def test_engine_unavailable_or_gate_rule_missing_is_unverified(catalog: Catalog) -> None:
    board = _board(catalog, _all_present(catalog), None, None)
    assert next(s for s in board.stories if s.story.number == 1).status is Status.UNVERIFIED
    rules_without_bgp = _rules(catalog, without="cluster/bgp")
    plan: list[tuple[int, str, str, str, list[str]]] = []
    board = build_board(catalog, _all_present(catalog), [], _every_kustomization(catalog), rules_without_bgp, {},
                        plan, "t")
    bgp = next(s for s in board.stories if s.story.number == 9)
    assert bgp.status is Status.UNVERIFIED and "cluster/bgp" in bgp.clusters[0].reasons[0]


def test_cluster_filter(catalog: Catalog) -> None:
    board = _board(catalog, _all_present(catalog), [], _every_kustomization(catalog), cluster="apps")
    numbers = [s.story.number for s in board.stories]
    assert 14 not in numbers and 29 in numbers  # 14 is infra-only, 29 apps-only
    assert all(c.cluster == "apps" for s in board.stories for c in s.clusters)


def _evidence(story: str, cluster: str, *results: str) -> dict[str, object]:
    checks = [{"name": f"check {i}", "result": r} for i, r in enumerate(results)]
    return evidence_document(story, cluster, "https://infra-k8s.example.com:6443", checks, T0)


@pytest.mark.parametrize(("results", "verdict"), [
    (("pass", "pass", "not-applicable"), Verdict.PASS),
    (("pass", "fail"), Verdict.FAIL),
    (("pass", "pending"), Verdict.INCOMPLETE),
    (("skipped",), Verdict.NOT_RUN),
    ((), Verdict.NOT_RUN),
])
def test_evidence_verdicts(results: tuple[str, ...], verdict: Verdict) -> None:
    evidence, problem = parse_evidence(_evidence("STORY-BOOT-TALOS", "infra", *results))
    assert problem == ""
    assert evaluate(evidence, "STORY-BOOT-TALOS", "infra").verdict is verdict


def test_invalid_or_foreign_evidence_never_passes() -> None:
    data = _evidence("STORY-BOOT-TALOS", "infra", "pass")
    data["time"] = "2026-02-10T09:30:00"  # no timezone
    evidence, problem = parse_evidence(data)
    assert evidence is None and "timezone" in problem
    assert evaluate(None, "STORY-BOOT-TALOS", "infra", problem).verdict is Verdict.INVALID
    other, _ = parse_evidence(_evidence("STORY-BOOT-CRDS", "infra", "pass"))
    assert evaluate(other, "STORY-BOOT-TALOS", "infra").verdict is Verdict.INVALID
    with pytest.raises(ValueError, match="result"):
        evidence_document("STORY-BOOT-TALOS", "infra", "t", [{"name": "x", "result": "ok"}], T0)


def test_evidence_files_drive_runtime_stories(catalog: Catalog, tmp_path: Path) -> None:
    write_evidence(tmp_path, "STORY-BOOT-TALOS", "infra", "10.25.11.11-13",
                   [{"name": "etcd healthy", "result": "pass"}], T0)
    write_evidence(tmp_path, "STORY-BOOT-TALOS", "apps", "10.25.11.14-16",
                   [{"name": "etcd healthy", "result": "fail", "detail": "member 2 down"}], T0)
    bad = tmp_path / ".greenfield" / "evidence" / "infra" / "STORY-BOOT-CRDS.json"
    bad.write_text("{not json", encoding="utf-8")
    verdicts = read_evidence(tmp_path, catalog)
    assert verdicts[("infra", "STORY-BOOT-TALOS")].verdict is Verdict.PASS
    assert verdicts[("apps", "STORY-BOOT-TALOS")].verdict is Verdict.FAIL
    assert verdicts[("infra", "STORY-BOOT-CRDS")].verdict is Verdict.INVALID
    board = _board(catalog, {}, [], {}, verdicts)
    talos = next(s for s in board.stories if s.story.number == 42)
    assert [c.status for c in talos.clusters] == [Status.PASS, Status.FAIL]
    assert talos.status is Status.FAIL
    assert json.loads((tmp_path / ".greenfield/evidence/infra/STORY-BOOT-TALOS.json").read_text())["format"] \
        == "greenfield.evidence/v1"


def test_path_globs() -> None:
    assert path_matches("kubernetes/*/kube-system/cilium", "kubernetes/infrastructure/kube-system/cilium/ks.yaml")
    assert not path_matches("kubernetes/*/kube-system/cilium", "kubernetes/infrastructure/kube-system/cilium-config")
    assert path_matches("src/greenfield/**/health*.py", "src/greenfield/core/health_eval.py")
    assert path_matches("kubernetes/*/network/external-dns*", "kubernetes/infrastructure/network/external-dns/app/x.yaml")


def test_error_findings_outside_every_story_are_noted(catalog: Catalog) -> None:
    stray = Finding("graph/cycle", Severity.ERROR, "cycle", cluster="infra", file="kubernetes/elsewhere/ks.yaml")
    board = _board(catalog, _all_present(catalog), [stray], _every_kustomization(catalog))
    assert any("1 error finding(s) belong to no story's paths: graph/cycle" in n for n in board.notes)
