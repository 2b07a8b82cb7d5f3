"""Which objects prove which story, layer by layer (STORIES.md 45-49). Pure data plus matching.

A check names the object (or every object of a kind) whose readiness proves part of a story. Whether
it applies to a cluster is decided by the desired state: a check whose subject is not part of the
cluster's rendered GitOps tree is "not-applicable" there, with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Layer(StrEnum):
    PLATFORM = "platform"  # API, nodes, CRDs, Flux itself — always checked
    NETWORKING = "networking"
    STORAGE_OBSERVABILITY = "storage-observability"
    DATABASES_SECURITY = "databases-security"
    APPS = "apps"
    MESSAGING_TENANCY = "messaging-tenancy"


LAYER_STORY = {
    Layer.PLATFORM: "STORY-BOOT-CORE",
    Layer.NETWORKING: "STORY-VALIDATE-NETWORKING",
    Layer.STORAGE_OBSERVABILITY: "STORY-VALIDATE-STORAGE-OBSERVABILITY",
    Layer.DATABASES_SECURITY: "STORY-VALIDATE-DATABASES-SECURITY",
    Layer.APPS: "STORY-VALIDATE-APPS-CLUSTER",
    Layer.MESSAGING_TENANCY: "STORY-VALIDATE-MESSAGING-TENANCY",
}


@dataclass(frozen=True)
class ObjectCheck:
    layer: Layer
    story: str
    group: str
    kind: str
    namespace: str = ""  # "" = cluster-scoped or any namespace when name is "*"
    name: str = "*"  # "*" = every object of the kind in the desired state
    needs_nodes: bool = False  # pods must run: not applicable on a control plane without nodes
    release: str = ""  # "namespace/name" of the HelmRelease whose chart creates the subject

    def title(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


def _w(layer: Layer, story: str, kind: str, namespace: str, name: str, release: str = "") -> ObjectCheck:
    """A workload a chart creates: applies when its HelmRelease is part of the desired state."""
    return ObjectCheck(layer, story, "apps", kind, namespace, name, needs_nodes=True,
                       release=release or f"{namespace}/{name}")


N, S, D, A, M = (Layer.NETWORKING, Layer.STORAGE_OBSERVABILITY, Layer.DATABASES_SECURITY, Layer.APPS,
                 Layer.MESSAGING_TENANCY)

CHECKS: tuple[ObjectCheck, ...] = (
    # networking (stories 1-13)
    _w(N, "STORY-NET-CILIUM-CORE-GITOPS", "DaemonSet", "kube-system", "cilium"),
    _w(N, "STORY-NET-CILIUM-CORE-GITOPS", "Deployment", "kube-system", "cilium-operator", "kube-system/cilium"),
    ObjectCheck(N, "STORY-NET-CILIUM-CORE-GITOPS", "helm.toolkit.fluxcd.io", "HelmRelease", "kube-system", "cilium"),
    ObjectCheck(N, "STORY-NET-CILIUM-IPAM", "cilium.io", "CiliumLoadBalancerIPPool"),
    ObjectCheck(N, "STORY-NET-CILIUM-GATEWAY", "gateway.networking.k8s.io", "GatewayClass", "", "cilium"),
    ObjectCheck(N, "STORY-NET-CILIUM-GATEWAY", "gateway.networking.k8s.io", "Gateway"),
    _w(N, "STORY-DNS-COREDNS-BASE", "Deployment", "kube-system", "coredns"),
    ObjectCheck(N, "STORY-SEC-EXTERNAL-SECRETS-BASE", "external-secrets.io", "ClusterSecretStore"),
    ObjectCheck(N, "STORY-SEC-CERT-MANAGER-ISSUERS", "cert-manager.io", "ClusterIssuer"),
    ObjectCheck(N, "STORY-SEC-CERT-MANAGER-ISSUERS", "cert-manager.io", "Certificate"),
    _w(N, "STORY-OPS-RELOADER-ALL-CLUSTERS", "Deployment", "kube-system", "reloader"),
    ObjectCheck(N, "STORY-DNS-EXTERNALDNS-CF-BIND-TUNNEL", "helm.toolkit.fluxcd.io", "HelmRelease", "network"),
    ObjectCheck(N, "STORY-NET-CILIUM-BGP", "cilium.io", "CiliumBGPClusterConfig"),
    ObjectCheck(N, "STORY-NET-CILIUM-BGP", "cilium.io", "CiliumBGPPeerConfig"),
    _w(N, "STORY-NET-SPEGEL-REGISTRY-MIRROR", "DaemonSet", "kube-system", "spegel"),
    _w(N, "STORY-NET-CILIUM-CLUSTERMESH", "Deployment", "kube-system", "clustermesh-apiserver", "kube-system/cilium"),
    ObjectCheck(N, "STORY-NET-CLUSTERMESH-DNS", "externaldns.k8s.io", "DNSEndpoint"),
    # storage and observability (14-22)
    ObjectCheck(S, "STORY-STO-OPENEBS-BASE", "helm.toolkit.fluxcd.io", "HelmRelease", "openebs-system"),
    ObjectCheck(S, "STORY-STO-ROOK-CEPH-OPERATOR", "helm.toolkit.fluxcd.io", "HelmRelease", "rook-ceph"),
    ObjectCheck(S, "STORY-STO-ROOK-CEPH-CLUSTER", "ceph.rook.io", "CephCluster", needs_nodes=True),
    ObjectCheck(S, "STORY-STO-ROOK-CEPH-CLUSTER", "ceph.rook.io", "CephBlockPool"),
    ObjectCheck(S, "STORY-OBS-VM-STACK", "operator.victoriametrics.com", "VMCluster"),
    ObjectCheck(S, "STORY-OBS-VM-STACK", "operator.victoriametrics.com", "VMAgent"),
    ObjectCheck(S, "STORY-OBS-VICTORIA-LOGS", "helm.toolkit.fluxcd.io", "HelmRelease", "observability"),
    _w(S, "STORY-OBS-FLUENT-BIT", "DaemonSet", "observability", "fluent-bit"),
    # databases and security (23-28)
    ObjectCheck(D, "STORY-DB-CNPG-OPERATOR", "helm.toolkit.fluxcd.io", "HelmRelease", "cnpg-system"),
    ObjectCheck(D, "STORY-DB-CNPG-SHARED-CLUSTER", "postgresql.cnpg.io", "Cluster", needs_nodes=True),
    ObjectCheck(D, "STORY-DB-CNPG-SHARED-CLUSTER", "postgresql.cnpg.io", "Pooler"),
    ObjectCheck(D, "STORY-DB-DRAGONFLY-OPERATOR-CLUSTER", "dragonflydb.io", "Dragonfly"),
    ObjectCheck(D, "STORY-SEC-NP-BASELINE", "networking.k8s.io", "NetworkPolicy"),
    ObjectCheck(D, "STORY-SEC-NP-BASELINE", "cilium.io", "CiliumNetworkPolicy"),
    ObjectCheck(D, "STORY-IDP-KEYCLOAK-OPERATOR", "k8s.keycloak.org", "Keycloak"),
    # apps cluster, CI/CD, registry (29-34)
    ObjectCheck(A, "STORY-STO-APPS-ROOK-CEPH-CLUSTER", "ceph.rook.io", "CephFilesystem"),
    ObjectCheck(A, "STORY-CICD-GITHUB-ARC", "actions.github.com", "AutoscalingRunnerSet"),
    ObjectCheck(A, "STORY-CICD-GITLAB-APPS", "helm.toolkit.fluxcd.io", "HelmRelease", "gitlab"),
    ObjectCheck(A, "STORY-APP-HARBOR", "helm.toolkit.fluxcd.io", "HelmRelease", "harbor"),
    # messaging and tenancy (35-41)
    ObjectCheck(M, "STORY-TENANCY-BASELINE", "", "ResourceQuota"),
    ObjectCheck(M, "STORY-BACKUP-VOLSYNC-APPS", "helm.toolkit.fluxcd.io", "HelmRelease", "volsync-system"),
    ObjectCheck(M, "STORY-MSG-STRIMZI-OPERATOR", "helm.toolkit.fluxcd.io", "HelmRelease", "messaging"),
    ObjectCheck(M, "STORY-MSG-KAFKA-CLUSTER-APPS", "kafka.strimzi.io", "Kafka"),
    ObjectCheck(M, "STORY-MSG-KAFKA-CLUSTER-APPS", "kafka.strimzi.io", "KafkaNodePool"),
    ObjectCheck(M, "STORY-MSG-SCHEMA-REGISTRY", "apps", "Deployment", "messaging", "schema-registry", needs_nodes=True),
    ObjectCheck(M, "STORY-GITOPS-SELF-MGMT-FLUX", "fluxcd.controlplane.io", "FluxInstance"),
)


def checks_for(layers: list[Layer] | None) -> list[ObjectCheck]:
    wanted = set(layers) if layers else set(Layer)
    return [check for check in CHECKS if check.layer in wanted]


def matches(check: ObjectCheck, group: str, kind: str, namespace: str, name: str) -> bool:
    if check.group != group or check.kind != kind:
        return False
    if check.namespace and check.namespace != namespace:
        return False
    return check.name in ("*", name)
