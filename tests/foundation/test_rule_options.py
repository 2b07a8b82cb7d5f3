"""The repository states some rule options itself: bootstrap CRD groups and the SPIRE flag."""

from __future__ import annotations

from pathlib import Path

from greenfield.app.inventory import load_inventory
from greenfield.app.validate import repository_rule_options


def test_bootstrap_groups_and_spire_flag_come_from_the_repository(repo_root: Path) -> None:
    options = repository_rule_options(repo_root, load_inventory(repo_root / "platform.yaml"), {})
    assert {"cert-manager.io", "monitoring.coreos.com", "gateway.networking.k8s.io"} <= set(
        options["bootstrap_crd_groups"])
    assert options["spire_enabled"] is False


def test_given_options_win(repo_root: Path) -> None:
    options = repository_rule_options(repo_root, None, {"bootstrap_crd_groups": ["x.io"]})
    assert options == {"bootstrap_crd_groups": ["x.io"]}


def test_a_repository_without_bootstrap_definitions(tmp_path: Path) -> None:
    assert repository_rule_options(tmp_path, None, {}) == {}


def test_broken_definitions_fall_back_to_defaults(tmp_path: Path) -> None:
    (tmp_path / "bootstrap").mkdir()
    (tmp_path / "bootstrap" / "bootstrap.yaml").write_text("crds: [unclosed\n")
    assert repository_rule_options(tmp_path, None, {}) == {}
