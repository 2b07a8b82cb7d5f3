"""Use case: the local control plane (one etcd + kube-apiserver + kube-controller-manager per cluster),
optionally with the Flux controllers and a git http-backend server of the repository (--with-flux), and the
simulated fleet around them: kube-scheduler and kwok with the inventory's nodes, and one shared OCI registry
on 127.0.0.1 seeded with the charts of the --mirror folders (the chart sources are pointed at it at sync).

State is explicit: the wish to run Flux (`flux/<cluster>.json`) exists only while the last `local up` asked
for --with-flux. A plain `local up` forgets it and stops a leftover loop; `local down` forgets it too. Only
a destroy/recreate inside one command (reproduce) keeps it, by design.

Other use cases (bootstrap, health, reproduce) take `default_control_plane(repo)` as their target
when no real cluster is given: `plane.api(cluster)` is a KubeApi on the cluster's context.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from greenfield.adapters.gotools import CONTROL_PLANE_TOOLS, FLEET_TOOLS, FLUX_CONTROLLER_TOOLS, GoTools, ToolStatus
from greenfield.adapters.local_cluster import ClusterSpec, ClusterState, ClusterStatus, LocalControlPlane
from greenfield.adapters.local_fleet import LocalFleet
from greenfield.adapters.local_flux import FluxInfo, LocalFlux
from greenfield.adapters.local_registry import LocalRegistry, RegistryState
from greenfield.app.inventory import load_inventory
from greenfield.core.fleet import fleet_nodes
from greenfield.core.inventory import Inventory
from greenfield.errors import InputError

STATE_SUBDIR = Path(".greenfield") / "local"


def state_dir(repo: Path) -> Path:
    return repo / STATE_SUBDIR


def default_control_plane(repo: Path, tools_root: Path | None = None) -> LocalControlPlane:
    return LocalControlPlane(state_dir(repo), GoTools(tools_root))


def cluster_specs(inventory: Inventory, names: Sequence[str] = ()) -> list[ClusterSpec]:
    """One spec per enabled cluster of the inventory (or the named ones, which must exist and be enabled)."""
    enabled = inventory.enabled_clusters()
    for name in names:
        if name not in inventory.clusters:
            raise InputError(f"unknown cluster {name!r}", path="platform.yaml",
                             hint=f"one of: {', '.join(inventory.clusters)}")
        if name not in enabled:
            raise InputError(f"cluster {name!r} is disabled", path="platform.yaml", hint="set enabled: true")
    chosen = list(names) or list(enabled)
    domain = inventory.platform.cluster_domain
    return [ClusterSpec(name, str(enabled[name].service_cidr), domain) for name in chosen]


def ensure_control_plane_tools(tools: GoTools,
                               on_event: Callable[[str, ToolStatus | None], None] | None = None) -> None:
    """Build etcd, kube-apiserver and kube-controller-manager when missing (cached by Go afterwards)."""
    tools.ensure(list(CONTROL_PLANE_TOOLS), on_event)


def registry(plane: LocalControlPlane) -> LocalRegistry:
    """The OCI registry shared by the local clusters of one state folder."""
    return LocalRegistry(plane.state_dir / "registry", plane.tools)


def seed_registry(plane: LocalControlPlane, mirror_dirs: Sequence[Path],
                  on_step: Callable[[str, str], None] | None = None) -> RegistryState:
    """Start the registry (empty: it keeps its data in memory) and push the charts, unless this very
    process already holds them."""
    from greenfield.app.mirror import DEFAULT_PATH, packaged_charts, push_charts

    local = registry(plane)
    state, started = local.start()
    charts = packaged_charts(mirror_dirs)
    wanted = sorted(str(c.resolve()) for c in charts)
    if started or state.seeded != wanted:
        step = on_step or (lambda _c, _s: None)
        step("registry", f"pushing {len(charts)} charts to oci://{state.address}/{DEFAULT_PATH}")
        pushed = push_charts(charts, f"{state.address}/{DEFAULT_PATH}", tools=plane.tools)
        state.seeded = wanted
        state.charts = sorted({chart.name for chart in pushed})
        local.save(state)
    return state


def settle_flux_wish(plane: LocalControlPlane, names: Sequence[str], with_flux: bool) -> list[str]:
    """A plain `local up` (no --with-flux) runs the control plane only: forget an earlier wish for Flux and stop
    what is left of that loop (controllers, git server, scheduler, kwok). Returns the clusters it changed."""
    if with_flux:
        return []
    flux, fleet, changed = LocalFlux(plane), LocalFleet(plane), []
    for name in names:
        had_wish = flux.wanted(name) is not None
        flux.forget(name)
        stopped = plane.load_state(name) is not None and (flux.stop(name) | fleet.stop(name))
        if had_wish or stopped:
            changed.append(name)
    return changed


def local_up(repo: Path, names: Sequence[str] = (), *, build: bool = True,
             on_build: Callable[[str, ToolStatus | None], None] | None = None,
             on_step: Callable[[str, str], None] | None = None, with_flux: bool = False,
             charts: Path | None = None, mirror_dirs: Sequence[Path] = ()) -> tuple[LocalControlPlane, list[ClusterState]]:
    inventory = load_inventory(repo / "platform.yaml", "platform.yaml")
    specs = cluster_specs(inventory, names)
    plane = default_control_plane(repo)
    if mirror_dirs and not with_flux:
        raise InputError("--mirror needs --with-flux", path="--mirror", hint="the charts are for the Flux loop")
    if build:
        ensure_control_plane_tools(plane.tools, on_build)
        if with_flux:
            plane.tools.ensure([*FLUX_CONTROLLER_TOOLS, *FLEET_TOOLS], on_build)
    settle_flux_wish(plane, [spec.name for spec in specs], with_flux)
    states = plane.up(specs, on_step=on_step)
    if with_flux:
        seeded = seed_registry(plane, mirror_dirs, on_step) if mirror_dirs else None
        for spec in specs:
            LocalFleet(plane).start(spec.name, fleet_nodes(inventory, spec.name),
                                    str(inventory.clusters[spec.name].pod_cidr), on_step=on_step)
            start_flux(repo, plane, spec.name, charts, on_step=on_step, registry_state=seeded,
                       mirror_dirs=mirror_dirs)
    return plane, states


def start_fleet(plane: LocalControlPlane, inventory: Inventory, cluster: str, wish: dict[str, object] | None,
                on_step: Callable[[str, str], None] | None = None) -> RegistryState | None:
    """What `local up --with-flux` runs next to the controllers, again (idempotent): scheduler, kwok and its
    nodes, and the registry with the charts the wish names (a recreated cluster gets them back)."""
    LocalFleet(plane).start(cluster, fleet_nodes(inventory, cluster), str(inventory.clusters[cluster].pod_cidr),
                            on_step=on_step)
    dirs = [Path(str(d)) for d in list((wish or {}).get("mirror_dirs") or [])]  # type: ignore[call-overload]
    return seed_registry(plane, dirs, on_step) if dirs else None


def start_flux(repo: Path, plane: LocalControlPlane, cluster: str, charts: Path | None = None,
               on_step: Callable[[str, str], None] | None = None,
               registry_state: RegistryState | None = None, mirror_dirs: Sequence[Path] = ()) -> FluxInfo:
    """Flux controllers + the git/chart server for one running local cluster (idempotent); the wish is
    recorded so that a recreated cluster (reproduce) gets them back, with the mirror its sources point at."""
    flux = LocalFlux(plane)
    flux.want(cluster, repo, charts)
    if registry_state is not None:
        flux.want_mirror(cluster, registry_state.address, registry_state.charts, [str(d.resolve()) for d in mirror_dirs])
    return flux.start(cluster, repo, charts, on_step=on_step)


def flux_wish(repo: Path, cluster: str) -> dict[str, object] | None:
    """{"repo", "charts"} when `local up --with-flux` asked for Flux on this cluster, else None."""
    return LocalFlux(default_control_plane(repo)).wanted(cluster)


def local_status(repo: Path, names: Sequence[str] = ()) -> list[ClusterStatus]:
    return default_control_plane(repo).status(list(names) or None)


def local_down(repo: Path, names: Sequence[str] = (), *, wipe: bool = False) -> list[str]:
    """Stop the clusters (all by default). Nothing of what was running steers a later command: the Flux wish
    is forgotten (a later `local up` or `cluster create` runs Flux only when asked again), and the shared
    registry stops once no cluster runs."""
    plane = default_control_plane(repo)
    flux = LocalFlux(plane)
    for name in list(names) or {*plane.known_clusters(), *flux.wished()}:
        flux.forget(name)
    stopped = plane.down(list(names) or None, wipe=wipe)
    if not any(s.running for s in plane.status()):
        registry(plane).stop()
    return stopped

