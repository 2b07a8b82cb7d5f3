"""Shared helpers for the semantic rules: safe access, findings, label selectors, CIDRs, lookups.

Everything here is pure and tolerant of malformed input: rules run over whatever the engine rendered,
including objects that fail schema validation, and must never raise on them.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from greenfield.core.findings import Finding, Severity
from greenfield.core.model import (
    FLUX_KUSTOMIZATION,
    HELM_RELEASE,
    SOURCE_GROUP,
    ClusterRender,
    HelmReleaseInfo,
    KustomizationNode,
    NamespacedName,
    RenderedObject,
    api_group,
)

CILIUM_GROUP = "cilium.io"

# API groups served by Kubernetes itself (no CRD needed). gateway.networking.k8s.io and
# snapshot.storage.k8s.io end in k8s.io but are CRDs, hence an explicit list.
BUILTIN_GROUPS = frozenset({
    "", "apps", "batch", "policy", "autoscaling", "rbac.authorization.k8s.io", "networking.k8s.io",
    "storage.k8s.io", "apiextensions.k8s.io", "admissionregistration.k8s.io", "coordination.k8s.io",
    "discovery.k8s.io", "events.k8s.io", "node.k8s.io", "scheduling.k8s.io", "certificates.k8s.io",
    "flowcontrol.apiserver.k8s.io", "apiregistration.k8s.io", "resource.k8s.io", "authentication.k8s.io",
    "authorization.k8s.io", "internal.apiserver.k8s.io", "storagemigration.k8s.io", "extensions",
})

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"})

UNRESOLVED = "${"


# ---------------------------------------------------------------- safe access

def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def dig(value: Any, *path: str | int) -> Any:
    """`dig(body, "spec", "chart", "spec", "chart")` → the value or None, whatever the shapes."""
    current = value
    for part in path:
        if isinstance(part, int):
            if not isinstance(current, list) or not -len(current) <= part < len(current):
                return None
            current = current[part]
        else:
            if not isinstance(current, dict):
                return None
            current = current.get(part)
    return current


def text(value: Any) -> str:
    """A scalar as the string Kubernetes would see (booleans lower-case), "" for None and containers."""
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def labels_of(body: Any) -> dict[str, str]:
    return {str(k): text(v) for k, v in as_dict(dig(body, "metadata", "labels")).items()}


def annotations_of(body: Any) -> dict[str, str]:
    return {str(k): text(v) for k, v in as_dict(dig(body, "metadata", "annotations")).items()}


def walk_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string leaf with a dotted path (`spec.values.foo[2].bar`)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk_strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_strings(item, f"{path}[{index}]")


def object_text(obj: RenderedObject) -> str:
    """flat_text of an object's body, kept on the object while the body is the same dict object."""
    cached = obj.__dict__.get("_flat_text")
    if cached is not None and cached[0] is obj.body:
        return str(cached[1])
    flat = flat_text(obj.body)
    obj.__dict__["_flat_text"] = (obj.body, flat)
    return flat


def flat_text(value: Any) -> str:
    """The whole object as one string: a cheap pre-filter before walking it leaf by leaf."""
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return "\n".join(item for _, item in walk_strings(value))


