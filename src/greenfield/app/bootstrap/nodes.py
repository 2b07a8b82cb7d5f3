"""Phases preflight, talos and api: tools and validation, the nodes (or the local control plane), the API server."""

from __future__ import annotations

import socket
import time

from greenfield.adapters.command import Command
from greenfield.adapters.gotools import FLEET_TOOLS, FLUX_CONTROLLER_TOOLS
from greenfield.app.bootstrap.options import PhaseResult
from greenfield.app.bootstrap.state import BootstrapState
from greenfield.app.local import cluster_specs, default_control_plane, ensure_control_plane_tools
from greenfield.app.validate import validate_repository
from greenfield.core.bootstrap import PHASE_STORY
from greenfield.core.findings import Severity
from greenfield.errors import ClusterError, InputError


class NodePhases(BootstrapState):
    """From bare nodes (or nothing, locally) to a ready API server."""

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
