"""A local Kubernetes control plane per cluster: etcd + kube-apiserver + kube-controller-manager on
127.0.0.1, started from the binaries built in tools/bin/ (see gotools).

State lives in one folder (default `<repo>/.greenfield/local/`):
  kubeconfig                     every running cluster, one context per cluster name
  <cluster>/state.json           ports, pids and binaries of the processes this tool started
  <cluster>/pki/                 CA, serving/client certificates, service-account key (0600)
  <cluster>/admission.yaml       kube-apiserver's admission configuration (Pod Security as on Talos)
  <cluster>/etcd/                etcd data
  <cluster>/logs/<process>.log   process output
`down` stops only the pids recorded in state.json, and only when /proc shows they still run the
recorded binary with this state folder in their arguments (a recycled pid is left alone).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from greenfield.adapters.command import Command
from greenfield.adapters.gotools import CONTROL_PLANE_TOOLS, GoTools
from greenfield.adapters.kubeapi import KubeApi
from greenfield.adapters.localpki import Pki, ensure_pki
from greenfield.core.fleet import admission_configuration
from greenfield.errors import ClusterError, InputError

# a plain folder name (cluster names of platform.yaml are a subset): never a path
LOCAL_CLUSTER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
STATE_FILE = "state.json"
ADMISSION_FILE = "admission.yaml"
KUBECONFIG = "kubeconfig"
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class ClusterSpec:
    """What a local control plane takes from the inventory."""

    name: str
    service_cidr: str = "10.96.0.0/16"
    cluster_domain: str = "cluster.local"

    @property
    def service_ip(self) -> str:
        """The first address of the service range: the `kubernetes` Service's ClusterIP."""
        return str(next(ipaddress.ip_network(self.service_cidr).hosts()))


@dataclass
class ProcessRecord:
    name: str
    pid: int
    binary: str
    log: str


@dataclass
class ClusterState:
    name: str
    server: str
    ports: dict[str, int]
    processes: list[ProcessRecord] = field(default_factory=list)
    started_at: float = 0.0
    ready_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClusterState:
        processes = [ProcessRecord(**p) for p in data.get("processes", [])]
        return cls(name=data["name"], server=data["server"], ports=dict(data["ports"]), processes=processes,
                   started_at=float(data.get("started_at", 0.0)), ready_s=data.get("ready_s"))


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    pid: int
    running: bool


@dataclass(frozen=True)
class ClusterStatus:
    name: str
    server: str
    processes: list[ProcessStatus]
    api_ready: bool
    detail: str = ""

    @property
    def running(self) -> bool:
        return bool(self.processes) and all(p.running for p in self.processes)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def allocate_ports(wanted: Sequence[str], *previous: Mapping[str, Any]) -> dict[str, int]:
    """The first earlier allocation whose ports are all still free (stable URLs across restarts), else new
    distinct free ports for every name."""
    for old in previous:
        if all(k in old and _port_free(int(old[k])) for k in wanted):
            return {k: int(old[k]) for k in wanted}
    ports: dict[str, int] = {}
    while len(ports) < len(wanted):
        port = free_port()
        if port not in ports.values():
            ports[wanted[len(ports)]] = port
    return ports


