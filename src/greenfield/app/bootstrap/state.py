"""What every phase shares: the repository, the cluster's render, its API, the record of completed phases."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from greenfield.adapters.gotools import GoTools
from greenfield.adapters.kubeapi import KubeApi
from greenfield.app.bootstrap.apply import clean, dump_objects, server_diff
from greenfield.app.bootstrap.options import CrdSource, CreateOptions, Progress, load_definitions
from greenfield.app.inventory import load_inventory
from greenfield.app.local import default_control_plane, flux_wish
from greenfield.app.validate import ValidateOptions, validate_repository
from greenfield.core.inventory import Inventory
from greenfield.core.model import ClusterRender
from greenfield.errors import InputError


class BootstrapState:
    """The cluster, its inventory and bootstrap definitions, the render and the API, applied objects."""

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

    def local_flux(self) -> dict[str, object] | None:
        """The local target's Flux wish (`greenfield local up --with-flux`), None without it or on Talos."""
        return flux_wish(self.repo, self.cluster) if self.options.target == "local" else None

    def _apply_objects(self, phase: str, objects: list[dict[str, Any]]) -> bool:
        namespaces = sorted({str((o.get("metadata") or {}).get("namespace")) for o in objects
                             if (o.get("metadata") or {}).get("namespace")})
        for namespace in namespaces:
            if not self.api().exists("namespace", namespace):
                self.api().apply(dump_objects([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}]),
                                 server_side=True)
        manifests = dump_objects([clean(o) for o in objects])
        if not objects or not server_diff(self.api(), manifests):
            return False
        self.progress(phase, f"server-side apply {len(objects)} objects")
        self.api().apply(manifests, server_side=True, force_conflicts=True)
        return True
