"""`greenfield lint-commits REV..REV`: commits touching a story's paths carry its story ID."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from greenfield.app.commits import lint_repository
from greenfield.cli.common import print_json, repo_option, say, styled


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"


def lint_commits(
    revisions: str = typer.Argument(..., help="Commit range, e.g. origin/main..HEAD."),
    output: Format = typer.Option(Format.TEXT, "--format", help="text or json."),
    repo: Path | None = typer.Option(None, "--repo", help="Repository root."),
) -> None:
    """Check that every commit touching a story's paths names the story ID (plan/stories.yaml)."""
    commits, problems = lint_repository(repo_option(repo), revisions)
    errors = [p for p in problems if p.severity == "error"]
    if output is Format.JSON:
        print_json({"range": revisions, "commits": len(commits), "problems": [p.to_dict() for p in problems]})
    else:
        for problem in problems:
            colour = "red" if problem.severity == "error" else "yellow"
            say(styled(problem.severity, colour), f" {problem.sha[:10]} {problem.subject[:60]!r}: {problem.message}")
            for path in problem.files[:5]:
                say(f"    {path}")
        verdict = styled("fail", "red") if errors else styled("ok", "green")
        say(verdict, f" {len(commits)} commit(s) in {revisions}: {len(errors)} without their story ID")
    if errors:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("lint-commits")(lint_commits)
