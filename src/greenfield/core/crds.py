"""CustomResourceDefinitions: bundles checked for phase 0, and CRDs built from JSON schemas (pure).

Offline, charts cannot be fetched, so the local target installs CRDs built from the schema catalog
(`<group>/<kind>_<version>.json`, JSON schemas generated from the upstream CRDs). That is the upstream
conversion reversed: strict `additionalProperties: false` removed, `type: [X, "null"]` back to
`nullable`, metadata left to the API server. The API server then validates every custom resource of
the platform for real.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CRD_SOURCE_LABEL = "greenfield.io/crd-source"  # where a bootstrap CRD came from: schema-catalog or rendered

CRD_KIND = "CustomResourceDefinition"
CRD_API = "apiextensions.k8s.io/v1"

# kinds whose objects are cluster-scoped (the schema catalog does not record scope)
CLUSTER_SCOPED = frozenset({
    "ClusterIssuer", "ClusterSecretStore", "ClusterExternalSecret", "ClusterPushSecret", "ClusterGenerator",
    "GatewayClass", "CiliumLoadBalancerIPPool", "CiliumBGPClusterConfig", "CiliumBGPPeerConfig",
    "CiliumBGPAdvertisement", "CiliumBGPNodeConfig", "CiliumBGPNodeConfigOverride", "CiliumBGPPeeringPolicy",
    "CiliumClusterwideNetworkPolicy", "CiliumClusterwideEnvoyConfig", "CiliumCIDRGroup",
    "CiliumEgressGatewayPolicy", "CiliumExternalWorkload", "CiliumIdentity", "CiliumL2AnnouncementPolicy",
    "CiliumNode", "CiliumPodIPPool", "ClusterImageCatalog", "VolumeSnapshotClass", "VolumeSnapshotContent",
    "ObjectBucket", "ClusterFilter", "ClusterFluentBitConfig", "ClusterInput", "ClusterMultilineParser",
    "ClusterOutput", "ClusterParser", "ZFSNode", "ClusterSPIFFEID", "ClusterStaticEntry",
    "ClusterFederatedTrustDomain",
})
_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


@dataclass(frozen=True, order=True)
class CrdKind:
    group: str
    kind: str


def version_rank(version: str) -> tuple[int, int, int]:
    """Kubernetes version priority: GA > beta > alpha, then by number."""
    match = _VERSION.match(version)
    if not match:
        return (0, 0, 0)
    major, stage, minor = match.groups()
    return ({None: 3, "beta": 2, "alpha": 1}[stage], int(major), int(minor or 0))


def plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    return lower + "s"


def _structural(schema: Any, top: bool = False) -> Any:
    if isinstance(schema, list):
        return [_structural(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("description", "$schema", "x-kubernetes-validations", "title"):
            continue
        if key == "additionalProperties" and isinstance(value, bool):
            continue  # the catalog's strictness; the API server prunes unknown fields itself
        if key == "type" and isinstance(value, list):
            kinds = [t for t in value if t != "null"]
            if "null" in value:
                out["nullable"] = True
            if kinds:
                out["type"] = kinds[0]
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {name: _structural(sub) for name, sub in value.items()}
        else:
            out[key] = _structural(value)
    if top:
        properties = out.setdefault("properties", {})
        properties["metadata"] = {"type": "object"}
        properties.setdefault("apiVersion", {"type": "string"})
        properties.setdefault("kind", {"type": "string"})
        out["type"] = "object"
    return out


def crd_from_schemas(group: str, kind: str, schemas: Mapping[str, dict[str, Any]],
                     scope: str | None = None) -> dict[str, Any]:
    """One CRD serving every version found for the kind; the highest-priority version is stored."""
    versions = sorted(schemas, key=version_rank, reverse=True)
    names = {"kind": kind, "listKind": f"{kind}List", "plural": plural(kind), "singular": kind.lower()}
    annotations = {}
    if group.endswith((".k8s.io", ".kubernetes.io")):
        # protected groups need the approval link; Gateway API's own CRDs carry this one
        annotations["api-approved.kubernetes.io"] = "https://github.com/kubernetes-sigs/gateway-api/pull/3328"
    return {
        "apiVersion": CRD_API,
        "kind": CRD_KIND,
        "metadata": {"name": f"{names['plural']}.{group}", "annotations": annotations,
                     "labels": {"app.kubernetes.io/managed-by": "greenfield",
                                CRD_SOURCE_LABEL: "schema-catalog"}},
        "spec": {
            "group": group,
            "names": names,
            "scope": scope or ("Cluster" if kind in CLUSTER_SCOPED else "Namespaced"),
            "versions": [
                {"name": version, "served": True, "storage": index == 0,
                 "schema": {"openAPIV3Schema": _structural(schemas[version], top=True)},
                 "subresources": {"status": {}} if "status" in (schemas[version].get("properties") or {}) else {}}
                for index, version in enumerate(versions)
            ],
        },
    }


@dataclass(frozen=True)
class BundleProblem:
    object: str
    problem: str


def check_crd_bundle(objects: Iterable[dict[str, Any]]) -> list[BundleProblem]:
    """Phase 0 holds only CRDs, each once."""
    problems: list[BundleProblem] = []
    names: Counter[str] = Counter()
    for obj in objects:
        name = str((obj.get("metadata") or {}).get("name", ""))
        if obj.get("kind") != CRD_KIND:
            problems.append(BundleProblem(f"{obj.get('kind')}/{name}", "phase 0 may only contain CRDs"))
            continue
        names[name] += 1
    problems += [BundleProblem(f"{CRD_KIND}/{name}", f"appears {count} times")
                 for name, count in sorted(names.items()) if count > 1]
    return problems


def crd_groups(objects: Iterable[dict[str, Any]]) -> Counter[str]:
    return Counter(str((obj.get("spec") or {}).get("group", "")) for obj in objects if obj.get("kind") == CRD_KIND)


def strip_crds(documents: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Documents without CRDs, and the names removed (phase 2 installs no CRDs)."""
    kept, removed = [], []
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == CRD_KIND:
            removed.append(str((document.get("metadata") or {}).get("name", "")))
        elif document:
            kept.append(document)
    return kept, removed


def custom_kinds(objects: Iterable[dict[str, Any]], builtin_groups: frozenset[str]) -> dict[CrdKind, set[str]]:
    """Custom resource kinds the objects use, with the versions used."""
    found: dict[CrdKind, set[str]] = {}
    for obj in objects:
        api_version = str(obj.get("apiVersion", ""))
        if "/" not in api_version:
            continue
        group, version = api_version.split("/", 1)
        if group in builtin_groups:
            continue
        found.setdefault(CrdKind(group, str(obj.get("kind", ""))), set()).add(version)
    return found


BUILTIN_GROUPS = frozenset({
    "apps", "batch", "policy", "autoscaling", "rbac.authorization.k8s.io", "networking.k8s.io",
    "storage.k8s.io", "scheduling.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "node.k8s.io",
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io", "certificates.k8s.io",
    "events.k8s.io", "flowcontrol.apiserver.k8s.io", "resource.k8s.io", "authentication.k8s.io",
    "authorization.k8s.io", "internal.apiserver.k8s.io", "storagemigration.k8s.io",
})
