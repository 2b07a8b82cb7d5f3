"""The reference platform's infra cluster with real Flux on the local control plane (issue 11):
`greenfield local up --with-flux`, `cluster create` (no greenfield reconcile phase: Flux reconciles from the
local git http-backend server), `cluster health` judging Flux objects by what the controllers report, and
`local down --wipe` leaving no process behind.

What can become Ready offline does; what needs upstream charts (OCI registries, Helm repositories on the
internet) stays not Ready and health says so.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import copy_platform_yaml
from typer.testing import CliRunner

from greenfield.adapters.command import Command, which
from greenfield.adapters.gotools import CONTROL_PLANE_TOOLS, FLUX_CONTROLLER_TOOLS, GoTools
from greenfield.adapters.local_cluster import owns
from greenfield.app.bootstrap import Bootstrap, CreateOptions
from greenfield.app.health import HealthReport, check_health
from greenfield.app.local import default_control_plane
from greenfield.cli.main import app
from greenfield.cli.registry import register
from greenfield.core.health import Status

pytestmark = pytest.mark.integration

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid"}


@pytest.fixture(scope="module")
def platform(repo_root: Path, tmp_path_factory: pytest.TempPathFactory, upstream_tools: GoTools,
             crd_schema_dir: Path) -> Iterator[Path]:
    if which("git") is None:
        pytest.skip("git is not installed: git http-backend cannot serve the repository")
    upstream_tools.ensure([*CONTROL_PLANE_TOOLS, *FLUX_CONTROLLER_TOOLS, "helm"])
    repo = tmp_path_factory.mktemp("platform-flux")
    copy_platform_yaml(repo_root, repo)
    for item in ("kubernetes", "bootstrap", "plan"):
        shutil.copytree(repo_root / item, repo / item)
    git = which("git") or "git"
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "platform"]):
        Command([git, "-C", str(repo), *args], env=GIT_ENV, timeout=120).run()
    register(app)
    result = CliRunner().invoke(app, ["local", "up", "--with-flux", "--cluster", "infra", "--repo", str(repo),
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    try:
        yield repo
    finally:
        CliRunner().invoke(app, ["local", "down", "--wipe", "--repo", str(repo)])


def health(repo: Path, crd_dir: Path) -> HealthReport:
    bootstrap = Bootstrap(repo, "infra", CreateOptions(target="local", skip_validate=True, schema_dirs=[crd_dir]))
    return check_health(bootstrap.api(), bootstrap.render(), "local", None)


def test_create_hands_over_to_flux_and_health_reports_real_reconciliation(platform: Path,
                                                                          crd_schema_dir: Path) -> None:
    options = CreateOptions(target="local", skip_validate=True, schema_dirs=[crd_schema_dir])
    report = Bootstrap(platform, "infra", options).run()
    assert report.ok, [p.to_dict() for p in report.phases]
    assert [p.name for p in report.phases] == ["preflight", "talos", "api", "crds", "core", "sync"]
    sync = report.phases[-1]
    assert "http://127.0.0.1:" in sync.detail and "/platform.git" in sync.detail
    end = time.monotonic() + 240
    while True:
        result = health(platform, crd_schema_dir)
        by_check = {r.check: r for r in result.results}
        root = by_check.get("Kustomization flux-system/flux-system Ready")
        if (root is not None and root.status == Status.PASS) or time.monotonic() > end:
            break
        time.sleep(3)
    assert result.target.flux_controllers
    assert root is not None and root.status == Status.PASS, root
    assert "Applied revision: main@sha1:" in root.reason  # written by kustomize-controller
    source = by_check["GitRepository flux-system/flux-system Ready"]
    assert source.status == Status.PASS and "stored artifact" in source.reason
    # the URL stays local after Flux re-applied flux-system/ from git
    api = default_control_plane(platform).api("infra")
    url = api.get("gitrepositories.source.toolkit.fluxcd.io", "flux-system", namespace="flux-system")["spec"]["url"]
    assert url.startswith("http://127.0.0.1:")
    # upstream charts cannot be fetched offline: never reported Ready
    releases = [r for r in result.results if r.check.startswith("HelmRelease ")]
    assert releases and not any(r.status == Status.PASS for r in releases)
    assert not result.ok


def test_status_lists_the_controllers_and_down_leaves_no_process(platform: Path) -> None:
    plane = default_control_plane(platform)
    state = plane.load_state("infra")
    assert state is not None
    names = [p.name for p in state.processes]
    assert names[:3] == list(CONTROL_PLANE_TOOLS) and set(FLUX_CONTROLLER_TOOLS) < set(names)
    runner = CliRunner()
    status = runner.invoke(app, ["local", "status", "--repo", str(platform), "--format", "json"])
    listed = {p["name"]: p["running"] for p in json.loads(status.output)[0]["processes"]}
    assert all(listed[name] for name in FLUX_CONTROLLER_TOOLS)
    down = runner.invoke(app, ["local", "down", "--repo", str(platform)])
    assert down.exit_code == 0, down.output
    marker = str(plane.cluster_dir("infra"))
    assert not any(owns(p, marker) for p in state.processes)
    # up again: the control plane and the controllers come back
    again = runner.invoke(app, ["local", "up", "--with-flux", "--cluster", "infra", "--repo", str(platform)])
    assert again.exit_code == 0, again.output
    state = plane.load_state("infra")
    assert state is not None and all(owns(p, marker) for p in state.processes)
