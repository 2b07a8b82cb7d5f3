"""Traceability: every commit that touches a story's paths names (one of) its story ID(s). Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from greenfield.core.plan.board import path_matches
from greenfield.core.plan.catalog import STORY_ID, Catalog

MENTION = re.compile(r"STORY-[A-Z0-9]+(?:-[A-Z0-9]+)*")


@dataclass(frozen=True)
class Commit:
    sha: str
    message: str
    files: tuple[str, ...]

    @property
    def subject(self) -> str:
        return self.message.splitlines()[0] if self.message else ""


@dataclass(frozen=True)
class CommitProblem:
    sha: str
    subject: str
    severity: str  # "error" (missing story ID) | "warning" (unknown story ID)
    message: str
    files: tuple[str, ...] = ()
    expected: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"sha": self.sha, "subject": self.subject, "severity": self.severity, "message": self.message,
                "files": list(self.files), "expected": list(self.expected)}


def owners(catalog: Catalog, path: str) -> list[str]:
    return [s.id for s in catalog.stories if any(path_matches(p, path) for p in s.paths)]


def lint_commits(catalog: Catalog, commits: list[Commit]) -> list[CommitProblem]:
    """A commit passes when, for every file it touches that belongs to stories, it names one of those stories."""
    problems: list[CommitProblem] = []
    known = set(catalog.by_id)
    for commit in commits:
        named = set(MENTION.findall(commit.message))
        unknown = sorted(n for n in named if n not in known and STORY_ID.match(n))
        if unknown:
            problems.append(CommitProblem(commit.sha, commit.subject, "warning",
                                          f"names unknown story ID(s): {', '.join(unknown)}"))
        missing: dict[tuple[str, ...], list[str]] = {}
        for path in commit.files:
            stories = owners(catalog, path)
            if stories and not named.intersection(stories):
                missing.setdefault(tuple(stories), []).append(path)
        for owning, touched in missing.items():
            choice = owning[0] if len(owning) == 1 else "one of " + ", ".join(owning)
            problems.append(CommitProblem(commit.sha, commit.subject, "error",
                                          f"touches {len(touched)} file(s) of {choice} without naming it",
                                          tuple(touched), owning))
    return problems
