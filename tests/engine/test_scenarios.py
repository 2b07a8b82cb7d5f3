"""Every build/ and substitution/ rule: one failing fixture (an overlay over basic) and the passing basic repo."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.engine.conftest import BASIC, make_repo, own_rules, run, scenario, scenario_names

from greenfield.core.findings import Severity
from greenfield.core.model import NamespacedName
from greenfield.core.rules.base import all_rules

# chart rules need the helm binary: their failing and passing cases live in test_charts.py
CHART_RULES = ("build/chart-template", "build/chart-missing")
OWN_RULES = sorted(info.id for info in all_rules()
                   if info.id.startswith(("build/", "substitution/")) and info.id not in CHART_RULES)


def test_basic_fixture_passes_every_engine_rule(build_cache: Path) -> None:
    report = run(BASIC, build_cache, only_rules=["build/", "substitution/"])
    assert report.findings == []
    render = report.renders["dev"]
    assert all(node.built for node in render.kustomizations.values())


def test_every_engine_rule_has_a_failing_scenario() -> None:
    covered = {scenario(name)["rule"] for name in scenario_names()}
    assert set(OWN_RULES) <= covered


@pytest.mark.parametrize("name", scenario_names())
def test_scenario_yields_its_rule(name: str, tmp_path: Path, build_cache: Path) -> None:
    spec = scenario(name)
    repo = make_repo(tmp_path, name)
    report = run(repo, build_cache, cluster_paths=spec.get("cluster_paths") or [],
                 only_rules=["build/", "substitution/"])
    rules = own_rules(report)
    assert spec["rule"] in rules, [f.to_dict() for f in report.findings]
    for item in report.findings:
        if item.rule == spec["rule"]:
            assert item.message and item.cluster
            assert item.hint or item.severity == Severity.INFO
    # no traceback-like leftovers in messages
    assert not any("Traceback" in f.message for f in report.findings)


def test_scenario_findings_name_file_and_object(tmp_path: Path, build_cache: Path) -> None:
    report = run(make_repo(tmp_path, "undefined-variable"), build_cache)
    [item] = [f for f in report.findings if f.rule == "substitution/undefined-variable"]
    assert item.file == "kubernetes/apps/podinfo/app/helmrelease.yaml"
    assert item.line == 2
    assert item.object == "HelmRelease/podinfo/podinfo"
    assert item.kustomization == "flux-system/podinfo"
    assert "${DOMAN}" in item.message and "values.ingress.host" in item.message


def test_kustomize_error_keeps_kustomize_message(tmp_path: Path, build_cache: Path) -> None:
    report = run(make_repo(tmp_path, "kustomize-error"), build_cache)
    [item] = [f for f in report.findings if f.rule == "build/kustomize-error"]
    assert "missing.yaml" in item.message
    assert "greenfield-kustomize-" not in item.message  # temporary folders never leak into messages
    assert not report.renders["dev"].kustomizations[_key("flux-system", "grafana")].built


def _key(namespace: str, name: str):  # type: ignore[no-untyped-def]
    from greenfield.core.model import NamespacedName

    return NamespacedName(namespace, name)


def test_a_substitution_failure_fails_the_whole_kustomization(tmp_path: Path, build_cache: Path) -> None:
    """kustomize-controller substitutes the whole build before it applies anything: nothing of it is applied."""
    healthy = run(make_repo(tmp_path / "healthy"), build_cache).renders["dev"]
    report = run(make_repo(tmp_path, "syntax"), build_cache)
    node = report.renders["dev"].kustomizations[NamespacedName("flux-system", "podinfo")]
    assert healthy.kustomizations[node.key].objects, "the healthy podinfo applies objects"
    assert (node.built, node.objects) == (False, [])
    assert "Flux fails this Kustomization" in node.error
    assert [f.rule for f in report.findings if f.kustomization == "flux-system/podinfo"] == ["substitution/syntax"]
