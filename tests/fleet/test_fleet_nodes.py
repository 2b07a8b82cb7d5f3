"""The simulated fleet's nodes and admission, from the inventory, as Talos would register and configure them."""

from __future__ import annotations

from pathlib import Path

from greenfield.app.inventory import load_inventory
from greenfield.core.fleet import (
    CONTROL_PLANE_ROLE,
    KWOK_ANNOTATION,
    SIMULATED_CAPACITY,
    admission_configuration,
    fleet_nodes,
)
from greenfield.core.inventory import NodeRole

REPO = Path(__file__).resolve().parents[2]


def test_nodes_carry_the_inventory_names_addresses_and_talos_labels() -> None:
    inventory = load_inventory(REPO / "platform.yaml", "platform.yaml")
    for cluster in inventory.enabled_clusters():
        nodes = fleet_nodes(inventory, cluster)
        wanted = inventory.clusters[cluster].nodes
        assert [n.name for n in nodes] == [n.name for n in wanted]
        assert [n.address for n in nodes] == [str(n.ip) for n in wanted]
        for node, source in zip(nodes, wanted, strict=True):
            manifest = node.manifest()
            labels = manifest["metadata"]["labels"]
            assert labels["kubernetes.io/hostname"] == node.name
            assert labels["topology.kubernetes.io/region"] == cluster  # Talos machine.nodeLabels
            assert source.labels.items() <= labels.items()
            assert manifest["metadata"]["annotations"] == {KWOK_ANNOTATION: "fake"}
            assert (CONTROL_PLANE_ROLE in labels) == (source.role == NodeRole.CONTROLPLANE)
            # the platform allows scheduling on control planes (core/talos): Talos then sets no taint
            assert "taints" not in manifest["spec"]
            status = node.status()["status"]
            assert {"type": "InternalIP", "address": str(source.ip)} in status["addresses"]
            assert status["capacity"] == SIMULATED_CAPACITY


def test_admission_enforces_baseline_like_talos() -> None:
    [plugin] = admission_configuration()["plugins"]
    assert plugin["name"] == "PodSecurity"
    config = plugin["configuration"]
    assert config["defaults"]["enforce"] == "baseline"
    assert config["defaults"]["warn"] == config["defaults"]["audit"] == "restricted"
    assert config["exemptions"]["namespaces"] == ["kube-system"]
