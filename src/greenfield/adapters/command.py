"""The one way to run a subprocess: an argument list, never a shell."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from greenfield.errors import CommandError


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Command:
    argv: Sequence[str]
    cwd: Path | None = None
    env: Mapping[str, str] | None = None  # added to (not replacing) the current environment
    timeout: float | None = 300.0
    allowed_exit_codes: frozenset[int] = field(default_factory=lambda: frozenset({0}))
    input: str | None = None

    @property
    def program(self) -> str:
        return str(self.argv[0])

    def describe(self) -> str:
        return " ".join(str(a) for a in self.argv)

    def run(self) -> CommandResult:
        environment = dict(os.environ)
        if self.env:
            environment.update(self.env)
        try:
            completed = subprocess.run(
                [str(a) for a in self.argv],
                cwd=self.cwd,
                env=environment,
                input=self.input,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError as error:
            raise CommandError(
                f"cannot start {self.program}: not found",
                hint="run ./run tools, or install it; ./run does the Python part on first use",
            ) from error
        except subprocess.TimeoutExpired as error:
            raise CommandError(
                f"{self.describe()} did not finish within {self.timeout:.0f}s",
                hint="raise the timeout or check what it waits on",
            ) from error
        result = CommandResult(tuple(str(a) for a in self.argv), completed.returncode, completed.stdout,
                               completed.stderr)
        if completed.returncode not in self.allowed_exit_codes:
            detail = (completed.stderr or completed.stdout).strip().splitlines()
            tail = detail[-1] if detail else "no output"
            raise CommandError(f"{self.describe()} exited {completed.returncode}: {tail}")
        return result

    def run_bytes(self, data: bytes = b"") -> tuple[int, bytes, bytes]:
        """Run with binary stdin/stdout (a CGI program such as `git http-backend`): (exit code, out, err).
        The exit code is returned, not checked: the caller maps it to its protocol."""
        environment = dict(os.environ)
        if self.env:
            environment.update(self.env)
        try:
            completed = subprocess.run([str(a) for a in self.argv], cwd=self.cwd, env=environment, input=data,
                                       capture_output=True, timeout=self.timeout, check=False)
        except FileNotFoundError as error:
            raise CommandError(f"cannot start {self.program}: not found") from error
        except subprocess.TimeoutExpired as error:
            raise CommandError(f"{self.describe()} did not finish within {self.timeout:.0f}s") from error
        return completed.returncode, completed.stdout, completed.stderr

    def start(self, log_file: Path) -> subprocess.Popen[bytes]:
        """Start a long-running process (a server) with its output in log_file."""
        environment = dict(os.environ)
        if self.env:
            environment.update(self.env)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as log:
            try:
                return subprocess.Popen(
                    [str(a) for a in self.argv], cwd=self.cwd, env=environment, stdout=log,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                )
            except FileNotFoundError as error:
                raise CommandError(f"cannot start {self.program}: not found") from error


def which(program: str) -> str | None:
    return shutil.which(program)
