"""`greenfield cluster create`: bare nodes (or the local control plane) to Flux reconciling from git.

Every phase is idempotent: it compares what the cluster has with what git wants and only acts on a
difference, so a second run reports "unchanged" phase by phase and a run killed anywhere converges
when re-run (or resumed with --from PHASE).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from greenfield.adapters import yamlio
from greenfield.adapters.charts import chart_identity
from greenfield.adapters.command import Command
from greenfield.adapters.gotools import FLEET_TOOLS, FLUX_CONTROLLER_TOOLS, GoTools
from greenfield.adapters.helm import Helm
from greenfield.adapters.kubeapi import KubeApi
from greenfield.app.inventory import load_inventory
from greenfield.app.local import (
    cluster_specs,
    default_control_plane,
    ensure_control_plane_tools,
    flux_wish,
    start_fleet,
    start_flux,
)
from greenfield.app.plan import write_evidence
from greenfield.app.standin_charts import build_standin, chart_version
from greenfield.app.validate import ValidateOptions, validate_repository
from greenfield.core import goyaml
from greenfield.core.bootstrap import (
    PHASE_STORY,
    PHASES,
    Definitions,
    PhasePlan,
    PlanError,
    ReleasePlan,
    TargetKind,
    build_plan,
    parse_definitions,
    reconcile_order,
    resolve_kustomization,
    resolve_release,
)
from greenfield.core.crds import (
    BUILTIN_GROUPS,
    CRD_SOURCE_LABEL,
    check_crd_bundle,
    crd_from_schemas,
    crd_groups,
    custom_kinds,
)
from greenfield.core.findings import Severity
from greenfield.core.inventory import Inventory
from greenfield.core.model import ClusterRender, RenderedObject
from greenfield.errors import ClusterError, InputError

DEFINITIONS = "bootstrap/bootstrap.yaml"
SPEC_HASH = "greenfield.io/spec-hash"
Progress = Callable[[str, str], None]  # (phase, message)
CrdSource = Literal["schemas", "charts"]


@dataclass
class CreateOptions:
    target: TargetKind = "local"
    dry_run: bool = False
    from_phase: str | None = None
    crd_source: CrdSource | None = None  # default: schemas on the local target, charts on Talos
    chart_dir: Path | None = None  # local charts (<name>-<version>/ or .tgz); local target: stand-ins
    schema_dirs: list[Path] = field(default_factory=list)
    skip_validate: bool = False
    timeout_s: float = 300.0
    # the flux-system GitRepository's URL on the cluster (default: git's; with local Flux: the local git server)
    git_url: str | None = None


@dataclass
class PhaseResult:
    name: str
    story: str
    status: str  # done | unchanged | skipped | planned | failed
    detail: str = ""
    seconds: float = 0.0
    changes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"phase": self.name, "story": self.story, "status": self.status, "detail": self.detail,
                "seconds": round(self.seconds, 2), "changes": self.changes}


@dataclass
class CreateReport:
    cluster: str
    target: str
    phases: list[PhaseResult]
    plan: list[PhasePlan] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # server-side dry-run rejections

    @property
    def ok(self) -> bool:
        return all(p.status != "failed" for p in self.phases)

    @property
    def changed(self) -> bool:
        return any(p.status == "done" for p in self.phases)


def load_definitions(repo: Path) -> Definitions:
    data = yamlio.load_file(repo / DEFINITIONS, DEFINITIONS)
    definitions, problems = parse_definitions(data)
    if definitions is None:
        raise InputError("invalid bootstrap definitions: " + "; ".join(problems), path=DEFINITIONS)
    return definitions


def schema_dirs(options: CreateOptions) -> list[Path]:
    if options.schema_dirs:
        return options.schema_dirs
    configured = os.environ.get("GREENFIELD_SCHEMAS")
    return [Path(configured)] if configured else []


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
            found.setdefault((str(spec.get("group", "")), str(names.get("kind", ""))), _clean(body))
    return found


def _dump(objects: list[dict[str, Any]]) -> str:
    return "".join("---\n" + goyaml.dump(obj) for obj in objects)


def _clean(obj: dict[str, Any]) -> dict[str, Any]:
    """What we send: no status (the API server owns it)."""
    return {key: value for key, value in obj.items() if key != "status"}


FLUX_NAME_LABEL = "kustomize.toolkit.fluxcd.io/name"
FLUX_NAMESPACE_LABEL = "kustomize.toolkit.fluxcd.io/namespace"


def _flux_labelled(obj: dict[str, Any], namespace: str, name: str) -> dict[str, Any]:
    """The labels kustomize-controller puts on what it applies (snapshots select on them)."""
    metadata = dict(obj.get("metadata") or {})
    metadata["labels"] = {**(metadata.get("labels") or {}), FLUX_NAME_LABEL: name, FLUX_NAMESPACE_LABEL: namespace}
    return {**obj, "metadata": metadata}


def _with_git_url(obj: dict[str, Any], url: str | None) -> dict[str, Any]:
    """The sync GitRepository pointed at another URL (a local git server needs no credentials: no secretRef)."""
    if not url or obj.get("kind") != "GitRepository" or not str(obj.get("apiVersion", "")).startswith("source."):
        return obj
    spec = {key: value for key, value in (obj.get("spec") or {}).items() if key != "secretRef"}
    return {**obj, "spec": {**spec, "url": url}}


def point_sync_at(objects: list[dict[str, Any]], url: str | None) -> list[dict[str, Any]]:
    """The sync objects with the GitRepository at `url`, and each Kustomization reconciling from it patching
    the same URL into what it applies: the root Kustomization re-applies flux-system/ from git, which would
    put git's URL back (its spec.patches is not in git, so Flux's own apply leaves the field to greenfield)."""
    if not url:
        return objects
    repositories = [o for o in objects if o.get("kind") == "GitRepository"
                    and str(o.get("apiVersion", "")).startswith("source.toolkit.fluxcd.io/")]
    result = []
    for obj in objects:
        obj = _with_git_url(obj, url)
        spec = obj.get("spec") or {}
        source = spec.get("sourceRef") or {}
        if obj.get("kind") == "Kustomization" and source.get("kind") == "GitRepository":
            meta = obj.get("metadata") or {}
            for repository in repositories:
                rmeta = repository.get("metadata") or {}
                if rmeta.get("name") != source.get("name") or rmeta.get("namespace") != source.get(
                        "namespace", meta.get("namespace")):
                    continue
                patch: dict[str, Any] = {"apiVersion": repository["apiVersion"], "kind": "GitRepository",
                                         "metadata": {"name": rmeta.get("name"), "namespace": rmeta.get("namespace")},
                                         "spec": {"url": url}}
                if "secretRef" in (repository.get("spec") or {}):
                    patch["spec"]["secretRef"] = None
                patches = [*(spec.get("patches") or []),
                           {"target": {"kind": "GitRepository", "name": rmeta.get("name"),
                                       "namespace": rmeta.get("namespace")},
                            "patch": goyaml.dump(patch)}]
                obj = {**obj, "spec": {**spec, "patches": patches}}
        result.append(obj)
    return result


def _optional_path(wish: dict[str, object] | None, key: str) -> Path | None:
    value = (wish or {}).get(key)
    return Path(str(value)) if value else None


def _diff(api: KubeApi, manifests: str) -> bool:
    """True when applying would change the cluster (kubectl diff --server-side exits 1)."""
    command = api.command(["diff", "--server-side", "--field-manager=greenfield", "--force-conflicts", "-f", "-"],
                          input=manifests, allowed_exit_codes=frozenset({0, 1}), timeout=600)
    return command.run().returncode == 1


def _dry_run_rejections(api: KubeApi, objects: list[dict[str, Any]]) -> list[str]:
    """Server-side dry-run of every object; the API server's rejections, one line each."""
    command = api.command(["apply", "--server-side", "--dry-run=server", "--field-manager=greenfield",
                           "--force-conflicts", "-f", "-"], input=_dump(objects),
                          allowed_exit_codes=frozenset({0, 1}), timeout=900)
    result = command.run()
    return [line.strip() for line in result.stderr.splitlines() if line.strip().startswith("Error")]


