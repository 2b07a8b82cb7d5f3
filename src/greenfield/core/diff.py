"""What a change does to the rendered clusters: pure comparison of two renders (no I/O).

`diff_renders(base, head)` compares, per cluster -> Flux Kustomization -> object, what Flux would apply at
two revisions: objects added and removed, and for changed objects a field-level diff (HelmReleases: the
values helm-controller would use, `valuesFrom` merged). Objects a chart renders are ordinary objects of
their HelmRelease's Kustomization, so a chart-level change shows up as the chart's objects changing.
Changes that can hurt a running cluster are called out as dangers (prune enabled, suspend, immutable
fields, CRD/Namespace/PVC deletions, a Kustomization that stops existing, targetNamespace/sourceRef moves).
Secret data is never carried into the result: a changed value under a Secret's `data`/`stringData` (or any
field of a SOPS-encrypted object) is reported as changed without either value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from greenfield.core.model import (
    FLUX_KUSTOMIZATION,
    HELM_RELEASE,
    ClusterRender,
    KustomizationNode,
    RenderedObject,
    api_group,
)

SECRET_DATA_CHANGED = "(secret data changed)"
ENTRY_LABEL = "(entry)"


class Change(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True)
class FieldChange:
    """One leaf that differs: `path` in dotted form (`spec.template.spec.containers[name=app].image`)."""

    path: str
    change: Change
    before: Any = None  # JSON value (None when added); never secret data
    after: Any = None  # JSON value (None when removed); never secret data
    secret: bool = False  # the values are withheld: secret data

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "change": str(self.change)}
        if self.secret:
            data["secret"] = True
        else:
            if self.change != Change.ADDED:
                data["before"] = self.before
            if self.change != Change.REMOVED:
                data["after"] = self.after
        return data


@dataclass(frozen=True)
class Danger:
    """A change that can break or destroy something in the cluster, with why."""

    rule: str  # diff/prune-enabled, diff/immutable-field, ...
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "message": self.message}


@dataclass
class ObjectDiff:
    object: str  # "Kind/namespace/name" or "Kind/name"
    api_version: str
    change: Change
    file: str = ""  # where the head (or, when removed, the base) object comes from
    chart: str = ""  # rendered by a chart: "<chart>-<version> (HelmRelease ns/name)"
    fields: list[FieldChange] = field(default_factory=list)
    dangers: list[Danger] = field(default_factory=list)
    moved: str = ""  # added or removed because it moves between Kustomizations: the other one

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"object": self.object, "apiVersion": self.api_version, "change": str(self.change),
                                "file": self.file}
        if self.chart:
            data["chart"] = self.chart
        if self.moved:
            data["moved"] = self.moved
        data["fields"] = [item.to_dict() for item in self.fields]
        data["dangers"] = [item.to_dict() for item in self.dangers]
        return data


@dataclass
class KustomizationDiff:
    name: str  # "namespace/name", ENTRY_LABEL for the cluster's entry (synthetic root)
    change: Change
    objects: list[ObjectDiff] = field(default_factory=list)
    dangers: list[Danger] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. not built at one revision: objects not compared

    @property
    def danger_count(self) -> int:
        return len(self.dangers) + sum(len(item.dangers) for item in self.objects)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "change": str(self.change), "dangers": [d.to_dict() for d in self.dangers],
                "notes": list(self.notes), "objects": [item.to_dict() for item in self.objects]}


@dataclass
class ClusterDiff:
    name: str
    change: Change
    kustomizations: list[KustomizationDiff] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "change": str(self.change),
                "kustomizations": [item.to_dict() for item in self.kustomizations]}


@dataclass
class DiffSummary:
    clusters: int = 0
    kustomizations: int = 0
    added: int = 0
    removed: int = 0
    changed: int = 0
    dangers: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class RenderDiff:
    base: str  # the revisions as the user named them (resolved commit in brackets where known)
    head: str
    clusters: list[ClusterDiff] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.clusters

    def summary(self) -> DiffSummary:
        summary = DiffSummary(clusters=len(self.clusters))
        for cluster in self.clusters:
            for kustomization in cluster.kustomizations:
                summary.kustomizations += 1
                summary.dangers += kustomization.danger_count
                for item in kustomization.objects:
                    if item.change == Change.ADDED:
                        summary.added += 1
                    elif item.change == Change.REMOVED:
                        summary.removed += 1
                    else:
                        summary.changed += 1
        return summary

    def dangers(self) -> list[tuple[str, str, str, Danger]]:
        """(cluster, Kustomization, object or "", danger) for every danger, in report order."""
        found: list[tuple[str, str, str, Danger]] = []
        for cluster in self.clusters:
            for kustomization in cluster.kustomizations:
                found.extend((cluster.name, kustomization.name, "", d) for d in kustomization.dangers)
                for item in kustomization.objects:
                    found.extend((cluster.name, kustomization.name, item.object, d) for d in item.dangers)
        return found

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base, "head": self.head, "summary": self.summary().to_dict(),
                "clusters": [item.to_dict() for item in self.clusters]}


# -- field-level diff -------------------------------------------------------------------------------

_MISSING = object()
_LIST_KEYS = ("name", "mountPath", "containerPort", "port", "key", "ip")  # merge keys of lists worth matching by


def _list_key(*lists: list[Any]) -> str | None:
    """The key that identifies every item of each list of mappings, when there is one, unique in each list."""
    if not any(lists) or not all(isinstance(item, dict) for items in lists for item in items):
        return None
    for key in _LIST_KEYS:
        if all(_unique_values(items, key) for items in lists):
            return key
    return None


def _unique_values(items: list[Any], key: str) -> bool:
    values = [item.get(key, _MISSING) for item in items]
    return all(isinstance(v, str | int) and v is not _MISSING for v in values) and len(set(values)) == len(values)


def _join(path: str, key: str) -> str:
    plain = key.replace("_", "").replace("-", "").replace("/", "").isalnum() and "." not in key
    return (f"{path}.{key}" if path else key) if plain else f'{path}["{key}"]'


def field_changes(before: Any, after: Any, path: str = "") -> list[FieldChange]:
    """Leaf-level differences between two JSON values (mappings by key, named lists by their key)."""
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        keys = sorted(set(before) | set(after), key=str)
        return _keyed_changes(before, after, [(key, _join(path, str(key))) for key in keys])
    if isinstance(before, list) and isinstance(after, list):
        key = _list_key(before, after)
        if key is not None:
            old = {item[key]: item for item in before}
            new = {item[key]: item for item in after}
            if list(old) == [k for k in new if k in old]:  # same relative order: compare by key
                names = [*old, *(k for k in new if k not in old)]
                return _keyed_changes(old, new, [(name, f"{path}[{key}={name}]") for name in names])
        if len(before) == len(after):
            return [c for index, (b, a) in enumerate(zip(before, after, strict=True))
                    for c in field_changes(b, a, f"{path}[{index}]")]
    return [FieldChange(path or "(object)", Change.CHANGED, before=before, after=after)]


def _keyed_changes(before: dict[Any, Any], after: dict[Any, Any], entries: list[tuple[Any, str]]
                   ) -> list[FieldChange]:
    """The changes of two mappings, walked in the order of `entries` (key, path of that key)."""
    changes: list[FieldChange] = []
    for key, child in entries:
        if key not in after:
            changes.append(FieldChange(child, Change.REMOVED, before=before[key]))
        elif key not in before:
            changes.append(FieldChange(child, Change.ADDED, after=after[key]))
        else:
            changes.extend(field_changes(before[key], after[key], child))
    return changes


def _secret_path(obj: RenderedObject, path: str) -> bool:
    if obj.encrypted:  # SOPS: every field but the identity is ciphertext or its MAC
        return not path.startswith(("apiVersion", "kind", "metadata.name", "metadata.namespace"))
    return obj.kind == "Secret" and api_group(obj.api_version) == "" and path.startswith(("data", "stringData"))


def _masked(obj: RenderedObject, changes: list[FieldChange]) -> list[FieldChange]:
    """Secret data never leaves: the paths stay (which key changed), the values go."""
    masked: list[FieldChange] = []
    for item in changes:
        if _secret_path(obj, item.path):
            masked.append(FieldChange(item.path, item.change, secret=True))
        else:
            masked.append(item)
    return masked


# -- dangers ---------------------------------------------------------------------------------------

FORCE_HINT = "the apply fails unless the Kustomization has spec.force: true (then the object is recreated)"
# (group, kind) -> immutable field paths (the API server rejects an update that changes them)
IMMUTABLE_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("apps", "Deployment"): ("spec.selector",),
    ("apps", "ReplicaSet"): ("spec.selector",),
    ("apps", "DaemonSet"): ("spec.selector",),
    ("apps", "StatefulSet"): ("spec.selector", "spec.serviceName", "spec.volumeClaimTemplates",
                              "spec.podManagementPolicy"),
    ("batch", "Job"): ("spec.selector", "spec.template", "spec.completionMode"),
    ("", "Service"): ("spec.clusterIP", "spec.clusterIPs"),
    ("", "PersistentVolumeClaim"): ("spec.storageClassName", "spec.accessModes", "spec.volumeName",
                                    "spec.selector", "spec.volumeMode", "spec.dataSource"),
    ("", "PersistentVolume"): ("spec.csi", "spec.nfs", "spec.hostPath", "spec.local"),
    ("storage.k8s.io", "StorageClass"): ("provisioner", "parameters", "reclaimPolicy", "volumeBindingMode"),
    ("rbac.authorization.k8s.io", "RoleBinding"): ("roleRef",),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): ("roleRef",),
}
FLUX_GROUPS = ("kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io", "source.toolkit.fluxcd.io",
               "notification.toolkit.fluxcd.io", "image.toolkit.fluxcd.io")


def _get(body: Mapping[str, Any], path: str) -> Any:
    value: Any = body
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _pruned(node: KustomizationNode | None) -> bool:
    return bool(node is not None and node.spec.get("prune"))


def _identity(obj: RenderedObject) -> tuple[str, str]:
    return api_group(obj.api_version), obj.kind


def object_dangers(before: RenderedObject | None, after: RenderedObject | None,
                   owner_before: KustomizationNode | None) -> list[Danger]:
    """Dangers of one object's change; `owner_before` is the Kustomization that applied it at the base."""
    dangers: list[Danger] = []
    if after is None and before is not None:
        group, kind = _identity(before)
        deleted = _pruned(owner_before)
        verb = "deleted from the cluster (the Kustomization prunes)" if deleted else "left in the cluster unmanaged"
        if (group, kind) == ("apiextensions.k8s.io", "CustomResourceDefinition"):
            dangers.append(Danger("diff/crd-removed", f"CRD removed: {verb}"
                                  + ("; every custom resource of it is deleted with it" if deleted else "")))
        elif (group, kind) == ("", "Namespace") and deleted:
            dangers.append(Danger("diff/namespace-removed", "Namespace removed and pruned: everything in it is "
                                  "deleted"))
        elif (group, kind) in {("", "PersistentVolumeClaim"), ("", "PersistentVolume")} and deleted:
            dangers.append(Danger("diff/volume-removed", f"{kind} removed and pruned: its data may be lost"))
        return dangers
    if before is None or after is None:
        return dangers
    group, kind = _identity(after)
    for path in IMMUTABLE_FIELDS.get((group, kind), ()):
        old, new = _get(before.body, path), _get(after.body, path)
        if old != new and not (kind == "Service" and old is None):  # an unset clusterIP is allocated, not changed
            dangers.append(Danger("diff/immutable-field", f"immutable field {path} changes: {FORCE_HINT}"))
    if kind in {"Secret", "ConfigMap"} and group == "" and before.body.get("immutable") is True and (
            before.body.get("data") != after.body.get("data")
            or before.body.get("stringData") != after.body.get("stringData")
            or before.body.get("binaryData") != after.body.get("binaryData")):
        dangers.append(Danger("diff/immutable-field", f"data of an immutable {kind} changes: {FORCE_HINT}"))
    if group in FLUX_GROUPS:
        dangers.extend(_flux_dangers(before, after))
    return dangers


