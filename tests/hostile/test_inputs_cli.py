"""Hostile command-line arguments: empty strings, paths, names that are paths, very long values, a directory where
a file is expected, a FIFO or a full device as output, closed standard streams. Each is one line, exit 1 (2 for
usage errors, as click reports them), nothing removed or written outside of what was asked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from inputs_helpers import clean, greenfield, inventory_repo, one_line_error, small_repo, text


@pytest.fixture()
def victim(tmp_path: Path, repo_root: Path) -> Path:
    """A repository with local state, to prove `local down --wipe` removes nothing but state."""
    (tmp_path / "repo").mkdir()
    repo = inventory_repo(tmp_path / "repo", repo_root)
    (repo / "kubernetes" / "precious.yaml").write_text("keep: me\n")
    (repo / ".greenfield" / "local").mkdir(parents=True)
    return repo


@pytest.mark.parametrize("name", ["../..", "..", "/", "", "a/b", "../../../../tmp", "[/x]"])
def test_local_down_wipe_never_leaves_the_state_folder(victim: Path, name: str) -> None:
    before = sorted(p.relative_to(victim.parent) for p in victim.parent.rglob("*"))
    line = one_line_error(greenfield("local", "down", "--repo", str(victim), "--cluster", name, "--wipe", cwd=victim))
    assert "is not a cluster name" in line
    assert sorted(p.relative_to(victim.parent) for p in victim.parent.rglob("*")) == before


def test_local_status_of_a_path_is_refused(victim: Path) -> None:
    line = one_line_error(greenfield("local", "status", "--repo", str(victim), "--cluster", "../..", cwd=victim))
    assert "is not a cluster name" in line


@pytest.mark.parametrize(("args", "words"), [
    (["--cluster", ""], "--cluster '': not a cluster name"),
    (["--cluster", ".."], "--cluster '..': not a cluster name"),
    (["--cluster", "../../../../etc"], "not a cluster name"),
    (["--cluster", "x" * 5000], "(5000 characters)"),
    (["--cluster-path", "/etc"], "cluster path is outside the repository"),
    (["--cluster-path", "../.."], "cluster path is outside the repository"),
    (["--chart-dir", "/dev/zero"], "/dev/zero: not a directory"),
    (["--kubernetes-version", "1" * 5000], "(5000 characters)"),
    (["--kubernetes-version", "[/x]"], "not a Kubernetes version: '[/x]'"),
    (["--schemas", "/dev/zero"], "schema location is not a directory"),
])
def test_hostile_validate_arguments(tmp_path: Path, args: list[str], words: str) -> None:
    repo = small_repo(tmp_path)
    line = one_line_error(greenfield("validate", "--repo", str(repo), "--no-cache", *args, cwd=repo))
    assert words in line
    assert len(line) < 600


def test_a_path_too_long_for_the_system_is_cut_in_the_message(tmp_path: Path) -> None:
    repo = small_repo(tmp_path)
    line = one_line_error(greenfield("validate", "--repo", str(repo), "--no-cache", "--cluster-path", "a/" * 3000,
                                     cwd=repo))
    assert len(line) < 600


def test_repo_that_is_a_file_or_missing(tmp_path: Path) -> None:
    line = one_line_error(greenfield("validate", "--repo", "/dev/null", cwd=tmp_path))
    assert line == "greenfield: /dev/null: not a directory (hint: pass the repository root)"
    line = one_line_error(greenfield("validate", "--repo", str(tmp_path / "missing"), cwd=tmp_path))
    assert "not a directory" in line


def test_usage_errors_exit_2_and_echo_markup_verbatim(tmp_path: Path) -> None:
    result = greenfield("inventory", "check", "--format", "[/x]", cwd=tmp_path)
    assert result.returncode == 2
    assert "'[/x]' is not one of" in text(result.stderr) and b"Traceback" not in result.stderr


@pytest.fixture()
def report_repo(tmp_path: Path, repo_root: Path) -> Path:
    """The reference repository's plan with a tiny tree: `report` needs plan/stories.yaml."""
    (tmp_path / "repo").mkdir()
    repo = inventory_repo(tmp_path / "repo", repo_root)
    for name in ("stories.yaml", "schedules/v3.yaml", "schedules/gitops-first.yaml"):
        (repo / "plan" / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / "plan" / name).write_bytes((repo_root / "plan" / name).read_bytes())
    return repo


def test_report_out_that_cannot_be_written(report_repo: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    cases = [(fifo, "is a FIFO (named pipe) nobody reads"), (tmp_path, "cannot write: Is a directory"),
             (Path("/dev/full"), "cannot write: No space left on device")]
    for out, words in cases:
        line = one_line_error(greenfield("report", "--out", str(out), "--repo", str(report_repo), cwd=report_repo))
        assert line.startswith(f"greenfield: {out}: {words}")


def test_report_default_location_is_not_written_through_a_link(report_repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (report_repo / ".greenfield").symlink_to(elsewhere, target_is_directory=True)
    line = one_line_error(greenfield("report", "--repo", str(report_repo), cwd=report_repo))
    assert line.startswith("greenfield: .greenfield: is a symbolic link: not written through")
    assert not (elsewhere / "report.html").exists()  # the report; the build cache follows its own location rules


def test_closed_standard_streams_are_not_an_internal_error(tmp_path: Path, repo_root: Path) -> None:
    repo = inventory_repo(tmp_path, repo_root)
    closed_out = subprocess.run(
        f"exec {sys.executable} -m greenfield inventory check >&-", shell=True, cwd=repo,
        capture_output=True, timeout=60, check=False)
    assert closed_out.returncode == 0, closed_out.stderr
    assert closed_out.stderr == b""
    closed_err = subprocess.run(
        f"exec {sys.executable} -m greenfield inventory check --file missing.yaml 2>&-", shell=True, cwd=repo,
        capture_output=True, timeout=60, check=False)
    assert closed_err.returncode == 1


def test_output_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    repo = small_repo(tmp_path)
    result = subprocess.run(f"{sys.executable} -m greenfield validate --repo {repo} --no-cache | head -c 1",
                            shell=True, cwd=repo, capture_output=True, timeout=60, check=False)
    assert b"Traceback" not in result.stderr and b"internal error" not in result.stderr


def test_an_empty_repository_is_one_line(tmp_path: Path) -> None:
    line = one_line_error(greenfield("validate", "--repo", str(tmp_path), "--no-cache", cwd=tmp_path))
    assert "no cluster to validate" in line


def test_an_inventory_file_argument_that_is_empty_text(tmp_path: Path) -> None:
    line = one_line_error(greenfield("inventory", "check", "--file", "", cwd=tmp_path))
    assert "not a regular file (a directory)" in line  # "" is the current folder, as for every path


def test_a_clean_run_stays_clean(tmp_path: Path) -> None:
    repo = small_repo(tmp_path)
    assert "0 error(s)" in clean(greenfield("validate", "--repo", str(repo), "--no-cache", cwd=repo))
