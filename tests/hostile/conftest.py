"""Hostile inputs: helpers to run the real CLI in a subprocess (with a timeout) on a copy of a fixture repository.

Every case asserts a clear one-line error or the right finding, no traceback, no hang, and nothing written
outside the repository and the cache folder it was given.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "engine"
BASIC = FIXTURES / "basic"
TIMEOUT = 120  # seconds: far above any of these runs; a hang fails the test instead of the suite


def copy_basic(tmp: Path, name: str = "repo") -> Path:
    repo = tmp / name
    shutil.copytree(BASIC, repo)
    return repo


def git_init(repo: Path) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "initial"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def greenfield(*args: str, cwd: Path, home: Path | None = None, timeout: float = TIMEOUT
               ) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it; HOME/XDG point at a private folder so the default cache is observable."""
    env = dict(os.environ)
    if home is not None:
        env.update({"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")})
    result = subprocess.run([sys.executable, "-m", "greenfield", *args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result


def validate_json(repo: Path, cache: Path, *extra: str) -> list[dict[str, object]]:
    result = greenfield("validate", "--no-schema", "--format", "json", "--cache-dir", str(cache), *extra, cwd=repo)
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)  # {"findings": [...], "clusters": {...}}
    assert isinstance(report, dict) and isinstance(report["findings"], list)
    return list(report["findings"])


def rules_of(findings: list[dict[str, object]]) -> set[str]:
    return {str(f["rule"]) for f in findings}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return copy_basic(tmp_path)