class Bootstrap:
    def __init__(self, repo: Path, cluster: str, options: CreateOptions, progress: Progress | None = None) -> None:
        self.repo = repo.resolve()
        self.cluster = cluster
        self.options = options
        self.progress = progress or (lambda _phase, _message: None)
        self.inventory: Inventory = load_inventory(self.repo / "platform.yaml", "platform.yaml")
        if cluster not in self.inventory.enabled_clusters():
            raise InputError(f"unknown or disabled cluster {cluster!r}", path="platform.yaml",
                             hint="one of: " + ", ".join(self.inventory.enabled_clusters()))
        self.definitions = load_definitions(self.repo)
        self.state_dir = self.repo / ".greenfield" / "bootstrap"
        self.helm_home = self.repo / ".greenfield" / "helm"
        self.tools = GoTools()
        self.crd_source: CrdSource = options.crd_source or ("schemas" if options.target == "local" else "charts")
        self._render: ClusterRender | None = None
        self._api: KubeApi | None = None

    # --- shared state ------------------------------------------------------------------------------
    def render(self) -> ClusterRender:
        if self._render is None:
            report = validate_repository(self.repo, [self.cluster], ValidateOptions(schema=False, only_rules=["build"]))
            self._render = report.renders[self.cluster]
        return self._render

    def api(self) -> KubeApi:
        if self._api is None:
            if self.options.target == "local":
                self._api = default_control_plane(self.repo).api(self.cluster, timeout=self.options.timeout_s)
            else:
                kubeconfig = self.repo / "talos" / "generated" / self.cluster / "kubeconfig"
                self._api = KubeApi(kubeconfig, None, timeout=self.options.timeout_s)
        return self._api

    def target_description(self) -> str:
        if self.options.target == "local":
            state = default_control_plane(self.repo).load_state(self.cluster)
            return f"local control plane {state.server if state else '(not running)'}"
        nodes = ", ".join(str(n.ip) for n in self.inventory.clusters[self.cluster].nodes)
        return f"talos nodes {nodes}"

    def state_file(self) -> Path:
        return self.state_dir / f"{self.cluster}-{self.options.target}.json"

    def _record(self, phase: str) -> None:
        path = self.state_file()
        data = json.loads(path.read_text()) if path.exists() else {"completed": []}
        if phase not in data["completed"]:
            data["completed"].append(phase)
        data["updated"] = dt.datetime.now(dt.UTC).isoformat()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    def completed(self) -> list[str]:
        path = self.state_file()
        return list(json.loads(path.read_text()).get("completed", [])) if path.exists() else []

    # --- plan ----------------------------------------------------------------------------------------
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

    def plan(self) -> list[PhasePlan]:
        try:
            return build_plan(self.inventory, self.cluster, self.render(), self.definitions, self.options.target,
                              self.crd_counts(), self.crd_source)
        except PlanError as error:
            raise InputError(str(error), path=DEFINITIONS, hint="bootstrap names GitOps objects of this cluster") from error

    # --- phases --------------------------------------------------------------------------------------
    def phase_preflight(self) -> PhaseResult:
        result = PhaseResult("preflight", PHASE_STORY["preflight"], "done")
        needed = ["helm"] + (["etcd", "kube-apiserver", "kube-controller-manager"] if self.options.target == "local"
                             else ["talosctl"])
        if self.local_flux() is not None:
            needed += [*FLUX_CONTROLLER_TOOLS, *FLEET_TOOLS]
        self.progress("preflight", "tools: " + ", ".join(needed))
        self.tools.ensure(needed, lambda name, status: self.progress(
            "preflight", f"building {name} (first use)" if status is None else f"{name} ready"))
        if not self.options.skip_validate:
            self.progress("preflight", f"greenfield validate --cluster {self.cluster}")
            report = validate_repository(self.repo, [self.cluster])
            self._render = report.renders[self.cluster]
            errors = [f for f in report.findings if f.severity == Severity.ERROR]
            if errors:
                first = errors[0]
                raise InputError(f"{len(errors)} validation error(s); first: {first.rule} {first.message}",
                                 path=first.file or self.cluster,
                                 hint=f"run `greenfield validate --cluster {self.cluster}` (or --skip-validate)")
        if self.options.target == "talos":
            for node in self.inventory.clusters[self.cluster].nodes:
                try:
                    with socket.create_connection((str(node.ip), 50000), timeout=5):
                        pass
                except OSError as error:
                    raise ClusterError(f"node {node.name} ({node.ip}) is not reachable on the Talos API: {error}",
                                       path="platform.yaml", hint="boot the node from the Talos image first") from error
        result.detail = "tools present, inventory valid" + ("" if self.options.skip_validate else ", validation clean")
        result.status = "unchanged"
        return result

    def phase_talos(self) -> PhaseResult:
        result = PhaseResult("talos", PHASE_STORY["talos"], "unchanged")
        if self.options.target == "local":
            plane = default_control_plane(self.repo)
            ensure_control_plane_tools(plane.tools)
            steps: list[str] = []
            plane.up(cluster_specs(self.inventory, [self.cluster]), on_step=lambda _c, step: steps.append(step))
            if steps != ["already running"]:
                result.status, result.changes = "done", [f"started {', '.join(steps)}"]
            result.detail = "local control plane " + ("started" if result.status == "done" else "already running")
            return result
        return self._talos_apply(result)

    def _talos_apply(self, result: PhaseResult) -> PhaseResult:
        from greenfield.app.talos import generate

        talosctl = str(self.tools.binary("talosctl"))
        from greenfield.adapters.age import default_key_file

        output = generate(self.repo, self.inventory, self.cluster, talosctl=talosctl, key_file=default_key_file(),
                          progress=lambda message: self.progress("talos", message))
        talosconfig = str(output.talosconfig)
        nodes = self.inventory.clusters[self.cluster].nodes
        first = nodes[0]
        healthy = Command([talosctl, "--talosconfig", talosconfig, "--nodes", str(first.ip), "--endpoints",
                           str(first.ip), "etcd", "status"], timeout=30, allowed_exit_codes=frozenset({0, 1})).run()
        if healthy.returncode == 0 and healthy.stdout.count("\n") > len(nodes) // 2:
            result.detail = "etcd healthy with quorum: apply-config and bootstrap skipped"
            return result
        for node in nodes:
            self.progress("talos", f"apply-config {node.name}")
            Command([talosctl, "apply-config", "--insecure", "--nodes", str(node.ip), "--file",
                     str(output.configs[node.name])], timeout=120).run()
            result.changes.append(f"applied config to {node.name}")
        self.progress("talos", f"bootstrap etcd on {first.name}")
        Command([talosctl, "--talosconfig", talosconfig, "--nodes", str(first.ip), "--endpoints", str(first.ip),
                 "bootstrap"], timeout=120).run()
        result.status, result.detail = "done", f"etcd bootstrapped on {first.name}"
        return result

    def phase_api(self) -> PhaseResult:
        result = PhaseResult("api", PHASE_STORY["api"], "unchanged")
        if self.options.target == "talos":
            talosconfig = self.repo / "talos" / "generated" / self.cluster / "talosconfig"
            first = self.inventory.clusters[self.cluster].nodes[0]
            kubeconfig = self.repo / "talos" / "generated" / self.cluster / "kubeconfig"
            Command([str(self.tools.binary("talosctl")), "--talosconfig", str(talosconfig), "--nodes", str(first.ip),
                     "--endpoints", str(first.ip), "kubeconfig", str(kubeconfig), "--force"], timeout=120).run()
        deadline = time.monotonic() + self.options.timeout_s
        while True:
            try:
                if self.api().raw("/readyz").strip() == "ok":
                    break
            except ClusterError:
                pass
            if time.monotonic() > deadline:
                raise ClusterError("the API server did not become ready", path=self.cluster,
                                   hint="check the control-plane logs (greenfield local status)")
            time.sleep(1)
        version = self.api().server_version().get("gitVersion", "?")
        result.detail = f"API ready ({version}), kubeconfig {self.api().kubeconfig}"
        return result

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
            self.api().apply(_dump(changed), server_side=True, force_conflicts=True)
            result.status, result.changes = "done", [f"applied {crd['metadata']['name']}" for crd in changed]
        if bundle:
            self.api().run(["wait", "--for=condition=Established", "--timeout=120s",
                            *(f"crd/{crd['metadata']['name']}" for crd in bundle)], timeout=180)
        groups = crd_groups(bundle)
        result.detail = (f"{len(bundle)} CRDs Established ({self.crd_source}) in {len(groups)} groups: "
                         + ", ".join(f"{g}={n}" for g, n in sorted(groups.items())))
        return result

    def _helm(self) -> Helm:
        api = self.api()
        return Helm(str(self.tools.binary("helm")), api.kubeconfig, api.context)

    def chart_folders(self) -> list[Path]:
        """Where real charts are: --chart-dir, else the chart folders platform.yaml names (that exist)."""
        if self.options.chart_dir is not None:
            return [self.options.chart_dir]
        folders = [Path(os.path.normpath(self.repo / folder.path)) for folder in self.inventory.chart_folders()]
        return [folder for folder in folders if folder.is_dir()]

    def _real_chart(self, chart: str, version: str) -> Path | None:
        for folder in self.chart_folders():
            for name in dict.fromkeys([f"{chart}-{version}", f"{chart}-{chart_version(version)}"]):
                for candidate in (folder / name, folder / f"{name}.tgz"):
                    if candidate.exists():
                        return candidate
            if (folder / chart).is_dir() and chart_identity(folder / chart).endswith(f"-{chart_version(version)}"):
                return folder / chart
        return None

    def _chart(self, chart: str, version: str, source_url: str) -> str:
        """The chart to install: the real one from a chart folder; on the local target (no registry) a stand-in
        only for a chart that is not available; otherwise the registry's."""
        real = self._real_chart(chart, version)
        if real is not None:
            return str(real)
        if self.options.chart_dir is not None:
            raise InputError(f"chart {chart} {version} not found", path=str(self.options.chart_dir),
                             hint=f"add {chart}-{chart_version(version)}/ or .tgz")
        if self.options.target == "local":
            folder = self.repo / ".greenfield" / "stand-in-charts"
            return str(build_standin(folder, chart, version))
        if source_url.startswith("oci://"):
            return source_url if source_url.rstrip("/").endswith("/" + chart) else f"{source_url.rstrip('/')}/{chart}"
        return f"{source_url.rstrip('/')}/{chart}-{chart_version(version)}.tgz"

    def _wanted_chart(self, chart: str, version: str) -> str:
        """`<name>-<version>` as helm lists the release once installed (the real chart's own Chart.yaml)."""
        real = self._real_chart(chart, version)
        return chart_identity(real) if real is not None else f"{chart}-{chart_version(version)}"

    def _release_namespaces(self, release: ReleasePlan) -> list[dict[str, Any]]:
        """The Namespaces (as git has them, PSA labels and all) that the release's chart puts objects in but does
        not create: in GitOps a parent Kustomization applied them first; here phase 2 does, before helm."""
        render = self.render()
        key = release.ref.removeprefix("HelmRelease/")
        used = {release.namespace} | {obj.namespace for obj in render.objects if obj.release == key and obj.namespace}
        created = {obj.name for obj in render.objects if obj.release == key and obj.kind == "Namespace"}
        wanted = []
        for obj in render.objects:
            if obj.kind == "Namespace" and not obj.release and obj.name in used - created:
                owner = obj.kustomization.split("/", 1) if "/" in obj.kustomization else ["flux-system", ""]
                body = _clean(obj.body)
                wanted.append(_flux_labelled(body, owner[0], owner[1]) if owner[1] else body)
        return sorted(wanted, key=lambda body: str(body["metadata"]["name"]))

    def standin_releases(self) -> list[str]:
        """Core releases whose chart is in no chart folder (stand-ins on the local target)."""
        missing = []
        for ref in self.definitions.core:
            if ref.helmrelease:
                release = resolve_release(self.render(), ref)
                if self._real_chart(release.chart, release.version) is None:
                    missing.append(f"{release.chart} {release.version}")
        return missing

    def phase_core(self) -> PhaseResult:
        result = PhaseResult("core", PHASE_STORY["core"], "unchanged")
        helm = self._helm()
        installed = []
        for ref in self.definitions.core:
            if ref.helmrelease:
                release = resolve_release(self.render(), ref)
                current = helm.release(release.release_name, release.namespace, home=self.helm_home)
                wanted_chart = self._wanted_chart(release.chart, release.version)
                if (current and current["chart"] == wanted_chart and current["values"] == release.values
                        and current["status"] == "deployed"):
                    installed.append(f"{release.release_name}={release.version} (unchanged)")
                    continue
                if self._apply_objects("core", self._release_namespaces(release)):
                    result.status = "done"
                self.progress("core", f"helm upgrade --install {release.release_name} {release.version}")
                chart = self._chart(release.chart, release.version, release.source_url)
                # with no CRDs in this phase: phase 0 put them in place, the post-renderer drops any the chart templates
                # the local target runs no pods (no kubelet): a chart's hook Jobs (cert-manager's startupapicheck)
                # would never complete (helm would wait for them until it times out), and its admission webhooks
                # would have nothing to serve them (every request they match would fail)
                local = self.options.target == "local"
                helm.upgrade_install(release.release_name, chart, release.version, release.namespace, release.values,
                                     home=self.helm_home, wait=not local, hooks=not local, webhooks=not local)
                result.status = "done"
                result.changes.append(f"installed {release.release_name} {release.version}")
                installed.append(f"{release.release_name}={release.version}")
            else:
                node = resolve_kustomization(self.render(), ref)
                changed = self._apply_objects("core", [_flux_labelled(_clean(obj.body), node.key.namespace,
                                                                      node.key.name) for obj in node.objects])
                if changed:
                    result.status = "done"
                    result.changes.append(f"applied {ref}")
                installed.append(f"{ref} ({len(node.objects)} objects)")
        result.detail = "; ".join(installed)
        return result

    def _apply_objects(self, phase: str, objects: list[dict[str, Any]]) -> bool:
        namespaces = sorted({str((o.get("metadata") or {}).get("namespace")) for o in objects
                             if (o.get("metadata") or {}).get("namespace")})
        for namespace in namespaces:
            if not self.api().exists("namespace", namespace):
                self.api().apply(_dump([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}]),
                                 server_side=True)
        manifests = _dump([_clean(o) for o in objects])
        if not objects or not _diff(self.api(), manifests):
            return False
        self.progress(phase, f"server-side apply {len(objects)} objects")
        self.api().apply(manifests, server_side=True, force_conflicts=True)
        return True

    def sync_objects(self) -> list[RenderedObject]:
        path = self.definitions.sync_path(self.cluster)
        return [obj for node in self.render().kustomizations.values() if node.parent is None
                for obj in node.objects if obj.file.startswith(path)]

    def _labelled(self, obj: RenderedObject) -> dict[str, Any]:
        """An object as its Flux Kustomization applies it (same labels whichever phase applies it)."""
        namespace, _, name = obj.kustomization.partition("/")
        return _flux_labelled(_clean(obj.body), namespace, name) if name else _clean(obj.body)

    def phase_sync(self) -> PhaseResult:
        result = PhaseResult("sync", PHASE_STORY["sync"], "unchanged")
        objects = self.sync_objects()
        if not objects:
            raise InputError("no flux-system sync objects rendered", path=self.definitions.sync_path(self.cluster),
                             hint="the cluster entry needs flux-system/ with the GitRepository and Kustomization")
        git_url = self.options.git_url
        wish = self.local_flux()
        mirror: tuple[str, list[str]] | None = None
        if wish is not None:  # Flux controllers run on the local target: start them and the fleet (idempotent)
            plane = default_control_plane(self.repo)
            say = lambda _c, step: self.progress("sync", step)  # noqa: E731
            seeded = start_fleet(plane, self.inventory, self.cluster, wish, on_step=say)
            info = start_flux(self.repo, plane, self.cluster, _optional_path(wish, "charts"), on_step=say)
            git_url = git_url or info.git_url
            if seeded is not None:
                mirror = (seeded.address, seeded.charts)
        bodies = point_sync_at([self._labelled(o) for o in objects], git_url)
        if mirror is not None:
            bodies = self._with_mirror(bodies, *mirror)
        if self._apply_objects("sync", bodies):
            result.status, result.changes = "done", [str(o.id) for o in objects]
        result.detail = "Flux sync applied: " + ", ".join(str(o.id) for o in objects)
        if git_url:
            result.detail += f" (GitRepository url {git_url})"
        return result

    def _with_mirror(self, bodies: list[dict[str, Any]], registry: str, charts: list[str]) -> list[dict[str, Any]]:
        """The root Kustomization with `greenfield mirror`'s patches: the chart sources point at the registry."""
        from greenfield.app.mirror import DEFAULT_PATH
        from greenfield.core.mirror import plan_mirror, with_root_patches

        plan = plan_mirror(self.render(), f"{registry}/{DEFAULT_PATH}", charts)
        self.progress("sync", f"mirror: {len(plan.rewrites)} chart sources point at oci://{registry}/{DEFAULT_PATH}")
        return with_root_patches(bodies, plan)

    def local_flux(self) -> dict[str, object] | None:
        """The local target's Flux wish (`greenfield local up --with-flux`), None without it or on Talos."""
        return flux_wish(self.repo, self.cluster) if self.options.target == "local" else None

    def phase_reconcile(self) -> tuple[PhaseResult, list[str]]:
        result = PhaseResult("reconcile", PHASE_STORY["reconcile"], "unchanged")
        order = reconcile_order(self.render())
        # what kustomize-controller applies: a chart's objects are helm-controller's (installed from the HelmRelease)
        objects = [_flux_labelled(_clean(obj.body), node.key.namespace, node.key.name)
                   for node in order for obj in node.objects if not obj.chart]
        namespaces = [o for o in objects if o.get("kind") == "Namespace"]
        rest = [o for o in objects if o.get("kind") != "Namespace"]
        if namespaces and self._apply_objects("reconcile", namespaces):
            result.status = "done"
            result.changes.append(f"{len(namespaces)} namespaces")
        self.progress("reconcile", f"server-side dry-run of {len(rest)} objects")
        rejected = _dry_run_rejections(self.api(), rest)
        if rejected:
            result.status, result.detail = "failed", f"{len(rejected)} object(s) rejected by the API server"
            return result, rejected
        if self._apply_objects("reconcile", rest):
            result.status = "done"
            result.changes.append(f"{len(rest)} objects of {len(order)} Kustomizations")
        result.detail = f"{len(objects)} objects of {len(order)} Kustomizations accepted and applied"
        return result, []

    # --- run -----------------------------------------------------------------------------------------
    def phases(self) -> list[str]:
        # greenfield's own reconcile stands in for Flux on a local target without controllers; with them Flux reconciles
        names = [p for p in PHASES if p != "reconcile" or (self.options.target == "local" and self.local_flux() is None)]
        if self.options.from_phase:
            if self.options.from_phase not in names:
                raise InputError(f"unknown phase {self.options.from_phase!r}", path="--from",
                                 hint="one of: " + ", ".join(names))
            start = names.index(self.options.from_phase)
            earlier = [p for p in names[:start] if p != "preflight"]
            missing = [p for p in earlier if p not in self.completed()]
            if missing:
                raise InputError(f"cannot resume at {self.options.from_phase}: {', '.join(missing)} never completed",
                                 path=str(self.state_file().relative_to(self.repo)),
                                 hint="run without --from; completed phases are detected and skipped")
            names = names[start:]
        return names

    def run(self) -> CreateReport:
        report = CreateReport(self.cluster, self.options.target, [])
        if self.options.dry_run:
            report.plan = self.plan()
            report.phases = [PhaseResult(p.name, p.story, "planned", f"{len(p.actions)} actions") for p in report.plan]
            return report
        handlers: dict[str, Callable[[], PhaseResult]] = {
            "preflight": self.phase_preflight, "talos": self.phase_talos, "api": self.phase_api,
            "crds": self.phase_crds, "core": self.phase_core, "sync": self.phase_sync}
        for name in self.phases():
            started = time.monotonic()
            self.progress(name, "start")
            try:
                if name == "reconcile":
                    result, report.rejected = self.phase_reconcile()
                else:
                    result = handlers[name]()
            except (InputError, ClusterError) as error:
                result = PhaseResult(name, PHASE_STORY[name], "failed", error.render())
            except Exception as error:  # a failure names the phase; the cause stays attached for --debug
                result = PhaseResult(name, PHASE_STORY[name], "failed", f"{type(error).__name__}: {error}")
            result.seconds = time.monotonic() - started
            report.phases.append(result)
            self.progress(name, result.status)
            if result.status == "failed":
                break
            self._record(name)
        self.write_evidence(report)
        return report

    def write_evidence(self, report: CreateReport) -> None:
        target = self.target_description()
        by_story: dict[str, list[dict[str, str]]] = {}
        for phase in report.phases:
            result = "fail" if phase.status == "failed" else "pass"
            by_story.setdefault(phase.story, []).append(
                {"name": f"phase {phase.name}", "result": result, "detail": f"{phase.status}: {phase.detail}"[:500]})
        if self.options.target == "local" and "STORY-BOOT-TALOS" in by_story:
            by_story["STORY-BOOT-TALOS"].append({"name": "Talos nodes configured and etcd bootstrapped",
                                                 "result": "skipped",
                                                 "detail": "the local control plane has no Talos nodes"})
        if any(phase.name == "reconcile" for phase in report.phases) and "STORY-BOOT-CORE" in by_story:
            # greenfield applied the desired state itself: the Flux handover is not proven on this target
            by_story["STORY-BOOT-CORE"].append({"name": "Flux took over from git", "result": "skipped",
                                                "detail": "no Flux controllers on this target (local up --with-flux)"})
        standins = self.standin_releases() if self.options.target == "local" else []
        if standins and "STORY-BOOT-CORE" in by_story:
            by_story["STORY-BOOT-CORE"].append({"name": "upstream charts installed", "result": "skipped",
                                                "detail": "stand-in charts on the local target for "
                                                          f"{', '.join(standins)} (not in a chart folder)"})
        for rejection in report.rejected[:50]:
            by_story.setdefault("STORY-BOOT-CORE", []).append(
                {"name": "server-side dry-run", "result": "fail", "detail": rejection[:500]})
        for story, checks in by_story.items():
            write_evidence(self.repo, story, self.cluster, target, checks)
