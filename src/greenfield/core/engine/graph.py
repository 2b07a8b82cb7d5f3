"""Queries over a finished render: duplicate objects, the Kustomizations a change affects."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

from greenfield.core.engine.bodies import as_dict
from greenfield.core.model import HELM_RELEASE, ClusterRender, KustomizationNode, NamespacedName, RenderedObject


def duplicate_objects(render: ClusterRender) -> dict[tuple[str, str, str, str], list[RenderedObject]]:
    """Objects applied more than once in a cluster (same group/kind/namespace/name)."""
    seen: dict[tuple[str, str, str, str], list[RenderedObject]] = {}
    for obj in render.objects:
        identity = obj.id
        seen.setdefault((identity.group, identity.kind, identity.namespace, identity.name), []).append(obj)
    return {key: objs for key, objs in seen.items() if len({o.kustomization for o in objs}) > 1}


def affected_kustomizations(render: ClusterRender, changed: Iterable[str], dependents: bool = True
                            ) -> set[NamespacedName]:
    """Kustomizations whose inputs include a changed file, plus their descendants and (unless `dependents`
    is False) the Kustomizations that depend on them."""
    changed_set = set(changed)
    if any(posixpath.basename(name) == ".sourceignore" for name in changed_set):
        return set(render.kustomizations)  # what the source artifact holds changed: every build may differ

    def touched(node: KustomizationNode) -> bool:
        if changed_set.intersection(node.inputs) or node.file in changed_set:
            return True
        if node.generated or not node.built:  # a new file in a generated folder (or one that failed) counts
            prefix = f"{node.path}/" if node.path else ""
            return any(name.startswith(prefix) and name.endswith((".yaml", ".yml")) for name in changed_set)
        return False

    affected = {key for key, node in render.kustomizations.items() if touched(node)}
    grew = True
    while grew:
        grew = False
        for key, node in render.kustomizations.items():
            if key in affected:
                continue
            if (node.parent in affected) or (dependents and any(dep in affected for dep in node.depends_on)):
                affected.add(key)
                grew = True
    return affected


def _crd_kinds(objects: Iterable[RenderedObject]) -> set[tuple[str, str]]:
    kinds: set[tuple[str, str]] = set()
    for obj in objects:
        if obj.is_kind("apiextensions.k8s.io", "CustomResourceDefinition"):
            names = as_dict(obj.spec.get("names"))
            kinds.add((str(obj.spec.get("group", "")), str(names.get("kind", ""))))
    return kinds


def _reads(node: KustomizationNode) -> set[tuple[str, str, str]]:
    """ConfigMaps/Secrets (kind, namespace, name) whose content shapes the node's objects."""
    reads: set[tuple[str, str, str]] = set()
    for reference in as_dict(node.spec.get("postBuild")).get("substituteFrom") or []:
        if isinstance(reference, dict):
            reads.add((str(reference.get("kind", "")), node.key.namespace, str(reference.get("name", ""))))
    for obj in node.objects:
        if obj.is_kind(*HELM_RELEASE):
            for reference in obj.spec.get("valuesFrom") or []:
                if isinstance(reference, dict):
                    reads.add((str(reference.get("kind", "")), obj.namespace, str(reference.get("name", ""))))
    return reads


def changed_objects_scope(render: ClusterRender, changed: Iterable[str], affected: set[NamespacedName]
                          ) -> set[NamespacedName]:
    """Of the `affected` Kustomizations, those whose objects may validate differently after the change: the
    changed ones and their descendants, plus (to a fixpoint) those that read a ConfigMap/Secret the scope
    renders (substituteFrom, HelmRelease valuesFrom) or apply custom resources of a CRD the scope renders.
    Dependents outside it render the very same objects as before (only their order/graph findings change)."""
    scope = affected_kustomizations(render, changed, dependents=False) & affected
    grew = True
    while grew:
        grew = False
        objects = [obj for key in scope for obj in render.kustomizations[key].objects]
        crds = _crd_kinds(objects)
        sources = {(obj.kind, obj.namespace, obj.name) for obj in objects if obj.kind in ("ConfigMap", "Secret")}
        for key in sorted(affected - scope):
            node = render.kustomizations[key]
            if node.parent in scope or _reads(node) & sources or any(
                    (obj.id.group, obj.kind) in crds for obj in node.objects):
                scope.add(key)
                grew = True
    return scope