def walk_items(value: Any, path: str = "") -> Iterator[tuple[str, str, Any, dict[str, Any]]]:
    """Every (path, key, value, parent-dict) of nested mappings, depth first."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            yield here, str(key), item, value
            yield from walk_items(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_items(item, f"{path}[{index}]")


# ---------------------------------------------------------------- findings

def finding(rule_id: str, severity: Severity, obj: RenderedObject, message: str, hint: str = "") -> Finding:
    return Finding(rule=rule_id, severity=severity, message=message, cluster=obj.cluster,
                   kustomization=obj.kustomization, object=str(obj.id), file=obj.file, line=obj.line, hint=hint)


def node_finding(rule_id: str, severity: Severity, node: KustomizationNode, message: str, hint: str = "",
                 render: ClusterRender | None = None) -> Finding:
    """A finding on a Flux Kustomization, located at its definition (file and line) when the render has it."""
    file, line = node.file, int(getattr(node, "line", 0) or 0)
    if render is not None and not line:
        parent = render.kustomizations.get(node.parent) if node.parent is not None else None
        for obj in (parent.objects if parent else node.objects):
            if obj.is_kind(*FLUX_KUSTOMIZATION) and obj.name == node.key.name and \
                    (obj.namespace or node.key.namespace) == node.key.namespace:
                file, line = obj.file or file, obj.line
                break
    return Finding(rule=rule_id, severity=severity, message=message, cluster=node.cluster,
                   kustomization=str(node.key), object=f"Kustomization/{node.key}", file=file, line=line, hint=hint)


def release_finding(rule_id: str, severity: Severity, render: ClusterRender, release: HelmRelease,
                    message: str, hint: str = "") -> Finding:
    return Finding(rule=rule_id, severity=severity, message=message, cluster=render.cluster,
                   kustomization=release.kustomization, object=f"HelmRelease/{release.key}",
                   file=release.file, line=release.line, hint=hint)


# ---------------------------------------------------------------- kustomizations and objects

def parse_key(value: str) -> NamespacedName | None:
    if "/" not in value:
        return None
    namespace, name = value.split("/", 1)
    return NamespacedName(namespace, name)


def node_of(render: ClusterRender, obj: RenderedObject) -> KustomizationNode | None:
    key = parse_key(obj.kustomization)
    return render.kustomizations.get(key) if key else None


def depends_on(node: KustomizationNode) -> list[NamespacedName]:
    """dependsOn of a Kustomization: from the body (default namespace = its own) plus what the engine resolved."""
    found: list[NamespacedName] = []
    for entry in as_list(node.spec.get("dependsOn")):
        name = text(dig(entry, "name"))
        if name:
            found.append(NamespacedName(text(dig(entry, "namespace")) or node.key.namespace, name))
    for key in node.depends_on:
        if key not in found:
            found.append(key)
    return found


def ancestors(render: ClusterRender, node: KustomizationNode) -> list[NamespacedName]:
    chain: list[NamespacedName] = []
    parent = node.parent
    while parent is not None and parent not in chain and len(chain) < 100:
        chain.append(parent)
        parent_node = render.kustomizations.get(parent)
        parent = parent_node.parent if parent_node else None
    return chain


def applied_before(render: ClusterRender, key: NamespacedName) -> set[NamespacedName]:
    """Kustomizations guaranteed Ready (or applied, for ancestors) before `key` applies.

    Closure over dependsOn and parent edges: a parent applies before its children exist, and whatever a
    node or any ancestor depends on is Ready before it.
    """
    seen: set[NamespacedName] = set()
    todo = [key]
    while todo:
        current = todo.pop()
        node = render.kustomizations.get(current)
        if node is None:
            continue
        nexts = [*depends_on(node), *([node.parent] if node.parent is not None else [])]
        for item in nexts:
            if item not in seen:
                seen.add(item)
                todo.append(item)
    seen.discard(key)
    return seen


def index_objects(render: ClusterRender) -> dict[tuple[str, str, str, str], list[RenderedObject]]:
    """(group, kind, namespace, name) → objects (rendered, then provided in-cluster); namespace "" for
    cluster-scoped or unset."""
    index: dict[tuple[str, str, str, str], list[RenderedObject]] = {}
    for obj in [*render.objects, *render.provided]:  # provided: in the cluster without a Kustomization
        object_id = obj.id
        index.setdefault((object_id.group, object_id.kind, object_id.namespace, object_id.name), []).append(obj)
    return index


def group_of(obj: RenderedObject) -> str:
    """The API group without building an ObjectId (hot path)."""
    return api_group(obj.api_version)


def by_kind(render: ClusterRender, kind: str, group: str | None = None) -> list[RenderedObject]:
    return [o for o in render.objects if o.kind == kind and (group is None or group_of(o) == group)]


def is_built(node: KustomizationNode) -> bool:
    """False when the engine could not build the Kustomization (remote source, build error): contents unknown."""
    return bool(node.built)


def is_synthetic(node: KustomizationNode) -> bool:
    return bool(getattr(node, "synthetic", False))


def is_encrypted(obj: RenderedObject) -> bool:
    """SOPS-encrypted in git (the engine flags it; a top-level `sops:` key otherwise)."""
    return bool(getattr(obj, "encrypted", False)) or isinstance(obj.body.get("sops"), dict)


def is_unresolved(value: str) -> bool:
    return UNRESOLVED in value


# ---------------------------------------------------------------- helm releases

@dataclass
class HelmRelease:
    """A HelmRelease seen from the rules: body, where it came from, chart name and values."""

    key: NamespacedName
    body: dict[str, Any]
    kustomization: str
    file: str
    line: int
    chart: str
    values: dict[str, Any]
    info: HelmReleaseInfo | None

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def namespace(self) -> str:
        return self.key.namespace

    @property
    def release_namespace(self) -> str:
        return text(dig(self.body, "spec", "targetNamespace")) or self.key.namespace

    @property
    def release_name(self) -> str:
        explicit = text(dig(self.body, "spec", "releaseName"))
        if explicit:
            return explicit
        target = text(dig(self.body, "spec", "targetNamespace"))
        return f"{target}-{self.key.name}" if target else self.key.name


def _chart_from_url(url: str) -> str:
    path = url.split("://", 1)[-1].split("@", 1)[0].rstrip("/")
    last = path.rsplit("/", 1)[-1] if "/" in path else ""
    return last.split(":", 1)[0]


def helm_releases(render: ClusterRender) -> list[HelmRelease]:
    """Every HelmRelease of the render with its chart name resolved as far as possible (computed once per
    render: a score of rules ask; recomputed when the render's objects are not the same ones any more)."""
    objects = render.objects
    signature = (id(render.helm_releases), *map(id, objects))
    cached = render.__dict__.get("_helm_releases_view")
    if cached is not None and cached[0] == signature:
        return list(cached[1])
    releases = _resolve_helm_releases(render, objects)
    render.__dict__["_helm_releases_view"] = (signature, releases)
    return list(releases)


def _resolve_helm_releases(render: ClusterRender, objects: list[RenderedObject]) -> list[HelmRelease]:
    sources = {(o.kind, o.namespace, o.name): o for o in objects
               if o.kind in ("OCIRepository", "HelmChart") and group_of(o) == SOURCE_GROUP}
    releases: list[HelmRelease] = []
    for obj in objects:
        if not obj.is_kind(*HELM_RELEASE):
            continue
        key = NamespacedName(obj.namespace, obj.name)
        info = render.helm_releases.get(key)
        chart = info.chart if info and info.chart else text(dig(obj.body, "spec", "chart", "spec", "chart"))
        if not chart:
            ref = as_dict(dig(obj.body, "spec", "chartRef"))
            source = sources.get((text(ref.get("kind")), text(ref.get("namespace")) or obj.namespace,
                                  text(ref.get("name"))))
            if source is not None and source.kind == "OCIRepository":
                chart = _chart_from_url(text(dig(source.body, "spec", "url")))
            elif source is not None and source.kind == "HelmChart":
                chart = text(dig(source.body, "spec", "chart"))
        chart = chart.rsplit("/", 1)[-1] if chart.startswith("oci://") else chart
        values = info.values if info and info.values else as_dict(dig(obj.body, "spec", "values"))
        releases.append(HelmRelease(key, obj.body, obj.kustomization, obj.file, obj.line, chart or obj.name,
                                    values, info))
    return releases


def releases_of_chart(render: ClusterRender, *charts: str) -> list[HelmRelease]:
    wanted = set(charts)
    return [release for release in helm_releases(render) if release.chart in wanted]


# ---------------------------------------------------------------- pods

def pod_template(obj: RenderedObject) -> dict[str, Any] | None:
    """The pod template (metadata + spec) of a workload, or None."""
    if group_of(obj) not in ("", "apps", "batch") or obj.kind not in WORKLOAD_KINDS:
        return None
    if obj.kind == "Pod":
        return {"metadata": as_dict(obj.body.get("metadata")), "spec": obj.spec}
    if obj.kind == "CronJob":
        template = dig(obj.body, "spec", "jobTemplate", "spec", "template")
    else:
        template = dig(obj.body, "spec", "template")
    return template if isinstance(template, dict) else None


def containers(pod_spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for field_name in ("initContainers", "containers", "ephemeralContainers"):
        for container in as_list(pod_spec.get(field_name)):
            if isinstance(container, dict):
                yield container


# ---------------------------------------------------------------- label selectors

def match_labels(selector: Any, labels: dict[str, str]) -> bool:
    """Kubernetes LabelSelector semantics (matchLabels + matchExpressions); {} or None selects everything."""
    selector = as_dict(selector)
    for key, value in as_dict(selector.get("matchLabels")).items():
        if labels.get(str(key)) != text(value):
            return False
    for expression in as_list(selector.get("matchExpressions")):
        expression = as_dict(expression)
        key = text(expression.get("key"))
        operator = text(expression.get("operator"))
        values = {text(v) for v in as_list(expression.get("values"))}
        present = key in labels
        if operator == "In" and (not present or labels[key] not in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def selects_everything(selector: Any) -> bool:
    selector = as_dict(selector)
    return not as_dict(selector.get("matchLabels")) and not as_list(selector.get("matchExpressions"))


def match_map(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """A plain map selector (Service spec.selector): every pair present."""
    return all(labels.get(key) == value for key, value in selector.items())


# ---------------------------------------------------------------- addresses

def ip(value: Any) -> IPv4Address | None:
    try:
        address = ipaddress.ip_address(text(value).strip())
    except ValueError:
        return None
    return address if isinstance(address, IPv4Address) else None


def network(value: Any) -> IPv4Network | None:
    try:
        net = ipaddress.ip_network(text(value).strip(), strict=False)
    except ValueError:
        return None
    return net if isinstance(net, IPv4Network) else None


def address_range(block: Any) -> tuple[int, int] | None:
    """A CiliumLoadBalancerIPPool block (`cidr` or `start`/`stop`) as inclusive integer bounds."""
    block = as_dict(block)
    if "cidr" in block:
        net = network(block.get("cidr"))
        return (int(net.network_address), int(net.broadcast_address)) if net else None
    start = ip(block.get("start"))
    stop = ip(block.get("stop")) if block.get("stop") is not None else start
    if start is None or stop is None:
        return None
    return int(start), int(stop)


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def format_range(bounds: tuple[int, int]) -> str:
    return f"{IPv4Address(bounds[0])}-{IPv4Address(bounds[1])}"


def ranges_overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def word_pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    """A regex matching any of the values as a whole token (not inside a longer name, number or address)."""
    items = sorted({v for v in values if v}, key=len, reverse=True)
    if not items:
        return None
    alternatives = "|".join(re.escape(item) for item in items)
    return re.compile(rf"(?<![A-Za-z0-9_.-])(?:{alternatives})(?![A-Za-z0-9_-]|\.[A-Za-z0-9])")


def yaml_path(path: str) -> str:
    return path or "<root>"


def is_flux_kustomization(obj: RenderedObject) -> bool:
    return obj.is_kind(*FLUX_KUSTOMIZATION)
