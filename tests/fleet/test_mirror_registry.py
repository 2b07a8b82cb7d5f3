"""`greenfield mirror` against a real OCI registry on 127.0.0.1 (go-containerregistry's registry): the charts
are pushed with helm, `helm pull` gets the same bytes back, and the patch file is written per cluster."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from greenfield.adapters.command import Command
from greenfield.adapters.gotools import GoTools
from greenfield.adapters.local_registry import LocalRegistry
from greenfield.cli.main import app
from greenfield.cli.registry import register

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fleet"


@pytest.fixture(scope="module")
def registry(upstream_tools: GoTools, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    upstream_tools.ensure(["registry", "helm"])
    local = LocalRegistry(tmp_path_factory.mktemp("registry"), upstream_tools)
    local.start()
    try:
        yield local
    finally:
        assert local.stop()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_mirror_pushes_the_charts_and_helm_pulls_them_back(registry: LocalRegistry, upstream_tools: GoTools,
                                                           repo_root: Path, tmp_path: Path) -> None:
    state = registry.running()
    assert state is not None
    charts = tmp_path / "charts"
    charts.mkdir()
    helm = str(upstream_tools.binary("helm"))
    home = {f"HELM_{kind}_HOME": str(tmp_path / "helm") for kind in ("CACHE", "CONFIG", "DATA")}
    Command([helm, "package", str(FIXTURES / "chart" / "web"), "--destination", str(charts)], env=home).run()
    shutil.copy(repo_root.parent / "shared" / "charts" / "reloader-2.2.3.tgz", charts)  # a real upstream chart
    register(app)
    result = CliRunner().invoke(app, ["mirror", "--registry", state.address, "--chart-dir", str(charts), "--output",
                                      str(tmp_path / "out"), "--repo", str(repo_root), "--cluster", "infra",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {(c["name"], c["version"]) for c in report["charts"]} == {("web", "0.1.0"), ("reloader", "2.2.3")}
    assert all(c["reference"].startswith(f"{state.address}/charts/") for c in report["charts"])
    infra = report["clusters"]["infra"]
    assert any(line.endswith(f"-> oci://{state.address}/charts/reloader") for line in infra["rewrites"])
    assert any("cert-manager not in the mirror" in line for line in infra["unmirrored"])  # only what was pushed
    [patch] = [d for d in yaml.safe_load_all(Path(infra["file"]).read_text(encoding="utf-8")) if d]
    assert patch["kind"] == "Kustomization" and patch["metadata"] == {"name": "flux-system", "namespace": "flux-system"}
    for name, version, original in (("web", "0.1.0", charts / "web-0.1.0.tgz"),
                                    ("reloader", "2.2.3", charts / "reloader-2.2.3.tgz")):
        pulled = tmp_path / "pulled" / name
        pulled.mkdir(parents=True)
        Command([helm, "pull", f"oci://{state.address}/charts/{name}", "--version", version, "--plain-http",
                 "--destination", str(pulled)], env=home).run()
        assert _sha(pulled / original.name) == _sha(original)


def test_a_restarted_registry_starts_empty(registry: LocalRegistry, upstream_tools: GoTools, tmp_path: Path) -> None:
    """In memory by design: nothing of an earlier run survives a restart (the local fleet re-seeds it)."""
    registry.stop()
    state, started = registry.start()
    assert started
    helm = str(upstream_tools.binary("helm"))
    home = {f"HELM_{kind}_HOME": str(tmp_path / "helm") for kind in ("CACHE", "CONFIG", "DATA")}
    pulled = Command([helm, "pull", f"oci://{state.address}/charts/web", "--version", "0.1.0", "--plain-http",
                      "--destination", str(tmp_path)], env=home, allowed_exit_codes=frozenset({0, 1})).run()
    assert pulled.returncode == 1 and "not found" in (pulled.stderr + pulled.stdout).lower()
