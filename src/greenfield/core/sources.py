"""Flux sources as the cluster gets them: the sync flux-operator or `flux bootstrap` creates, source-watcher's
generated artifacts, and what a repository's bootstrap puts in the cluster before Flux runs. Pure.

- A FluxInstance with `spec.sync` makes flux-operator create, in the FluxInstance's namespace, a source of
  `sync.kind` (GitRepository, OCIRepository or Bucket) and a Kustomization, both named `sync.name` (default:
  the namespace), the Kustomization with `path: sync.path`, `prune: true` and `sourceRef` that source
  (flux-operator internal/builder/templates.go `syncTmpl`, api/v1/fluxinstance_types.go `Sync`).
  The `flux-instance` chart takes the same spec under `instance:` in its values.
- `flux bootstrap` writes gotk-sync.yaml with a GitRepository and a Kustomization named flux-system.
- source-watcher's ArtifactGenerator (source.extensions.fluxcd.io) creates one ExternalArtifact per
  `spec.artifacts[]` entry, in its namespace, whose content is the `copy` operations applied to its sources.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SOURCE_API = {"GitRepository": "source.toolkit.fluxcd.io/v1", "OCIRepository": "source.toolkit.fluxcd.io/v1",
              "Bucket": "source.toolkit.fluxcd.io/v1", "ExternalArtifact": "source.toolkit.fluxcd.io/v1"}
KUSTOMIZATION_API = "kustomize.toolkit.fluxcd.io/v1"
FLUX_INSTANCE = ("fluxcd.controlplane.io", "FluxInstance")
ARTIFACT_GENERATOR = ("source.extensions.fluxcd.io", "ArtifactGenerator")
FLUX_INSTANCE_CHART = "flux-instance"
TEMPLATE = re.compile(r"\{\{.*?\}\}|\$\{[^}]*\}")


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def clean_path(path: Any) -> str:
    """A source-relative path without "./" or trailing "/" ("" for the root)."""
    text = posixpath.normpath(posixpath.join("/", str(path or "").strip()))
    return text.lstrip("/")


@dataclass(frozen=True)
class SyncSource:
    """The sync source + Kustomization something outside the tree creates (flux-operator, flux bootstrap)."""

    kind: str  # GitRepository | OCIRepository | Bucket
    namespace: str
    name: str
    path: str  # the Kustomization's spec.path as written (may hold opaque `{{ }}` templates)
    url: str = ""
    ref: str = ""
    origin: str = ""  # who creates it: "FluxInstance flux-system/flux (file:line)", "flux bootstrap", ...
    file: str = ""
    line: int = 0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)

    def matches_entry(self, entry: str) -> bool:
        """Whether the sync reconciles `entry`; a templated part (`{{ }}`, `${}`: opaque, never evaluated)
        matches any text within one folder level."""
        path = clean_path(self.path)
        parts = TEMPLATE.split(path)
        if len(parts) == 1:
            return path == entry
        return re.fullmatch("[^/]*".join(re.escape(part) for part in parts), entry) is not None

    def objects(self) -> list[dict[str, Any]]:
        """The source and Kustomization as the creator writes them."""
        source: dict[str, Any] = {
            "apiVersion": SOURCE_API.get(self.kind, "source.toolkit.fluxcd.io/v1"), "kind": self.kind,
            "metadata": {"name": self.name, "namespace": self.namespace}, "spec": {"interval": "1m"}}
        if self.url:
            source["spec"]["url"] = self.url
        if self.ref:
            source["spec"]["ref"] = {"tag": self.ref} if self.kind == "OCIRepository" else {"name": self.ref}
        kustomization = {
            "apiVersion": KUSTOMIZATION_API, "kind": "Kustomization",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {"interval": "10m0s", "path": self.path or "./", "prune": True,
                     "sourceRef": {"kind": self.kind, "name": self.name}}}
        return [source, kustomization]


def sync_of_instance(spec: Mapping[str, Any], namespace: str, origin: str, file: str = "", line: int = 0
                     ) -> SyncSource | None:
    """The sync a FluxInstance spec (or the flux-instance chart's `instance:` values) asks flux-operator for."""
    sync = _as_dict(spec.get("sync"))
    if not sync:
        return None
    namespace = namespace or "flux-system"
    return SyncSource(kind=str(sync.get("kind") or "GitRepository"), namespace=namespace,
                      name=str(sync.get("name") or namespace), path=str(sync.get("path") or ""),
                      url=str(sync.get("url") or ""), ref=str(sync.get("ref") or ""), origin=origin, file=file,
                      line=line)


def syncs_in(body: Mapping[str, Any], file: str = "", line: int = 0) -> list[SyncSource]:
    """Syncs a rendered object asks for: a FluxInstance, or a HelmRelease of the flux-instance chart."""
    kind = str(body.get("kind", ""))
    api = str(body.get("apiVersion", ""))
    metadata = _as_dict(body.get("metadata"))
    namespace = str(metadata.get("namespace") or "")
    name = str(metadata.get("name") or "")
    spec = _as_dict(body.get("spec"))
    if kind == FLUX_INSTANCE[1] and api.startswith(FLUX_INSTANCE[0] + "/"):
        found = sync_of_instance(spec, namespace, f"FluxInstance {namespace or 'flux-system'}/{name}", file, line)
        return [found] if found else []
    if kind == "HelmRelease" and api.startswith("helm.toolkit.fluxcd.io/"):
        chart = str(_as_dict(_as_dict(spec.get("chart")).get("spec")).get("chart") or "")
        reference = str(_as_dict(spec.get("chartRef")).get("name") or "")
        if FLUX_INSTANCE_CHART in (posixpath.basename(chart), reference) or name == FLUX_INSTANCE_CHART:
            instance = _as_dict(_as_dict(spec.get("values")).get("instance"))
            release_namespace = str(spec.get("targetNamespace") or namespace)
            label = f"{namespace}/{name}" if namespace else name
            found = sync_of_instance(instance, release_namespace, f"HelmRelease {label} (flux-instance "
                                     "chart values)", file, line)
            return [found] if found else []
    return []


@dataclass(frozen=True)
class CopyOperation:
    source: str  # the alias of one of the generator's sources
    source_path: str  # the folder (or file) inside that source, without the glob
    target: str  # the folder inside the artifact


@dataclass
class GeneratedArtifact:
    """An ExternalArtifact an ArtifactGenerator creates, with where its files come from."""

    namespace: str
    name: str
    generator: str  # "namespace/name" of the ArtifactGenerator
    sources: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # alias -> (kind, namespace, name)
    copies: list[CopyOperation] = field(default_factory=list)
    file: str = ""
    line: int = 0

    def body(self) -> dict[str, Any]:
        return {"apiVersion": SOURCE_API["ExternalArtifact"], "kind": "ExternalArtifact",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": {"sourceRef": {"apiVersion": "source.extensions.fluxcd.io/v1beta1",
                                       "kind": "ArtifactGenerator", "name": self.generator.split("/", 1)[1]}}}

    def resolve(self, path: str) -> tuple[tuple[str, str, str], str] | None:
        """(source, path inside it) holding artifact path `path`; None when no copy operation covers it."""
        path = clean_path(path)
        best: CopyOperation | None = None
        for copy in self.copies:
            target = copy.target
            if (not target or path == target or path.startswith(target + "/")) and (
                    best is None or len(target) > len(best.target)):
                best = copy
        if best is None or best.source not in self.sources:
            return None
        rest = path[len(best.target):].lstrip("/")
        return self.sources[best.source], posixpath.join(best.source_path, rest) if rest else best.source_path


