"""The simulated fleet of a local cluster: kube-scheduler and kwok, recorded by pid in the cluster's
state.json next to the control plane (so `local down` stops them and `local status` lists them).

- kube-scheduler (k8s.io/kubernetes, the platform's version) binds pods to the nodes;
- kwok (sigs.k8s.io/kwok) plays the kubelets of the nodes carrying its annotation: it reports the Node
  conditions and heartbeats, and takes each bound pod through Running/Ready (or Succeeded for a finished
  container) with an IP from the cluster's pod CIDR. Its stages are kwok's own (the node-fast,
  node-heartbeat and pod-fast stages of the pinned module, read from the Go module cache), the ones
  `kwokctl` configures by default.
The Node objects (core/fleet.py) are created before kwok starts, with the addresses and capacity in
their status, so that kwok keeps them instead of inventing its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from greenfield.adapters.command import Command
from greenfield.adapters.gotools import GoTools, tool
from greenfield.adapters.local_cluster import ClusterState, LocalControlPlane, ProcessRecord, owns, running
from greenfield.adapters.localpki import Pki
from greenfield.core.fleet import KWOK_ANNOTATION, KWOK_VALUE, FleetNode
from greenfield.errors import ClusterError, CommandError

FLEET_PROCESSES = ("kube-scheduler", "kwok")
FIELD_MANAGER = "greenfield-fleet"
# kwok's default stages (what kwokctl configures): node initialisation, heartbeats, the pod life cycle
KWOK_STAGES = ("kustomize/stage/node/fast/node-initialize.yaml", "kustomize/stage/node/heartbeat/node-heartbeat.yaml",
               "kustomize/stage/pod/fast/pod-ready.yaml", "kustomize/stage/pod/fast/pod-complete.yaml",
               "kustomize/stage/pod/fast/pod-delete.yaml")


def kwok_stages(tools: GoTools) -> str:
    spec = tool("kwok")
    version = tools.version(spec)
    try:
        result = Command([tools.go(), "mod", "download", "-json", f"{spec.module}@{version}"],
                         cwd=tools.module_dir(spec), env={"GOFLAGS": "", "GOTOOLCHAIN": "local"}, timeout=600).run()
    except CommandError as error:
        raise CommandError(f"cannot fetch {spec.module}@{version} for its stages: {error.problem}",
                           hint="the module is in the Go module cache once kwok is built") from error
    folder = Path(json.loads(result.stdout)["Dir"])
    return "".join("---\n" + (folder / stage).read_text(encoding="utf-8") for stage in KWOK_STAGES)


class LocalFleet:
    def __init__(self, plane: LocalControlPlane) -> None:
        self.plane = plane
        self.tools = plane.tools

    def running(self, cluster: str) -> bool:
        state = self.plane.load_state(cluster)
        if state is None:
            return False
        marker = str(self.plane.cluster_dir(cluster))
        ours = [p for p in state.processes if p.name in FLEET_PROCESSES]
        return len(ours) == len(FLEET_PROCESSES) and all(owns(p, marker) for p in ours)

    def stop(self, cluster: str) -> bool:
        """Stop the scheduler and kwok only (the control plane keeps running)."""
        state = self.plane.load_state(cluster)
        if state is None:
            return False
        ours = [p for p in state.processes if p.name in FLEET_PROCESSES]
        self.plane._stop(ClusterState(cluster, state.server, state.ports, ours))
        state.processes = [p for p in state.processes if p.name not in FLEET_PROCESSES]
        self.plane._save_state(state)
        return bool(ours)

    def register_nodes(self, cluster: str, nodes: Sequence[FleetNode]) -> None:
        api = self.plane.api(cluster)
        manifests = "".join("---\n" + yaml.safe_dump(n.manifest(), sort_keys=False) for n in nodes)
        api.apply(manifests, server_side=True, force_conflicts=True, field_manager=FIELD_MANAGER)
        for node in nodes:
            api.run(["patch", "node", node.name, "--subresource=status", "--type=merge",
                     "-p", json.dumps(node.status())])

    def start(self, cluster: str, nodes: Sequence[FleetNode], pod_cidr: str,
              on_step: Callable[[str, str], None] | None = None) -> None:
        step = on_step or (lambda _c, _s: None)
        state = self.plane.load_state(cluster)
        if state is None or not state.processes:
            raise ClusterError("the local control plane is not running", path=cluster,
                               hint="start it first: greenfield local up --with-flux")
        step(cluster, f"{len(nodes)} nodes")
        self.register_nodes(cluster, nodes)
        if self.running(cluster):
            step(cluster, "scheduler and kwok already running")
            return
        self.stop(cluster)
        state = self.plane.load_state(cluster)
        assert state is not None
        folder = self.plane.cluster_dir(cluster)
        self.plane._write_component_kubeconfig(cluster, state.server, Pki(folder / "pki"), "admin")
        kubeconfig = folder / "admin.kubeconfig"
        stages = folder / "kwok" / "stages.yaml"
        stages.parent.mkdir(parents=True, exist_ok=True)
        stages.write_text(kwok_stages(self.tools), encoding="utf-8")
        # no positional marker (kube components refuse arguments): their kubeconfig path names the state folder
        step(cluster, "kube-scheduler")
        self._start(state, "kube-scheduler", [
            f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}", "--bind-address=127.0.0.1", "--secure-port=0",
            "--leader-elect=false", "--profiling=false", "--v=1"], {})
        step(cluster, "kwok")
        # HOME in the state folder: kwok also reads ~/.kwok/kwok.yaml, which must not leak in from the user
        self._start(state, "kwok", [
            f"--kubeconfig={kubeconfig}", f"--config={stages}", "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}={KWOK_VALUE}",
            f"--cidr={pod_cidr}", "--node-lease-duration-seconds=0"],
            {"HOME": str(folder / "kwok")})
        for record in state.processes:
            if record.name in FLEET_PROCESSES and not running(record.pid):
                raise ClusterError(f"{record.name} exited during start-up", path=record.log, hint="read the log")

    def _start(self, state: ClusterState, name: str, args: list[str], env: dict[str, str]) -> None:
        folder = self.plane.cluster_dir(state.name)
        binary = str(self.tools.binary(name))
        log = folder / "logs" / f"{name}.log"
        process = Command([binary, *args], cwd=folder, env=env).start(log)
        state.processes.append(ProcessRecord(name, process.pid, binary, str(log)))
        self.plane._save_state(state)
