"""One cluster's run: the root (sync Kustomization, flux-operator sync or a synthetic root), the walk, the
bootstrap sync, HelmReleases, and what is left unbuilt."""

from __future__ import annotations

from typing import Any

from greenfield.core.engine.bodies import as_dict, is_flux_kustomization, key_of, normalise_path
from greenfield.core.engine.helm import HelmReleases
from greenfield.core.engine.kustomization import SYNTHETIC_ROOT, KustomizationBuild
from greenfield.core.engine.requests import Builder, BuildRequest, EngineOptions
from greenfield.core.engine.substitution import SUBSTITUTION_FAILURES
from greenfield.core.model import ClusterRender, EngineNote, KustomizationNode, NamespacedName
from greenfield.core.scope import drop_cluster_scoped_namespace


class ClusterRun(KustomizationBuild, HelmReleases):
    """One cluster from its entry folder to its HelmReleases."""

    def run(self) -> ClusterRender:
        first = self.builder.build_many([BuildRequest(self.entry)])[0]
        if any(p.kind in ("path-missing", "path-not-directory") for p in first.problems):
            self.render.notes.append(EngineNote(
                "entry-missing", f"cluster entry {self.entry or '.'} does not exist", self.entry,
                hint="create kubernetes/clusters/<cluster>/ or pass --cluster-path"))
            return self.render
        root_body: dict[str, Any] | None = None
        root_file, root_line = "", 0
        for body, (file, line) in zip(first.documents, first.origins, strict=False):
            points_here = normalise_path(as_dict(body.get("spec")).get("path")) == self.entry
            if is_flux_kustomization(body) and points_here and (
                    root_body is None or key_of(body).name == "flux-system"):
                root_body, root_file, root_line = body, file, line
        sync = None if root_body is not None else self._sync_for_entry(first)
        if root_body is not None:
            key = key_of(root_body)
            root = KustomizationNode(key=key, cluster=self.cluster, path=self.entry, body=root_body, parent=None,
                                     file=root_file, line=root_line)
            reference = as_dict(as_dict(root_body.get("spec")).get("sourceRef"))
            self.root_source = (str(reference.get("kind", "GitRepository")),
                                str(reference.get("namespace") or key.namespace), str(reference.get("name", "")))
        elif sync is not None:
            # flux-operator (FluxInstance spec.sync) creates the source and the Kustomization: no file holds them
            source_body, kustomization_body = sync.objects()
            self._provide(source_body, f"created by flux-operator from {sync.origin}", sync.file, sync.line)
            root = KustomizationNode(key=NamespacedName(sync.namespace, sync.name), cluster=self.cluster,
                                     path=self.entry, body=kustomization_body, parent=None, file=sync.file,
                                     line=sync.line)
            self.root_source = sync.key
            # flux-operator runs (the bootstrap installed it): its CRDs (FluxInstance, ResourceSet, ...) exist
            self.render.provided_crd_groups = sorted({*self.render.provided_crd_groups, "fluxcd.controlplane.io"})
            self.render.notes.append(EngineNote(
                "sync-created", f"the sync {sync.kind}/{sync.namespace}/{sync.name} and Kustomization "
                f"{sync.namespace}/{sync.name} (path {sync.path}) are created by flux-operator from {sync.origin}",
                sync.file, sync.line))
        else:
            root = KustomizationNode(key=SYNTHETIC_ROOT, cluster=self.cluster, path=self.entry,
                                     body={"spec": {"path": f"./{self.entry}"}}, parent=None, synthetic=True)
        if self.root_source is not None:
            self.local_sources.add(self.root_source)
        self.render.kustomizations[root.key] = root
        self._walk([root], {BuildRequest(self.entry): first})
        self._bootstrap_sync()
        self._explain_unbuilt()
        self._helm_releases()
        self._drop_cluster_scoped_namespaces()
        return self.render

    def _explain_unbuilt(self) -> None:
        """Every Kustomization found but not built says why (a note the build/not-built rule reports)."""
        explaining = {"external-source", "path-missing", "path-not-directory", "path-ignored", "kustomize",
                      "invalid-yaml", "substitute-from-missing", "invalid-variable-name", "parent-failed", "not-built",
                      *SUBSTITUTION_FAILURES}
        for node in self.render.kustomizations.values():
            if node.built or (node.synthetic and any(n.kind == "entry-missing" for n in self.render.notes)):
                continue
            if any(note.kind in explaining for note in node.notes):
                continue
            reason = node.error or "the engine did not reach it"
            node.notes.append(EngineNote("not-built", f"Kustomization {node.key} is not built: {reason}",
                                         node.file, node.line))

    def _drop_cluster_scoped_namespaces(self) -> None:
        """The namespace kustomize stamped on a cluster-scoped object (targetNamespace, `namespace:`) is dropped
        by the API server: drop it here too, with the scope of every CRD the cluster renders."""
        scopes = self._scopes()
        for obj in self.render.objects:
            drop_cluster_scoped_namespace(obj.body, scopes)


def render_cluster(cluster: str, entry: str, builder: Builder, options: EngineOptions | None = None
                   ) -> ClusterRender:
    """Everything Flux would apply to one cluster whose entry folder is `entry` (repository-relative)."""
    normalised = normalise_path(entry)
    return ClusterRun(cluster, normalised or "", builder, options or EngineOptions()).run()
