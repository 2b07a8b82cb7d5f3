"""Build ClusterRenders from small multi-document YAML fixtures (until the engine renders real trees).

Annotations steer where a document goes; they are removed from the body:
- `test/cluster`: the cluster (default `infra`);
- `test/ks`: the Flux Kustomization that applies it, `name` or `namespace/name` (default the root
  `flux-system/flux-system`).
Every Flux Kustomization document becomes a KustomizationNode whose parent is its `test/ks`; the root
node is created when the fixture does not define it. HelmReleases are also recorded as HelmReleaseInfo.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from greenfield.core.inventory import Inventory, parse_inventory
from greenfield.core.model import (
    FLUX_KUSTOMIZATION,
    ClusterRender,
    HelmReleaseInfo,
    KustomizationNode,
    NamespacedName,
    RenderedObject,
)
from greenfield.core.rules.base import RuleContext
from greenfield.core.settings import cluster_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "rules"
ROOT = NamespacedName("flux-system", "flux-system")
DEFAULT_CLUSTER = "infra"
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _key(value: str) -> NamespacedName:
    if "/" in value:
        namespace, name = value.split("/", 1)
        return NamespacedName(namespace, name)
    return NamespacedName("flux-system", value)


def _documents(text: str) -> list[tuple[int, Any]]:
    """(line, document) for each non-empty document of a YAML stream."""
    found: list[tuple[int, Any]] = []
    starts = [0] + [m.end() for m in re.finditer(r"^---[ \t]*\n", text, flags=re.M)]
    ends = [m.start() for m in re.finditer(r"^---[ \t]*\n", text, flags=re.M)] + [len(text)]
    for start, end in zip(starts, ends, strict=False):
        chunk = text[start:end]
        body = yaml.load(chunk, Loader=LOADER) if chunk.strip() else None
        if body is not None:
            found.append((text.count("\n", 0, start) + 1, body))
    return found


def renders_from_text(text: str, file: str = "fixture.yaml") -> dict[str, ClusterRender]:
    renders: dict[str, ClusterRender] = {}
    placed: list[tuple[str, NamespacedName, RenderedObject]] = []
    for line, body in _documents(text):
        metadata = body.setdefault("metadata", {}) if isinstance(body, dict) else {}
        annotations = metadata.get("annotations") or {}
        cluster = str(annotations.pop("test/cluster", DEFAULT_CLUSTER))
        owner = _key(str(annotations.pop("test/ks", str(ROOT))))
        if not annotations:
            metadata.pop("annotations", None)
        render = renders.setdefault(cluster, ClusterRender(cluster, f"kubernetes/clusters/{cluster}"))
        obj = RenderedObject(body, cluster, str(owner), file, line)
        if obj.is_kind(*FLUX_KUSTOMIZATION):
            key = NamespacedName(obj.namespace or "flux-system", obj.name)
            spec = obj.spec
            render.kustomizations[key] = KustomizationNode(
                key=key, cluster=cluster, path=str(spec.get("path", "")).removeprefix("./"), body=body,
                parent=None if key == ROOT else owner, file=file, built=True)
            if key == ROOT:
                continue
        placed.append((cluster, owner, obj))
    for render in renders.values():
        if ROOT not in render.kustomizations:
            render.kustomizations[ROOT] = KustomizationNode(
                key=ROOT, cluster=render.cluster, path=render.entry, parent=None, built=True,
                body={"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                      "metadata": {"name": "flux-system", "namespace": "flux-system"},
                      "spec": {"path": f"./{render.entry}", "sourceRef": {"kind": "GitRepository",
                                                                          "name": "flux-system"}}})
    for cluster, owner, obj in placed:
        render = renders[cluster]
        node = render.kustomizations.get(owner)
        if node is None:
            raise ValueError(f"{obj.file}:{obj.line}: test/ks {owner} is not a Kustomization of {cluster}")
        node.objects.append(obj)
        if obj.is_kind("helm.toolkit.fluxcd.io", "HelmRelease"):
            key = NamespacedName(obj.namespace, obj.name)
            chart = str(((obj.spec.get("chart") or {}).get("spec") or {}).get("chart", ""))
            render.helm_releases[key] = HelmReleaseInfo(
                key=key, cluster=cluster, kustomization=obj.kustomization, body=obj.body, chart=chart,
                values=dict(obj.spec.get("values") or {}), file=obj.file)
    return renders


def load_renders(path: Path) -> dict[str, ClusterRender]:
    return renders_from_text(path.read_text(encoding="utf-8"), str(path.relative_to(REPO_ROOT)))


def reference_inventory() -> Inventory:
    data = yaml.safe_load((REPO_ROOT / "platform.yaml").read_text(encoding="utf-8"))
    inventory, problems = parse_inventory(data)
    assert inventory is not None, problems
    return inventory


def make_context(renders: dict[str, ClusterRender], inventory: Inventory | None = None,
                 options: dict[str, Any] | None = None) -> RuleContext:
    settings = {}
    if inventory is not None:
        settings = {name: cluster_settings(inventory, name) for name in inventory.clusters}
    # these fixtures test the rules as our platform runs them: house rules on unless a test says otherwise
    return RuleContext(renders=renders, inventory=inventory, settings=settings,
                       options={"house_rules": True, **(options or {})})
