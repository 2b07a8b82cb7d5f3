"""Bootstrap definitions and the phase plan (stories 42-44). Pure: the render and inventory come in.

Phases, in the order the stories fix: preflight → talos → api → crds (phase 0) → core (phase 2) →
sync (Flux handover) → reconcile (local target only: greenfield applies the desired state itself,
because no Flux controllers run there unless `local up --with-flux`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from greenfield.core.inventory import Inventory
from greenfield.core.model import ClusterRender, HelmReleaseInfo, KustomizationNode, NamespacedName
from greenfield.core.talos import endpoint, node_order

PHASES = ("preflight", "talos", "api", "crds", "core", "sync", "reconcile")
PHASE_STORY = {"preflight": "STORY-BOOT-TALOS", "talos": "STORY-BOOT-TALOS", "api": "STORY-BOOT-TALOS",
               "crds": "STORY-BOOT-CRDS", "core": "STORY-BOOT-CORE", "sync": "STORY-BOOT-CORE",
               "reconcile": "STORY-BOOT-CORE"}
TargetKind = Literal["local", "talos"]


class Ref(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    helmrelease: str | None = Field(None, pattern=r"^[a-z0-9-]+/[a-z0-9-]+$")
    kustomization: str | None = Field(None, pattern=r"^[a-z0-9-]+/[a-z0-9-]+$")
    groups: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one(self) -> Ref:
        if (self.helmrelease is None) == (self.kustomization is None):
            raise ValueError("name exactly one of helmrelease or kustomization")
        return self

    @property
    def key(self) -> NamespacedName:
        namespace, name = str(self.helmrelease or self.kustomization).split("/")
        return NamespacedName(namespace, name)

    def __str__(self) -> str:
        return f"HelmRelease/{self.helmrelease}" if self.helmrelease else f"Kustomization/{self.kustomization}"


class Definitions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    crds: list[Ref]
    core: list[Ref] = Field(min_length=1)
    sync: str

    def sync_path(self, cluster: str) -> str:
        return self.sync.replace("${CLUSTER}", cluster)


def parse_definitions(data: Any) -> tuple[Definitions | None, list[str]]:
    try:
        return Definitions.model_validate(data), []
    except ValidationError as error:
        return None, [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]


@dataclass
class Action:
    description: str
    command: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)


@dataclass
class PhasePlan:
    name: str
    story: str
    actions: list[Action] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReleasePlan:
    """A HelmRelease phase 2 installs, exactly as Flux will."""

    ref: str
    release_name: str
    namespace: str
    chart: str
    version: str
    source_url: str
    values: dict[str, Any]


class PlanError(ValueError):
    """The definitions name something the cluster's render does not have."""


def release_name(info: HelmReleaseInfo) -> str:
    spec = info.body.get("spec") or {}
    return str(spec.get("releaseName") or info.key.name)


def release_namespace(info: HelmReleaseInfo) -> str:
    spec = info.body.get("spec") or {}
    return str(spec.get("targetNamespace") or info.key.namespace)


def resolve_release(render: ClusterRender, ref: Ref) -> ReleasePlan:
    info = render.helm_releases.get(ref.key)
    if info is None:
        raise PlanError(f"{ref} is not rendered on cluster {render.cluster}")
    if not info.chart or not info.version:
        raise PlanError(f"{ref}: chart or version unresolved (source {info.source_kind} {info.source})")
    return ReleasePlan(str(ref), release_name(info), release_namespace(info), info.chart, info.version,
                       info.source_url, info.values)


def resolve_kustomization(render: ClusterRender, ref: Ref) -> KustomizationNode:
    node = render.kustomizations.get(ref.key)
    if node is None:
        raise PlanError(f"{ref} is not rendered on cluster {render.cluster}")
    return node


def reconcile_order(render: ClusterRender) -> list[KustomizationNode]:
    """Kustomizations in an order Flux could apply them: parents and dependencies first."""
    nodes = render.kustomizations
    done: list[NamespacedName] = []
    visiting: set[NamespacedName] = set()

    def visit(key: NamespacedName) -> None:
        if key in done or key not in nodes or key in visiting:
            return
        visiting.add(key)
        node = nodes[key]
        if node.parent is not None:
            visit(node.parent)
        for dependency in node.depends_on:
            visit(dependency)
        visiting.discard(key)
        done.append(key)

    for key in sorted(nodes):
        visit(key)
    return [nodes[key] for key in done]


