"""Use case: the local control plane (one etcd + kube-apiserver + kube-controller-manager per cluster),
optionally with the Flux controllers and a git http-backend server of the repository (--with-flux).

Other use cases (bootstrap, health, reproduce) take `default_control_plane(repo)` as their target
when no real cluster is given: `plane.api(cluster)` is a KubeApi on the cluster's context.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from greenfield.adapters.gotools import CONTROL_PLANE_TOOLS, FLUX_CONTROLLER_TOOLS, GoTools, ToolStatus
from greenfield.adapters.local_cluster import ClusterSpec, ClusterState, ClusterStatus, LocalControlPlane
from greenfield.adapters.local_flux import FluxInfo, LocalFlux
from greenfield.app.inventory import load_inventory
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


def local_up(repo: Path, names: Sequence[str] = (), *, build: bool = True,
             on_build: Callable[[str, ToolStatus | None], None] | None = None,
             on_step: Callable[[str, str], None] | None = None, with_flux: bool = False,
             charts: Path | None = None) -> tuple[LocalControlPlane, list[ClusterState]]:
    inventory = load_inventory(repo / "platform.yaml", "platform.yaml")
    specs = cluster_specs(inventory, names)
    plane = default_control_plane(repo)
    if build:
        ensure_control_plane_tools(plane.tools, on_build)
        if with_flux:
            plane.tools.ensure(list(FLUX_CONTROLLER_TOOLS), on_build)
    states = plane.up(specs, on_step=on_step)
    if with_flux:
        for spec in specs:
            start_flux(repo, plane, spec.name, charts, on_step=on_step)
    return plane, states


def start_flux(repo: Path, plane: LocalControlPlane, cluster: str, charts: Path | None = None,
               on_step: Callable[[str, str], None] | None = None) -> FluxInfo:
    """Flux controllers + the git/chart server for one running local cluster (idempotent); the wish is
    recorded so that a recreated cluster (reproduce) gets them back."""
    flux = LocalFlux(plane)
    flux.want(cluster, repo, charts)
    return flux.start(cluster, repo, charts, on_step=on_step)


def flux_wish(repo: Path, cluster: str) -> dict[str, object] | None:
    """{"repo", "charts"} when `local up --with-flux` asked for Flux on this cluster, else None."""
    return LocalFlux(default_control_plane(repo)).wanted(cluster)


def local_status(repo: Path, names: Sequence[str] = ()) -> list[ClusterStatus]:
    return default_control_plane(repo).status(list(names) or None)


def local_down(repo: Path, names: Sequence[str] = (), *, wipe: bool = False) -> list[str]:
    plane = default_control_plane(repo)
    if wipe:  # a wiped cluster starts without Flux unless `local up --with-flux` asks again
        flux = LocalFlux(plane)
        for name in list(names) or plane.known_clusters():
            flux.forget(name)
    return plane.down(list(names) or None, wipe=wipe)
