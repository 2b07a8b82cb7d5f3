"""The CLI as a user meets it: exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def greenfield(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "greenfield", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture()
def repo(tmp_path: Path, repo_root: Path) -> Path:
    shutil.copy(repo_root / "platform.yaml", tmp_path / "platform.yaml")
    (tmp_path / "kubernetes" / "clusters").mkdir(parents=True)
    return tmp_path


def test_inventory_check_accepts_the_reference(repo_root: Path) -> None:
    result = greenfield("inventory", "check", cwd=repo_root)
    assert result.returncode == 0, result.stderr
    assert "ok platform.yaml: 3 clusters" in result.stdout


def test_inventory_check_reports_one_line_per_problem(repo: Path) -> None:
    path = repo / "platform.yaml"
    text = path.read_text()
    line = text[:text.index("pod_cidr: 10.246.0.0/16")].count("\n") + 1
    path.write_text(text.replace("pod_cidr: 10.246.0.0/16", "pod_cidr: 10.244.0.0/16"))
    result = greenfield("inventory", "check", cwd=repo)
    assert result.returncode == 1
    assert (f"error platform.yaml:{line}: clusters.apps.pod_cidr: overlaps clusters.infra.pod_cidr 10.244.0.0/16 "
            "(hint: ClusterMesh needs disjoint pod and service networks per cluster)") in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_inventory_check_json(repo: Path) -> None:
    result = greenfield("inventory", "check", "--format", "json", cwd=repo)
    assert result.returncode == 0
    assert json.loads(result.stdout)["ok"] is True


def test_broken_yaml_is_one_line(repo: Path) -> None:
    (repo / "platform.yaml").write_text("platform: [unclosed\n")
    result = greenfield("inventory", "check", cwd=repo)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("greenfield: platform.yaml: line ")
    assert "Traceback" not in result.stderr


def test_missing_file(repo: Path) -> None:
    result = greenfield("inventory", "check", "--file", "nope.yaml", cwd=repo)
    assert result.returncode == 1
    assert result.stderr.strip() == "greenfield: nope.yaml: file not found"


def test_settings_render_then_check(repo: Path) -> None:
    assert greenfield("settings", "render", "--check", cwd=repo).returncode == 1
    rendered = greenfield("settings", "render", cwd=repo)
    assert rendered.returncode == 0
    assert "written   kubernetes/clusters/infra/cluster-settings.yaml" in rendered.stdout
    assert greenfield("settings", "render", "--check", cwd=repo).returncode == 0
    path = repo / "platform.yaml"
    path.write_text(path.read_text().replace("acme_email: platform@example.com", "acme_email: ops@example.com"))
    drift = greenfield("settings", "render", "--check", cwd=repo)
    assert drift.returncode == 1
    assert "+  ACME_EMAIL: ops@example.com" in drift.stdout


def test_usage_errors_exit_2(repo_root: Path) -> None:
    result = greenfield("no-such-command", cwd=repo_root)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_outside_a_repository(tmp_path: Path) -> None:
    result = greenfield("settings", "render", cwd=tmp_path)
    assert result.returncode == 1
    assert "no platform.yaml or kubernetes/ folder here or above" in result.stderr


def test_an_unwritable_output_is_one_line(repo_root: Path) -> None:
    result = greenfield("report", "--out", "/proc/no-such-dir/report.html", cwd=repo_root)
    assert result.returncode == 1
    assert result.stderr.startswith("greenfield: /proc/no-such-dir")
    assert "No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr
