"""The state of one cluster's render: what exists in the cluster (sources, provided objects) and the
render being built; the concept mixins (sources, kustomization build, substitution, helm) share it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from greenfield.core.engine.bodies import as_dict, key_of
from greenfield.core.engine.requests import Builder, EngineOptions
from greenfield.core.model import ClusterRender, NamespacedName, RenderedObject, api_group
from greenfield.core.scope import ScopeIndex, is_crd
from greenfield.core.sources import BootstrapFacts, GeneratedArtifact


class ClusterRunState:
    """What one cluster's run knows: the render so far, the ConfigMap/Secret sources, what exists in-cluster."""

    def __init__(self, cluster: str, entry: str, builder: Builder, options: EngineOptions) -> None:
        self.cluster = cluster
        self.entry = entry
        self.builder = builder
        self.options = options
        self.render = ClusterRender(cluster=cluster, entry=entry)
        self.sources: dict[tuple[str, str, str], dict[str, Any]] = {}  # (kind, ns, name) -> body
        for body in options.extra_sources:
            self._index_source(body, external=True)
        self.root_source: tuple[str, str, str] | None = None
        self.local_sources: set[tuple[str, str, str]] = set()  # sources that are this repository
        self.artifacts: dict[tuple[str, str], GeneratedArtifact] = {}  # (namespace, name) -> ExternalArtifact
        self.provided_keys: set[tuple[str, str, str]] = set()
        self.failed: dict[NamespacedName, str] = {}  # Kustomizations Flux fails before applying (why)
        self.local_urls: set[str] = set()
        self.bootstrap = options.bootstrap or BootstrapFacts()
        # ConfigMaps/Secrets the bootstrap applies: used only when no Kustomization renders them (what Flux
        # applies replaces what the bootstrap applied)
        self.bootstrap_sources: dict[tuple[str, str, str], tuple[dict[str, Any], str, int, str]] = {}
        for body, (file, line, how) in zip(self.bootstrap.objects, self.bootstrap.origins, strict=False):
            kind = str(body.get("kind", ""))
            if kind in ("ConfigMap", "Secret") and api_group(str(body.get("apiVersion", ""))) == "":
                key = key_of(body)
                self.bootstrap_sources.setdefault((kind, key.namespace or "default", key.name), (body, file, line, how))
            else:
                self._provide(body, how, file, line)
        for body in options.extra_sources:
            self._provide(body, "declared in-cluster (--substitute-from / in_cluster)")
        groups = set(self.bootstrap.crd_groups)
        for body in options.in_cluster:
            self._provide(body, "declared in-cluster (in_cluster)")
            if str(body.get("kind", "")) == "CustomResourceDefinition":
                group = str(as_dict(body.get("spec")).get("group") or "")
                groups |= {group} if group else set()
        self.render.provided_crd_groups = sorted(groups)
        self.source_ignore: str | None = None  # the local GitRepository's spec.ignore, once it is rendered
        self.memo = options.substitution_memo(cluster) if options.substitution_memo is not None else None

    def _provide(self, body: Mapping[str, Any], how: str, file: str = "", line: int = 0) -> None:
        """Record an object that exists in the cluster without a Kustomization applying it (once per identity)."""
        name = key_of(body)
        key = (str(body.get("kind", "")), name.namespace, name.name)
        if key in self.provided_keys:
            return
        self.provided_keys.add(key)
        self.render.provided.append(RenderedObject(body=dict(body), cluster=self.cluster, kustomization="",
                                                   file=file, line=line, encrypted="sops" in body, provided_by=how))

    def _index_source(self, body: Mapping[str, Any], external: bool = False) -> None:
        kind = str(body.get("kind", ""))
        if kind in ("ConfigMap", "Secret") and api_group(str(body.get("apiVersion", ""))) == "":
            key = key_of(body)
            index = (kind, key.namespace, key.name)
            if external or index not in self.sources:
                self.sources[index] = dict(body)

    def _scopes(self, extra: Iterable[Mapping[str, Any]] = ()) -> ScopeIndex:
        crds = [obj.body for obj in self.render.objects if is_crd(obj.body)]
        return ScopeIndex(self.options.crd_scopes).with_crds([*crds, *(body for body in extra if is_crd(body))])
