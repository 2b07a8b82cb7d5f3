"""Air-gap mirroring: point a rendered cluster's chart sources at a registry mirror without touching git.

Flux applies `spec.patches` of a Kustomization only to the objects that Kustomization itself applies.
The OCIRepository/HelmRepository objects of a platform usually sit two or three Kustomizations below the
cluster root, and only the root is the platform team's to patch at bootstrap (it is applied by the
bootstrap, its `spec.patches` are not in git). So the rewrite is carried down the tree: the root gets a
patch for every source it applies itself, and for every child Kustomization that leads to a source a
JSON6902 patch appending, to that child's own `spec.patches`, what the child needs in turn. Appending
(`add /spec/patches/-`) keeps the patches the child already has from git or from its parent; a child
without any gets the list (`add /spec/patches`). Whether a child has patches is read from the render,
where every Kustomization appears as its parent applies it. Targets name kind and name, not the
namespace: kustomize runs `patches` before a parent's targetNamespace moves the objects.

Rewrites (what source-controller needs to pull from a plain-HTTP OCI registry):
- OCIRepository `oci://host/.../<chart>` with `<chart>` in the mirror: url `oci://<mirror>/<chart>`,
  `insecure: true`, provider generic, no credentials and no signature verification (the mirror
  re-publishes the chart, upstream's signatures do not cover it); the `ref` (tag/semver) is kept.
- HelmRepository (classic or OCI): `type: oci`, url `oci://<mirror>`, `insecure: true`, no credentials;
  the HelmReleases keep their chart name and version.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import yaml

from greenfield.core.model import ClusterRender, KustomizationNode, NamespacedName, RenderedObject, api_group

SOURCE_GROUP = "source.toolkit.fluxcd.io"
KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
# fields that only make sense against the upstream registry: removed (null in a merge patch)
_UPSTREAM_ONLY = {
    "OCIRepository": ("secretRef", "certSecretRef", "proxySecretRef", "serviceAccountName", "verify"),
    "HelmRepository": ("secretRef", "certSecretRef", "passCredentials", "provider"),
}


@dataclass(frozen=True)
class Rewrite:
    kind: str
    namespace: str
    name: str
    kustomization: str  # "namespace/name" of the Kustomization that applies the source
    old_url: str
    new_url: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}: {self.old_url} -> {self.new_url}"


@dataclass
class MirrorPlan:
    cluster: str
    root: NamespacedName | None
    root_patches: list[dict[str, Any]] = field(default_factory=list)  # entries to append to the root's spec.patches
    rewrites: list[Rewrite] = field(default_factory=list)
    unmirrored: list[str] = field(default_factory=list)  # sources left alone: their chart is not in the mirror

    def root_patch_document(self, existing: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The root Kustomization as a merge patch: its own patches (from git) followed by the mirror's."""
        if self.root is None:
            return {}
        return {"apiVersion": f"{KUSTOMIZE_GROUP}/v1", "kind": "Kustomization",
                "metadata": {"name": self.root.name, "namespace": self.root.namespace},
                "spec": {"patches": [*(existing or []), *self.root_patches]}}


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the nested patch texts) as literal blocks: readable at every level."""


def _literal(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not any(line != line.rstrip() for line in value.splitlines()) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _literal)


def dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False)


def chart_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def mirror_url(registry: str, chart: str | None = None) -> str:
    """oci://<registry>[/<chart>]; `registry` is host:port[/path]."""
    base = "oci://" + registry.removeprefix("oci://").rstrip("/")
    return f"{base}/{chart}" if chart else base


def _source_patch(obj: RenderedObject, registry: str, insecure: bool) -> dict[str, Any]:
    spec: dict[str, Any]
    if obj.kind == "OCIRepository":
        spec = {"url": mirror_url(registry, chart_of(str(obj.spec.get("url", "")))), "insecure": insecure,
                "provider": "generic"}
    else:
        spec = {"type": "oci", "url": mirror_url(registry), "insecure": insecure}
    for key in _UPSTREAM_ONLY[obj.kind]:
        if key in obj.spec and key not in spec:
            spec[key] = None
    body = {"apiVersion": obj.api_version, "kind": obj.kind, "metadata": {"name": obj.name}, "spec": spec}
    return {"patch": dump(body),
            "target": {"group": SOURCE_GROUP, "kind": obj.kind, "name": obj.name}}


