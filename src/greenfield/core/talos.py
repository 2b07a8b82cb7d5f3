"""Talos machine-config patches rendered from the inventory (pure).

`talosctl gen config` produces the base control-plane config from the cluster secrets; these patches
make it this platform's: CNI none (Cilium), kube-proxy off, CoreDNS off (both come from GitOps),
the inventory's networks, KubePrism, the Spegel-compatible containerd setting, and per node the
hostname, address, install disk, cert SANs and labels.
"""

from __future__ import annotations

from typing import Any

from greenfield.core.inventory import Cluster, Inventory, Node

KUBEPRISM_PORT = 7445
# Spegel serves layers from containerd's content store: Talos must keep unpacked layers.
SPEGEL_CONTAINERD_PATH = "/etc/cri/conf.d/20-customization.part"
SPEGEL_CONTAINERD_CONFIG = '[plugins."io.containerd.cri.v1.images"]\n  discard_unpacked_layers = false\n'


def talos_contract(version: str) -> str:
    """`--talos-version` for gen config: the minor of the inventory's Talos version (v1.11)."""
    major, minor = version.lstrip("v").split(".")[:2]
    return f"v{major}.{minor}"


def endpoint(cluster: Cluster) -> str:
    return f"https://{cluster.api.host}:{cluster.api.port}"


def cluster_patch(inventory: Inventory, name: str) -> dict[str, Any]:
    cluster = inventory.clusters[name]
    shared = inventory.platform
    return {
        "machine": {
            "features": {
                "kubePrism": {"enabled": True, "port": KUBEPRISM_PORT},
                "hostDNS": {"enabled": True, "forwardKubeDNSToHost": False},
            },
            "kubelet": {
                "clusterDNS": [str(cluster.coredns_ip)],
                "nodeIP": {"validSubnets": [str(cluster.node_subnet)]},
            },
            "network": {"nameservers": [str(a) for a in shared.upstream_dns]},
            "files": [{"op": "create", "path": SPEGEL_CONTAINERD_PATH, "content": SPEGEL_CONTAINERD_CONFIG}],
        },
        "cluster": {
            "clusterName": name,
            "allowSchedulingOnControlPlanes": True,
            "network": {
                "cni": {"name": "none"},
                "dnsDomain": shared.cluster_domain,
                "podSubnets": [str(cluster.pod_cidr)],
                "serviceSubnets": [str(cluster.service_cidr)],
            },
            "proxy": {"disabled": True},
            "coreDNS": {"disabled": True},
            "apiServer": {"certSANs": [cluster.api.host, "127.0.0.1"]},
        },
    }


def node_patch(inventory: Inventory, name: str, node: Node) -> dict[str, Any]:
    cluster = inventory.clusters[name]
    prefix = cluster.node_subnet.prefixlen
    labels = {"topology.kubernetes.io/region": name, "greenfield.io/cluster": name, **node.labels}
    return {
        "machine": {
            "install": {"disk": node.install_disk, "wipe": False},
            "certSANs": [cluster.api.host, str(node.ip)],
            "nodeLabels": labels,
            "network": {
                "hostname": node.name,
                "interfaces": [{
                    "deviceSelector": {"physical": True},
                    "addresses": [f"{node.ip}/{prefix}"],
                    "routes": [{"network": "0.0.0.0/0", "gateway": str(inventory.platform.router.address)}],
                }],
            },
        },
    }


def node_order(inventory: Inventory, name: str) -> list[Node]:
    """Apply order: control planes first (the first one bootstraps etcd), then workers, by name."""
    nodes = inventory.clusters[name].nodes
    return sorted(nodes, key=lambda n: (n.role != "controlplane", n.name))
