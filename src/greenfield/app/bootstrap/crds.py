"""Phase crds: every CRD the cluster's desired state needs, from the schema catalog or the pinned charts."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from greenfield.app.bootstrap.apply import clean, dump_objects
from greenfield.app.bootstrap.options import SPEC_HASH, PhaseResult, schema_dirs
from greenfield.app.bootstrap.releases import CorePhase
from greenfield.core.bootstrap import PHASE_STORY, Definitions, resolve_release
from greenfield.core.crds import (
    BUILTIN_GROUPS,
    CRD_SOURCE_LABEL,
    check_crd_bundle,
    crd_from_schemas,
    crd_groups,
    custom_kinds,
)
from greenfield.core.model import ClusterRender
from greenfield.errors import InputError


def _catalog_files(dirs: list[Path], group: str, kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for folder in dirs:
        for path in sorted((folder / group).glob(f"{kind.lower()}_*.json")):
            found.setdefault(path.stem.split("_", 1)[1], json.loads(path.read_text(encoding="utf-8")))
    return found


def _spec_hash(obj: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(obj.get("spec"), sort_keys=True).encode()).hexdigest()[:16]


def crd_bundle_from_schemas(render: ClusterRender, dirs: list[Path], definitions: Definitions
                            ) -> tuple[list[dict[str, Any]], list[str]]:
    """CRDs for every custom kind the cluster's desired state uses (the bootstrap groups included)."""
    kinds = custom_kinds((obj.body for obj in render.objects), BUILTIN_GROUPS)
    rendered = _rendered_crds(render)
    missing: list[str] = []
    bundle: list[dict[str, Any]] = []
    for kind in sorted(kinds, key=lambda k: (k.group, k.kind)):
        if (kind.group, kind.kind) in rendered:  # the pinned chart's (or the tree's) own CRD, before any catalog
            crd = copy.deepcopy(rendered[(kind.group, kind.kind)])
            metadata = crd["metadata"]  # name, labels and annotations (protected groups carry their approval)
            crd["metadata"] = {"name": metadata["name"],
                               "labels": {**(metadata.get("labels") or {}), CRD_SOURCE_LABEL: "rendered"},
                               "annotations": dict(metadata.get("annotations") or {})}
            crd["metadata"]["annotations"][SPEC_HASH] = _spec_hash(crd)
            bundle.append(crd)
            continue
        schemas = _catalog_files(dirs, kind.group, kind.kind)
        if not schemas:
            missing.append(f"{kind.group}/{kind.kind}")
            continue
        crd = crd_from_schemas(kind.group, kind.kind, schemas)
        crd["metadata"].setdefault("annotations", {})[SPEC_HASH] = _spec_hash(crd)
        bundle.append(crd)
    wanted = {group for ref in definitions.crds for group in ref.groups}
    covered = {kind.group for kind in kinds}
    missing += [f"{group}/* (no custom resource of it is rendered)" for group in sorted(wanted - covered)]
    return bundle, missing


def _rendered_crds(render: ClusterRender) -> dict[tuple[str, str], dict[str, Any]]:
    """CRDs the cluster's desired state renders (charts' crds/ and templates, the tree), by (group, kind)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for obj in render.objects:
        body = obj.body
        spec = body.get("spec")
        if body.get("kind") != "CustomResourceDefinition" or not isinstance(spec, dict):
            continue
        names = spec.get("names")
        if isinstance(names, dict) and isinstance(body.get("metadata"), dict) and body["metadata"].get("name"):
            found.setdefault((str(spec.get("group", "")), str(names.get("kind", ""))), clean(body))
    return found


class CrdPhase(CorePhase):
    """The CRD bundle of phase 0 and its server-side apply."""

    def crd_counts(self) -> dict[str, int]:
        if self.crd_source == "schemas":
            bundle, _ = crd_bundle_from_schemas(self.render(), schema_dirs(self.options), self.definitions)
            return dict(crd_groups(bundle))
        counts: dict[str, int] = {}
        dirs = schema_dirs(self.options)
        for ref in self.definitions.crds:
            for group in ref.groups:
                kinds = {p.stem.split("_", 1)[0] for d in dirs for p in (d / group).glob("*.json")}
                counts[group] = len(kinds)
        return counts

    def crd_bundle(self) -> list[dict[str, Any]]:
        if self.crd_source == "schemas":
            bundle, missing = crd_bundle_from_schemas(self.render(), schema_dirs(self.options), self.definitions)
            real_missing = [m for m in missing if "no custom resource" not in m]
            if real_missing:
                raise InputError("no schema in the catalog for " + ", ".join(real_missing),
                                 path=", ".join(str(d) for d in schema_dirs(self.options)) or "GREENFIELD_SCHEMAS",
                                 hint="point GREENFIELD_SCHEMAS at the CRD schema catalog")
            return bundle
        bundle = []
        for ref in self.definitions.crds:
            if not ref.helmrelease:
                continue  # a Kustomization-owned bundle (Gateway API from git): applied by its owner's source
            release = resolve_release(self.render(), ref)
            if self.options.target == "local" and self._real_chart(release.chart, release.version) is None:
                raise InputError(f"chart {release.chart} {release.version} is in no chart folder: its CRDs cannot be "
                                 "templated", path=str(ref), hint="pass --crd-source schemas (the schema catalog)")
            chart = self._chart(release.chart, release.version, release.source_url)
            documents = self._helm().template(release.release_name, chart, release.version, release.namespace,
                                              release.values, include_crds=True, home=self.helm_home)
            for crd in (d for d in documents if d.get("kind") == "CustomResourceDefinition"):
                crd.setdefault("metadata", {}).setdefault("annotations", {})[SPEC_HASH] = _spec_hash(crd)
                bundle.append(crd)
        return bundle

    def phase_crds(self) -> PhaseResult:
        result = PhaseResult("crds", PHASE_STORY["crds"], "unchanged")
        bundle = self.crd_bundle()
        problems = check_crd_bundle(bundle)
        if problems:
            raise InputError("; ".join(f"{p.object}: {p.problem}" for p in problems), path="phase 0",
                             hint="phase 0 holds each CRD once and nothing else")
        existing = {item["metadata"]["name"]: item for item in self.api().get("crd").get("items", [])}
        changed = [crd for crd in bundle if (existing.get(crd["metadata"]["name"], {}).get("metadata", {})
                                             .get("annotations", {}) or {}).get(SPEC_HASH) !=
                   crd["metadata"]["annotations"][SPEC_HASH]]
        if changed:
            self.progress("crds", f"server-side apply {len(changed)} of {len(bundle)} CRDs")
            self.api().apply(dump_objects(changed), server_side=True, force_conflicts=True)
            result.status, result.changes = "done", [f"applied {crd['metadata']['name']}" for crd in changed]
        if bundle:
            self.api().run(["wait", "--for=condition=Established", "--timeout=120s",
                            *(f"crd/{crd['metadata']['name']}" for crd in bundle)], timeout=180)
        groups = crd_groups(bundle)
        result.detail = (f"{len(bundle)} CRDs Established ({self.crd_source}) in {len(groups)} groups: "
                         + ", ".join(f"{g}={n}" for g, n in sorted(groups.items())))
        return result
