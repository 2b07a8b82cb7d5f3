"""The repository states some rule options itself: bootstrap CRD groups and the SPIRE flag."""

from __future__ import annotations

from pathlib import Path

from greenfield.app.inventory import load_inventory
from greenfield.app.validate import repository_rule_options
from greenfield.core.rules.base import parse_rule_overrides


def test_bootstrap_groups_and_spire_flag_come_from_the_repository(repo_root: Path) -> None:
    options = repository_rule_options(repo_root, load_inventory(repo_root / "platform.yaml"), {})
    assert {"cert-manager.io", "monitoring.coreos.com", "gateway.networking.k8s.io"} <= set(
        options["bootstrap_crd_groups"])
    assert options["spire_enabled"] is False


def test_given_options_win(repo_root: Path) -> None:
    options = repository_rule_options(repo_root, None, {"bootstrap_crd_groups": ["x.io"], "house_rules": False})
    assert options == {"bootstrap_crd_groups": ["x.io"], "house_rules": False}


def test_a_repository_without_bootstrap_definitions(tmp_path: Path) -> None:
    assert repository_rule_options(tmp_path, None, {}) == {"house_rules": False}


def test_house_rules_follow_platform_yaml_unless_the_config_file_says_otherwise(repo_root: Path, tmp_path: Path
                                                                                ) -> None:
    assert repository_rule_options(repo_root, None, {})["house_rules"] is True  # platform.yaml at the root
    (tmp_path / ".greenfield.yaml").write_text("house_rules: true\nrules: {policy/psa-label: off}\n")
    options = repository_rule_options(tmp_path, None, {})
    assert options["house_rules"] is True
    assert parse_rule_overrides(options["rules"]) == {"policy/psa-label": "off"}  # YAML 1.1 reads `off` as false
    (tmp_path / "platform.yaml").write_text("{}\n")
    (tmp_path / ".greenfield.yaml").write_text("house_rules: false\n")
    assert repository_rule_options(tmp_path, None, {})["house_rules"] is False


def test_broken_definitions_fall_back_to_defaults(tmp_path: Path) -> None:
    (tmp_path / "bootstrap").mkdir()
    (tmp_path / "bootstrap" / "bootstrap.yaml").write_text("crds: [unclosed\n")
    assert repository_rule_options(tmp_path, None, {}) == {"house_rules": False}
