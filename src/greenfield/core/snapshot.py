"""Snapshots of the Flux-managed object inventory and their comparison (story 50). Pure."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from greenfield.core.model import ObjectId

# metadata the API server or controllers write: never part of the desired state
VOLATILE_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision",
                        "meta.helm.sh/", "reconcile.fluxcd.io/", "kustomize.toolkit.fluxcd.io/checksum")


def desired_part(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata") or {}
    annotations = {k: v for k, v in (metadata.get("annotations") or {}).items()
                   if not k.startswith(VOLATILE_ANNOTATIONS)}
    return {
        "labels": metadata.get("labels") or {},
        "annotations": annotations,
        "body": {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")},
    }


def project(live: Any, desired: Any) -> Any:
    """The live value restricted to the fields git sets: server defaults (clusterIP, ...) drop out."""
    if isinstance(live, dict) and isinstance(desired, dict):
        return {key: project(live[key], desired[key]) for key in desired if key in live}
    if isinstance(live, list) and isinstance(desired, list) and len(live) == len(desired):
        return [project(a, b) for a, b in zip(live, desired, strict=True)]
    return live


def spec_hash(obj: dict[str, Any], desired: dict[str, Any] | None = None) -> str:
    part = desired_part(obj)
    if desired is not None:
        part = project(part, desired_part(desired))
    return hashlib.sha256(json.dumps(part, sort_keys=True, default=str).encode()).hexdigest()[:16]


Snapshot = dict[str, str]  # "Kind/namespace/name" -> hash of the desired part


def take(objects: list[dict[str, Any]], desired: list[dict[str, Any]] | None = None) -> Snapshot:
    """Live objects keyed by identity; with `desired`, hashed only over the fields git defines."""
    wanted = {ObjectId.of(obj): obj for obj in desired or []}
    return {str(ObjectId.of(obj)): spec_hash(obj, wanted.get(ObjectId.of(obj))) for obj in objects}


@dataclass(frozen=True)
class Difference:
    object: str
    change: str  # "missing after" | "new after" | "changed"

    def __str__(self) -> str:
        return f"{self.object}: {self.change}"


def compare(before: Snapshot, after: Snapshot) -> list[Difference]:
    differences = [Difference(key, "missing after recreate") for key in sorted(before.keys() - after.keys())]
    differences += [Difference(key, "new after recreate") for key in sorted(after.keys() - before.keys())]
    differences += [Difference(key, "desired state changed") for key in sorted(before.keys() & after.keys())
                    if before[key] != after[key]]
    return differences
