"""Flux on the local control plane: source-controller, kustomize-controller and helm-controller (built
from tools/flux-controllers) as local processes against a cluster's API server, plus one HTTP server
on 127.0.0.1 serving the repository (`git http-backend`) and, optionally, a Helm repository.

The processes are recorded in the cluster's state.json next to etcd/kube-apiserver/kube-controller-manager,
so `greenfield local down` stops them first (reverse start order) and `local status` lists them.
Per cluster, under the control plane's state folder:
  <cluster>/flux.json                  ports and URLs (git, charts, artifact server)
  <cluster>/flux/storage/              source-controller's artifacts
  <cluster>/logs/<controller>.log      controller output (JSON lines)
  <cluster>/admin.kubeconfig           the controllers' credentials (admin client certificate, 0600)
and `flux/<cluster>.json` next to the cluster folders: the wish to run Flux there (survives a wipe,
so a destroy/recreate brings the controllers back).

Controllers take their API server from KUBECONFIG (they do not parse --kubeconfig); leader election
is off (it is off by default in Flux's flags); every controller watches all namespaces. The state
folder is passed after `--` as a positional marker, which the controllers ignore and `owns()` uses.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from greenfield.adapters.command import Command
from greenfield.adapters.gotools import FLUX_CONTROLLER_TOOLS, GoTools, tool
from greenfield.adapters.local_cluster import (
    LOCAL_CLUSTER_NAME,
    ClusterState,
    LocalControlPlane,
    ProcessRecord,
    allocate_ports,
    owns,
    running,
)
from greenfield.adapters.localhttp import CHARTS_PATH, REPO_PATH
from greenfield.adapters.localpki import Pki
from greenfield.errors import ClusterError, CommandError, InputError

HTTP_SERVER = "git-http"
FIELD_MANAGER = "greenfield-flux"
READY_TIMEOUT_S = 180.0
FLUX_NAMESPACE = "flux-system"
INFO_FILE = "flux.json"


@dataclass
class FluxInfo:
    """Where the local GitOps loop of one cluster answers."""

    cluster: str
    repo: str
    git_url: str
    charts_url: str | None
    artifact_url: str
    ports: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def crd_documents(tools: GoTools) -> list[dict[str, Any]]:
    """The controllers' own CRDs (config/crd/bases of each pinned module, from the Go module cache)."""
    documents: list[dict[str, Any]] = []
    for name in FLUX_CONTROLLER_TOOLS:
        spec = tool(name)
        version = tools.version(spec)
        try:
            result = Command([tools.go(), "mod", "download", "-json", f"{spec.module}@{version}"],
                             cwd=tools.module_dir(spec), env={"GOFLAGS": "", "GOTOOLCHAIN": "local"},
                             timeout=600).run()
        except CommandError as error:
            raise CommandError(f"cannot fetch {spec.module}@{version} for its CRDs: {error.problem}",
                               hint="the module is in the Go module cache once the controller is built") from error
        folder = Path(json.loads(result.stdout)["Dir"]) / "config" / "crd" / "bases"
        for path in sorted(folder.glob("*.yaml")):
            documents += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return documents


def wish_path(state_dir: Path, cluster: str) -> Path:
    if not LOCAL_CLUSTER_NAME.match(cluster):  # `forget` unlinks this file: never a path out of the state folder
        raise InputError(f"{cluster[:60]!r} is not a cluster name", path="--cluster",
                         hint="lower-case letters, digits and '-', as in platform.yaml")
    return state_dir / "flux" / f"{cluster}.json"


def _get(port: int, path: str) -> int:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", path)
        status = connection.getresponse().status
        connection.close()
    except (OSError, http.client.HTTPException):
        return 0
    return status


