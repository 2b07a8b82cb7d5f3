"""cluster-settings rendering: deterministic, complete, and drift is detected."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from greenfield.app.inventory import load_inventory
from greenfield.app.settings import plan_settings, render_text, write_settings
from greenfield.core.settings import cluster_settings, derived_settings


@pytest.fixture()
def repo(tmp_path: Path, repo_root: Path) -> Path:
    shutil.copy(repo_root / "platform.yaml", tmp_path / "platform.yaml")
    for cluster in ("infra", "apps"):
        target = tmp_path / "kubernetes" / "clusters" / cluster
        target.mkdir(parents=True)
        shutil.copy(repo_root / "kubernetes" / "clusters" / cluster / "cluster-settings.yaml", target)
    return tmp_path


def test_committed_settings_match_the_inventory(repo_root: Path) -> None:
    inventory = load_inventory(repo_root / "platform.yaml")
    assert [f.cluster for f in plan_settings(repo_root, inventory) if f.drifted] == []


def test_rendering_is_deterministic(repo_root: Path) -> None:
    inventory = load_inventory(repo_root / "platform.yaml")
    assert render_text(inventory, "infra") == render_text(inventory, "infra")


def test_settings_carry_the_reference_values(repo_root: Path) -> None:
    inventory = load_inventory(repo_root / "platform.yaml")
    infra, apps = cluster_settings(inventory, "infra"), cluster_settings(inventory, "apps")
    assert infra["CLUSTER_ID"] == "1" and apps["CLUSTER_ID"] == "2"
    assert infra["COREDNS_IP"] == "10.245.0.10" and apps["COREDNS_IP"] == "10.247.0.10"
    assert infra["LB_POOL_START"] == "10.25.11.100" and apps["LB_POOL_STOP"] == "10.25.11.139"
    assert infra["API_HOST"] == "infra-k8s.example.com"
    assert infra["BGP_LOCAL_ASN"] == "64512" and apps["BGP_LOCAL_ASN"] == "64513"
    derived_infra, derived_apps = derived_settings(inventory, "infra"), derived_settings(inventory, "apps")
    assert set(derived_infra) == set(derived_apps), "every cluster derives the same variables"
    assert set(derived_infra) <= set(infra) and set(derived_apps) <= set(apps)
    assert all(isinstance(v, str) for v in infra.values())


def test_the_rendered_file_is_a_configmap_flux_can_substitute_from(repo_root: Path) -> None:
    inventory = load_inventory(repo_root / "platform.yaml")
    document = yaml.safe_load(render_text(inventory, "apps"))
    assert document["kind"] == "ConfigMap"
    assert document["metadata"] == {
        "name": "cluster-settings", "namespace": "flux-system",
        "labels": {"app.kubernetes.io/managed-by": "greenfield"},
        "annotations": {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}}
    assert document["data"]["CLUSTER_NAME"] == "apps"


def test_disabled_clusters_are_not_rendered(repo: Path) -> None:
    inventory = load_inventory(repo / "platform.yaml")
    assert [f.cluster for f in plan_settings(repo, inventory)] == ["infra", "apps"]


def test_an_inventory_edit_drifts_until_rerendered(repo: Path) -> None:
    path = repo / "platform.yaml"
    path.write_text(path.read_text().replace("coredns_ip: 10.247.0.10", "coredns_ip: 10.247.0.53"))
    inventory = load_inventory(path)
    files = plan_settings(repo, inventory)
    drifted = [f for f in files if f.drifted]
    assert [f.cluster for f in drifted] == ["apps"]
    assert "+  COREDNS_IP: 10.247.0.53" in drifted[0].diff(repo)
    write_settings(files)
    assert [f for f in plan_settings(repo, inventory) if f.drifted] == []


def test_extra_settings_reach_only_their_cluster(repo: Path) -> None:
    path = repo / "platform.yaml"
    data = yaml.safe_load(path.read_text())
    data["clusters"]["infra"].setdefault("settings", {})["METRICS_TIER"] = "full"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    inventory = load_inventory(path)
    assert cluster_settings(inventory, "infra")["METRICS_TIER"] == "full"
    assert "METRICS_TIER" not in cluster_settings(inventory, "apps")


def test_extra_settings_cannot_redefine_derived_ones(repo: Path) -> None:
    from greenfield.errors import InputError

    path = repo / "platform.yaml"
    data = yaml.safe_load(path.read_text())
    data["platform"]["settings"] = {**(data["platform"].get("settings") or {}), "DOMAIN": "x.org"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    inventory = load_inventory(path)
    with pytest.raises(InputError, match=r"platform\.settings\.DOMAIN: redefines"):
        render_text(inventory, "infra")
