"""Every semantic rule has a failing and a passing fixture: fail.yaml fires it, pass.yaml does not."""

from __future__ import annotations

from pathlib import Path

import pytest
from rules_fixtures import FIXTURES, load_renders, make_context, reference_inventory

from greenfield.core.findings import Finding
from greenfield.core.rules import all_rules, run_rules

OURS = ("graph/", "cluster/", "policy/", "secrets/", "flux/", "story/", "admission/")
RULE_IDS = sorted(info.id for info in all_rules() if info.id.startswith(OURS))
INVENTORY = reference_inventory()


def findings_of(rule_id: str, path: Path) -> list[Finding]:
    renders = load_renders(path)
    context = make_context(renders, INVENTORY)
    return [f for f in run_rules(context, only=[rule_id]) if f.rule == rule_id]


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_fail_fixture_fires(rule_id: str) -> None:
    path = FIXTURES / rule_id / "fail.yaml"
    assert path.is_file(), f"missing failing fixture {path}"
    findings = findings_of(rule_id, path)
    assert findings, f"{rule_id} did not fire on {path}"
    for item in findings:
        assert item.message and item.hint and item.cluster, item
        assert item.object or item.kustomization, item


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_pass_fixture_is_clean(rule_id: str) -> None:
    path = FIXTURES / rule_id / "pass.yaml"
    assert path.is_file(), f"missing passing fixture {path}"
    assert findings_of(rule_id, path) == []


def test_every_fixture_folder_names_a_rule() -> None:
    folders = {str(p.parent.relative_to(FIXTURES)) for p in FIXTURES.rglob("fail.yaml")}
    assert folders <= set(RULE_IDS)