class LocalFlux:
    """The Flux controllers and the git/chart server of the local clusters of one control plane."""

    def __init__(self, plane: LocalControlPlane) -> None:
        self.plane = plane
        self.tools = plane.tools

    # --- the wish to run Flux (survives `down --wipe` of one cluster by reproduce) ------------------
    def want(self, cluster: str, repo: Path, charts: Path | None) -> None:
        path = wish_path(self.plane.state_dir, cluster)
        path.parent.mkdir(parents=True, exist_ok=True)
        previous = {k: v for k, v in (self.wanted(cluster) or {}).items() if k not in ("registry", "mirrored_charts", "mirror_dirs")}
        wish = {**previous, "repo": str(repo.resolve()), "charts": str(charts.resolve()) if charts else None}
        path.write_text(json.dumps(wish, indent=2) + "\n", encoding="utf-8")

    def wanted(self, cluster: str) -> dict[str, Any] | None:
        path = wish_path(self.plane.state_dir, cluster)
        if not path.is_file():
            return None
        return dict(json.loads(path.read_text(encoding="utf-8")))

    def want_mirror(self, cluster: str, registry: str, charts: list[str], mirror_dirs: list[str]) -> None:
        """The chart sources of this cluster are to point at the local registry (greenfield mirror's patch),
        which holds `charts` pushed from `mirror_dirs`."""
        path = wish_path(self.plane.state_dir, cluster)
        wish = {**(self.wanted(cluster) or {}), "registry": registry, "mirrored_charts": charts,
                "mirror_dirs": mirror_dirs}
        path.write_text(json.dumps(wish, indent=2) + "\n", encoding="utf-8")

    def stop(self, cluster: str) -> bool:
        """Stop the controllers and the git server only (the control plane keeps running)."""
        state = self.plane.load_state(cluster)
        if state is None:
            return False
        names = (*FLUX_CONTROLLER_TOOLS, HTTP_SERVER)
        ours = [p for p in state.processes if p.name in names]
        self.plane._stop(ClusterState(cluster, state.server, state.ports, ours))
        state.processes = [p for p in state.processes if p.name not in names]
        self.plane._save_state(state)
        return bool(ours)

    def wished(self) -> list[str]:
        return sorted(p.stem for p in (self.plane.state_dir / "flux").glob("*.json"))

    def forget(self, cluster: str) -> None:
        wish_path(self.plane.state_dir, cluster).unlink(missing_ok=True)

    # --- state -------------------------------------------------------------------------------------
    def info(self, cluster: str) -> FluxInfo | None:
        path = self.plane.cluster_dir(cluster) / INFO_FILE
        if not path.is_file():
            return None
        return FluxInfo(**json.loads(path.read_text(encoding="utf-8")))

    def running(self, cluster: str) -> bool:
        """True when every controller and the server recorded for the cluster still run."""
        state = self.plane.load_state(cluster)
        if state is None:
            return False
        marker = str(self.plane.cluster_dir(cluster))
        ours = [p for p in state.processes if p.name in (*FLUX_CONTROLLER_TOOLS, HTTP_SERVER)]
        return len(ours) == len(FLUX_CONTROLLER_TOOLS) + 1 and all(owns(p, marker) for p in ours)

    def _ports(self, cluster: str, previous: FluxInfo | None) -> dict[str, int]:
        """The previous ports when free (the GitRepository URL stays the same across a recreate), else new ones."""
        wanted = ["http", "storage"] + [f"{c}-{kind}" for c in FLUX_CONTROLLER_TOOLS for kind in ("metrics", "health")]
        remembered = dict((self.wanted(cluster) or {}).get("ports") or {})
        return allocate_ports(wanted, previous.ports if previous else {}, remembered)

    # --- start -------------------------------------------------------------------------------------
    def install_crds(self, cluster: str) -> int:
        documents = crd_documents(self.tools)
        api = self.plane.api(cluster)
        text = "".join("---\n" + yaml.safe_dump(d, sort_keys=False) for d in documents)
        api.apply(text, server_side=True, force_conflicts=True, field_manager=FIELD_MANAGER)
        api.run(["wait", "--for=condition=Established", "--timeout=120s",
                 *(f"crd/{d['metadata']['name']}" for d in documents)], timeout=180)
        if not api.exists("namespace", FLUX_NAMESPACE):
            api.apply(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {FLUX_NAMESPACE}\n", server_side=True,
                      field_manager=FIELD_MANAGER)
        return len(documents)

    def start(self, cluster: str, repo: Path, charts: Path | None = None,
              on_step: Callable[[str, str], None] | None = None, timeout_s: float = READY_TIMEOUT_S) -> FluxInfo:
        """Install the Flux CRDs, then start whatever of the server and the controllers is not running."""
        step = on_step or (lambda _c, _s: None)
        state = self.plane.load_state(cluster)
        if state is None or not state.processes:
            raise ClusterError("the local control plane is not running", path=cluster,
                               hint="start it first: greenfield local up --with-flux")
        binaries = {name: str(self.tools.binary(name)) for name in FLUX_CONTROLLER_TOOLS}
        folder = self.plane.cluster_dir(cluster)
        marker = str(folder)
        step(cluster, "Flux CRDs")
        self.install_crds(cluster)
        previous = self.info(cluster)
        names = (*FLUX_CONTROLLER_TOOLS, HTTP_SERVER)
        ours = [p for p in state.processes if p.name in names]
        same = (previous is not None and previous.repo == str(repo.resolve())
                and (previous.charts_url is not None) == (charts is not None))
        if same and previous is not None and len(ours) == len(names) and all(owns(p, marker) for p in ours):
            step(cluster, "Flux already running")
            self._wait_ready(state, previous, time.monotonic() + timeout_s)
            return previous
        self.plane._stop(ClusterState(cluster, state.server, state.ports, ours))  # only what still runs as ours
        state.processes = [p for p in state.processes if p.name not in names]
        self.plane._save_state(state)
        ports = self._ports(cluster, previous)
        wish = self.wanted(cluster)
        if wish is not None:
            wish_path(self.plane.state_dir, cluster).write_text(json.dumps({**wish, "ports": ports}, indent=2) + "\n",
                                                                 encoding="utf-8")
        pki = Pki(folder / "pki")
        self.plane._write_component_kubeconfig(cluster, state.server, pki, "admin")
        kubeconfig = folder / "admin.kubeconfig"
        storage = folder / "flux" / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        info = FluxInfo(cluster, str(repo.resolve()), f"http://127.0.0.1:{ports['http']}{REPO_PATH}",
                        f"http://127.0.0.1:{ports['http']}{CHARTS_PATH}" if charts else None,
                        f"http://127.0.0.1:{ports['storage']}", ports)
        (folder / INFO_FILE).write_text(json.dumps(info.to_json(), indent=2) + "\n", encoding="utf-8")
        step(cluster, "git http-backend server")
        server = ["-m", "greenfield.adapters.localhttp", f"--port={ports['http']}", f"--git-repo={repo.resolve()}",
                  f"--state={folder}"] + ([f"--charts={charts.resolve()}"] if charts else [])
        self._start(state, HTTP_SERVER, sys.executable, server, {})
        env = {"KUBECONFIG": str(kubeconfig), "RUNTIME_NAMESPACE": FLUX_NAMESPACE}
        for name in FLUX_CONTROLLER_TOOLS:
            step(cluster, name)
            args = [f"--metrics-addr=127.0.0.1:{ports[f'{name}-metrics']}",
                    f"--health-addr=127.0.0.1:{ports[f'{name}-health']}",
                    "--watch-all-namespaces=true", "--enable-leader-election=false", "--log-level=info",
                    "--events-addr="]
            if name == "source-controller":
                args += [f"--storage-path={storage}", f"--storage-addr=127.0.0.1:{ports['storage']}",
                         f"--storage-adv-addr=127.0.0.1:{ports['storage']}"]
            self._start(state, name, binaries[name], [*args, "--", f"greenfield-state={folder}"], env)
        self._wait_ready(state, info, time.monotonic() + timeout_s)
        return info

    def _start(self, state: ClusterState, name: str, binary: str, args: list[str], env: dict[str, str]) -> None:
        folder = self.plane.cluster_dir(state.name)
        log = folder / "logs" / f"{name}.log"
        process = Command([binary, *args], cwd=folder, env=env).start(log)
        state.processes.append(ProcessRecord(name, process.pid, binary, str(log)))
        self.plane._save_state(state)

    def _wait_ready(self, state: ClusterState, info: FluxInfo, deadline: float) -> None:
        pending = {name: info.ports[f"{name}-health"] for name in FLUX_CONTROLLER_TOOLS}
        pending[HTTP_SERVER] = info.ports["http"]
        while pending:
            for record in state.processes:
                if record.name in pending and not running(record.pid):
                    tail = Path(record.log).read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
                    raise ClusterError(f"{record.name} exited during start-up: {' | '.join(tail)}", path=record.log,
                                       hint="read the log; `greenfield local down` stops the rest")
            for name, port in list(pending.items()):
                path = f"{REPO_PATH}/info/refs?service=git-upload-pack" if name == HTTP_SERVER else "/readyz"
                if _get(port, path) == 200:
                    del pending[name]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"not ready in time: {', '.join(sorted(pending))}", path=str(self.plane.state_dir),
                                   hint="see the logs under <cluster>/logs/")
            time.sleep(0.5)


def reconcile_now(plane: LocalControlPlane, cluster: str, kind: str, name: str, namespace: str) -> None:
    """What `flux reconcile` does: bump the requestedAt annotation so the controller acts at once."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + f".{time.time_ns() % 1_000_000_000}"
    plane.api(cluster).run(["annotate", "--overwrite", kind, name, f"--namespace={namespace}",
                            f"reconcile.fluxcd.io/requestedAt={stamp}"])
