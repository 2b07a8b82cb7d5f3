"""The simulated fleet of a local cluster: the inventory's nodes as Node objects the way Talos registers them,
for kwok to run (its stages report the kubelet's status), and the API server's admission configuration
as Talos writes it.

Talos: every node carries the kubelet's well-known labels plus `machine.nodeLabels` (core/talos.node_patch);
control-plane nodes get the `node-role.kubernetes.io/control-plane` label and, unless the cluster sets
`allowSchedulingOnControlPlanes`, the NoSchedule taint. Capacity is not in the inventory: the simulated
nodes report SIMULATED_CAPACITY (the kubelet's default of 110 pods).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from greenfield.core.inventory import Inventory, NodeRole
from greenfield.core.talos import cluster_patch, node_patch

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_VALUE = "fake"
CONTROL_PLANE_ROLE = "node-role.kubernetes.io/control-plane"
SIMULATED_CAPACITY = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "200Gi"}


@dataclass(frozen=True)
class FleetNode:
    name: str
    address: str
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[dict[str, str], ...] = ()
    capacity: dict[str, str] = field(default_factory=lambda: dict(SIMULATED_CAPACITY))

    def manifest(self) -> dict[str, Any]:
        """The Node object to create (kwok manages the nodes carrying its annotation)."""
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.name, "labels": dict(self.labels),
                             "annotations": {KWOK_ANNOTATION: KWOK_VALUE}},
                "spec": {"taints": [dict(t) for t in self.taints]} if self.taints else {}}

    def status(self) -> dict[str, Any]:
        """What the kubelet reports and kwok keeps: addresses and capacity (kwok adds the conditions)."""
        return {"status": {"addresses": [{"type": "InternalIP", "address": self.address},
                                         {"type": "Hostname", "address": self.name}],
                           "capacity": dict(self.capacity), "allocatable": dict(self.capacity)}}


def well_known_labels(name: str) -> dict[str, str]:
    return {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"}


def fleet_nodes(inventory: Inventory, cluster: str) -> list[FleetNode]:
    schedulable = bool(cluster_patch(inventory, cluster)["cluster"].get("allowSchedulingOnControlPlanes"))
    nodes = []
    for node in inventory.clusters[cluster].nodes:
        labels = {**well_known_labels(node.name), **node_patch(inventory, cluster, node)["machine"]["nodeLabels"]}
        taints: tuple[dict[str, str], ...] = ()
        if node.role == NodeRole.CONTROLPLANE:
            labels[CONTROL_PLANE_ROLE] = ""
            if not schedulable:
                taints = ({"key": CONTROL_PLANE_ROLE, "effect": "NoSchedule"},)
        nodes.append(FleetNode(node.name, str(node.ip), labels, taints))
    return nodes


def admission_configuration() -> dict[str, Any]:
    """Talos' default Pod Security admission: enforce baseline, audit and warn restricted, kube-system exempt."""
    return {
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "AdmissionConfiguration",
        "plugins": [{"name": "PodSecurity", "configuration": {
            "apiVersion": "pod-security.admission.config.k8s.io/v1", "kind": "PodSecurityConfiguration",
            "defaults": {"enforce": "baseline", "enforce-version": "latest", "audit": "restricted",
                         "audit-version": "latest", "warn": "restricted", "warn-version": "latest"},
            "exemptions": {"usernames": [], "runtimeClasses": [], "namespaces": ["kube-system"]}}}],
    }
