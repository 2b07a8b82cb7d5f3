"""The shipped pre-commit hook, run the way its users run it: `pre-commit try-repo <this repository>
greenfield-validate` in a fixture Flux repository. pre-commit clones this repository (uncommitted changes
included, as a shadow commit), creates its own virtual environment and pip-installs greenfield from it, so this
test needs the package registry for greenfield's dependencies, like any user's first run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.companion.conftest import FIXTURES, GIT_ENV, commit_all, git

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_hooks_file_declares_greenfield_validate_on_changed_clusters() -> None:
    hooks = {hook["id"]: hook for hook in yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())}
    hook = hooks["greenfield-validate"]
    assert hook["entry"].split()[:2] == ["greenfield", "validate"] and "--changed-since HEAD" in hook["entry"]
    assert hook["language"] == "python" and hook["pass_filenames"] is False


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def try_repo(repo: Path, home: Path, schemas: Path) -> subprocess.CompletedProcess[str]:
    pre_commit = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    assert pre_commit, "pre-commit is a dev dependency (pyproject.toml)"
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(home), "CI": "true", "GREENFIELD_SCHEMAS": str(schemas),
           "XDG_CACHE_HOME": str(home / "xdg-cache")}
    return subprocess.run([pre_commit, "try-repo", str(REPO_ROOT), "greenfield-validate", "--verbose"], cwd=repo,
                          capture_output=True, text=True, timeout=900, check=False, env=env)


def test_try_repo_fails_a_breaking_change_and_passes_a_clean_one(tmp_path: Path, pre_commit_home: Path,
                                                                 crd_schema_dir: Path) -> None:
    repo = tmp_path / "fleet"
    shutil.copytree(FIXTURES / "basic", repo)
    (repo / ".gitignore").write_text(".greenfield/\n", encoding="utf-8")
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "base")

    settings = repo / "kubernetes/clusters/dev/cluster-settings.yaml"
    settings.write_text(settings.read_text(encoding="utf-8").replace('REPLICAS: "2"', 'REPLICAS: "3"'),
                        encoding="utf-8")
    git(repo, "add", "-A")
    clean = try_repo(repo, pre_commit_home, crd_schema_dir)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "greenfield validate (changed clusters)" in clean.stdout and "Passed" in clean.stdout
    commit_all(repo, "three replicas")

    kustomization = repo / "kubernetes/apps/grafana/app/kustomization.yaml"  # lists a file that does not exist
    kustomization.write_text(kustomization.read_text(encoding="utf-8") + "  - ./missing.yaml\n", encoding="utf-8")
    git(repo, "add", "-A")
    broken = try_repo(repo, pre_commit_home, crd_schema_dir)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "Failed" in broken.stdout
    assert "build/kustomize-error" in broken.stdout and "missing.yaml" in broken.stdout