def build_plan(inventory: Inventory, cluster: str, render: ClusterRender, definitions: Definitions,
               target: TargetKind, crd_counts: dict[str, int], crd_source: str) -> list[PhasePlan]:
    spec = inventory.clusters[cluster]
    plan: list[PhasePlan] = []
    preflight = PhasePlan("preflight", PHASE_STORY["preflight"], [
        Action("inventory valid (greenfield inventory check)"),
        Action(f"greenfield validate --cluster {cluster}: no errors"),
        Action("tools present: " + ("kubectl, helm, etcd, kube-apiserver, kube-controller-manager" if target == "local"
                                    else "kubectl, helm, talosctl")),
    ])
    if target == "talos":
        preflight.actions.append(Action("nodes reachable on the Talos API (TCP 50000)",
                                        objects=[f"{m.name} {m.ip}" for m in spec.nodes]))
    plan.append(preflight)
    talos = PhasePlan("talos", PHASE_STORY["talos"])
    order = node_order(inventory, cluster)
    if target == "talos":
        talos.actions.append(Action("generate per-node configs", ["greenfield", "talos", "gen", cluster]))
        for machine in order:
            talos.actions.append(Action(f"apply-config {machine.name} ({machine.role})",
                                        ["talosctl", "apply-config", "--insecure", "--nodes", str(machine.ip),
                                         "--file", f"talos/generated/{cluster}/{machine.name}.yaml"]))
        first = order[0]
        talos.actions.append(Action(f"bootstrap etcd on {first.name} unless etcd is healthy with quorum",
                                    ["talosctl", "bootstrap", "--nodes", str(first.ip), "--endpoints", str(first.ip)]))
    else:
        talos.actions.append(Action("local control plane: etcd + kube-apiserver + kube-controller-manager",
                                    ["greenfield", "local", "up", "--cluster", cluster]))
    talos.summary = {"node_order": [m.name for m in order], "target": target}
    plan.append(talos)
    api = PhasePlan("api", PHASE_STORY["api"], [Action("wait for /readyz and write the kubeconfig",
                                                        objects=[endpoint(spec) if target == "talos" else "127.0.0.1"])])
    if target == "talos":
        api.actions.insert(0, Action("kubeconfig", ["talosctl", "kubeconfig", "--nodes", str(order[0].ip)]))
    plan.append(api)

    crds = PhasePlan("crds", PHASE_STORY["crds"])
    for ref in definitions.crds:
        if ref.helmrelease:
            release = resolve_release(render, ref)
            source = f"chart {release.chart}@{release.version} ({release.source_url})"
        else:
            owner = resolve_kustomization(render, ref)
            source = f"Kustomization {ref.key} ({owner.path or (owner.spec.get('sourceRef') or {}).get('name')})"
        crds.actions.append(Action(f"CRDs of {', '.join(ref.groups)} from {source}"))
    crds.actions.append(Action(f"server-side apply the bundle ({crd_source}), wait until Established"))
    crds.summary = {"source": crd_source, "crds_per_group": dict(sorted(crd_counts.items())),
                    "total": sum(crd_counts.values())}
    plan.append(crds)

    core = PhasePlan("core", PHASE_STORY["core"])
    releases = []
    for ref in definitions.core:
        if ref.helmrelease:
            release = resolve_release(render, ref)
            releases.append({"release": release.release_name, "namespace": release.namespace,
                             "chart": release.chart, "version": release.version, "source": release.source_url})
            core.actions.append(Action(
                f"helm upgrade --install {release.release_name} ({release.chart} {release.version}) "
                f"with the values of {ref}, CRDs stripped",
                ["helm", "upgrade", "--install", release.release_name, release.chart, "--version", release.version,
                 "--namespace", release.namespace, "--skip-crds"]))
        else:
            objects = [str(obj.id) for obj in resolve_kustomization(render, ref).objects]
            core.actions.append(Action(f"server-side apply {ref} ({len(objects)} objects)", objects=objects))
    core.summary = {"releases": releases}
    plan.append(core)

    sync_path = definitions.sync_path(cluster)
    root = [node for node in render.kustomizations.values() if node.parent is None]
    sync_objects = [str(obj.id) for node in root for obj in node.objects
                    if obj.file.startswith(sync_path)]
    plan.append(PhasePlan("sync", PHASE_STORY["sync"], [Action(f"server-side apply {sync_path}",
                                                                objects=sync_objects)]))
    if target == "local":
        order_names = [str(node.key) for node in reconcile_order(render)]
        total = sum(len(node.objects) for node in render.kustomizations.values())
        plan.append(PhasePlan("reconcile", PHASE_STORY["reconcile"], [
            Action(f"server-side dry-run then apply {total} objects of {len(order_names)} Kustomizations "
                   "in dependency order (no Flux controllers on the local target)", objects=order_names)],
            {"kustomizations": len(order_names), "objects": total}))
    return plan
