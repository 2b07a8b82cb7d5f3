"""The SPIRE switch: `settings render` lists the spire area in the cluster includes exactly when the flag is on."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from greenfield.app.inventory import load_inventory
from greenfield.app.settings import include_path, plan_settings, write_settings
from greenfield.core.settings import SPIRE_INCLUDE, sync_include_entry
from greenfield.errors import InputError

INCLUDE = """---
# What the cluster runs. Append lines; keep sorted by area.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../../infrastructure/kube-system
  - ../../../infrastructure/rook-ceph
  - ../../../infrastructure/zzz
"""


def test_the_entry_is_inserted_sorted_and_removed_again() -> None:
    on = sync_include_entry(INCLUDE, SPIRE_INCLUDE, True)
    assert on.splitlines()[-2:] == [f"  - {SPIRE_INCLUDE}", "  - ../../../infrastructure/zzz"]
    assert sync_include_entry(on, SPIRE_INCLUDE, True) == on
    assert sync_include_entry(on, SPIRE_INCLUDE, False) == INCLUDE
    assert sync_include_entry(INCLUDE, SPIRE_INCLUDE, False) == INCLUDE


def test_the_entry_goes_last_when_it_sorts_last() -> None:
    text = INCLUDE.replace("  - ../../../infrastructure/zzz\n", "")
    assert sync_include_entry(text, SPIRE_INCLUDE, True).endswith(f"  - {SPIRE_INCLUDE}\n")


def test_an_include_without_entries_cannot_take_the_switch() -> None:
    with pytest.raises(ValueError, match="no resource entries"):
        sync_include_entry("resources: []\n", SPIRE_INCLUDE, True)


@pytest.fixture()
def repo(tmp_path: Path, repo_root: Path) -> Path:
    shutil.copy(repo_root / "platform.yaml", tmp_path / "platform.yaml")
    (tmp_path / "kubernetes" / "infrastructure" / "spire").mkdir(parents=True)
    for cluster in ("infra", "apps"):
        target = tmp_path / "kubernetes" / "clusters" / cluster
        (target / "infrastructure").mkdir(parents=True)
        shutil.copy(repo_root / "kubernetes" / "clusters" / cluster / "cluster-settings.yaml", target)
        (target / "infrastructure" / "kustomization.yaml").write_text(INCLUDE, encoding="utf-8")
    return tmp_path


def _set_spire(repo: Path, enabled: bool) -> None:
    path = repo / "platform.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["platform"]["features"]["spire"] = enabled
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_flag_off_leaves_the_includes_alone(repo: Path) -> None:
    files = plan_settings(repo, load_inventory(repo / "platform.yaml"))
    assert [f.path.name for f in files] == ["cluster-settings.yaml", "cluster-settings.yaml"]


def test_flag_on_lists_spire_everywhere_and_off_removes_it(repo: Path) -> None:
    _set_spire(repo, True)
    write_settings(plan_settings(repo, load_inventory(repo / "platform.yaml")))
    for cluster in ("infra", "apps"):
        assert f"  - {SPIRE_INCLUDE}\n" in include_path(repo, cluster).read_text(encoding="utf-8")
        settings = (repo / "kubernetes" / "clusters" / cluster / "cluster-settings.yaml").read_text(encoding="utf-8")
        assert "SPIRE_ENABLED: 'true'" in settings
    assert [f for f in plan_settings(repo, load_inventory(repo / "platform.yaml")) if f.drifted] == []
    _set_spire(repo, False)
    drifted = [f for f in plan_settings(repo, load_inventory(repo / "platform.yaml")) if f.drifted]
    assert {f.path.name for f in drifted} == {"cluster-settings.yaml", "kustomization.yaml"}
    assert f"-  - {SPIRE_INCLUDE}" in next(f for f in drifted if f.path.name == "kustomization.yaml").diff(repo)
    write_settings(drifted)
    assert include_path(repo, "infra").read_text(encoding="utf-8") == INCLUDE


def test_an_unusable_include_is_an_input_error(repo: Path) -> None:
    _set_spire(repo, True)
    include_path(repo, "apps").write_text("resources: []\n", encoding="utf-8")
    with pytest.raises(InputError, match="no resource entries"):
        plan_settings(repo, load_inventory(repo / "platform.yaml"))


def test_the_reference_repository_agrees_with_its_flag(repo_root: Path) -> None:
    inventory = load_inventory(repo_root / "platform.yaml")
    assert [f.path for f in plan_settings(repo_root, inventory) if f.drifted] == []
