"""Long operations show progress on a person's terminal and stay quiet in CI, off a tty, or with --quiet."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
from tests.companion.conftest import commit_all, git
from tests.engine.conftest import make_repo

SPINNER_TEXT = {"validate": "greenfield validate: rendering", "diff": "rendering work tree"}


def run_with_terminal_stderr(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal (as in a person's shell) and stdout on a pipe."""
    master, slave = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "greenfield", *args], cwd=cwd, stdout=subprocess.PIPE,
                               stderr=slave, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed its end
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    stdout = process.communicate(timeout=600)[0].decode()
    os.close(master)
    return process.returncode, stdout, b"".join(chunks).decode(errors="replace")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_repo(tmp_path_factory.mktemp("progress"))
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "base")
    return repo


def environment(tmp: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    return {**env, "TERM": "xterm-256color", "COLUMNS": "100", "XDG_CACHE_HOME": str(tmp / "cache"), **extra}


@pytest.mark.parametrize("command", [["validate", "--no-schema"], ["diff", "--base", "HEAD"]])
def test_spinner_on_a_terminal_and_quiet_in_ci_or_with_quiet(repo: Path, tmp_path: Path, command: list[str]) -> None:
    text = SPINNER_TEXT[command[0]]
    code, _, terminal = run_with_terminal_stderr(command, repo, environment(tmp_path))
    assert code == 0 and text in terminal, terminal
    for env, extra in ((environment(tmp_path, CI="true"), []), (environment(tmp_path), ["--quiet"])):
        code, _, terminal = run_with_terminal_stderr([*command, *extra], repo, env)
        assert code == 0 and text not in terminal and "\x1b[?25l" not in terminal, terminal  # no hidden cursor


def test_no_progress_when_stderr_is_not_a_terminal(repo: Path, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "greenfield", "diff", "--base", "HEAD"], cwd=repo,
                            capture_output=True, text=True, timeout=600, env=environment(tmp_path), check=False)
    assert result.returncode == 0 and result.stderr == ""