def _flux_dangers(before: RenderedObject, after: RenderedObject) -> list[Danger]:
    dangers: list[Danger] = []
    old, new = before.spec, after.spec
    if not old.get("suspend") and new.get("suspend"):
        dangers.append(Danger("diff/suspended", "suspend: true: Flux stops reconciling it"))
    if before.is_kind(*FLUX_KUSTOMIZATION):
        if not old.get("prune") and new.get("prune"):
            dangers.append(Danger("diff/prune-enabled", "prune: true: objects it applied that are no longer in "
                                  "its output are deleted from the cluster"))
        if old.get("targetNamespace") != new.get("targetNamespace"):
            dangers.append(Danger("diff/target-namespace", f"targetNamespace {old.get('targetNamespace')!r} -> "
                                  f"{new.get('targetNamespace')!r}: its namespaced objects move (with prune the "
                                  "old ones are deleted)"))
        if old.get("sourceRef") != new.get("sourceRef"):
            dangers.append(Danger("diff/source-changed", "sourceRef changes: it applies another source's content"))
        if old.get("path") != new.get("path"):
            dangers.append(Danger("diff/path-changed", f"path {old.get('path')!r} -> {new.get('path')!r}"))
    if before.is_kind(*HELM_RELEASE):
        old_chart, new_chart = _get(old, "chart.spec.sourceRef"), _get(new, "chart.spec.sourceRef")
        if old_chart != new_chart or old.get("chartRef") != new.get("chartRef"):
            dangers.append(Danger("diff/source-changed", "chart source changes (sourceRef/chartRef)"))
        for key in ("releaseName", "targetNamespace", "storageNamespace"):
            if old.get(key) != new.get(key):
                dangers.append(Danger("diff/release-moved", f"{key} {old.get(key)!r} -> {new.get(key)!r}: "
                                      "helm-controller uninstalls the old release and installs a new one"))
    return dangers


