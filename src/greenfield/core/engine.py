"""The offline kustomize-controller: pure orchestration over an injected kustomize builder.

For one cluster: build the entry folder, find the flux-system sync Kustomization pointing at it (or use
a synthetic root), then build every Flux Kustomization found in the output, recursively, with its spec
(patches, components, targetNamespace, namePrefix/nameSuffix, images through the builder; commonMetadata
and postBuild substitution here). Children are the objects as the parent applied them. Everything the
build finds wrong is recorded as an EngineNote on the node; rules under build/ and substitution/ turn
notes into findings. No I/O here: the builder (adapters/kustomize.py) does it.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import json
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from greenfield.core import goyaml
from greenfield.core import substitution as subst
from greenfield.core.model import (
    FLUX_KUSTOMIZATION,
    HELM_RELEASE,
    SOURCE_GROUP,
    ClusterRender,
    EngineNote,
    HelmReleaseInfo,
    KustomizationNode,
    NamespacedName,
    RenderedObject,
    api_group,
)
from greenfield.core.repo_config import normalise_url
from greenfield.core.scope import ScopeIndex, drop_cluster_scoped_namespace, is_crd
from greenfield.core.sources import (
    ARTIFACT_GENERATOR,
    BootstrapFacts,
    GeneratedArtifact,
    RepositoryCopy,
    SyncSource,
    generated_artifacts,
    syncs_in,
)

SYNTHETIC_ROOT = NamespacedName("", "")
ANY_KEY = "*"  # in KustomizationNode.opaque_variables: a substituteFrom source whose keys are unknown offline
MAX_DEPTH = 40
SUBSTITUTION_FAILURES = frozenset({"substitution-syntax", "substitution-invalid-yaml", "undefined-variable"})
RUNTIME_NAMES = frozenset({
    "HOME", "PATH", "PWD", "USER", "HOSTNAME", "SHELL", "TMPDIR", "IFS", "RANDOM", "LANG", "TERM",
    "POD_IP", "POD_NAME", "POD_NAMESPACE", "NODE_NAME", "HOST_IP",
})


# -- what the builder takes and gives ---------------------------------------------------------------

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


# -- helpers ----------------------------------------------------------------------------------------

def normalise_path(path: Any) -> str | None:
    """spec.path relative to the source root, without "./"; None when it escapes the root."""
    text = str(path or "").strip()
    if not text:
        return ""
    joined = posixpath.normpath(posixpath.join("/", text.lstrip("/")))
    if joined == "/":
        return ""
    if ".." in joined.split("/"):
        return None
    return joined.lstrip("/")


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _key_of(body: Mapping[str, Any]) -> NamespacedName:
    metadata = _as_dict(body.get("metadata"))
    return NamespacedName(str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))


def _is_flux_kustomization(body: Mapping[str, Any]) -> bool:
    return (str(body.get("kind", "")) == FLUX_KUSTOMIZATION[1]
            and api_group(str(body.get("apiVersion", ""))) == FLUX_KUSTOMIZATION[0])


def _object_label(body: Mapping[str, Any]) -> str:
    key = _key_of(body)
    kind = str(body.get("kind", ""))
    return f"{kind}/{key.namespace}/{key.name}" if key.namespace else f"{kind}/{key.name}"


def source_data(body: Mapping[str, Any]) -> tuple[dict[str, str], bool]:
    """The string data of a ConfigMap/Secret (Secret data base64-decoded); (data, encrypted)."""
    encrypted = "sops" in body
    data: dict[str, str] = {}
    kind = str(body.get("kind", ""))
    if kind == "Secret":
        for key, value in _as_dict(body.get("data")).items():
            text = str(value)
            if encrypted or text.startswith("ENC["):
                data[str(key)] = f"sops-encrypted-{key}"
                continue
            try:
                data[str(key)] = base64.b64decode(text, validate=False).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                data[str(key)] = ""
        for key, value in _as_dict(body.get("stringData")).items():
            data[str(key)] = f"sops-encrypted-{key}" if encrypted else str(value)
    else:
        for key, value in _as_dict(body.get("data")).items():
            data[str(key)] = "" if value is None else str(value)
    return data, encrypted


def merge_values(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's MergeMaps: nested maps merge, everything else is replaced."""
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_values(result[key], value)
        else:
            result[key] = value
    return result


def _typed(value: str) -> Any:
    lowered = value.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered == "null":
        return None
    if re.fullmatch(r"-?[0-9]+", value) and not (len(value) > 1 and value.lstrip("-").startswith("0")):
        return int(value)
    return value


def set_path(values: dict[str, Any], path: str, raw: str) -> dict[str, Any]:
    """helm-controller's targetPath: strvals-style dotted path; quoted values stay strings."""
    quoted = len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\""
    value: Any = raw.strip("'\"") if quoted else _typed(raw)
    parts = [p.replace("\\.", ".") for p in re.split(r"(?<!\\)\.", path)]
    current = values
    for part in parts[:-1]:
        child = current.get(part)
        if not isinstance(child, dict):
            child = {}
            current[part] = child
        current = child
    current[parts[-1]] = value
    return values


# -- the engine ---------------------------------------------------------------------------------------

