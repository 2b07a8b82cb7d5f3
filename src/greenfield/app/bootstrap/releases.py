"""Phase core: the releases the cluster needs before Flux runs, installed with helm from real charts (or stand-ins)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from greenfield.adapters.charts import chart_identity
from greenfield.adapters.helm import Helm
from greenfield.app.bootstrap.apply import clean, flux_labelled
from greenfield.app.bootstrap.options import PhaseResult
from greenfield.app.bootstrap.state import BootstrapState
from greenfield.app.standin_charts import build_standin, chart_version
from greenfield.core.bootstrap import PHASE_STORY, ReleasePlan, resolve_kustomization, resolve_release
from greenfield.errors import InputError


class CorePhase(BootstrapState):
    """The core releases and Kustomizations, and the charts they are installed from."""

    def _helm(self) -> Helm:
        api = self.api()
        return Helm(str(self.tools.binary("helm")), api.kubeconfig, api.context)

    def chart_folders(self) -> list[Path]:
        """Where real charts are: --chart-dir, else the chart folders platform.yaml names (that exist)."""
        if self.options.chart_dir is not None:
            return [self.options.chart_dir]
        folders = [Path(os.path.normpath(self.repo / folder.path)) for folder in self.inventory.chart_folders()]
        return [folder for folder in folders if folder.is_dir()]

    def _real_chart(self, chart: str, version: str) -> Path | None:
        for folder in self.chart_folders():
            for name in dict.fromkeys([f"{chart}-{version}", f"{chart}-{chart_version(version)}"]):
                for candidate in (folder / name, folder / f"{name}.tgz"):
                    if candidate.exists():
                        return candidate
            if (folder / chart).is_dir() and chart_identity(folder / chart).endswith(f"-{chart_version(version)}"):
                return folder / chart
        return None

    def _chart(self, chart: str, version: str, source_url: str) -> str:
        """The chart to install: the real one from a chart folder; on the local target (no registry) a stand-in
        only for a chart that is not available; otherwise the registry's."""
        real = self._real_chart(chart, version)
        if real is not None:
            return str(real)
        if self.options.chart_dir is not None:
            raise InputError(f"chart {chart} {version} not found", path=str(self.options.chart_dir),
                             hint=f"add {chart}-{chart_version(version)}/ or .tgz")
        if self.options.target == "local":
            folder = self.repo / ".greenfield" / "stand-in-charts"
            return str(build_standin(folder, chart, version))
        if source_url.startswith("oci://"):
            return source_url if source_url.rstrip("/").endswith("/" + chart) else f"{source_url.rstrip('/')}/{chart}"
        return f"{source_url.rstrip('/')}/{chart}-{chart_version(version)}.tgz"

    def _wanted_chart(self, chart: str, version: str) -> str:
        """`<name>-<version>` as helm lists the release once installed (the real chart's own Chart.yaml)."""
        real = self._real_chart(chart, version)
        return chart_identity(real) if real is not None else f"{chart}-{chart_version(version)}"

    def _release_namespaces(self, release: ReleasePlan) -> list[dict[str, Any]]:
        """The Namespaces (as git has them, PSA labels and all) that the release's chart puts objects in but does
        not create: in GitOps a parent Kustomization applied them first; here phase 2 does, before helm."""
        render = self.render()
        key = release.ref.removeprefix("HelmRelease/")
        used = {release.namespace} | {obj.namespace for obj in render.objects if obj.release == key and obj.namespace}
        created = {obj.name for obj in render.objects if obj.release == key and obj.kind == "Namespace"}
        wanted = []
        for obj in render.objects:
            if obj.kind == "Namespace" and not obj.release and obj.name in used - created:
                owner = obj.kustomization.split("/", 1) if "/" in obj.kustomization else ["flux-system", ""]
                body = clean(obj.body)
                wanted.append(flux_labelled(body, owner[0], owner[1]) if owner[1] else body)
        return sorted(wanted, key=lambda body: str(body["metadata"]["name"]))

    def standin_releases(self) -> list[str]:
        """Core releases whose chart is in no chart folder (stand-ins on the local target)."""
        missing = []
        for ref in self.definitions.core:
            if ref.helmrelease:
                release = resolve_release(self.render(), ref)
                if self._real_chart(release.chart, release.version) is None:
                    missing.append(f"{release.chart} {release.version}")
        return missing

    def phase_core(self) -> PhaseResult:
        result = PhaseResult("core", PHASE_STORY["core"], "unchanged")
        helm = self._helm()
        installed = []
        for ref in self.definitions.core:
            if ref.helmrelease:
                release = resolve_release(self.render(), ref)
                current = helm.release(release.release_name, release.namespace, home=self.helm_home)
                wanted_chart = self._wanted_chart(release.chart, release.version)
                if (current and current["chart"] == wanted_chart and current["values"] == release.values
                        and current["status"] == "deployed"):
                    installed.append(f"{release.release_name}={release.version} (unchanged)")
                    continue
                if self._apply_objects("core", self._release_namespaces(release)):
                    result.status = "done"
                self.progress("core", f"helm upgrade --install {release.release_name} {release.version}")
                chart = self._chart(release.chart, release.version, release.source_url)
                # with no CRDs in this phase: phase 0 put them in place, the post-renderer drops any the chart templates
                # the local target runs no pods (no kubelet): a chart's hook Jobs (cert-manager's startupapicheck)
                # would never complete (helm would wait for them until it times out), and its admission webhooks
                # would have nothing to serve them (every request they match would fail)
                local = self.options.target == "local"
                helm.upgrade_install(release.release_name, chart, release.version, release.namespace, release.values,
                                     home=self.helm_home, wait=not local, hooks=not local, webhooks=not local)
                result.status = "done"
                result.changes.append(f"installed {release.release_name} {release.version}")
                installed.append(f"{release.release_name}={release.version}")
            else:
                node = resolve_kustomization(self.render(), ref)
                changed = self._apply_objects("core", [flux_labelled(clean(obj.body), node.key.namespace,
                                                                      node.key.name) for obj in node.objects])
                if changed:
                    result.status = "done"
                    result.changes.append(f"applied {ref}")
                installed.append(f"{ref} ({len(node.objects)} objects)")
        result.detail = "; ".join(installed)
        return result
