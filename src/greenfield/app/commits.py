"""`greenfield lint-commits REV..REV`: read the commits with git (through Command) and check traceability."""

from __future__ import annotations

from pathlib import Path

from greenfield.adapters.command import Command
from greenfield.app.plan import load_catalog
from greenfield.core.plan.commits import Commit, CommitProblem, lint_commits
from greenfield.errors import CommandError, InputError

RECORD, FIELD = "\x1e", "\x1f"


def read_commits(repo: Path, revisions: str) -> list[Commit]:
    if not revisions or revisions.startswith("-"):
        raise InputError(f"invalid revision range {revisions!r}", hint="e.g. origin/main..HEAD")
    command = Command(["git", "-c", "core.quotePath=false", "log", "--no-merges", "--name-only", "--no-renames",
                       f"--format={RECORD}%H{FIELD}%B{FIELD}", revisions, "--"], cwd=repo, timeout=60)
    try:
        output = command.run().stdout
    except CommandError as error:
        raise InputError(f"git log {revisions} failed: {error.problem}", path=str(repo),
                         hint="pass a valid REV..REV inside a git repository") from error
    commits: list[Commit] = []
    for record in output.split(RECORD)[1:]:
        sha, message, files = ([*record.split(FIELD), "", ""])[:3]
        paths = tuple(line.strip() for line in files.splitlines() if line.strip())
        commits.append(Commit(sha.strip(), message.strip(), paths))
    return commits


def lint_repository(repo: Path, revisions: str) -> tuple[list[Commit], list[CommitProblem]]:
    catalog = load_catalog(repo)
    commits = read_commits(repo, revisions)
    return commits, lint_commits(catalog, commits)
