"""Helpers of the hostile-input tests (test_inputs_*.py): run the CLI as a user would, in a subprocess with a
timeout (a FIFO or a device must never make it wait), and check the one-line error contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

TIMEOUT_S = 60  # far above any case here (a few seconds each); a hang fails the test instead of the suite


def greenfield(*args: str | bytes, cwd: Path, timeout: float = TIMEOUT_S, stdout: int | None = subprocess.PIPE,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """The CLI in its own process. Output stays bytes: a hostile case may print what is not UTF-8."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "greenfield", *args], cwd=cwd, stdout=stdout,
                          stderr=subprocess.PIPE, timeout=timeout, check=False, env=env)


def text(output: bytes | None) -> str:
    return (output or b"").decode("utf-8", "replace")


def one_line_error(result: subprocess.CompletedProcess[bytes], code: int = 1) -> str:
    """The single `greenfield: ...` line of stderr; asserts the exit code and that nothing else (a traceback, a
    second line) was printed there."""
    stderr = text(result.stderr)
    assert "Traceback" not in stderr + text(result.stdout), stderr
    assert "internal error" not in stderr, stderr
    assert result.returncode == code, (result.returncode, stderr, text(result.stdout)[-2000:])
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("greenfield: "), stderr
    return lines[0]


def clean(result: subprocess.CompletedProcess[bytes], code: int = 0) -> str:
    """stdout of a run that must not fail with an error message or traceback."""
    stderr = text(result.stderr)
    assert "Traceback" not in stderr + text(result.stdout), stderr
    assert "internal error" not in stderr, stderr
    assert result.returncode == code, (result.returncode, stderr, text(result.stdout)[-2000:])
    return text(result.stdout)


def small_repo(root: Path, files: dict[str, str] | None = None) -> Path:
    """A Flux repository of one cluster `main` (no platform.yaml): one ConfigMap, plus `files`."""
    folder = root / "kubernetes" / "clusters" / "main"
    folder.mkdir(parents=True)
    (folder / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: default\n"
                                    "data:\n  k: v\n")
    for name, content in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def inventory_repo(root: Path, repo_root: Path) -> Path:
    """A folder with a copy of the reference platform.yaml (and an empty kubernetes/clusters/)."""
    shutil.copy(repo_root / "platform.yaml", root / "platform.yaml")
    (root / "kubernetes" / "clusters").mkdir(parents=True)
    return root


def line_of(path: Path, needle: str) -> int:
    """1-based line of the first occurrence of `needle` in `path`."""
    content = path.read_text()
    return content[:content.index(needle)].count("\n") + 1
