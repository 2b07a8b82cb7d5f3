"""Sources: which Flux source a Kustomization reads (this repository, a configured local copy, an
ExternalArtifact of an ArtifactGenerator, flux-operator's sync) and the data of ConfigMap/Secret sources."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from greenfield.core.engine.bodies import as_dict, normalise_path
from greenfield.core.engine.requests import BuildOutput
from greenfield.core.engine.state import ClusterRunState
from greenfield.core.model import KustomizationNode, api_group
from greenfield.core.repo_config import normalise_url
from greenfield.core.sources import ARTIFACT_GENERATOR, RepositoryCopy, SyncSource, generated_artifacts, syncs_in


def source_data(body: Mapping[str, Any]) -> tuple[dict[str, str], bool]:
    """The string data of a ConfigMap/Secret (Secret data base64-decoded); (data, encrypted)."""
    encrypted = "sops" in body
    data: dict[str, str] = {}
    kind = str(body.get("kind", ""))
    if kind == "Secret":
        for key, value in as_dict(body.get("data")).items():
            text = str(value)
            if encrypted or text.startswith("ENC["):
                data[str(key)] = f"sops-encrypted-{key}"
                continue
            try:
                data[str(key)] = base64.b64decode(text, validate=False).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                data[str(key)] = ""
        for key, value in as_dict(body.get("stringData")).items():
            data[str(key)] = f"sops-encrypted-{key}" if encrypted else str(value)
    else:
        for key, value in as_dict(body.get("data")).items():
            data[str(key)] = "" if value is None else str(value)
    return data, encrypted


class SourceResolution(ClusterRunState):
    """Which source a Kustomization reads, and the sources rendered objects make exist."""

    def _sync_for_entry(self, first: BuildOutput) -> SyncSource | None:
        """The FluxInstance sync (from the entry's own objects first, then the repository's files and its
        bootstrap) whose path is this cluster's entry folder."""
        found: list[SyncSource] = []
        for body, (file, line) in zip(first.documents, first.origins, strict=False):
            found.extend(syncs_in(body, file, line))
        found.extend(self.bootstrap.syncs)
        matching = [sync for sync in found if sync.matches_entry(self.entry)]
        return matching[0] if matching else None

    def _bootstrap_sync(self) -> None:
        """Without a sync in git or a FluxInstance for this entry, the cluster was bootstrapped (flux bootstrap,
        or flux-operator with the default name): its GitRepository flux-system/flux-system exists in-cluster."""
        if self.root_source is not None:
            return
        wanted = ("GitRepository", "flux-system", "flux-system")
        rendered = any((obj.kind, obj.namespace, obj.name) == wanted for obj in self.render.objects)
        referenced = any(as_dict(node.spec.get("sourceRef")).get("name") == "flux-system"
                         for node in self.render.kustomizations.values() if not node.synthetic)
        if referenced and not rendered:
            self._provide({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                           "metadata": {"name": "flux-system", "namespace": "flux-system"}, "spec": {}},
                          "the cluster's sync, created by flux bootstrap (or flux-operator) outside git")

    def _is_local(self, node: KustomizationNode) -> bool:
        if node.synthetic:
            return True
        reference = as_dict(node.spec.get("sourceRef"))
        kind = str(reference.get("kind", ""))
        name = str(reference.get("name", ""))
        namespace = str(reference.get("namespace") or node.key.namespace)
        return self._is_local_source(kind, namespace, name)

    def _is_local_source(self, kind: str, namespace: str, name: str) -> bool:
        """The source is this repository (the sync's source, one with the same URL, or an ExternalArtifact
        generated only from such sources)."""
        if self.root_source is None and kind == "GitRepository" and name == "flux-system":
            return True
        if (kind, namespace, name) in self.local_sources:
            return True
        if kind == "ExternalArtifact":
            artifact = self.artifacts.get((namespace, name))
            return artifact is not None and bool(artifact.copies) and all(
                self._is_local_source(*artifact.sources[copy.source]) for copy in artifact.copies
                if copy.source in artifact.sources) and all(c.source in artifact.sources for c in artifact.copies)
        if kind == "GitRepository":
            for obj in self.render.objects:
                if obj.kind == kind and obj.name == name and obj.namespace == namespace:
                    return str(obj.spec.get("url", "")) in self.local_urls
        return False

    def _copy_of(self, node: KustomizationNode) -> RepositoryCopy | None:
        """The configured local copy (`sources:`) of the repository a Kustomization's GitRepository/OCIRepository
        points at (URL and, when the copy names one, ref)."""
        if not self.options.repository_copies:
            return None
        reference = as_dict(node.spec.get("sourceRef"))
        kind, name = str(reference.get("kind", "")), str(reference.get("name", ""))
        namespace = str(reference.get("namespace") or node.key.namespace)
        for obj in self.render.objects:
            if (obj.kind, obj.namespace, obj.name) != (kind, namespace, name):
                continue
            url = normalise_url(str(obj.spec.get("url", "")))
            ref = as_dict(obj.spec.get("ref"))
            refs = {str(ref.get(k)) for k in ("branch", "tag", "semver", "name", "commit", "digest") if ref.get(k)}
            for copy in self.options.repository_copies:
                if copy.url == url and (not copy.ref or copy.ref in refs):
                    return copy
        return None

    def _source_known(self, kind: str, namespace: str, name: str) -> bool:
        if (kind, namespace, name) in self.provided_keys:
            return True
        return any(o.kind == kind and o.name == name and o.namespace == namespace for o in self.render.objects)

    def _source_path(self, node: KustomizationNode) -> str | None:
        """spec.path inside this repository: an ExternalArtifact's path maps through its generator's copies."""
        spec = node.spec
        reference = as_dict(spec.get("sourceRef"))
        if str(reference.get("kind", "")) == "ExternalArtifact":
            artifact = self.artifacts.get((str(reference.get("namespace") or node.key.namespace),
                                           str(reference.get("name", ""))))
            resolved = artifact.resolve(str(spec.get("path") or "")) if artifact is not None else None
            return normalise_path(resolved[1]) if resolved is not None else None
        return normalise_path(spec.get("path"))

    def _register_sources(self, body: Mapping[str, Any], file: str, line: int) -> None:
        """Sources a rendered object makes exist: a FluxInstance's sync (this repository when its path is the
        entry), an ArtifactGenerator's ExternalArtifacts."""
        kind = str(body.get("kind", ""))
        if kind in ("FluxInstance", "HelmRelease"):
            for sync in syncs_in(body, file, line):
                if sync.key == self.root_source or sync.key in self.provided_keys:
                    continue
                source_body, _ = sync.objects()
                self._provide(source_body, f"created by flux-operator from {sync.origin}", file, line)
                if sync.matches_entry(self.entry) or (self.root_source is None and sync.name == "flux-system"):
                    self.local_sources.add(sync.key)
        elif kind == ARTIFACT_GENERATOR[1] and api_group(str(body.get("apiVersion", ""))) == ARTIFACT_GENERATOR[0]:
            for artifact in generated_artifacts(body, file, line):
                self.artifacts[(artifact.namespace, artifact.name)] = artifact
                self._provide(artifact.body(), f"generated by ArtifactGenerator {artifact.generator}", file, line)
