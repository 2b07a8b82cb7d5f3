"""`greenfield lint-commits REV..REV`: read the commits with git (through Command) and check traceability."""

from __future__ import annotations

from pathlib import Path

from greenfield.adapters.git import Git
from greenfield.app.plan import load_catalog
from greenfield.core.plan.commits import Commit, CommitProblem, lint_commits
from greenfield.errors import CommandError, InputError, quoted

RECORD, FIELD = "\x1e", "\x1f"


def read_commits(repo: Path, revisions: str) -> list[Commit]:
    if not revisions or revisions.startswith("-"):
        raise InputError(f"invalid revision range {quoted(revisions)}", hint="e.g. origin/main..HEAD")
    git = Git(repo)
    try:
        resolved = git.commit_range(revisions)  # each end a commit, never an option
    except InputError as error:
        raise InputError(f"invalid revision range {quoted(revisions)}: {error.problem}", path=str(repo),
                         hint="e.g. origin/main..HEAD") from error
    try:
        output = git.run("log", "--no-merges", "--name-only", "--no-renames", "--no-ext-diff", "--no-textconv",
                         "--no-show-signature", f"--format={RECORD}%H{FIELD}%B{FIELD}", resolved, "--").stdout
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
