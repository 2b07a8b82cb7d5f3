"""An OCI registry on 127.0.0.1 (go-containerregistry's cmd/registry, built into tools/bin/registry).

It keeps everything in memory: whoever starts it seeds it (`greenfield mirror` pushes the charts), and a
restart starts empty by design — nothing of an earlier run can leak into a later one. The process is
recorded by pid in `<folder>/registry.json` and stopped only when /proc shows it still runs the recorded
binary with this folder in its arguments (the folder is passed after `--`, which the registry ignores).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from greenfield.adapters.command import Command
from greenfield.adapters.gotools import GoTools
from greenfield.adapters.local_cluster import ClusterState, LocalControlPlane, ProcessRecord, free_port, owns, running
from greenfield.errors import ClusterError

NAME = "registry"
READY_TIMEOUT_S = 30.0
# not state.json: the control plane takes every <state folder>/*/state.json for a cluster
STATE_FILE = "registry.json"


@dataclass
class RegistryState:
    port: int
    process: ProcessRecord
    seeded: list[str]  # the chart files pushed since this process started
    charts: list[str] = field(default_factory=list)  # the names of those charts

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def _v2(port: int) -> int:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/v2/")
        status = connection.getresponse().status
        connection.close()
    except (OSError, http.client.HTTPException):
        return 0
    return status


class LocalRegistry:
    def __init__(self, folder: Path, tools: GoTools | None = None) -> None:
        self.folder = folder.resolve()
        self.tools = tools or GoTools()

    @property
    def _state_path(self) -> Path:
        return self.folder / STATE_FILE

    def load(self) -> RegistryState | None:
        if not self._state_path.is_file():
            return None
        data = json.loads(self._state_path.read_text(encoding="utf-8"))
        return RegistryState(int(data["port"]), ProcessRecord(**data["process"]), list(data.get("seeded", [])),
                             list(data.get("charts", [])))

    def save(self, state: RegistryState) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._state_path.write_text(json.dumps(asdict(state), indent=2) + "\n", encoding="utf-8")

    def running(self) -> RegistryState | None:
        state = self.load()
        if state is not None and owns(state.process, str(self.folder)) and _v2(state.port) == 200:
            return state
        return None

    def start(self, port: int | None = None) -> tuple[RegistryState, bool]:
        """The running registry, or a new (empty) one; the flag says whether it was started now."""
        current = self.running()
        if current is not None:
            return current, False
        previous = self.load()
        self.stop()
        binary = str(self.tools.binary(NAME))
        chosen = port or (previous.port if previous else 0) or free_port()
        log = self.folder / "registry.log"
        self.folder.mkdir(parents=True, exist_ok=True)
        process = Command([binary, f"--port={chosen}", "--", f"greenfield-state={self.folder}"],
                          cwd=self.folder).start(log)
        state = RegistryState(chosen, ProcessRecord(NAME, process.pid, binary, str(log)), [])
        self.save(state)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while _v2(chosen) != 200:
            if not running(process.pid) or time.monotonic() > deadline:
                tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
                self.stop()
                raise ClusterError(f"the registry did not start on 127.0.0.1:{chosen}: {' | '.join(tail)}",
                                   path=str(log), hint="is the port taken? `greenfield local down` stops the rest")
            time.sleep(0.2)
        return state, True

    def stop(self) -> bool:
        state = self.load()
        if state is None:
            return False
        plane = LocalControlPlane(self.folder.parent, self.tools)
        stopped = owns(state.process, str(self.folder))
        # the control plane's stop sequence (SIGTERM, wait, SIGKILL) with this folder as the ownership marker
        plane._stop(ClusterState(self.folder.name, "", {}, [state.process]))
        with contextlib.suppress(OSError):
            self._state_path.unlink()
        return stopped
