"""Evaluate a cluster's health: desired state (from git) against live objects (from the API). Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from greenfield.core.health import (
    FLUX_GROUPS,
    CheckResult,
    Status,
    Verdict,
    condition_verdict,
    object_verdict,
)
from greenfield.core.health_catalog import LAYER_STORY, Layer, checks_for, matches
from greenfield.core.model import ObjectId

PASSIVE_KINDS = frozenset({"Namespace", "CustomResourceDefinition", "ConfigMap", "ServiceAccount", "Role",
                           "RoleBinding", "ClusterRole", "ClusterRoleBinding", "ResourceQuota", "LimitRange"})
# a check whose subject git does not define for the cluster: really not applicable, anywhere
NOT_DESIRED = "not part of"


def target_limited(result: CheckResult) -> bool:
    """Not applicable only because of what the target lacks (nodes, Flux): the check did not run."""
    return result.status == Status.NOT_APPLICABLE and not result.reason.startswith(NOT_DESIRED)


LiveIndex = Mapping[ObjectId, dict[str, Any]]
FLUX_RECONCILED_KINDS = {"Kustomization", "HelmRelease", "GitRepository", "OCIRepository", "HelmRepository",
                         "HelmChart", "Bucket", "FluxInstance"}


@dataclass(frozen=True)
class Target:
    """What the cluster can do: decides which checks can apply at all."""

    name: str  # "local" | "talos" | a kube context
    nodes: int
    flux_controllers: bool
    api_reachable: bool = True
    api_detail: str = ""


def index_objects(objects: Iterable[dict[str, Any]]) -> dict[ObjectId, dict[str, Any]]:
    return {ObjectId.of(obj): obj for obj in objects}


def _result(cluster: str, layer: Layer, story: str, check: str, verdict: Verdict, subject: str = "") -> CheckResult:
    return CheckResult(cluster, str(layer), story, check, verdict.status, verdict.reason, subject)


def _no_nodes(reason: str) -> Verdict:
    return Verdict(Status.NOT_APPLICABLE, f"{reason}; the target has no nodes to run pods")


def _judge(obj: dict[str, Any], target: Target, needs_nodes: bool) -> Verdict:
    oid = ObjectId.of(obj)
    flux_kind = oid.group in FLUX_GROUPS and oid.kind in FLUX_RECONCILED_KINDS
    if flux_kind and not target.flux_controllers:
        if (obj.get("spec") or {}).get("suspend") is True:
            return Verdict(Status.FAIL, "suspended (spec.suspend: true)")
        return Verdict(Status.NOT_APPLICABLE, "exists; no Flux controllers reconcile on this target")
    if flux_kind:  # controllers reconcile it: as pods, or as local processes next to a node-less control plane
        return object_verdict(obj)
    if needs_nodes and target.nodes == 0:
        return _no_nodes("exists; readiness needs running pods")
    if target.nodes == 0 and oid.kind not in PASSIVE_KINDS:
        # whatever acts on it (an operator, the CNI) cannot run: existence is all that can be shown
        return _no_nodes("exists; the controller acting on it needs running pods")
    return object_verdict(obj)


def platform_checks(cluster: str, target: Target, nodes: list[dict[str, Any]], crds: list[dict[str, Any]],
                    live: LiveIndex, desired: list[dict[str, Any]]) -> list[CheckResult]:
    story = LAYER_STORY[Layer.PLATFORM]
    results = [CheckResult(cluster, str(Layer.PLATFORM), "STORY-BOOT-TALOS", "Kubernetes API reachable",
                           Status.PASS if target.api_reachable else Status.FAIL, target.api_detail or "answers")]
    if not target.api_reachable:
        return results
    if not nodes:
        results.append(CheckResult(cluster, str(Layer.PLATFORM), "STORY-BOOT-TALOS", "nodes Ready",
                                   Status.NOT_APPLICABLE, f"target {target.name} has no nodes (control plane only)"))
    for node in nodes:
        name = (node.get("metadata") or {}).get("name", "")
        verdict = condition_verdict(node, "Ready")
        results.append(_result(cluster, Layer.PLATFORM, "STORY-BOOT-TALOS", f"Node {name} Ready", verdict,
                               f"Node/{name}"))
    not_established = [c for c in crds if object_verdict(c).status != Status.PASS]
    results.append(CheckResult(
        cluster, str(Layer.PLATFORM), "STORY-BOOT-CRDS", f"{len(crds)} CRDs Established",
        Status.PASS if crds and not not_established else Status.FAIL,
        "all Established" if crds and not not_established else
        ("no CRDs installed" if not crds else
         "not Established: " + ", ".join(sorted((c.get('metadata') or {}).get('name', '') for c in not_established)[:10]))))
    # every Flux object git defines must exist, be current, Ready and not suspended
    for body in desired:
        oid = ObjectId.of(body)
        if oid.group not in FLUX_GROUPS or oid.kind not in FLUX_RECONCILED_KINDS:
            continue
        obj = live.get(oid)
        if obj is None:
            verdict = Verdict(Status.MISSING, "defined in git, absent from the cluster")
        else:
            verdict = _judge(obj, target, needs_nodes=False)
        results.append(_result(cluster, Layer.PLATFORM, story, f"{oid.kind} {oid.namespace}/{oid.name} Ready",
                               verdict, str(oid)))
    return results


def layer_checks(cluster: str, target: Target, layers: list[Layer] | None, live: LiveIndex,
                 desired: list[dict[str, Any]]) -> list[CheckResult]:
    results: list[CheckResult] = []
    wanted = [ObjectId.of(body) for body in desired]
    for check in checks_for(layers):
        subjects = [oid for oid in wanted if matches(check, oid.group, oid.kind, oid.namespace, oid.name)]
        if not subjects and check.release and check.name != "*":
            release_namespace, release_name = check.release.split("/")
            if ObjectId("helm.toolkit.fluxcd.io", "HelmRelease", release_namespace, release_name) in wanted:
                subjects = [ObjectId(check.group, check.kind, check.namespace, check.name)]
        if not subjects:
            results.append(CheckResult(cluster, str(check.layer), check.story, check.title(), Status.NOT_APPLICABLE,
                                       f"{NOT_DESIRED} {cluster}'s desired state"))
            continue
        for oid in sorted(subjects):
            obj = live.get(oid)
            if obj is None and check.release and target.nodes == 0:
                verdict = _no_nodes(f"created by the {check.release} chart once its pods can run")
            elif obj is None:
                verdict = Verdict(Status.MISSING, "defined in git, absent from the cluster")
            else:
                verdict = _judge(obj, target, check.needs_nodes)
            results.append(_result(cluster, check.layer, check.story, f"{oid.kind} {oid.namespace}/{oid.name}".replace(" /", " "),
                                   verdict, str(oid)))
    return results


def healthy(results: Iterable[CheckResult]) -> bool:
    return all(result.ok for result in results)
