"""The rendered platform: what the engine produces and every rule reads.

This module is the contract between the engine (which fills it) and the rules (which read it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FLUX_KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io", "Kustomization")
HELM_RELEASE = ("helm.toolkit.fluxcd.io", "HelmRelease")
SOURCE_GROUP = "source.toolkit.fluxcd.io"


def api_group(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


@dataclass(frozen=True, order=True)
class ObjectId:
    """Kubernetes identity of an object: group, kind, namespace ("" when cluster-scoped or unset), name."""

    group: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, body: dict[str, Any]) -> ObjectId:
        metadata = body.get("metadata") or {}
        return cls(api_group(str(body.get("apiVersion", ""))), str(body.get("kind", "")),
                   str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


@dataclass
class RenderedObject:
    """One object as Flux would apply it, with where it came from."""

    body: dict[str, Any]
    cluster: str
    kustomization: str  # "namespace/name" of the Flux Kustomization that applies it ("" for the root sync)
    file: str = ""  # repository-relative file the object was read from, when known
    line: int = 0
    encrypted: bool = False  # SOPS-encrypted in git (a top-level `sops:` key): data is opaque, never decrypted
    chart: str = ""  # rendered from a Helm chart: "<chart>-<version> (HelmRelease <namespace>/<name>)"
    release: str = ""  # "namespace/name" of the HelmRelease whose chart rendered it ("" when it is from git)
    chart_crd: bool = False  # a file of the chart's crds/ folder: helm applies it outside the release manifest
    install_generated: bool = False  # helm generates its content at install time (genCA, randAlphaNum, ...)
    provided_by: str = ""  # in ClusterRender.provided: who creates it outside any Kustomization (bootstrap, ...)

    @property
    def id(self) -> ObjectId:
        return ObjectId.of(self.body)

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion", ""))

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.body.get("metadata") or {}).get("name", ""))

    @property
    def namespace(self) -> str:
        return str((self.body.get("metadata") or {}).get("namespace") or "")

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.body.get("spec")
        return spec if isinstance(spec, dict) else {}

    def is_kind(self, group: str, kind: str) -> bool:
        return self.kind == kind and api_group(self.api_version) == group


@dataclass(frozen=True, order=True)
class NamespacedName:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class EngineNote:
    """A fact the engine found while building (kind: path-missing, kustomize, undefined-variable, ...).

    Rules under build/ and substitution/ turn notes into findings.
    """

    kind: str
    message: str
    file: str = ""
    line: int = 0
    object: str = ""
    hint: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class KustomizationNode:
    """A Flux Kustomization of one cluster, as the engine found and built it."""

    key: NamespacedName
    cluster: str
    path: str  # spec.path, repository-relative, normalised without "./"
    body: dict[str, Any]  # the object as applied (after the parent's substitution)
    parent: NamespacedName | None  # the Kustomization whose output contains this one (None for the root)
    file: str = ""
    depends_on: list[NamespacedName] = field(default_factory=list)
    substitutions: dict[str, str] = field(default_factory=dict)  # resolved postBuild variables
    objects: list[RenderedObject] = field(default_factory=list)  # what this Kustomization applies
    built: bool = False  # False when the build failed or the source is not local
    inputs: list[str] = field(default_factory=list)  # repository-relative files read to build it
    line: int = 0
    synthetic: bool = False  # the stand-in root when no flux-system sync points at the cluster entry
    error: str = ""  # the build error (kustomize's own message) when built is False
    generated: bool = False  # spec.path had no kustomization.yaml: generated like the controller does
    notes: list[EngineNote] = field(default_factory=list)  # what the engine found while building it
    opaque_variables: list[str] = field(default_factory=list)  # variables from SOPS-encrypted Secrets

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.body.get("spec")
        return spec if isinstance(spec, dict) else {}


@dataclass
class HelmReleaseInfo:
    """A HelmRelease with its chart source resolved as far as the rendered tree allows."""

    key: NamespacedName
    cluster: str
    kustomization: str
    body: dict[str, Any]
    source_kind: str = ""  # OCIRepository | HelmRepository | GitRepository | HelmChart
    source: NamespacedName | None = None
    source_url: str = ""
    chart: str = ""
    version: str = ""  # pinned tag/semver/digest
    values: dict[str, Any] = field(default_factory=dict)  # spec.values merged with valuesFrom (when resolvable)
    file: str = ""
    release_name: str = ""  # spec.releaseName, else helm-controller's default (<targetNamespace>-<name> or name)
    release_namespace: str = ""  # spec.targetNamespace, else the HelmRelease's namespace
    chart_path: str = ""  # repository-relative chart folder/tgz when the chart source is this repository
    rendered: bool = False  # the chart was found (locally or via --chart-dir) and templated
    chart_file: str = ""  # where the rendered chart was read from
    chart_error: str = ""  # helm's message when the chart failed to template
    chart_skipped: str = ""  # why a found chart was not templated (e.g. helm not built)
    chart_approximate: bool = False  # the chart found is not built from the pinned release: results approximate
    unknown_values: list[str] = field(default_factory=list)  # values paths the chart never reads (nor defaults)
    values_files: list[str] = field(default_factory=list)  # spec.chart.spec.valuesFiles / the HelmChart's
    ignore_missing_values_files: bool = False


@dataclass
class ClusterRender:
    """Everything Flux would apply to one cluster."""

    cluster: str
    entry: str  # repository-relative entry path
    kustomizations: dict[NamespacedName, KustomizationNode] = field(default_factory=dict)
    helm_releases: dict[NamespacedName, HelmReleaseInfo] = field(default_factory=dict)
    notes: list[EngineNote] = field(default_factory=list)  # cluster-level engine facts (entry missing, ...)
    # objects that exist in the cluster without any Kustomization applying them: the sync flux-operator or
    # `flux bootstrap` creates, ExternalArtifacts of an ArtifactGenerator, what the repository's bootstrap applies,
    # objects declared in-cluster (config `in_cluster:`, --substitute-from). Rules resolve references to them.
    provided: list[RenderedObject] = field(default_factory=list)
    provided_crd_groups: list[str] = field(default_factory=list)  # API groups whose CRDs exist before Flux runs

    @property
    def objects(self) -> list[RenderedObject]:
        return [obj for node in self.kustomizations.values() for obj in node.objects]

    def find(self, group: str, kind: str) -> list[RenderedObject]:
        return [obj for obj in self.objects if obj.is_kind(group, kind)]

    def ordered_kustomizations(self) -> list[KustomizationNode]:
        """Parents before children, then by name: a deterministic order for reports."""
        def depth(node: KustomizationNode) -> int:
            level, parent = 0, node.parent
            while parent is not None and parent in self.kustomizations and level < 100:
                level, parent = level + 1, self.kustomizations[parent].parent
            return level

        return sorted(self.kustomizations.values(), key=lambda n: (depth(n), n.key))


@dataclass(frozen=True)
class ChartStatus:
    """How the HelmReleases' charts fared over the rendered clusters (for summaries and the board)."""

    releases: int  # HelmReleases in every cluster
    rendered: int  # of those, rendered with their chart
    charts: tuple[str, ...]  # distinct "<chart> <version>" rendered
    not_available: tuple[str, ...]  # distinct "<chart> <version>" not found locally (not rendered offline)
    approximate: tuple[str, ...]  # distinct "<chart> <version>" rendered from an approximate chart
    failed: tuple[str, ...]  # distinct "<chart> <version>" that failed to template

    def line(self) -> str:
        text = f"{self.rendered}/{self.releases} HelmRelease chart(s) rendered ({len(self.charts)} chart(s))"
        if self.approximate:
            text += f", approximate: {', '.join(self.approximate)}"
        if self.not_available:
            text += f", not available offline: {', '.join(self.not_available)}"
        return text


def chart_status(renders: dict[str, ClusterRender]) -> ChartStatus:
    releases = [info for render in renders.values() for info in render.helm_releases.values()]

    def name(info: HelmReleaseInfo) -> str:
        chart = info.chart_path or info.chart.rstrip("/").rsplit("/", 1)[-1] or "?"
        return f"{chart} {info.version}".strip()

    def distinct(items: list[HelmReleaseInfo]) -> tuple[str, ...]:
        return tuple(sorted({name(info) for info in items}))

    return ChartStatus(
        releases=len(releases), rendered=sum(info.rendered for info in releases),
        charts=distinct([i for i in releases if i.rendered]),
        not_available=distinct([i for i in releases if not i.rendered and not i.chart_error and not i.chart_file]),
        approximate=distinct([i for i in releases if i.rendered and i.chart_approximate]),
        failed=distinct([i for i in releases if i.chart_error]))
