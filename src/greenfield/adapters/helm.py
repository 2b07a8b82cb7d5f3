"""helm (built from its Go module) through `Command`: template, install/upgrade, read back a release."""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenfield.adapters.command import Command, CommandResult
from greenfield.core import goyaml
from greenfield.errors import CommandError

STRIP_KINDS = """#!{python}
# helm post-renderer: phase 2 installs no CRDs (phase 0 owns them until Flux takes over), and on a target
# without pods no admission webhooks (nothing could serve them: every request they match would fail).
import sys
from greenfield.core import goyaml
docs = [d for d in goyaml.load_all(sys.stdin.read(), goyaml.K8S) if d and d.get("kind") not in {kinds!r}]
sys.stdout.write(goyaml.dump_all(docs))
"""
WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")


@dataclass(frozen=True)
class Helm:
    binary: str
    kubeconfig: Path | None = None
    context: str | None = None
    timeout: float = 600.0

    def _argv(self, *args: str) -> list[str]:
        argv = [self.binary, *args]
        if self.kubeconfig is not None:
            argv += ["--kubeconfig", str(self.kubeconfig)]
        if self.context:
            argv += ["--kube-context", self.context]
        return argv

    def _env(self, home: Path) -> dict[str, str]:
        # a private helm home: no user repositories or registry logins leak into bootstrap
        return {"HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
                "HELM_DATA_HOME": str(home / "data")}

    def _template(self, release: str, chart: str, namespace: str, values: dict[str, Any], *, include_crds: bool,
                  home: Path, version: str = "", kube_version: str = "", check: bool = True,
                  api_versions: tuple[str, ...] = (), skip_tests: bool = False) -> CommandResult:
        with tempfile.TemporaryDirectory(prefix="greenfield-helm-") as scratch:
            values_file = Path(scratch) / "values.yaml"
            values_file.write_text(goyaml.dump(values), encoding="utf-8")
            argv = [self.binary, "template", release, chart, "--namespace", namespace, "--values", str(values_file)]
            argv += ["--version", version] if version and not Path(chart).exists() else []
            argv += ["--include-crds"] if include_crds else ["--skip-crds"]
            argv += ["--kube-version", kube_version] if kube_version else []
            for api_version in api_versions:
                argv += ["--api-versions", api_version]
            argv += ["--skip-tests"] if skip_tests else []
            codes = frozenset({0}) if check else frozenset(range(256))
            return Command(argv, env=self._env(home), timeout=self.timeout, allowed_exit_codes=codes).run()

    def template(self, release: str, chart: str, version: str, namespace: str, values: dict[str, Any],
                 *, include_crds: bool, home: Path) -> list[dict[str, Any]]:
        from greenfield.adapters.charts import split_manifests  # one reader of helm output (lists flattened)

        output = self._template(release, chart, namespace, values, include_crds=include_crds, home=home,
                                version=version).stdout
        return split_manifests(output)[0]

    def template_raw(self, release: str, chart: str, namespace: str, values: dict[str, Any], *,
                     include_crds: bool, kube_version: str, home: Path, version: str = "",
                     api_versions: tuple[str, ...] = (), skip_tests: bool = False) -> tuple[int, str, str]:
        """`helm template` offline: (exit code, stdout, stderr); a failing chart is data, not an exception."""
        result = self._template(release, chart, namespace, values, include_crds=include_crds, home=home,
                                version=version, kube_version=kube_version, check=False, api_versions=api_versions,
                                skip_tests=skip_tests)
        return result.returncode, result.stdout, result.stderr

    def dependency_update(self, chart: Path, *, home: Path) -> tuple[int, str]:
        """`helm dependency update` of an unpacked chart (local file:// dependencies only: works offline)."""
        result = Command([self.binary, "dependency", "update", str(chart), "--skip-refresh"], env=self._env(home),
                         timeout=self.timeout, allowed_exit_codes=frozenset(range(256))).run()
        return result.returncode, (result.stderr or result.stdout).strip()

    def upgrade_install(self, release: str, chart: str, version: str, namespace: str, values: dict[str, Any],
                        *, home: Path, wait: bool, hooks: bool = True, webhooks: bool = True) -> None:
        with tempfile.TemporaryDirectory(prefix="greenfield-helm-") as scratch:
            folder = Path(scratch)
            values_file = folder / "values.yaml"
            values_file.write_text(goyaml.dump(values), encoding="utf-8")
            renderer = folder / "strip-crds"
            kinds = {"CustomResourceDefinition", *([] if webhooks else WEBHOOK_KINDS)}
            renderer.write_text(STRIP_KINDS.format(python=sys.executable, kinds=sorted(kinds)), encoding="utf-8")
            renderer.chmod(0o755)
            argv = self._argv("upgrade", "--install", release, chart, "--namespace", namespace, "--create-namespace",
                              "--values", str(values_file), "--skip-crds", "--post-renderer", str(renderer),
                              "--history-max", "3")
            argv += ["--version", version] if version and not Path(chart).exists() else []
            argv += ["--wait", "--timeout", "10m"] if wait else []
            argv += [] if hooks else ["--no-hooks"]
            Command(argv, env=self._env(home), timeout=self.timeout + 60).run()

    def release(self, release: str, namespace: str, *, home: Path) -> dict[str, Any] | None:
        """The deployed release (chart, version, values) or None when not installed."""
        argv = self._argv("list", "--namespace", namespace, "--filter", f"^{release}$", "--output", "json")
        listing = json.loads(Command(argv, env=self._env(home), timeout=120).run().stdout or "[]")
        if not listing:
            return None
        entry = listing[0]
        try:
            values_argv = self._argv("get", "values", release, "--namespace", namespace, "--output", "json")
            values = json.loads(Command(values_argv, env=self._env(home), timeout=120).run().stdout or "{}")
        except CommandError:
            values = None
        return {"chart": entry.get("chart", ""), "status": entry.get("status", ""), "values": values or {}}

    def push(self, chart: Path, url: str, *, home: Path, plain_http: bool = False) -> str:
        """`helm push CHART.tgz oci://HOST/PATH`: the chart lands at oci://HOST/PATH/<name>:<version>;
        returns the reference helm reports ("Pushed: ...")."""
        argv = [self.binary, "push", str(chart), url] + (["--plain-http"] if plain_http else [])
        result = Command(argv, env=self._env(home), timeout=self.timeout).run()
        for line in (result.stdout + "\n" + result.stderr).splitlines():
            if line.startswith("Pushed:"):
                return line.split(":", 1)[1].strip()
        return ""

    def uninstall(self, release: str, namespace: str, *, home: Path) -> None:
        Command(self._argv("uninstall", release, "--namespace", namespace, "--ignore-not-found"),
                env=self._env(home), timeout=300).run()