def _missing_charts(obj: RenderedObject, charts: Collection[str], served: dict[NamespacedName, set[str]]
                    ) -> list[str] | None:
    """The charts of a source that the mirror lacks ([] = rewrite it), None for objects that are no chart source."""
    if api_group(obj.api_version) != SOURCE_GROUP or obj.kind not in _UPSTREAM_ONLY:
        return None
    url = str(obj.spec.get("url", ""))
    if obj.kind == "OCIRepository":
        if not url.startswith("oci://"):
            return None
        return [] if chart_of(url) in charts else [chart_of(url)]
    # a HelmRepository serves the charts its HelmReleases name: all of them must be mirrored
    return sorted(served.get(NamespacedName(obj.namespace, obj.name), set()) - set(charts))


def _child_patch(child: KustomizationNode, entries: list[dict[str, Any]]) -> dict[str, Any]:
    has_patches = bool(child.spec.get("patches"))
    ops = ([{"op": "add", "path": "/spec/patches/-", "value": entry} for entry in entries] if has_patches
           else [{"op": "add", "path": "/spec/patches", "value": entries}])
    return {"patch": dump(ops),
            "target": {"group": KUSTOMIZE_GROUP, "kind": "Kustomization", "name": child.key.name}}


def plan_mirror(render: ClusterRender, registry: str, charts: Collection[str], *, insecure: bool = True
                ) -> MirrorPlan:
    """The patches that point every mirrored chart source of the cluster at `registry` (host:port/path);
    `insecure`: the mirror speaks plain HTTP."""
    roots = [node for node in render.kustomizations.values() if node.parent is None]
    plan = MirrorPlan(render.cluster, roots[0].key if len(roots) == 1 else None)
    children: dict[NamespacedName, list[KustomizationNode]] = {}
    for node in render.kustomizations.values():
        if node.parent is not None:
            children.setdefault(node.parent, []).append(node)

    served: dict[NamespacedName, set[str]] = {}
    for release in render.helm_releases.values():
        if release.source_kind == "HelmRepository" and release.source is not None and release.chart:
            served.setdefault(release.source, set()).add(release.chart)

    def needed(node: KustomizationNode, trail: frozenset[NamespacedName]) -> list[dict[str, Any]]:
        entries = []
        for obj in node.objects:
            missing = _missing_charts(obj, charts, served)
            if missing is None:
                continue
            url = str(obj.spec.get("url", ""))
            if missing:
                plan.unmirrored.append(f"{obj.kind} {obj.namespace}/{obj.name} ({url}): "
                                       f"{', '.join(missing)} not in the mirror")
                continue
            entry = _source_patch(obj, registry, insecure)
            new_url = yaml.safe_load(entry["patch"])["spec"]["url"]
            plan.rewrites.append(Rewrite(obj.kind, obj.namespace, obj.name, str(node.key), url, new_url))
            entries.append(entry)
        for child in sorted(children.get(node.key, []), key=lambda n: n.key):
            if child.key in trail:
                continue  # a cycle is reported by the graph rules; never recurse forever here
            below = needed(child, trail | {child.key})
            if below:
                entries.append(_child_patch(child, below))
        return entries

    if plan.root is not None:
        plan.root_patches = needed(render.kustomizations[plan.root], frozenset({plan.root}))
    return plan


def with_root_patches(bodies: list[dict[str, Any]], plan: MirrorPlan) -> list[dict[str, Any]]:
    """The sync objects with the plan's patches appended to the root Kustomization's spec.patches (what
    bootstrap applies; Flux re-applying the root from git leaves the field to the bootstrap's field manager)."""
    if plan.root is None or not plan.root_patches:
        return bodies
    result = []
    for body in bodies:
        meta = body.get("metadata") or {}
        if (body.get("kind") == "Kustomization" and str(body.get("apiVersion", "")).startswith(KUSTOMIZE_GROUP)
                and meta.get("name") == plan.root.name and meta.get("namespace") == plan.root.namespace):
            spec = dict(body.get("spec") or {})
            spec["patches"] = [*(spec.get("patches") or []), *plan.root_patches]
            body = {**body, "spec": spec}
        result.append(body)
    return result