class _ClusterRun:
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
                key = _key_of(body)
                self.bootstrap_sources.setdefault((kind, key.namespace or "default", key.name), (body, file, line, how))
            else:
                self._provide(body, how, file, line)
        for body in options.extra_sources:
            self._provide(body, "declared in-cluster (--substitute-from / in_cluster)")
        groups = set(self.bootstrap.crd_groups)
        for body in options.in_cluster:
            self._provide(body, "declared in-cluster (in_cluster)")
            if str(body.get("kind", "")) == "CustomResourceDefinition":
                group = str(_as_dict(body.get("spec")).get("group") or "")
                groups |= {group} if group else set()
        self.render.provided_crd_groups = sorted(groups)
        self.source_ignore: str | None = None  # the local GitRepository's spec.ignore, once it is rendered
        self.memo = options.substitution_memo(cluster) if options.substitution_memo is not None else None

    def _provide(self, body: Mapping[str, Any], how: str, file: str = "", line: int = 0) -> None:
        """Record an object that exists in the cluster without a Kustomization applying it (once per identity)."""
        name = _key_of(body)
        key = (str(body.get("kind", "")), name.namespace, name.name)
        if key in self.provided_keys:
            return
        self.provided_keys.add(key)
        self.render.provided.append(RenderedObject(body=dict(body), cluster=self.cluster, kustomization="",
                                                   file=file, line=line, encrypted="sops" in body, provided_by=how))

    def _index_source(self, body: Mapping[str, Any], external: bool = False) -> None:
        kind = str(body.get("kind", ""))
        if kind in ("ConfigMap", "Secret") and api_group(str(body.get("apiVersion", ""))) == "":
            key = _key_of(body)
            index = (kind, key.namespace, key.name)
            if external or index not in self.sources:
                self.sources[index] = dict(body)

    # -- root ------------------------------------------------------------------------------------------
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
            points_here = normalise_path(_as_dict(body.get("spec")).get("path")) == self.entry
            if _is_flux_kustomization(body) and points_here and (
                    root_body is None or _key_of(body).name == "flux-system"):
                root_body, root_file, root_line = body, file, line
        sync = None if root_body is not None else self._sync_for_entry(first)
        if root_body is not None:
            key = _key_of(root_body)
            root = KustomizationNode(key=key, cluster=self.cluster, path=self.entry, body=root_body, parent=None,
                                     file=root_file, line=root_line)
            reference = _as_dict(_as_dict(root_body.get("spec")).get("sourceRef"))
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
        referenced = any(_as_dict(node.spec.get("sourceRef")).get("name") == "flux-system"
                         for node in self.render.kustomizations.values() if not node.synthetic)
        if referenced and not rendered:
            self._provide({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                           "metadata": {"name": "flux-system", "namespace": "flux-system"}, "spec": {}},
                          "the cluster's sync, created by flux bootstrap (or flux-operator) outside git")

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
    def _scopes(self, extra: Iterable[Mapping[str, Any]] = ()) -> ScopeIndex:
        crds = [obj.body for obj in self.render.objects if is_crd(obj.body)]
        return ScopeIndex(self.options.crd_scopes).with_crds([*crds, *(body for body in extra if is_crd(body))])

    def _drop_cluster_scoped_namespaces(self) -> None:
        """The namespace kustomize stamped on a cluster-scoped object (targetNamespace, `namespace:`) is dropped
        by the API server: drop it here too, with the scope of every CRD the cluster renders."""
        scopes = self._scopes()
        for obj in self.render.objects:
            drop_cluster_scoped_namespace(obj.body, scopes)

    # -- walking -------------------------------------------------------------------------------------
    def _walk(self, start: list[KustomizationNode], prebuilt: dict[BuildRequest, BuildOutput]) -> None:
        pending = list(start)
        depth = 0
        while pending and depth < MAX_DEPTH:
            depth += 1
            ready: list[tuple[KustomizationNode, BuildRequest, dict[str, str]]] = []
            waiting: list[KustomizationNode] = []
            for node in pending:
                prepared = self._prepare(node, final=False)
                if prepared == "wait":
                    waiting.append(node)
                elif isinstance(prepared, tuple):
                    ready.append((node, *prepared))
            if not ready and waiting:
                # nothing else can produce the missing sources any more: report them now
                for node in waiting:
                    prepared = self._prepare(node, final=True)
                    if isinstance(prepared, tuple):
                        ready.append((node, *prepared))
                waiting = []
            requests = [r for _, r, _ in ready if r not in prebuilt]
            outputs = dict(prebuilt)
            if requests:
                unique = list(dict.fromkeys(requests))
                outputs.update(zip(unique, self.builder.build_many(unique), strict=True))
            children: list[KustomizationNode] = []
            for node, request, variables in ready:
                children.extend(self._apply(node, outputs[request], variables))
            pending = children + waiting

    def _is_local(self, node: KustomizationNode) -> bool:
        if node.synthetic:
            return True
        reference = _as_dict(node.spec.get("sourceRef"))
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
        reference = _as_dict(node.spec.get("sourceRef"))
        kind, name = str(reference.get("kind", "")), str(reference.get("name", ""))
        namespace = str(reference.get("namespace") or node.key.namespace)
        for obj in self.render.objects:
            if (obj.kind, obj.namespace, obj.name) != (kind, namespace, name):
                continue
            url = normalise_url(str(obj.spec.get("url", "")))
            ref = _as_dict(obj.spec.get("ref"))
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
        reference = _as_dict(spec.get("sourceRef"))
        if str(reference.get("kind", "")) == "ExternalArtifact":
            artifact = self.artifacts.get((str(reference.get("namespace") or node.key.namespace),
                                           str(reference.get("name", ""))))
            resolved = artifact.resolve(str(spec.get("path") or "")) if artifact is not None else None
            return normalise_path(resolved[1]) if resolved is not None else None
        return normalise_path(spec.get("path"))

    def _prepare(self, node: KustomizationNode, final: bool) -> tuple[BuildRequest, dict[str, str]] | str | None:
        spec = node.spec
        copy = None if node.synthetic or self._is_local(node) else self._copy_of(node)
        if copy is not None:
            path = normalise_path(spec.get("path"))
            if path is None:
                node.notes.append(EngineNote("path-missing", f"spec.path {spec.get('path')} leaves the repository",
                                             node.file, node.line, hint="use a path inside the source"))
                return None
            node.path = path
            return replace(BuildRequest.from_spec(path, spec), root=copy.root), {}
        if not node.synthetic and not self._is_local(node):
            reference = _as_dict(spec.get("sourceRef"))
            kind, name = str(reference.get("kind", "")), str(reference.get("name", ""))
            namespace = str(reference.get("namespace") or node.key.namespace)
            if not self._source_known(kind, namespace, name):
                if not final:
                    return "wait"  # a sibling may still render it (or the FluxInstance/generator creating it)
                # not rendered at all: graph/reference-missing reports it; Flux cannot fetch anything
                node.error = f"source {kind}/{namespace}/{name} not found"
                node.notes.append(EngineNote(
                    "not-built", f"Kustomization {node.key} is not built: its source {kind}/{namespace}/{name} "
                    "is neither rendered nor created by the bootstrap", node.file, node.line))
                return None
            node.error = f"source {kind}/{namespace}/{name} is not this repository"
            node.notes.append(EngineNote(
                "external-source", f"source {kind}/{namespace}/{name} is not this repository: not rendered "
                "offline", node.file, node.line,
                hint="configure a local copy under `sources:` in .greenfield.yaml, or validate that repository "
                     "separately"))
            return None
        path = node.path if node.synthetic else self._source_path(node)
        if path is None:
            node.notes.append(EngineNote("path-missing", f"spec.path {spec.get('path')} leaves the repository "
                                         "(or the artifact has no copy operation for it)",
                                         node.file, node.line, hint="use a path inside the source"))
            return None
        node.path = path
        variables: dict[str, str] = {}
        post_build = spec.get("postBuild")
        failed = ""
        if isinstance(post_build, dict):
            node.opaque_variables = []
            sources: list[dict[str, str]] = []
            for reference in post_build.get("substituteFrom") or []:
                if not isinstance(reference, dict):
                    continue
                kind, name = str(reference.get("kind", "")), str(reference.get("name", ""))
                body = self.sources.get((kind, node.key.namespace, name))
                if body is None:
                    if reference.get("optional"):
                        continue
                    if not final:
                        return "wait"
                    body = self._bootstrap_source(node, kind, name)
                if body is None:
                    node.notes.append(EngineNote(
                        "substitute-from-missing",
                        f"postBuild.substituteFrom {kind}/{name} not found in namespace {node.key.namespace} "
                        f"of cluster {self.cluster}: Flux fails this Kustomization",
                        node.file, node.line,
                        hint="render it in this cluster, mark it `optional: true`, declare it under `in_cluster:` "
                             "in .greenfield.yaml, or pass --substitute-from FILE"))
                    failed = f"postBuild.substituteFrom {kind}/{name} does not exist"
                    continue
                data, encrypted = source_data(body)
                if encrypted:
                    node.opaque_variables.extend(sorted(data))
                sources.append(data)
            variables = subst.resolve_variables(sources, _as_dict(post_build.get("substitute")))
            invalid = subst.invalid_names(variables)
            if invalid:
                node.notes.append(EngineNote(
                    "invalid-variable-name",
                    f"'{invalid[0]}' var name is invalid, must match '{subst.VARIABLE_NAME_PATTERN}': "
                    "Flux fails this Kustomization", node.file, node.line,
                    hint="rename the key in substitute/substituteFrom (letters, digits, underscores)"))
                return None
        node.substitutions = variables
        if failed:
            # Flux fails this Kustomization (it applies nothing); it is still built here to name its children
            self.failed[node.key] = failed
        return replace(BuildRequest.from_spec(path, spec), source_ignore=self.source_ignore), variables

    def _selects_namespace(self, spec: Mapping[str, Any], namespace: str) -> bool:
        """A ClusterExternalSecret's namespaces / namespaceSelectors (matchLabels against the rendered Namespace;
        matchExpressions count as matching: conservative)."""
        if namespace in [str(n) for n in spec.get("namespaces") or []]:
            return True
        selectors = [_as_dict(s) for s in spec.get("namespaceSelectors") or []]
        if isinstance(spec.get("namespaceSelector"), dict):
            selectors.append(spec["namespaceSelector"])
        labels: dict[str, Any] = {}
        for obj in self.render.objects:
            if obj.kind == "Namespace" and obj.name == namespace:
                labels = _as_dict(_as_dict(obj.body.get("metadata")).get("labels"))
        return any(all(str(labels.get(k)) == str(v) for k, v in _as_dict(s.get("matchLabels")).items())
                   for s in selectors)

    def _external_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Secret an ExternalSecret rendered in the cluster makes external-secrets create at runtime: its keys
        (spec.data[].secretKey, template data; unknown with dataFrom), values opaque like SOPS ones."""
        for obj in self.render.objects:
            if api_group(obj.api_version) != "external-secrets.io":
                continue
            if obj.kind == "ExternalSecret" and obj.namespace == namespace:
                spec, default_name = obj.spec, obj.name
            elif obj.kind == "ClusterExternalSecret" and self._selects_namespace(obj.spec, namespace):
                spec = _as_dict(obj.spec.get("externalSecretSpec"))
                default_name = str(obj.spec.get("externalSecretName") or obj.name)
            else:
                continue
            target = _as_dict(spec.get("target"))
            if str(target.get("name") or default_name) != name:
                continue
            keys = {str(_as_dict(item).get("secretKey")) for item in spec.get("data") or []
                    if _as_dict(item).get("secretKey")}
            keys |= {str(key) for key in _as_dict(_as_dict(target.get("template")).get("data"))}
            if spec.get("dataFrom"):
                keys.add(ANY_KEY)
            self.render.notes.append(EngineNote(
                "secret-from-external-secret", f"Secret {namespace}/{name} is created at runtime by ExternalSecret "
                f"{namespace}/{obj.name}: its values are known only in the cluster", obj.file, obj.line))
            body: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret",
                                    "metadata": {"name": name, "namespace": namespace},
                                    "stringData": dict.fromkeys(sorted(keys), ""), "sops": {"origin": "ExternalSecret"}}
            self.sources[("Secret", namespace, name)] = body
            self._provide(body, f"created by external-secrets from ExternalSecret {namespace}/{obj.name}", obj.file,
                          obj.line)
            return body
        return None

    def _bootstrap_source(self, node: KustomizationNode, kind: str, name: str) -> dict[str, Any] | None:
        """A substituteFrom ConfigMap/Secret no Kustomization of the cluster renders, but that a file of the
        repository holds (its bootstrap applies it: scripts, Taskfiles, helmfile hooks): the data of the file
        nearest to the cluster's entry folder, with an info note saying so."""
        applied = self.bootstrap_sources.get((kind, node.key.namespace, name))
        if applied is not None:
            body, file, line, how = applied
            self._provide(body, how, file, line)
            node.notes.append(EngineNote(
                "substitute-from-bootstrap", f"postBuild.substituteFrom {kind}/{name} is not applied by a Kustomization "
                f"of cluster {self.cluster} before this one: {how} from {file}", node.file, node.line,
                hint="declare it under `in_cluster:` in .greenfield.yaml (or --substitute-from) to make this explicit"))
            return body
        if kind == "Secret":
            created = self._external_secret(node.key.namespace, name)
            if created is not None:
                return created
        candidates = [(file, line, body) for file, line, body in
                      self.bootstrap.repository_sources.get((kind, name), [])
                      if str(_as_dict(body.get("metadata")).get("namespace") or node.key.namespace)
                      == node.key.namespace]
        if not candidates:
            return None

        def affinity(candidate: tuple[str, int, dict[str, Any]]) -> tuple[int, str, int]:
            shared = posixpath.commonpath([candidate[0], self.entry]) if self.entry else ""
            return (-len(shared.split("/")) if shared else 0, candidate[0], candidate[1])

        file, line, body = sorted(candidates, key=affinity)[0]
        node.notes.append(EngineNote(
            "substitute-from-bootstrap",
            f"postBuild.substituteFrom {kind}/{name} is not applied by a Kustomization of cluster {self.cluster} "
            f"before this one; {file} holds it and the repository's bootstrap is expected to apply it (Flux fails "
            "this Kustomization if it is not in the cluster): its data is used", node.file, node.line,
            hint="declare it under `in_cluster:` in .greenfield.yaml (or --substitute-from) to make this explicit"))
        self._provide(body, f"expected from the bootstrap ({file})", file, line)
        return body

    def _apply(self, node: KustomizationNode, output: BuildOutput, variables: dict[str, str]
               ) -> list[KustomizationNode]:
        node.inputs = list(output.inputs)
        node.generated = output.generated
        for problem in output.problems:
            file, line = (problem.file, problem.line) if problem.file else (node.file, node.line)
            node.notes.append(EngineNote(problem.kind, problem.message, file, line))
        if not output.ok:
            node.error = output.error
            return []
        if node.key in self.failed:
            node.error = self.failed[node.key]
            self._children_of_failed(node, output)
            return []
        node.built = True
        spec = node.spec
        common = _as_dict(spec.get("commonMetadata"))
        label = "" if node.synthetic else str(node.key)
        children: list[KustomizationNode] = []
        entry_repositories: list[RenderedObject] = []
        substituting = isinstance(spec.get("postBuild"), dict) and bool(variables)
        bodies = self._substituted(node, output, variables) if substituting else \
            json.loads(json.dumps(output.documents))  # private copies: the builder may share cached documents
        if any(body is None for body in bodies):
            # kustomize-controller substitutes the whole build before applying anything: one object that
            # fails fails the Kustomization, which then applies nothing (and creates none of its children)
            node.built = False
            node.error = next((note.message for note in node.notes if note.kind in SUBSTITUTION_FAILURES
                               and "Flux fails this Kustomization" in note.message), "postBuild substitution failed")
            return []
        for body, (file, line) in zip(bodies, output.origins, strict=False):
            if body is None:
                continue
            encrypted = "sops" in body
            if common:
                metadata = body.setdefault("metadata", {})
                for section in ("labels", "annotations"):
                    extra = _as_dict(common.get(section))
                    if extra and isinstance(metadata, dict):
                        metadata[section] = {**_as_dict(metadata.get(section)), **extra}
            obj = RenderedObject(body=body, cluster=self.cluster, kustomization=label, file=file, line=line,
                                 encrypted=encrypted)
            node.objects.append(obj)
            self._index_source(body)
            if obj.kind == "GitRepository" and self.root_source is not None \
                    and (obj.kind, obj.namespace, obj.name) == self.root_source:
                self.local_urls.add(str(obj.spec.get("url", "")))
            if node.synthetic and obj.kind == "GitRepository" and api_group(obj.api_version) == SOURCE_GROUP:
                entry_repositories.append(obj)
            if obj.kind == "GitRepository" and api_group(obj.api_version) == SOURCE_GROUP and (
                    (obj.kind, obj.namespace, obj.name) == self.root_source
                    or (self.root_source is None and obj.name == "flux-system")):
                # the repository's own GitRepository (as _is_local_source sees it): its spec.ignore shapes the artifact
                ignore = obj.spec.get("ignore")
                self.source_ignore = ignore if isinstance(ignore, str) else None
            self._register_sources(body, file, line)
            if _is_flux_kustomization(body):
                key = _key_of(body)
                if key == node.key or key in self.render.kustomizations:
                    continue  # the root applying itself, or a duplicate (reported by build/duplicate-object)
                child = KustomizationNode(key=key, cluster=self.cluster, path="", body=body, parent=node.key,
                                          file=file, line=line)
                child.depends_on = [
                    NamespacedName(str(d.get("namespace") or key.namespace), str(d.get("name", "")))
                    for d in _as_dict(body.get("spec")).get("dependsOn") or [] if isinstance(d, dict)]
                self.render.kustomizations[key] = child
                children.append(child)
        if len(entry_repositories) == 1 and entry_repositories[0].name != "flux-system":
            # no sync in git nor a FluxInstance: the bootstrap applies the entry folder itself (kubectl apply -k);
            # the one GitRepository it holds is the cluster's sync of this repository when a Kustomization reads
            # a folder of this very cluster entry from it
            sync = entry_repositories[0]
            under = f"{self.entry}/" if self.entry else ""
            if any(_as_dict(child.spec.get("sourceRef")).get("name") == sync.name
                   and str(_as_dict(child.spec.get("sourceRef")).get("kind") or "") == "GitRepository"
                   and (normalise_path(child.spec.get("path")) or "").startswith(under) for child in children):
                self.local_sources.add((sync.kind, sync.namespace, sync.name))
                self.local_urls.add(str(sync.spec.get("url", "")))
        return children

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

    def _children_of_failed(self, node: KustomizationNode, output: BuildOutput) -> None:
        """The Kustomizations a failed one would create: known, not built, each saying why."""
        for body, (file, line) in zip(output.documents, output.origins, strict=False):
            if not _is_flux_kustomization(body):
                continue
            key = _key_of(body)
            if key == node.key or key in self.render.kustomizations:
                continue
            child = KustomizationNode(key=key, cluster=self.cluster, path="", body=json.loads(json.dumps(body)),
                                      parent=node.key, file=file, line=line, error=f"parent {node.key} fails")
            child.depends_on = [
                NamespacedName(str(d.get("namespace") or key.namespace), str(d.get("name", "")))
                for d in _as_dict(body.get("spec")).get("dependsOn") or [] if isinstance(d, dict)]
            child.notes.append(EngineNote(
                "parent-failed", f"Kustomization {key} is not built: its parent {node.key} fails "
                f"({self.failed[node.key]}), so Flux never creates it", file, line))
            self.render.kustomizations[key] = child

    def _substituted(self, node: KustomizationNode, output: BuildOutput, variables: dict[str, str]
                     ) -> list[dict[str, Any] | None]:
        """The build's documents after postBuild substitution (None where it failed), notes on the node; from
        the memo when this very build was substituted with the same variables before."""
        key = ""
        if self.memo is not None:
            digest = hashlib.sha256(json.dumps(
                [self.cluster, str(node.key), self.options.strict, sorted(variables.items()),
                 sorted(node.opaque_variables), output.origins, output.documents], sort_keys=True, default=str
            ).encode())
            key = digest.hexdigest()
            hit = self.memo.get(key)
            if hit is not None:
                stored = json.loads(hit)
                node.notes.extend(EngineNote(**note) for note in stored["notes"])
                return list(stored["bodies"])
        first_note = len(node.notes)
        bodies: list[dict[str, Any] | None] = []
        for body, (file, line) in zip(output.documents, output.origins, strict=False):
            body = json.loads(json.dumps(body))  # private copy: the builder may share cached documents
            bodies.append(body if subst.is_disabled(body) else self._substitute(node, body, variables, file, line))
        if self.memo is not None:
            notes = [asdict(note) for note in node.notes[first_note:]]
            self.memo[key] = json.dumps({"bodies": bodies, "notes": notes}, separators=(",", ":"), default=str)
        return bodies

    def _substitute(self, node: KustomizationNode, body: dict[str, Any], variables: dict[str, str],
                    file: str, line: int) -> dict[str, Any] | None:
        label = _object_label(body)
        outcome = subst.substitute_object(body, variables, strict=self.options.strict)
        if outcome.body is None:
            kind = {"yaml": "substitution-invalid-yaml", "syntax": "substitution-syntax",
                    "strict": "undefined-variable"}.get(outcome.error_kind, "substitution-syntax")
            node.notes.append(EngineNote(kind, f"{outcome.error} (Flux fails this Kustomization)", file, line,
                                         object=label))
            return None
        expansion = outcome.expansion
        if expansion is None or not expansion.references:
            return outcome.body
        opaque = set(node.opaque_variables)
        # "*": a source whose keys are only known in the cluster (an ExternalSecret with dataFrom)
        undefined = set() if ANY_KEY in opaque else {ref.name for ref in expansion.undefined}
        reported: set[tuple[str, str]] = set()
        if undefined:
            for path, text in subst.walk_strings(body):
                if "${" not in text:
                    continue
                for name in sorted(undefined):
                    if not re.search(r"(?<!\$)\$\{#?" + re.escape(name) + r"(?![A-Za-z0-9_])", text):
                        continue
                    if (name, path) in reported:
                        continue
                    reported.add((name, path))
                    close = difflib.get_close_matches(name, list(variables), n=1, cutoff=0.8)
                    runtime = not close and ("\n" in text or name in RUNTIME_NAMES or not name.isupper())
                    kind = "runtime-placeholder" if runtime else "undefined-variable"
                    suggestion = f" (did you mean ${{{close[0]}}}?)" if close else ""
                    node.notes.append(EngineNote(
                        kind, f"${{{name}}} at {path} is not defined for cluster {self.cluster}: Flux replaces it "
                        f"with an empty string{suggestion}", file, line, object=label,
                        detail={"variable": name, "path": path}))
            if not reported:
                for name in sorted(undefined):
                    node.notes.append(EngineNote(
                        "undefined-variable", f"${{{name}}} is not defined for cluster {self.cluster}: Flux "
                        "replaces it with an empty string", file, line, object=label, detail={"variable": name}))
        result = outcome.body
        if not undefined:
            for path in subst.emptied_fields(body, result):
                node.notes.append(EngineNote(
                    "emptied-value", f"{path} became empty after substitution", file, line, object=label,
                    detail={"path": path}))
        if any(ref.name in opaque for ref in expansion.references):
            return result
        before = dict(subst.walk_strings(body))
        for path, text in subst.walk_strings(result):
            if "${" in text and text.count("${") > before.get(path, "").count("$${"):
                node.notes.append(EngineNote(
                    "leftover", f"{path} still holds `${{` after substitution: a variable value contains an "
                    "unexpanded reference (values are not expanded recursively)", file, line, object=label,
                    detail={"path": path}))
        return result

    # -- helm releases -------------------------------------------------------------------------------
    def _helm_releases(self) -> None:
        index: dict[tuple[str, str, str], RenderedObject] = {}
        for obj in self.render.objects:
            index.setdefault((obj.kind, obj.namespace, obj.name), obj)
        for obj in self.render.objects:
            if not obj.is_kind(*HELM_RELEASE):
                continue
            key = NamespacedName(obj.namespace, obj.name)
            info = HelmReleaseInfo(key=key, cluster=self.cluster, kustomization=obj.kustomization, body=obj.body,
                                   file=obj.file)
            spec = obj.spec
            chart_ref = _as_dict(spec.get("chartRef"))
            chart_spec = _as_dict(_as_dict(spec.get("chart")).get("spec"))
            if chart_ref:
                kind = str(chart_ref.get("kind", ""))
                source = NamespacedName(str(chart_ref.get("namespace") or obj.namespace), str(chart_ref.get("name", "")))
                info.source_kind, info.source = kind, source
                found = index.get((kind, source.namespace, source.name))
                if found is not None and kind == "OCIRepository":
                    info.source_url = str(found.spec.get("url", ""))
                    info.chart = info.source_url.rstrip("/").rsplit("/", 1)[-1] if info.source_url else ""
                    ref = _as_dict(found.spec.get("ref"))
                    info.version = str(ref.get("digest") or ref.get("tag") or ref.get("semver") or "")
                elif found is not None and kind == "HelmChart":
                    info.values_files = [str(v) for v in found.spec.get("valuesFiles") or [] if isinstance(v, str)]
                    info.ignore_missing_values_files = bool(found.spec.get("ignoreMissingValuesFiles"))
                    info.chart = str(found.spec.get("chart", ""))
                    info.version = str(found.spec.get("version", ""))
                    inner = _as_dict(found.spec.get("sourceRef"))
                    repo = index.get((str(inner.get("kind", "")), found.namespace, str(inner.get("name", ""))))
                    info.source_url = str(repo.spec.get("url", "")) if repo is not None else ""
                    inner_namespace = str(inner.get("namespace") or found.namespace)
                    if str(inner.get("kind", "")) == "GitRepository" and self._is_local_source(
                            "GitRepository", inner_namespace, str(inner.get("name", ""))):
                        info.chart_path = normalise_path(info.chart) or ""
            elif chart_spec:
                reference = _as_dict(chart_spec.get("sourceRef"))
                kind = str(reference.get("kind", ""))
                source = NamespacedName(str(reference.get("namespace") or obj.namespace), str(reference.get("name", "")))
                info.source_kind, info.source = kind, source
                info.chart = str(chart_spec.get("chart", ""))
                info.version = str(chart_spec.get("version") or "")
                info.values_files = [str(v) for v in chart_spec.get("valuesFiles") or [] if isinstance(v, str)]
                info.ignore_missing_values_files = bool(chart_spec.get("ignoreMissingValuesFiles"))
                found = index.get((kind, source.namespace, source.name))
                if found is not None:
                    info.source_url = str(found.spec.get("url", ""))
                if kind == "GitRepository" and self._is_local_source(kind, source.namespace, source.name):
                    info.chart_path = normalise_path(info.chart) or ""
            target_namespace = str(spec.get("targetNamespace") or "")
            info.release_namespace = target_namespace or obj.namespace
            info.release_name = str(spec.get("releaseName") or (
                f"{target_namespace}-{obj.name}" if target_namespace else obj.name))
            values: dict[str, Any] = {}
            for reference in spec.get("valuesFrom") or []:
                if not isinstance(reference, dict):
                    continue
                found = index.get((str(reference.get("kind", "")), obj.namespace, str(reference.get("name", ""))))
                if found is None or found.encrypted:
                    continue
                data, _ = source_data(found.body)
                raw = data.get(str(reference.get("valuesKey") or "values.yaml"))
                if raw is None:
                    continue
                target = reference.get("targetPath")
                if target:
                    values = set_path(values, str(target), raw)
                    continue
                try:
                    parsed = goyaml.load(str(raw), goyaml.K8S)  # helm-controller reads it with sigs.k8s.io/yaml
                except goyaml.GoYAMLError:
                    continue
                if isinstance(parsed, dict):
                    values = merge_values(values, parsed)
            inline = spec.get("values")
            if isinstance(inline, dict):
                values = merge_values(values, inline)
            info.values = values
            self.render.helm_releases.setdefault(key, info)
        if self.options.charts is not None:
            self._render_charts(self.options.charts)

    def _render_charts(self, charts: ChartRenderer) -> None:
        """Template every chart the renderer can find; their objects join the HelmRelease's Kustomization.

        helm gets the API versions the cluster would serve: built-in ones and those of every CRD of the tree;
        when the charts render CRDs of their own, the charts that ask .Capabilities are templated again with
        those too (in the cluster every CRD exists once its release is installed)."""
        releases = [info for info in self.render.helm_releases.values() if info.chart or info.chart_path]
        if not releases:
            return
        served = api_versions(self.options.api_versions, (obj.body for obj in self.render.objects))
        requests = [self._chart_request(info, served) for info in releases]
        outputs = charts.render_many(requests)
        rendered_crds = [d for output in outputs for d in output.documents if _is_crd_body(d)]
        more = api_versions(served, rendered_crds)
        if len(more) > len(served):
            added = set(more) - set(served)
            again = [index for index, output in enumerate(outputs) if output.uses_capabilities and (
                output.asked_api_versions is None or added & set(output.asked_api_versions))]
            if again:
                redone = charts.render_many([replace(requests[index], api_versions=more) for index in again])
                for index, output in zip(again, redone, strict=True):
                    outputs[index] = output
        nodes = {("" if node.synthetic else str(node.key)): node for node in self.render.kustomizations.values()}
        scopes = self._scopes(body for output in outputs for body in output.documents)
        for info, output in zip(releases, outputs, strict=True):
            node = nodes.get(info.kustomization)
            if node is not None:
                node.inputs.extend(name for name in output.inputs if name not in node.inputs)
            if not output.found:
                continue
            info.chart_file = output.file
            info.chart_approximate = output.approximate
            if output.skipped:
                info.chart_skipped = output.skipped
                continue
            if output.error:
                info.chart_error = output.error
                continue
            info.rendered = True
            info.unknown_values = list(output.unknown_values)
            if node is None:
                continue
            origin = posixpath.basename(info.chart_path) if info.chart_path else info.chart
            origin += f"-{info.version}" if info.version else ""
            origin += f" (HelmRelease {info.key})"
            sources = output.sources + [output.file] * (len(output.documents) - len(output.sources))
            crds = output.crds + [False] * (len(output.documents) - len(output.crds))
            generated = output.generated + [False] * (len(output.documents) - len(output.generated))
            for body, source, crd, made in zip(output.documents, sources, crds, generated, strict=False):
                body = json.loads(json.dumps(body))
                metadata = body.setdefault("metadata", {})
                if isinstance(metadata, dict) and not metadata.get("namespace") and scopes.cluster_scoped(
                        api_group(str(body.get("apiVersion", ""))), str(body.get("kind", ""))) is not True:
                    metadata["namespace"] = info.release_namespace
                node.objects.append(RenderedObject(body=body, cluster=self.cluster, kustomization=info.kustomization,
                                                   file=source or output.file, chart=origin, release=str(info.key),
                                                   chart_crd=crd, install_generated=made))

    def _chart_request(self, info: HelmReleaseInfo, served: tuple[str, ...]) -> ChartRequest:
        spec = _as_dict(info.body.get("spec"))
        install = _as_dict(spec.get("install"))
        return ChartRequest(
            release=info.release_name, namespace=info.release_namespace,
            chart=info.chart.rstrip("/").rsplit("/", 1)[-1], version=info.version, local_path=info.chart_path,
            values_json=json.dumps(info.values, sort_keys=True, default=str),
            include_crds=str(install.get("crds") or "Create") != "Skip", kube_version=self.options.kube_version,
            values_files=tuple(info.values_files), ignore_missing_values_files=info.ignore_missing_values_files,
            post_renderers_json=json.dumps(_kustomize_post_renderers(spec), sort_keys=True),
            common_metadata_json=json.dumps(_as_dict(spec.get("commonMetadata")), sort_keys=True),
            origin=(info.key.namespace, info.key.name), api_versions=served,
            lookup_json=json.dumps(self._existing_before(info.kustomization), sort_keys=True),
            include_tests=_as_dict(spec.get("test")).get("enable") is True)

    def _existing_before(self, kustomization: str) -> dict[str, Any]:
        """Secrets and ConfigMaps that exist once the Kustomizations applied before `kustomization` are ready
        (its dependsOn, transitively, and its ancestors): what a lookup at install time finds. Secrets an
        ExternalSecret creates have its keys (values unknown offline); SOPS-encrypted data is opaque."""
        nodes = {("" if node.synthetic else str(node.key)): node for node in self.render.kustomizations.values()}
        start = nodes.get(kustomization)
        if start is None:
            return {}
        seen: set[NamespacedName] = set()
        pending = [*start.depends_on, *([start.parent] if start.parent is not None else [])]
        while pending:
            key = pending.pop()
            if key in seen or key not in self.render.kustomizations:
                continue
            seen.add(key)
            node = self.render.kustomizations[key]
            pending.extend(node.depends_on)
            if node.parent is not None:
                pending.append(node.parent)
        found: dict[str, Any] = {}
        for key in sorted(seen):
            for obj in self.render.kustomizations[key].objects:
                for body in _lookup_bodies(obj):
                    metadata = _as_dict(body.get("metadata"))
                    found[f"{body['apiVersion']}/{body['kind']}/{metadata.get('namespace', '')}/"
                          f"{metadata.get('name', '')}"] = body
        return found


