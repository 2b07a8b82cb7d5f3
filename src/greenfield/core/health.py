"""Health evaluation of Kubernetes objects from their recorded status (pure: objects in, verdicts out).

A verdict is never a pass by default: an object without the status a controller would write is
"pending", a check whose subject cannot exist on the target is "not-applicable" with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    PENDING = "pending"  # exists, not (yet) reconciled or ready
    MISSING = "missing"
    NOT_APPLICABLE = "not-applicable"


@dataclass(frozen=True)
class Verdict:
    status: Status
    reason: str


@dataclass(frozen=True)
class CheckResult:
    """One health check of one cluster, tied to the story it proves."""

    cluster: str
    layer: str
    story: str
    check: str  # human name: "DaemonSet kube-system/cilium ready"
    status: Status
    reason: str
    subject: str = ""  # Kind/namespace/name
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in (Status.PASS, Status.NOT_APPLICABLE)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = str(self.status)
        return data


FLUX_GROUPS = (
    "kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io", "source.toolkit.fluxcd.io",
    "notification.toolkit.fluxcd.io", "fluxcd.controlplane.io",
)


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = ((obj.get("status") or {}).get("conditions")) or []
    return {str(c.get("type")): c for c in found if isinstance(c, dict)}


def _generation_current(obj: dict[str, Any]) -> tuple[bool, str]:
    generation = (obj.get("metadata") or {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    if generation is None or observed is None:
        return True, ""
    if observed != generation:
        return False, f"observedGeneration {observed} != generation {generation} (not reconciled since the last change)"
    return True, ""


def condition_verdict(obj: dict[str, Any], kind_of_condition: str = "Ready") -> Verdict:
    """Verdict from a condition type (Ready, Programmed, Accepted, Established ...)."""
    if (obj.get("spec") or {}).get("suspend") is True:
        return Verdict(Status.FAIL, "suspended (spec.suspend: true)")
    current, stale = _generation_current(obj)
    found = conditions(obj).get(kind_of_condition)
    if found is None:
        return Verdict(Status.PENDING, f"no {kind_of_condition} condition yet (not reconciled)")
    state = str(found.get("status"))
    message = str(found.get("message") or found.get("reason") or "").strip()
    if state == "True":
        if not current:
            return Verdict(Status.PENDING, stale)
        return Verdict(Status.PASS, message or kind_of_condition)
    if state == "Unknown":
        return Verdict(Status.PENDING, message or f"{kind_of_condition} unknown (reconciling)")
    return Verdict(Status.FAIL, message or f"{kind_of_condition} is {state}")


def _replicas_verdict(obj: dict[str, Any], want: int | None, have: int | None, what: str) -> Verdict:
    current, stale = _generation_current(obj)
    if not current:
        return Verdict(Status.PENDING, stale)
    if want is None:
        return Verdict(Status.PENDING, "no status yet")
    if (have or 0) >= want:
        return Verdict(Status.PASS, f"{have or 0}/{want} {what}")
    return Verdict(Status.FAIL, f"{have or 0}/{want} {what}")


def workload_verdict(obj: dict[str, Any]) -> Verdict:
    kind = obj.get("kind")
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    if kind == "DaemonSet":
        desired = status.get("desiredNumberScheduled")
        return _replicas_verdict(obj, desired, status.get("numberReady"), "pods ready")
    if kind in ("Deployment", "StatefulSet"):
        wanted = spec.get("replicas", 1)
        if not status:
            return Verdict(Status.PENDING, "no status yet")
        return _replicas_verdict(obj, wanted, status.get("readyReplicas"), "replicas ready")
    return Verdict(Status.FAIL, f"not a workload kind: {kind}")


def object_verdict(obj: dict[str, Any]) -> Verdict:
    """The standard readiness of any object we know how to judge."""
    kind = str(obj.get("kind", ""))
    group = str(obj.get("apiVersion", "")).split("/")[0] if "/" in str(obj.get("apiVersion", "")) else ""
    if kind in ("Deployment", "StatefulSet", "DaemonSet"):
        return workload_verdict(obj)
    if kind == "CustomResourceDefinition":
        return condition_verdict(obj, "Established")
    if kind == "GatewayClass":
        return condition_verdict(obj, "Accepted")
    if kind == "Gateway":
        return condition_verdict(obj, "Programmed")
    if kind == "CephCluster":
        health = ((obj.get("status") or {}).get("ceph") or {}).get("health")
        if health is None:
            return Verdict(Status.PENDING, "no ceph health reported yet")
        return Verdict(Status.PASS if health == "HEALTH_OK" else Status.FAIL, str(health))
    if kind == "Cluster" and group == "postgresql.cnpg.io":
        phase = (obj.get("status") or {}).get("phase")
        if phase is None:
            return Verdict(Status.PENDING, "no phase yet")
        return Verdict(Status.PASS if phase == "Cluster in healthy state" else Status.FAIL, str(phase))
    if kind == "Namespace":
        phase = (obj.get("status") or {}).get("phase", "Active")
        return Verdict(Status.PASS if phase == "Active" else Status.FAIL, str(phase))
    if kind == "Node":
        return condition_verdict(obj, "Ready")
    if "conditions" in (obj.get("status") or {}) or group in FLUX_GROUPS or kind in (
            "ClusterIssuer", "Issuer", "Certificate", "ClusterSecretStore", "SecretStore", "ExternalSecret",
            "Kafka", "KafkaNodePool", "Keycloak", "Dragonfly"):
        return condition_verdict(obj, "Ready")
    return Verdict(Status.PASS, "exists")


def summarize(results: Iterable[CheckResult]) -> dict[str, int]:
    counts = {str(status): 0 for status in Status}
    for result in results:
        counts[str(result.status)] += 1
    return counts
