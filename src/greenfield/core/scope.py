"""Object scope: which kinds are cluster-scoped, from the CRDs a repository renders or a built-in list.

kustomize stamps `namespace:`/`targetNamespace` on every object whose kind it does not know to be
cluster-scoped, custom kinds included (ClusterSecretStore, ClusterIssuer, ...). The API server drops the
namespace of a cluster-scoped object on create (apiserver `rest.BeforeCreate`: "if !strategy.NamespaceScoped()
{ objectMeta.SetNamespace(metav1.NamespaceNone) }"), so the object Flux applies has none. The engine does the
same: a kind's scope comes from a CustomResourceDefinition (`spec.scope`) rendered in the tree (or its charts,
or supplied by the caller), else from the list below (Kubernetes' own cluster-scoped kinds and those of the
widely used operators, checked against their CRDs); a kind known nowhere keeps its namespace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# (API group, kind) of cluster-scoped kinds. Kubernetes' own (`kubectl api-resources --namespaced=false`):
KUBERNETES_CLUSTER_SCOPED: frozenset[tuple[str, str]] = frozenset({
    ("", "Namespace"), ("", "Node"), ("", "PersistentVolume"), ("", "ComponentStatus"),
    ("rbac.authorization.k8s.io", "ClusterRole"), ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"), ("apiregistration.k8s.io", "APIService"),
    ("scheduling.k8s.io", "PriorityClass"), ("storage.k8s.io", "StorageClass"), ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"), ("storage.k8s.io", "VolumeAttachment"), ("storage.k8s.io", "VolumeAttributesClass"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
    ("networking.k8s.io", "IngressClass"), ("networking.k8s.io", "IPAddress"), ("networking.k8s.io", "ServiceCIDR"),
    ("node.k8s.io", "RuntimeClass"), ("certificates.k8s.io", "CertificateSigningRequest"),
    ("certificates.k8s.io", "ClusterTrustBundle"), ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"), ("resource.k8s.io", "DeviceClass"),
    ("resource.k8s.io", "ResourceSlice"), ("storagemigration.k8s.io", "StorageVersionMigration"),
    ("internal.apiserver.k8s.io", "StorageVersion"),
})

# Operators' cluster-scoped kinds (from their CRDs' `spec.scope: Cluster`), for CRDs installed outside the tree.
OPERATOR_CLUSTER_SCOPED: frozenset[tuple[str, str]] = frozenset({
    ("cert-manager.io", "ClusterIssuer"),
    ("external-secrets.io", "ClusterSecretStore"), ("external-secrets.io", "ClusterExternalSecret"),
    ("external-secrets.io", "ClusterPushSecret"), ("generators.external-secrets.io", "ClusterGenerator"),
    ("gateway.networking.k8s.io", "GatewayClass"),
    ("snapshot.storage.k8s.io", "VolumeSnapshotClass"), ("snapshot.storage.k8s.io", "VolumeSnapshotContent"),
    ("groupsnapshot.storage.k8s.io", "VolumeGroupSnapshotClass"),
    ("groupsnapshot.storage.k8s.io", "VolumeGroupSnapshotContent"),
    *(("cilium.io", kind) for kind in (
        "CiliumClusterwideNetworkPolicy", "CiliumClusterwideEnvoyConfig", "CiliumCIDRGroup",
        "CiliumEgressGatewayPolicy", "CiliumExternalWorkload", "CiliumIdentity", "CiliumL2AnnouncementPolicy",
        "CiliumLoadBalancerIPPool", "CiliumNode", "CiliumPodIPPool", "CiliumBGPClusterConfig", "CiliumBGPPeerConfig",
        "CiliumBGPAdvertisement", "CiliumBGPNodeConfig", "CiliumBGPNodeConfigOverride", "CiliumBGPPeeringPolicy")),
    ("postgresql.cnpg.io", "ClusterImageCatalog"),
    ("objectbucket.io", "ObjectBucket"),
    *(("fluentbit.fluent.io", kind) for kind in (
        "ClusterFilter", "ClusterFluentBitConfig", "ClusterInput", "ClusterMultilineParser", "ClusterOutput",
        "ClusterParser")),
    *(("fluentd.fluent.io", kind) for kind in (
        "ClusterFilter", "ClusterFluentdConfig", "ClusterInput", "ClusterOutput")),
    ("zfs.openebs.io", "ZFSNode"),
    ("spire.spiffe.io", "ClusterSPIFFEID"), ("spire.spiffe.io", "ClusterStaticEntry"),
    ("spire.spiffe.io", "ClusterFederatedTrustDomain"),
    ("kyverno.io", "ClusterPolicy"), ("kyverno.io", "ClusterCleanupPolicy"),
    ("reports.kyverno.io", "ClusterEphemeralReport"),
    ("wgpolicyk8s.io", "ClusterPolicyReport"), ("policies.kyverno.io", "ValidatingPolicy"),
    ("policies.kyverno.io", "ImageValidatingPolicy"), ("policies.kyverno.io", "MutatingPolicy"),
    ("policies.kyverno.io", "GeneratingPolicy"), ("policies.kyverno.io", "DeletingPolicy"),
    ("templates.gatekeeper.sh", "ConstraintTemplate"),
    ("keda.sh", "ClusterTriggerAuthentication"),
    ("nfd.k8s-sigs.io", "NodeFeatureRule"),
    ("nvidia.com", "ClusterPolicy"), ("nvidia.com", "NVIDIADriver"),
    *(("deviceplugin.intel.com", kind) for kind in (
        "GpuDevicePlugin", "QatDevicePlugin", "SgxDevicePlugin", "DsaDevicePlugin", "IaaDevicePlugin",
        "DlbDevicePlugin", "FpgaDevicePlugin")),
    *(("tailscale.com", kind) for kind in ("Connector", "ProxyClass", "ProxyGroup", "Recorder", "DNSConfig")),
    ("capsule.clastix.io", "Tenant"), ("capsule.clastix.io", "CapsuleConfiguration"),
    ("karpenter.sh", "NodePool"), ("karpenter.sh", "NodeClaim"), ("karpenter.k8s.aws", "EC2NodeClass"),
    ("pkg.crossplane.io", "Provider"), ("pkg.crossplane.io", "Configuration"), ("pkg.crossplane.io", "Function"),
    ("apiextensions.crossplane.io", "Composition"),
    ("apiextensions.crossplane.io", "CompositeResourceDefinition"),
    ("mutations.gatekeeper.sh", "Assign"), ("mutations.gatekeeper.sh", "AssignMetadata"),
    ("operator.tigera.io", "Installation"), ("operator.tigera.io", "APIServer"),
    ("crd.projectcalico.org", "IPPool"), ("crd.projectcalico.org", "GlobalNetworkPolicy"),
    ("projectcalico.org", "GlobalNetworkPolicy"),
    ("topolvm.io", "LogicalVolume"),
    ("scheduling.volcano.sh", "Queue"),
})
BUILTIN_CLUSTER_SCOPED: frozenset[tuple[str, str]] = KUBERNETES_CLUSTER_SCOPED | OPERATOR_CLUSTER_SCOPED


@dataclass(frozen=True)
class ScopeIndex:
    """What is known about the scope of each (group, kind): CRDs first, the built-in list second."""

    crd_scopes: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (group, kind) -> Cluster|Namespaced

    def cluster_scoped(self, group: str, kind: str) -> bool | None:
        """True/False when the scope is known, None when it is not (then the object is kept as is)."""
        scope = self.crd_scopes.get((group, kind))
        if scope is not None:
            return scope == "Cluster"
        if (group, kind) in BUILTIN_CLUSTER_SCOPED:
            return True
        if group in _KUBERNETES_GROUPS:
            return False  # a built-in group's kind that is not in the list is namespaced
        return None

    def with_crds(self, crds: Iterable[Mapping[str, Any]]) -> ScopeIndex:
        scopes = dict(self.crd_scopes)
        scopes.update(crd_scopes(crds))
        return ScopeIndex(scopes)


_KUBERNETES_GROUPS = frozenset(group for group, _ in KUBERNETES_CLUSTER_SCOPED) | frozenset({
    "apps", "batch", "policy", "autoscaling", "discovery.k8s.io", "events.k8s.io", "coordination.k8s.io"})


def crd_scopes(crds: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """(group, kind) -> spec.scope of CustomResourceDefinition bodies (default Namespaced, as the API server)."""
    scopes: dict[tuple[str, str], str] = {}
    for crd in crds:
        spec = crd.get("spec") if isinstance(crd, Mapping) else None
        if not isinstance(spec, Mapping):
            continue
        names = spec.get("names")
        group, kind = spec.get("group"), names.get("kind") if isinstance(names, Mapping) else None
        if isinstance(group, str) and isinstance(kind, str) and group and kind:
            scope = spec.get("scope")
            scopes[(group, kind)] = "Cluster" if scope == "Cluster" else "Namespaced"
    return scopes


def is_crd(body: Mapping[str, Any]) -> bool:
    api_version = str(body.get("apiVersion", ""))
    return body.get("kind") == "CustomResourceDefinition" and api_version.startswith("apiextensions.k8s.io/")


def drop_cluster_scoped_namespace(body: dict[str, Any], scopes: ScopeIndex) -> bool:
    """Remove metadata.namespace of a cluster-scoped object as the API server does; True when it changed."""
    metadata = body.get("metadata")
    if not isinstance(metadata, dict) or not metadata.get("namespace"):
        return False
    api_version = str(body.get("apiVersion", ""))
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    if scopes.cluster_scoped(group, str(body.get("kind", ""))) is True:
        del metadata["namespace"]
        return True
    return False