# -- the walk ---------------------------------------------------------------------------------------

def _label(node: KustomizationNode) -> str:
    return ENTRY_LABEL if node.synthetic else str(node.key)


def _object_key(obj: RenderedObject) -> tuple[str, str, str, str]:
    identity = obj.id
    return identity.group, identity.kind, identity.namespace, identity.name


def _objects(node: KustomizationNode) -> dict[tuple[str, str, str, str], RenderedObject]:
    return {_object_key(obj): obj for obj in node.objects}


def _release_values(render: ClusterRender | None) -> dict[tuple[str, str], dict[str, Any]]:
    if render is None:
        return {}
    return {(key.namespace, key.name): info.values for key, info in render.helm_releases.items()}


def _object_fields(before: RenderedObject, after: RenderedObject,
                   values: tuple[dict[str, Any] | None, dict[str, Any] | None]) -> list[FieldChange]:
    old_body, new_body = before.body, after.body
    if after.is_kind(*HELM_RELEASE) and values[0] is not None and values[1] is not None:
        # the values helm-controller uses (valuesFrom merged) stand for spec.values
        old_body = {**old_body, "spec": {k: v for k, v in before.spec.items() if k != "values"}}
        new_body = {**new_body, "spec": {k: v for k, v in after.spec.items() if k != "values"}}
        return _masked(after, field_changes(old_body, new_body) + field_changes(values[0], values[1], "values"))
    return _masked(after, field_changes(old_body, new_body))


