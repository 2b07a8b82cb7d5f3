"""git never executes the validated repository's configuration, and revisions are never options.

The repository's own .git/config names commands for core.fsmonitor, a clean/smudge/process filter and a
textconv driver (selected by its .gitattributes), plus hooks: each would create a sentinel file outside the
repository. validate (git ls-files of .sourceignore files), validate --changed-since (git diff, ls-files) and
lint-commits (git log) must not create any of them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from tests.hostile.conftest import git_init, greenfield

PLAN = Path(__file__).resolve().parents[2] / "plan"


def _arm(repo: Path, sentinels: Path) -> list[Path]:
    """Configure every command-running key of the repository's git config; the files they would create."""
    sentinels.mkdir()
    names = ["fsmonitor", "clean", "smudge", "process", "textconv", "diff-command", "hook"]
    commands = {name: f"touch {sentinels / name}; cat" for name in names}
    (repo / ".gitattributes").write_text("* filter=evil diff=evil\n", encoding="utf-8")
    settings = {"core.fsmonitor": commands["fsmonitor"], "filter.evil.clean": commands["clean"],
                "filter.evil.smudge": commands["smudge"], "filter.evil.process": commands["process"],
                "diff.evil.textconv": commands["textconv"], "diff.evil.command": commands["diff-command"],
                "core.pager": commands["hook"], "diff.external": commands["diff-command"]}
    for key, value in settings.items():
        subprocess.run(["git", "config", key, value], cwd=repo, check=True)
    hooks = repo / ".git" / "hooks"
    for hook in ("pre-commit", "post-checkout", "post-index-change", "reference-transaction"):
        (hooks / hook).write_text(f"#!/bin/sh\ntouch {sentinels / 'hook'}\n", encoding="utf-8")
        (hooks / hook).chmod(0o755)
    return [sentinels / name for name in names]


@pytest.fixture
def armed(tmp_path: Path, repo: Path) -> tuple[Path, list[Path]]:
    shutil.copytree(PLAN, repo / "plan")
    git_init(repo)
    sentinels = _arm(repo, tmp_path / "sentinels")
    # dirty the working tree so that git has to look at file contents (filters, fsmonitor, textconv)
    (repo / "kubernetes/apps/podinfo/app/configmap.yaml").write_text(
        (repo / "kubernetes/apps/podinfo/app/configmap.yaml").read_text(encoding="utf-8") + "# changed\n",
        encoding="utf-8")
    (repo / "kubernetes/apps/grafana/app/.sourceignore").write_text("*.md\n", encoding="utf-8")
    return repo, sentinels


def _created(sentinels: list[Path]) -> list[str]:
    return [path.name for path in sentinels if path.exists()]


def test_validate_runs_no_repository_command(armed: tuple[Path, list[Path]], tmp_path: Path) -> None:
    repo, sentinels = armed
    result = greenfield("validate", "--no-schema", "--cache-dir", str(tmp_path / "cache"), cwd=repo)
    assert result.returncode == 0, result.stderr
    assert _created(sentinels) == []


def test_changed_since_runs_no_repository_command(armed: tuple[Path, list[Path]], tmp_path: Path) -> None:
    repo, sentinels = armed
    result = greenfield("validate", "--no-schema", "--changed-since", "HEAD", "--cache-dir", str(tmp_path / "cache"),
                        cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "changed file" in result.stdout
    assert _created(sentinels) == []


def test_lint_commits_runs_no_repository_command(armed: tuple[Path, list[Path]]) -> None:
    repo, sentinels = armed
    result = greenfield("lint-commits", "HEAD~0..HEAD", "--repo", str(repo), cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "0 commit(s)" in result.stdout
    assert _created(sentinels) == []


def test_changed_since_option_injection_is_a_clear_error(tmp_path: Path, repo: Path) -> None:
    git_init(repo)
    target = tmp_path / "victim.txt"
    target.write_text("keep me\n", encoding="utf-8")
    for revision in (f"--output={target}", f"--output={tmp_path / 'new.txt'}", "HEAD --output=x", "-p"):
        result = greenfield("validate", "--no-schema", f"--changed-since={revision}", "--cache-dir",
                            str(tmp_path / "cache"), cwd=repo)
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "unknown revision" in lines[0], result.stderr
    assert target.read_text(encoding="utf-8") == "keep me\n"
    assert not (tmp_path / "new.txt").exists() and not (repo / "x").exists()


def test_lint_commits_option_injection_is_a_clear_error(tmp_path: Path, repo: Path) -> None:
    shutil.copytree(PLAN, repo / "plan")
    git_init(repo)
    target = tmp_path / "victim.txt"
    for revisions in (f"HEAD..--output={target}", f"--output={target}..HEAD", "HEAD...--all"):
        result = greenfield("lint-commits", "--repo", str(repo), "--", revisions, cwd=repo)
        assert result.returncode == 1, result.stdout
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "invalid revision" in lines[0], result.stderr
    assert not target.exists()

