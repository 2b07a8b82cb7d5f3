"""lint-commits on a temporary git repository (real git through the Command type)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from greenfield.app.commits import lint_repository
from greenfield.core.plan.catalog import Catalog
from greenfield.core.plan.commits import Commit, lint_commits
from greenfield.errors import InputError


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/bin:/bin", "HOME": str(repo)}
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True).stdout


def _commit(repo: Path, message: str, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        _git(repo, "add", name)
    _git(repo, "commit", "-q", "-m", message)


@pytest.fixture()
def history(tmp_path: Path, repo_root: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "plan" / "schedules").mkdir(parents=True)
    shutil.copy(repo_root / "plan" / "stories.yaml", repo / "plan" / "stories.yaml")
    for seed in (repo_root / "plan" / "schedules").glob("*.yaml"):
        shutil.copy(seed, repo / "plan" / "schedules" / seed.name)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "plan")
    _git(repo, "commit", "-q", "-m", "plan: catalog")
    _git(repo, "tag", "base")
    _commit(repo, "STORY-DNS-COREDNS-BASE: CoreDNS release", {
        "kubernetes/infrastructure/kube-system/coredns/ks.yaml": "---\n"})
    _commit(repo, "add spegel without an id", {
        "kubernetes/infrastructure/kube-system/spegel/app/helmrelease.yaml": "---\n", "README.md": "x\n"})
    _commit(repo, "docs: no story paths touched", {"docs/notes.md": "x\n"})
    _commit(repo, "STORY-NO-SUCH-THING: typo in the id", {"docs/more.md": "x\n"})
    return repo


def test_lint_commits_reports_commits_without_their_story_id(history: Path) -> None:
    commits, problems = lint_repository(history, "base..HEAD")
    assert len(commits) == 4
    errors = [p for p in problems if p.severity == "error"]
    assert len(errors) == 1
    assert errors[0].subject == "add spegel without an id"
    assert errors[0].expected == ("STORY-NET-SPEGEL-REGISTRY-MIRROR",)
    assert errors[0].files == ("kubernetes/infrastructure/kube-system/spegel/app/helmrelease.yaml",)
    warnings = [p for p in problems if p.severity == "warning"]
    assert [w.message for w in warnings] == ["names unknown story ID(s): STORY-NO-SUCH-THING"]


def test_lint_commits_cli_exit_codes_and_json(history: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "greenfield", "lint-commits", *args], cwd=history,
                              capture_output=True, text=True, timeout=120, check=False)

    bad = run("base..HEAD", "--format", "json")
    assert bad.returncode == 1
    data = json.loads(bad.stdout)
    assert data["commits"] == 4 and data["problems"][0]["severity"] in ("error", "warning")
    good = run("base..HEAD~3")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "ok 1 commit(s)" in good.stdout
    broken = run("nope..HEAD")
    assert broken.returncode == 1
    assert broken.stderr.startswith("greenfield: ") and "Traceback" not in broken.stderr


def test_shared_paths_accept_any_owning_story(catalog: Catalog) -> None:
    shared = "kubernetes/infrastructure/kube-system/cilium/app/helmrelease.yaml"  # stories 1 and 12
    ok = Commit("a" * 40, "STORY-NET-CILIUM-CLUSTERMESH: mesh values", (shared,))
    assert lint_commits(catalog, [ok]) == []
    missing = lint_commits(catalog, [Commit("b" * 40, "cilium: bump", (shared,))])
    assert missing and "one of STORY-NET-CILIUM-CORE-GITOPS" in missing[0].message


def test_invalid_range_is_an_input_error(history: Path) -> None:
    with pytest.raises(InputError, match="invalid revision range"):
        lint_repository(history, "--all")