def _copy_path(text: str, prefix: str) -> tuple[str, str] | None:
    """"@alias/dir/**" -> (alias, "dir"); "@artifact/x/" -> ("artifact", "x")."""
    value = str(text or "").strip()
    if not value.startswith(prefix):
        return None
    alias, _, rest = value[1:].partition("/")
    rest = re.sub(r"(/\*\*|/\*)+$", "", rest).strip("/")
    if rest in ("**", "*"):
        rest = ""
    return alias, clean_path(rest)


def generated_artifacts(body: Mapping[str, Any], file: str = "", line: int = 0) -> list[GeneratedArtifact]:
    """The ExternalArtifacts an ArtifactGenerator object creates."""
    metadata = _as_dict(body.get("metadata"))
    namespace = str(metadata.get("namespace") or "")
    name = str(metadata.get("name") or "")
    spec = _as_dict(body.get("spec"))
    sources: dict[str, tuple[str, str, str]] = {}
    for source in spec.get("sources") or []:
        source = _as_dict(source)
        alias = str(source.get("alias") or source.get("name") or "")
        sources[alias] = (str(source.get("kind") or ""), str(source.get("namespace") or namespace),
                          str(source.get("name") or ""))
    artifacts = []
    for item in spec.get("artifacts") or []:
        item = _as_dict(item)
        artifact = GeneratedArtifact(namespace=namespace, name=str(item.get("name") or ""),
                                     generator=f"{namespace}/{name}", sources=dict(sources), file=file, line=line)
        for copy in item.get("copy") or []:
            copy = _as_dict(copy)
            origin = _copy_path(str(copy.get("from") or ""), "@")
            target = _copy_path(str(copy.get("to") or ""), "@artifact")
            if origin is None or target is None:
                continue
            artifact.copies.append(CopyOperation(origin[0], origin[1], target[1]))
        if artifact.name:
            artifacts.append(artifact)
    return artifacts


@dataclass
class RepositoryCopy:
    """A local copy of another repository (config `sources:`), matched by URL and, when given, ref."""

    url: str  # normalised (see repo_config.normalise_url)
    ref: str  # "" matches any ref
    root: str  # the build root key the builder knows it by


@dataclass
class BootstrapFacts:
    """What the repository itself says exists in the cluster before (or besides) Flux: read by the caller."""

    syncs: list[SyncSource] = field(default_factory=list)  # FluxInstances / flux-instance values found in files
    objects: list[dict[str, Any]] = field(default_factory=list)  # objects its bootstrap applies (with origin)
    origins: list[tuple[str, int, str]] = field(default_factory=list)  # per object: file, line, how it is applied
    repository_sources: dict[tuple[str, str], list[tuple[str, int, dict[str, Any]]]] = field(default_factory=dict)
    # ^ (kind, name) -> ConfigMaps/Secrets found anywhere in the repository's files: (file, line, body)
    crd_groups: set[str] = field(default_factory=set)  # API groups whose CRDs the bootstrap installs
    charts: list[str] = field(default_factory=list)  # "namespace/release chart version (file)" it installs