def _node_dangers(before: KustomizationNode | None, after: KustomizationNode | None) -> list[Danger]:
    if after is None and before is not None and not before.synthetic:
        how = ("its objects are deleted from the cluster (it prunes)" if _pruned(before)
               else "its objects stay in the cluster unmanaged")
        return [Danger("diff/kustomization-removed", f"Kustomization stops existing: {how}")]
    return []


def _kustomization_diff(before: KustomizationNode | None, after: KustomizationNode | None,
                        values: tuple[dict[tuple[str, str], dict[str, Any]], dict[tuple[str, str], dict[str, Any]]]
                        ) -> KustomizationDiff | None:
    node = after or before
    assert node is not None
    change = Change.ADDED if before is None else Change.REMOVED if after is None else Change.CHANGED
    result = KustomizationDiff(_label(node), change, dangers=_node_dangers(before, after))
    for which, side in (("base", before), ("head", after)):
        if side is not None and not side.built:
            reason = side.error.splitlines()[0] if side.error else "its source is not in this repository"
            result.notes.append(f"not built at {which}: {reason}")
    if (before is not None and not before.built) or (after is not None and not after.built):
        # one side has no output: comparing would report every object as added or removed
        unchanged = (before is not None and after is not None and not before.built and not after.built
                     and before.error == after.error)
        return None if unchanged else result
    old = _objects(before) if before is not None else {}
    new = _objects(after) if after is not None else {}
    for key in sorted(set(old) | set(new), key=lambda k: (k[1], k[2], k[3], k[0])):
        first, second = old.get(key), new.get(key)
        shown = second or first
        assert shown is not None
        if first is None or second is None:
            diff = ObjectDiff(str(shown.id), shown.api_version, Change.ADDED if first is None else Change.REMOVED,
                              file=shown.file, chart=shown.chart, dangers=object_dangers(first, second, before))
            result.objects.append(diff)
            continue
        if first.body == second.body and not second.is_kind(*HELM_RELEASE):
            continue
        hr_key = (second.namespace, second.name)
        fields = _object_fields(first, second, (values[0].get(hr_key), values[1].get(hr_key)))
        if fields:
            result.objects.append(ObjectDiff(str(shown.id), second.api_version, Change.CHANGED, file=second.file,
                                             chart=second.chart, fields=fields,
                                             dangers=object_dangers(first, second, before)))
    if change == Change.CHANGED and not result.objects and not result.dangers and not result.notes:
        return None
    return result