OFFLINE_VALUE = base64.b64encode(b"greenfield-offline-placeholder").decode()


def _lookup_bodies(obj: RenderedObject) -> list[dict[str, Any]]:
    """The Secret/ConfigMap an object is or makes in the cluster, as a lookup returns it."""
    metadata = {"name": obj.name, "namespace": obj.namespace}
    if obj.kind in ("Secret", "ConfigMap") and api_group(obj.api_version) == "":
        data = _as_dict(obj.body.get("data"))
        if obj.kind == "Secret":
            data = {key: OFFLINE_VALUE if obj.encrypted else value for key, value in data.items()}
            data.update({key: OFFLINE_VALUE if obj.encrypted else base64.b64encode(str(value).encode()).decode()
                         for key, value in _as_dict(obj.body.get("stringData")).items()})
        return [{"apiVersion": "v1", "kind": obj.kind, "metadata": metadata, "data": data}]
    if obj.kind == "ExternalSecret" and api_group(obj.api_version) == "external-secrets.io":
        target = _as_dict(obj.spec.get("target"))
        keys = [str(item.get("secretKey")) for item in obj.spec.get("data") or []
                if isinstance(item, dict) and item.get("secretKey")]
        keys += [str(key) for key in _as_dict(_as_dict(target.get("template")).get("data"))]
        return [{"apiVersion": "v1", "kind": "Secret",
                 "metadata": {**metadata, "name": str(target.get("name") or obj.name)},
                 "data": {key: OFFLINE_VALUE for key in keys}}]
    return []


