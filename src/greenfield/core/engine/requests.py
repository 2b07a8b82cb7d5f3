"""What the engine asks its injected builder and chart renderer, and what they give back."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from greenfield.core.sources import BootstrapFacts, RepositoryCopy


@dataclass(frozen=True)
class BuildRequest:
    """One Flux Kustomization build: its path and the spec fields the controller writes into it."""

    path: str  # repository-relative folder ("" for the root)
    target_namespace: str = ""
    name_prefix: str = ""
    name_suffix: str = ""
    patches: tuple[str, ...] = ()  # JSON texts of spec.patches entries
    components: tuple[str, ...] = ()
    images: tuple[str, ...] = ()  # JSON texts of spec.images entries
    ignore_missing_components: bool = False
    source_ignore: str | None = None  # spec.ignore of the GitRepository the build reads (this repository)
    root: str = ""  # "" = this repository; else the local copy of another repository (config `sources:`)

    @classmethod
    def from_spec(cls, path: str, spec: Mapping[str, Any]) -> BuildRequest:
        def dumps(items: Any) -> tuple[str, ...]:
            return tuple(json.dumps(item, sort_keys=True) for item in items) if isinstance(items, list) else ()

        components = spec.get("components")
        return cls(
            path=path,
            target_namespace=str(spec.get("targetNamespace") or ""),
            name_prefix=str(spec.get("namePrefix") or ""),
            name_suffix=str(spec.get("nameSuffix") or ""),
            patches=dumps(spec.get("patches")),
            components=tuple(str(c) for c in components) if isinstance(components, list) else (),
            images=dumps(spec.get("images")),
            ignore_missing_components=bool(spec.get("ignoreMissingComponents")),
        )


@dataclass
class Problem:
    """Something wrong the builder found (before or besides kustomize's own error)."""

    kind: str  # path-missing | path-not-directory | component-is-file | component-missing | empty-resources |
    #            kustomize | invalid-yaml | remote-resource | outside-root
    message: str
    file: str = ""
    line: int = 0


@dataclass
class BuildOutput:
    request: BuildRequest
    documents: list[dict[str, Any]] = field(default_factory=list)
    origins: list[tuple[str, int]] = field(default_factory=list)  # (repo-relative file, line) per document
    error: str = ""  # kustomize's own message when the build failed
    problems: list[Problem] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    generated: bool = False  # the folder had no kustomization file
    cached: bool = False

    @property
    def ok(self) -> bool:
        return not self.error


class Builder(Protocol):
    def build_many(self, requests: Sequence[BuildRequest]) -> list[BuildOutput]: ...


@dataclass(frozen=True)
class ChartRequest:
    """One `helm template` of a HelmRelease's chart, with everything the engine resolved for it."""

    release: str
    namespace: str
    chart: str  # the chart's name (for --chart-dir look-ups)
    version: str  # the pinned version ("" when none)
    local_path: str  # repository-relative chart folder/tgz when the source is this repository, else ""
    values_json: str  # the merged values as canonical JSON (hashable, cache key material)
    include_crds: bool
    kube_version: str = ""
    # source-controller's valuesFiles: merged in order, they replace the chart's values.yaml (paths relative to
    # the repository for a chart from this repository, to the chart otherwise, where "values.yaml" is the chart's)
    values_files: tuple[str, ...] = ()
    ignore_missing_values_files: bool = False
    # helm-controller's post-rendering, in its order: spec.postRenderers (kustomize patches and images, as a
    # JSON list of {"patches", "images"}), spec.commonMetadata (JSON), then the origin labels naming the release
    post_renderers_json: str = "[]"
    common_metadata_json: str = "{}"
    origin: tuple[str, str] = ("", "")  # the HelmRelease's namespace and name
    # helm template --api-versions: what the cluster's discovery would serve ("group/version" and
    # "group/version/Kind"), as helm-controller's capabilities give it: built-in kinds and every CRD rendered
    api_versions: tuple[str, ...] = ()
    # what helm's `lookup` finds when helm-controller installs the release ("apiVersion/kind/namespace/name" ->
    # object, JSON): the Secrets/ConfigMaps applied before it (its Kustomization's dependencies and ancestors)
    lookup_json: str = "{}"
    # helm-controller runs a chart's test hooks only with spec.test.enable: otherwise they are never applied
    include_tests: bool = False

    @property
    def values(self) -> dict[str, Any]:
        loaded = json.loads(self.values_json)
        return loaded if isinstance(loaded, dict) else {}


@dataclass
class ChartOutput:
    found: bool  # False: the chart is remote and not supplied (not an error)
    documents: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # per document: the template file it came from
    file: str = ""  # where the chart was read from (repository-relative when inside the repository)
    error: str = ""  # helm's message when templating failed
    skipped: str = ""  # why a found chart was not templated (helm not available, ...)
    inputs: list[str] = field(default_factory=list)  # repository-relative chart files (for --changed-since)
    cached: bool = False
    crds: list[bool] = field(default_factory=list)  # per document: a file of the chart's crds/ folder
    generated: list[bool] = field(default_factory=list)  # per document: helm generates it at install time
    uses_capabilities: bool = False  # the templates read .Capabilities.APIVersions (api_versions matter)
    asked_api_versions: tuple[str, ...] | None = None  # what they ask about, when only literals (else None)
    approximate: bool = False  # the chart is not built from the pinned release (results are approximate)
    unknown_values: list[str] = field(default_factory=list)  # value paths no template reads, not in values.yaml


class ChartRenderer(Protocol):
    def render_many(self, requests: Sequence[ChartRequest]) -> list[ChartOutput]: ...


@dataclass
class EngineOptions:
    strict: bool = False  # emulate the StrictPostBuildSubstitutions feature gate (fail on undefined)
    extra_sources: list[dict[str, Any]] = field(default_factory=list)  # --substitute-from objects
    charts: ChartRenderer | None = None  # renders charts found locally / in --chart-dir (None: never render)
    kube_version: str = ""  # helm template --kube-version
    api_versions: tuple[str, ...] = ()  # built-in "group/version[/Kind]" the API server serves (helm --api-versions)
    # cluster -> a store of substituted Kustomization outputs (JSON texts) kept between runs by the caller:
    # re-substituting an unchanged build with unchanged variables gives the same objects and notes
    substitution_memo: Callable[[str], MutableMapping[str, str]] | None = None
    bootstrap: BootstrapFacts | None = None  # what the repository's own bootstrap creates (read by the caller)
    repository_copies: list[RepositoryCopy] = field(default_factory=list)  # config `sources:` (local copies)
    in_cluster: list[dict[str, Any]] = field(default_factory=list)  # config `in_cluster:` objects (not CM/Secret)
    # (group, kind) -> "Cluster" | "Namespaced" of CRDs installed outside the tree (bootstrap, in-cluster)
    crd_scopes: Mapping[tuple[str, str], str] = field(default_factory=dict)