def _cmdline(pid: int) -> list[str] | None:
    """The argv of a live (non-zombie) process, None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return None
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, IndexError):
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def owns(record: ProcessRecord, marker: str) -> bool:
    """True when pid still runs our binary with our state folder in its arguments."""
    argv = _cmdline(record.pid)
    if not argv:
        return False
    return argv[0] == record.binary and any(marker in arg for arg in argv[1:])


def running(pid: int) -> bool:
    """A process this run started is still alive (right after fork its argv may not be the binary's yet,
    so start-up checks use this, not `owns`, which would mistake a child caught mid-exec for a stranger)."""
    return _cmdline(pid) is not None


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


class LocalControlPlane:
    """etcd + kube-apiserver + kube-controller-manager per cluster, managed by pid."""

    def __init__(self, state_dir: Path, tools: GoTools | None = None, *, kubectl: str | None = None) -> None:
        self.state_dir = state_dir.resolve()
        self.tools = tools or GoTools()
        self.kubectl = kubectl

    # --- paths and state ---------------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / KUBECONFIG

    def cluster_dir(self, name: str) -> Path:
        """The state folder of one cluster. The name must be a plain folder name: `down --wipe` removes this
        folder, and `--cluster ../..` would otherwise remove the repository (or `/`)."""
        if not LOCAL_CLUSTER_NAME.match(name):
            raise InputError(f"{name[:60]!r} is not a cluster name", path="--cluster",
                             hint="lower-case letters, digits and '-', as in platform.yaml")
        return self.state_dir / name

    def _state_path(self, name: str) -> Path:
        return self.cluster_dir(name) / STATE_FILE

    def load_state(self, name: str) -> ClusterState | None:
        path = self._state_path(name)
        if not path.is_file():
            return None
        try:
            return ClusterState.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as error:
            raise InputError(f"unreadable state: {error}", path=str(path),
                             hint="stop leftovers by hand, then `greenfield local down --wipe`") from error

    def _save_state(self, state: ClusterState) -> None:
        path = self._state_path(state.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state.to_json(), indent=2) + "\n", encoding="utf-8")

    def known_clusters(self) -> list[str]:
        if not self.state_dir.is_dir():
            return []
        return sorted(p.parent.name for p in self.state_dir.glob(f"*/{STATE_FILE}"))

    def api(self, name: str, *, timeout: float = 120.0) -> KubeApi:
        """A kubectl-backed client for one local cluster (context = cluster name)."""
        return KubeApi(self.kubeconfig, name, timeout=timeout, kubectl=self.kubectl)

    # --- up ----------------------------------------------------------------------------------------------
    def up(self, specs: Sequence[ClusterSpec], *, timeout_s: float = READY_TIMEOUT_S,
           on_step: Callable[[str, str], None] | None = None) -> list[ClusterState]:
        """Start every cluster that is not already running; return their states once the APIs are ready."""
        binaries = {name: str(self.tools.binary(name)) for name in CONTROL_PLANE_TOOLS}
        states = []
        for spec in specs:
            states.append(self._up_one(spec, binaries, timeout_s, on_step or (lambda _c, _s: None)))
        self._write_kubeconfig()
        return states

    def _up_one(self, spec: ClusterSpec, binaries: dict[str, str], timeout_s: float,
                on_step: Callable[[str, str], None]) -> ClusterState:
        previous = self.load_state(spec.name)
        marker = str(self.cluster_dir(spec.name))
        if previous is not None:
            core = [p for p in previous.processes if p.name in CONTROL_PLANE_TOOLS]  # not the Flux companions
            alive = [p for p in core if owns(p, marker)]
            if alive and len(alive) == len(core) == len(CONTROL_PLANE_TOOLS):
                on_step(spec.name, "already running")
                self._wait_ready(previous, time.monotonic() + timeout_s)
                return previous
            self._stop(previous)  # half-running: start clean
        folder = self.cluster_dir(spec.name)
        for sub in ("logs",):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        pki = ensure_pki(folder / "pki", spec.name, service_ip=spec.service_ip, cluster_domain=spec.cluster_domain)
        (folder / ADMISSION_FILE).write_text(yaml.safe_dump(admission_configuration(), sort_keys=False),
                                             encoding="utf-8")
        ports = self._ports(previous)
        server = f"https://127.0.0.1:{ports['apiserver']}"
        state = ClusterState(spec.name, server, ports, started_at=time.time())
        self._write_component_kubeconfig(spec.name, server, pki, "kube-controller-manager")
        started = time.monotonic()
        try:
            on_step(spec.name, "etcd")
            self._start(state, "etcd", binaries["etcd"], self._etcd_args(spec, folder, ports))
            on_step(spec.name, "kube-apiserver")
            self._start(state, "kube-apiserver", binaries["kube-apiserver"],
                        self._apiserver_args(spec, folder, ports, pki))
            self._wait_ready(state, started + timeout_s)
            on_step(spec.name, "kube-controller-manager")
            self._start(state, "kube-controller-manager", binaries["kube-controller-manager"],
                        self._kcm_args(spec, folder, pki))
            self._wait_alive(state, 1.0)
        except BaseException:
            self._stop(state)
            raise
        state.ready_s = round(time.monotonic() - started, 2)
        self._save_state(state)
        return state

    def _ports(self, previous: ClusterState | None) -> dict[str, int]:
        return allocate_ports(("etcd-client", "etcd-peer", "apiserver"), previous.ports if previous else {})

    def _start(self, state: ClusterState, name: str, binary: str, args: list[str]) -> None:
        log = self.cluster_dir(state.name) / "logs" / f"{name}.log"
        process = Command([binary, *args], cwd=self.cluster_dir(state.name)).start(log)
        state.processes.append(ProcessRecord(name, process.pid, binary, str(log)))
        self._save_state(state)  # record the pid at once: `down` must find it even if up is interrupted

    @staticmethod
    def _etcd_args(spec: ClusterSpec, folder: Path, ports: dict[str, int]) -> list[str]:
        client = f"http://127.0.0.1:{ports['etcd-client']}"
        peer = f"http://127.0.0.1:{ports['etcd-peer']}"
        return [
            f"--name={spec.name}", f"--data-dir={folder / 'etcd'}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster={spec.name}={peer}", "--initial-cluster-state=new",
            "--log-level=warn", "--unsafe-no-fsync", "--quota-backend-bytes=2147483648",
        ]

    @staticmethod
    def _apiserver_args(spec: ClusterSpec, folder: Path, ports: dict[str, int], pki: Pki) -> list[str]:
        return [
            f"--etcd-servers=http://127.0.0.1:{ports['etcd-client']}", f"--etcd-prefix=/registry-{spec.name}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={ports['apiserver']}",
            f"--cert-dir={folder / 'pki'}",
            f"--tls-cert-file={pki.serving_cert}", f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--service-account-key-file={pki.sa_pub}", f"--service-account-signing-key-file={pki.sa_key}",
            f"--service-account-issuer=https://kubernetes.default.svc.{spec.cluster_domain}",
            f"--service-cluster-ip-range={spec.service_cidr}",
            "--authorization-mode=RBAC", "--allow-privileged=true", "--endpoint-reconciler-type=none",
            f"--admission-control-config-file={folder / ADMISSION_FILE}",  # Pod Security as Talos configures it
            "--enable-priority-and-fairness=false", "--profiling=false", "--v=1",
        ]

    def _kcm_args(self, spec: ClusterSpec, folder: Path, pki: Pki) -> list[str]:
        kubeconfig = folder / "kube-controller-manager.kubeconfig"
        return [
            f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false", f"--cluster-name={spec.name}",
            f"--service-account-private-key-file={pki.sa_key}", f"--root-ca-file={pki.ca_cert}",
            f"--cluster-signing-cert-file={pki.ca_cert}", f"--cluster-signing-key-file={pki.ca_key}",
            "--use-service-account-credentials=true", f"--service-cluster-ip-range={spec.service_cidr}",
            # nodelifecycle stays on: it lifts the node.kubernetes.io/not-ready taint once kwok reports a node Ready
            # (and taints a node whose heartbeats stop, as on hardware); without nodes it has nothing to do
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route",
            "--profiling=false", "--v=1",
        ]

    def _ssl_context(self, name: str) -> ssl.SSLContext:
        pki = Pki(self.cluster_dir(name) / "pki")
        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        context.load_cert_chain(str(pki.client_cert("admin")), str(pki.client_key("admin")))
        return context

    def _probe(self, state: ClusterState, path: str = "/readyz") -> tuple[bool, str]:
        port = state.ports["apiserver"]
        try:
            connection = http.client.HTTPSConnection("127.0.0.1", port, context=self._ssl_context(state.name),
                                                     timeout=2)
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read().decode(errors="replace")
            connection.close()
        except (OSError, ssl.SSLError, http.client.HTTPException) as error:
            return False, str(error)
        return response.status == 200, body.strip().splitlines()[-1] if body.strip() else str(response.status)

    def _check_alive(self, state: ClusterState) -> None:
        for record in state.processes:
            _reap(record.pid)  # an exited child is a zombie until reaped; reaping makes it "gone"
            if not running(record.pid):
                tail = _tail(Path(record.log))
                raise ClusterError(f"{record.name} exited during start-up: {tail}", path=record.log,
                                   hint="read the log; `greenfield local down --wipe` resets the state")

    def _wait_ready(self, state: ClusterState, deadline: float) -> None:
        last = ""
        while time.monotonic() < deadline:
            self._check_alive(state)
            ok, last = self._probe(state)
            if ok:
                return
            time.sleep(0.2)
        raise ClusterError(f"kube-apiserver not ready in time ({last})", path=state.server,
                           hint=f"see {self.cluster_dir(state.name) / 'logs'}")

    def _wait_alive(self, state: ClusterState, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._check_alive(state)
            time.sleep(0.2)

    # --- kubeconfig --------------------------------------------------------------------------------------
    @staticmethod
    def _b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    def _kubeconfig_doc(self, entries: list[tuple[str, str, Pki, str]]) -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "current-context": entries[0][0] if entries else "",
            "clusters": [{"name": n, "cluster": {"server": s, "certificate-authority-data": self._b64(p.ca_cert)}}
                         for n, s, p, _u in entries],
            "users": [{"name": f"{n}-{u}", "user": {"client-certificate-data": self._b64(p.client_cert(u)),
                                                     "client-key-data": self._b64(p.client_key(u))}}
                      for n, _s, p, u in entries],
            "contexts": [{"name": n, "context": {"cluster": n, "user": f"{n}-{u}"}} for n, _s, _p, u in entries],
        }

    def _write_private(self, path: Path, doc: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yaml.safe_dump(doc, handle, sort_keys=False)

    def _write_component_kubeconfig(self, name: str, server: str, pki: Pki, user: str) -> None:
        self._write_private(self.cluster_dir(name) / f"{user}.kubeconfig",
                            self._kubeconfig_doc([(name, server, pki, user)]))

    def _write_kubeconfig(self) -> None:
        """One kubeconfig with a context per recorded cluster (named after the cluster)."""
        entries = []
        for name in self.known_clusters():
            state = self.load_state(name)
            pki = Pki(self.cluster_dir(name) / "pki")
            if state is not None and pki.complete(("admin",)):
                entries.append((name, state.server, pki, "admin"))
        if entries:
            self._write_private(self.kubeconfig, self._kubeconfig_doc(entries))
        else:
            self.kubeconfig.unlink(missing_ok=True)

    # --- status and down ---------------------------------------------------------------------------------
    def status(self, names: Sequence[str] | None = None) -> list[ClusterStatus]:
        result = []
        for name in names or self.known_clusters():
            state = self.load_state(name)
            if state is None:
                result.append(ClusterStatus(name, "", [], False, "not started"))
                continue
            marker = str(self.cluster_dir(name))
            processes = [ProcessStatus(p.name, p.pid, owns(p, marker)) for p in state.processes]
            ready, detail = self._probe(state) if processes and processes[0].running else (False, "stopped")
            result.append(ClusterStatus(name, state.server, processes, ready, detail))
        return result

    def down(self, names: Sequence[str] | None = None, *, wipe: bool = False) -> list[str]:
        """Stop our processes (by recorded pid) of the named clusters (all by default); wipe removes state."""
        stopped = []
        for name in names or self.known_clusters():
            state = self.load_state(name)
            if state is not None:
                self._stop(state)
                stopped.append(name)
                if not wipe:
                    state.processes = []
                    self._save_state(state)
            if wipe and self.cluster_dir(name).is_dir():
                shutil.rmtree(self.cluster_dir(name))
        if wipe and self.state_dir.is_dir() and not self.known_clusters():
            self.kubeconfig.unlink(missing_ok=True)
        else:
            self._write_kubeconfig()
        return stopped

    def _stop(self, state: ClusterState) -> None:
        """SIGTERM in reverse start order, SIGKILL what is still there after STOP_TIMEOUT_S."""
        marker = str(self.cluster_dir(state.name))
        for record in reversed(state.processes):
            if owns(record, marker):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(record.pid, signal.SIGTERM)
                end = time.monotonic() + STOP_TIMEOUT_S
                while time.monotonic() < end and owns(record, marker):
                    _reap(record.pid)
                    time.sleep(0.1)
                if owns(record, marker):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(record.pid, signal.SIGKILL)
            _reap(record.pid)


def _tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return " | ".join(text[-lines:]) if text else "no output"
