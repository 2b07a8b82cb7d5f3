"""Companion tests: fixture git repositories and the CLI run as a user runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "engine"
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
GIT_ENV = {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com", "GIT_COMMITTER_NAME": "test",
           "GIT_COMMITTER_EMAIL": "test@example.com", "GIT_CONFIG_NOSYSTEM": "1"}

# the base revision's kustomize patch; the head commit changes `tier` (and a HelmRelease value)
PATCHED_KUSTOMIZATION = """---
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ./namespace.yaml
  - ./configmap.yaml
  - ./helmrelease.yaml
patches:
  - target:
      kind: ConfigMap
      name: hello-values
    patch: |-
      - op: add
        path: /metadata/labels
        value:
          tier: {tier}
"""


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=120, check=True,
                            env={**os.environ, **GIT_ENV})
    return result.stdout


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def chart_fixture(tmp: Path) -> Path:
    """basic + the hello app whose HelmRelease renders the local chart ./charts/hello (tests/fixtures/engine)."""
    repo = tmp / "repo"
    shutil.copytree(FIXTURES / "basic", repo)
    shutil.copytree(FIXTURES / "local-chart" / "repo", repo, dirs_exist_ok=True)
    shutil.copytree(FIXTURES / "local-chart" / "charts" / "hello", repo / "charts" / "hello")
    return repo


def set_tier(repo: Path, tier: str) -> None:
    (repo / "kubernetes/apps/hello/app/kustomization.yaml").write_text(
        PATCHED_KUSTOMIZATION.replace("{tier}", tier), encoding="utf-8")


def replace_replicas(repo: Path, before: int, after: int) -> None:
    """Change the HelmRelease value replicaCount of the hello app."""
    path = repo / "kubernetes/apps/hello/app/helmrelease.yaml"
    text = path.read_text(encoding="utf-8")
    assert f"replicaCount: {before}" in text
    path.write_text(text.replace(f"replicaCount: {before}", f"replicaCount: {after}"), encoding="utf-8")


def greenfield(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "greenfield", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False, env={**os.environ, "CI": "true", **(env or {})})


@pytest.fixture(scope="session")
def diff_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("diff-cache")


@pytest.fixture(scope="module")
def changed_repo(tmp_path_factory: pytest.TempPathFactory, upstream_tools) -> Path:  # type: ignore[no-untyped-def]
    """A git repository: commit 1 = the chart fixture with a kustomize patch (tier a); commit 2 changes the
    HelmRelease value replicaCount 3 -> 5 and the patch's tier a -> b."""
    upstream_tools.ensure(["helm"])
    repo = chart_fixture(tmp_path_factory.mktemp("diff"))
    git(repo, "init", "-q", "-b", "main")
    set_tier(repo, "a")
    commit_all(repo, "base")
    replace_replicas(repo, 3, 5)
    set_tier(repo, "b")
    commit_all(repo, "change a HelmRelease value and a kustomize patch")
    return repo
