"""`greenfield cluster health`: desired state from git against the live cluster, layer by layer."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenfield.adapters.kubeapi import KubeApi
from greenfield.app.plan import write_evidence
from greenfield.core.health import CheckResult, Status, summarize
from greenfield.core.health_catalog import LAYER_STORY, Layer
from greenfield.core.health_eval import (
    Target,
    healthy,
    index_objects,
    layer_checks,
    platform_checks,
    target_limited,
)
from greenfield.core.model import ClusterRender, ObjectId
from greenfield.errors import ClusterError

EVIDENCE_RESULT = {Status.PASS: "pass", Status.FAIL: "fail", Status.MISSING: "fail", Status.PENDING: "pending",
                   Status.NOT_APPLICABLE: "not-applicable"}


@dataclass
class HealthReport:
    cluster: str
    target: Target
    results: list[CheckResult]
    evidence: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return healthy(self.results)

    def to_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "target": self.target.name, "nodes": self.target.nodes,
                "flux_controllers": self.target.flux_controllers, "healthy": self.ok,
                "summary": summarize(self.results), "checks": [r.to_dict() for r in self.results],
                "evidence": [str(p) for p in self.evidence]}


def resource_names(api: KubeApi) -> dict[tuple[str, str], str]:
    """(group, kind) -> the resource name kubectl takes (`deployments.apps`), from discovery."""
    output = api.run(["api-resources", "--no-headers", "-o", "wide", "--verbs=list"]).stdout
    names: dict[tuple[str, str], str] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        flags = [i for i, part in enumerate(parts) if part in ("true", "false") and i >= 2]
        if not flags:
            continue
        name, api_version, kind = parts[0], parts[flags[0] - 1], parts[flags[0] + 1]
        group = api_version.split("/")[0] if "/" in api_version else ""
        names.setdefault((group, kind), f"{name}.{group}" if group else name)
    return names


def live_objects(api: KubeApi, kinds: Iterable[tuple[str, str]], selector: str | None = None
                 ) -> list[dict[str, Any]]:
    """Every object of the given kinds (those the API serves) in one call."""
    known = resource_names(api)
    resources = sorted({known[k] for k in kinds if k in known})
    if not resources:
        return []
    args = ["get", ",".join(resources), "--all-namespaces", "-o", "json"]
    if selector:
        args.append(f"--selector={selector}")
    return list(json.loads(api.run(args, timeout=300).stdout).get("items", []))


def detect_target(api: KubeApi, name: str, live: list[dict[str, Any]]) -> tuple[Target, list[dict[str, Any]]]:
    try:
        api.raw("/readyz")
    except ClusterError as error:
        return Target(name, 0, False, api_reachable=False, api_detail=error.problem), []
    nodes = list(json.loads(api.run(["get", "nodes", "-o", "json"]).stdout).get("items", []))
    controllers = any(obj.get("kind") == "Deployment" and (obj.get("metadata") or {}).get("name") ==
                      "kustomize-controller" for obj in live)
    reconciled = any((obj.get("status") or {}).get("conditions") for obj in live
                     if str(obj.get("apiVersion", "")).startswith("kustomize.toolkit.fluxcd.io/"))
    return Target(name, len(nodes), controllers or reconciled), nodes


def check_health(api: KubeApi, render: ClusterRender, target_name: str, layers: list[Layer] | None,
                 repo: Path | None = None) -> HealthReport:
    cluster = render.cluster
    # what git defines (kustomize-controller applies it); a chart's objects are judged through their HelmRelease
    desired = [obj.body for obj in render.objects if not obj.chart]
    kinds = {(ObjectId.of(body).group, ObjectId.of(body).kind) for body in desired}
    kinds |= {("apps", "Deployment"), ("apiextensions.k8s.io", "CustomResourceDefinition")}
    try:
        api.raw("/readyz")
        live = live_objects(api, kinds)
    except ClusterError as error:
        target = Target(target_name, 0, False, api_reachable=False, api_detail=error.render())
        results = platform_checks(cluster, target, [], [], {}, desired)
        return HealthReport(cluster, target, results)
    target, nodes = detect_target(api, target_name, live)
    crds = [obj for obj in live if obj.get("kind") == "CustomResourceDefinition"]
    index = index_objects(obj for obj in live if obj.get("kind") != "CustomResourceDefinition")
    results = platform_checks(cluster, target, nodes, crds, index, desired)
    results += layer_checks(cluster, target, layers, index, desired)
    report = HealthReport(cluster, target, results)
    if repo is not None:
        report.evidence = record_evidence(repo, report, layers)
    return report


def record_evidence(repo: Path, report: HealthReport, layers: list[Layer] | None) -> list[Path]:
    """One evidence file per validated layer (stories 45-49): the platform checks plus the layer's own."""
    platform = [r for r in report.results if r.layer == str(Layer.PLATFORM)]
    written = []
    for layer in layers or [layer for layer in Layer if layer != Layer.PLATFORM]:
        if layer == Layer.PLATFORM:
            continue
        own = [r for r in report.results if r.layer == str(layer)]
        # a check the target could not run is "skipped" in the evidence: the story is not proven there
        checks = [{"name": f"{r.story}: {r.check}", "subject": r.subject, "detail": r.reason[:500],
                   "result": "skipped" if target_limited(r) else EVIDENCE_RESULT[r.status]}
                  for r in platform + own]
        written.append(write_evidence(repo, LAYER_STORY[layer], report.cluster, report.target.name, checks))
    return written