def _is_crd_body(body: Mapping[str, Any]) -> bool:
    return str(body.get("kind", "")) == "CustomResourceDefinition" and \
        api_group(str(body.get("apiVersion", ""))) == "apiextensions.k8s.io"


def api_versions(base: Iterable[str], bodies: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """`base` plus "group/version" and "group/version/Kind" of every served version of the CRDs among
    `bodies`: what discovery lists once they are installed (sorted, no duplicates)."""
    served = set(base)
    for body in bodies:
        if not _is_crd_body(body):
            continue
        spec = _as_dict(body.get("spec"))
        group, kind = str(spec.get("group") or ""), str(_as_dict(spec.get("names")).get("kind") or "")
        for version in spec.get("versions") or []:
            if isinstance(version, dict) and version.get("name") and version.get("served") is not False and group:
                served.add(f"{group}/{version['name']}")
                if kind:
                    served.add(f"{group}/{version['name']}/{kind}")
    return tuple(sorted(served))


def _kustomize_post_renderers(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    renderers = []
    for entry in spec.get("postRenderers") or []:
        kustomize = _as_dict(_as_dict(entry).get("kustomize"))
        if kustomize:
            renderers.append({"patches": [p for p in kustomize.get("patches") or [] if isinstance(p, dict)],
                              "images": [i for i in kustomize.get("images") or [] if isinstance(i, dict)]})
    return renderers


def render_cluster(cluster: str, entry: str, builder: Builder, options: EngineOptions | None = None
                   ) -> ClusterRender:
    """Everything Flux would apply to one cluster whose entry folder is `entry` (repository-relative)."""
    normalised = normalise_path(entry)
    return _ClusterRun(cluster, normalised or "", builder, options or EngineOptions()).run()


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
            names = _as_dict(obj.spec.get("names"))
            kinds.add((str(obj.spec.get("group", "")), str(names.get("kind", ""))))
    return kinds


def _reads(node: KustomizationNode) -> set[tuple[str, str, str]]:
    """ConfigMaps/Secrets (kind, namespace, name) whose content shapes the node's objects."""
    reads: set[tuple[str, str, str]] = set()
    for reference in _as_dict(node.spec.get("postBuild")).get("substituteFrom") or []:
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
