"""State is explicit (issue 18, item 7): what `local down` leaves behind never changes what a later command
does. After `local up --with-flux` and `local down`, a plain `local up` (or `cluster create`/`reproduce`) must
not bring the Flux loop back; a plain `local up` on a cluster still running a loop stops it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from greenfield.adapters.command import Command
from greenfield.adapters.local_cluster import ClusterState, LocalControlPlane, ProcessRecord, owns
from greenfield.adapters.local_flux import LocalFlux
from greenfield.app.local import default_control_plane, flux_wish, local_down, settle_flux_wish

SLEEPER = "import time; time.sleep(120)"


def _fake_loop(plane: LocalControlPlane, cluster: str, names: tuple[str, ...]) -> ClusterState:
    """Live processes recorded under the names of the Flux loop (python sleeping, our folder in its argv)."""
    folder = plane.cluster_dir(cluster)
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    state = ClusterState(cluster, "https://127.0.0.1:1", {"apiserver": 1})
    for name in names:
        log = folder / "logs" / f"{name}.log"
        process = Command([sys.executable, "-c", SLEEPER, str(folder)], cwd=folder).start(log)
        state.processes.append(ProcessRecord(name, process.pid, sys.executable, str(log)))
    plane._save_state(state)
    deadline = time.monotonic() + 10
    while not all(owns(p, str(folder)) for p in state.processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    return state


def test_local_down_forgets_the_flux_wish(tmp_path: Path) -> None:
    plane = default_control_plane(tmp_path)
    LocalFlux(plane).want("infra", tmp_path, None)
    assert flux_wish(tmp_path, "infra") is not None
    local_down(tmp_path)
    assert flux_wish(tmp_path, "infra") is None  # a later plain `local up` + `reproduce` runs no Flux


def test_a_plain_up_stops_a_leftover_loop_and_forgets_the_wish(tmp_path: Path) -> None:
    plane = default_control_plane(tmp_path)
    LocalFlux(plane).want("infra", tmp_path, None)
    loop = ("git-http", "source-controller", "kustomize-controller", "helm-controller", "kube-scheduler", "kwok")
    state = _fake_loop(plane, "infra", loop)
    marker = str(plane.cluster_dir("infra"))
    try:
        assert settle_flux_wish(plane, ["infra"], with_flux=False) == ["infra"]
        assert flux_wish(tmp_path, "infra") is None
        assert not any(owns(p, marker) for p in state.processes)
        left = plane.load_state("infra")
        assert left is not None and left.processes == []
        assert settle_flux_wish(plane, ["infra"], with_flux=False) == []  # nothing left to change
    finally:
        plane._stop(state)


def test_with_flux_keeps_the_wish(tmp_path: Path) -> None:
    plane = default_control_plane(tmp_path)
    LocalFlux(plane).want("infra", tmp_path, None)
    assert settle_flux_wish(plane, ["infra"], with_flux=True) == []
    assert flux_wish(tmp_path, "infra") is not None


def test_the_shared_registry_is_not_taken_for_a_cluster(tmp_path: Path) -> None:
    from greenfield.adapters.local_registry import RegistryState
    from greenfield.app.local import registry

    plane = default_control_plane(tmp_path)
    registry(plane).save(RegistryState(1, ProcessRecord("registry", 1, "/nonexistent/registry", "log"), []))
    assert plane.known_clusters() == []
    assert plane.status() == []