def _mark_moves(cluster: ClusterDiff) -> None:
    """An object removed from one Kustomization and added to another moves: the new owner takes it over (its
    labels change), so the old one's prune does not delete it and the removal is no danger."""
    def key(item: ObjectDiff) -> tuple[str, str]:
        return api_group(item.api_version), item.object

    owners: dict[Change, dict[tuple[str, str], tuple[str, ObjectDiff]]] = {Change.ADDED: {}, Change.REMOVED: {}}
    for kustomization in cluster.kustomizations:
        for item in kustomization.objects:
            if item.change in owners:
                owners[item.change][key(item)] = (kustomization.name, item)
    for identity, (source, removed) in owners[Change.REMOVED].items():
        if identity in owners[Change.ADDED]:
            target, added = owners[Change.ADDED][identity]
            removed.moved, added.moved = target, source
            removed.dangers = []


def diff_cluster(name: str, base: ClusterRender | None, head: ClusterRender | None) -> ClusterDiff | None:
    old = {_label(n): n for n in base.kustomizations.values()} if base is not None else {}
    new = {_label(n): n for n in head.kustomizations.values()} if head is not None else {}
    values = (_release_values(base), _release_values(head))
    order = [_label(n) for n in head.ordered_kustomizations()] if head is not None else []
    order += [_label(n) for n in base.ordered_kustomizations() if _label(n) not in new] if base is not None else []
    change = Change.ADDED if base is None else Change.REMOVED if head is None else Change.CHANGED
    result = ClusterDiff(name, change)
    for label in order:
        item = _kustomization_diff(old.get(label), new.get(label), values)
        if item is not None:
            result.kustomizations.append(item)
    _mark_moves(result)
    return result if result.kustomizations or change != Change.CHANGED else None


def diff_renders(base: Mapping[str, ClusterRender], head: Mapping[str, ClusterRender], base_label: str = "base",
                 head_label: str = "head") -> RenderDiff:
    """Every difference between two renders of the same repository (cluster name -> render)."""
    result = RenderDiff(base_label, head_label)
    names: Iterable[str] = [*head, *(name for name in base if name not in head)]
    for name in names:
        item = diff_cluster(name, base.get(name), head.get(name))
        if item is not None:
            result.clusters.append(item)
    return result
