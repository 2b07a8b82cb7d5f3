"""Every pinned tool builds from the module proxy (on demand, cached) and reports the pinned version."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from greenfield.adapters.command import Command
from greenfield.adapters.gotools import TOOLS, GoTools
from greenfield.cli.main import app
from greenfield.cli.registry import register

pytestmark = pytest.mark.integration

VERSION_ARGS = {
    "kubeconform": ["-v"],
    "flux": ["version", "--client"],
    "helm": ["version", "--short"],
    "talosctl": ["version", "--client", "--short"],
    "etcd": ["--version"],
    "kube-apiserver": ["--version"],
    "kube-controller-manager": ["--version"],
    "kube-scheduler": ["--version"],
    "kwok": ["--version"],
}


def test_version_args_name_known_tools() -> None:
    assert set(VERSION_ARGS) <= {t.name for t in TOOLS}


@pytest.mark.parametrize("name", sorted(VERSION_ARGS))
def test_built_tool_reports_its_pinned_version(name: str, upstream_tools: GoTools) -> None:
    status = upstream_tools.ensure([name])[0]
    assert status.built
    output = Command([str(status.path), *VERSION_ARGS[name]], timeout=60).run()
    text = output.stdout + output.stderr
    assert status.version.lstrip("v") in text, text


def test_cli_build_of_a_built_tool_is_instant_and_listed(upstream_tools: GoTools) -> None:
    upstream_tools.ensure(["kubeconform"])
    register(app)
    result = CliRunner().invoke(app, ["tools", "--build", "kubeconform", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["kubeconform"]["state"] == "built"
