"""`greenfield schedule`: plan sprints from the catalog, or `--check SEED` a given schedule."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from greenfield.app.schedule import ScheduleRequest, calendar_for, check_seed, schedule_repository
from greenfield.cli.common import cell, console, line, print_json, repo_option, say, styled
from greenfield.core.plan.markdown import check_markdown, schedule_markdown, span
from greenfield.core.plan.schedule import Severity, Strategy
from greenfield.errors import InputError, quoted


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


def schedule(
    strategy: Strategy = typer.Option(Strategy.MANIFESTS_FIRST, "--strategy", help="manifests-first or gitops-first."),
    start: str | None = typer.Option(None, "--start", help="First sprint's start date (default: plan/stories.yaml)."),
    sprint_length: list[str] = typer.Option([], "--sprint-length",
                                            help="Default length (2w) or one sprint's length (6=3w); repeatable."),
    freeze: list[str] = typer.Option([], "--freeze", help="FROM..TO: no sprint overlaps it; repeatable."),
    holiday: list[str] = typer.Option([], "--holiday", help="DATE: a day off (capacity); repeatable."),
    capacity: list[str] = typer.Option([], "--capacity", help="Points per 10 working days: N, or LANE=N per lane."),
    check: str | None = typer.Option(None, "--check", help="Check a seed schedule of plan/schedules (v3, gitops-first)."),
    output: Format = typer.Option(Format.TEXT, "--format", help="text, json or markdown."),
    repo: Path | None = typer.Option(None, "--repo", help="Repository root."),
) -> None:
    """Assign stories to sprints (dependencies, capacity, freezes, holidays), with critical path and slack."""
    root = repo_option(repo)
    if check is not None:
        _check(root, check, output)
        return
    first = None
    if start is not None:
        try:
            first = dt.date.fromisoformat(start)
        except ValueError as error:
            raise InputError(f"--start {quoted(start)}: not a date", hint="use YYYY-MM-DD") from error
    request = ScheduleRequest(strategy, first, sprint_length, freeze, holiday, capacity)
    catalog, planned = schedule_repository(root, request)
    if output is Format.JSON:
        print_json(planned.to_dict())
        return
    if output is Format.MARKDOWN:
        typer.echo(schedule_markdown(catalog, planned, calendar_for(catalog, request)), nl=False)
        return
    table = Table(title=f"Schedule ({strategy})")
    for column in ("sprint", "dates", "weeks", "load", "stories"):
        table.add_column(column, overflow="fold")
    for item in planned.sprints:
        load = line(f"{sum(item.load.values()):g}/{sum(item.capacity.values()):g}",
                    styled(" over", "red") if item.overloaded else "")
        stories = " ".join(f"{catalog.by_id[s].number}" + ("*" if s in planned.critical_path else "")
                           for s in item.stories)
        table.add_row(cell(item.sprint.number), cell(span(item.sprint.start, item.sprint.end)),
                      cell(f"{item.sprint.weeks:g}"), load, cell(stories))
    console.print(table)
    say(f"critical path ({planned.critical_points:g} points, * above): "
        + " → ".join(str(catalog.by_id[s].number) for s in planned.critical_path))
    slack = sorted(((v, catalog.by_id[k].number) for k, v in planned.slack.items()), reverse=True)
    zero = [str(n) for v, n in sorted(slack, key=lambda x: x[1]) if v == 0]
    say(f"no slack (a slip moves the end date): {' '.join(zero)}")
    say("slack in sprints: " + ", ".join(f"{n}:{v}" for v, n in sorted(slack, key=lambda x: x[1]) if v))
    for note in planned.notes:
        say(styled("note", "yellow"), f" {note}")


def _check(root: Path, name: str, output: Format) -> None:
    catalog, seed, items = check_seed(root, name)
    if output is Format.JSON:
        print_json({"schedule": name, "strategy": str(seed.strategy), "items": [i.to_dict() for i in items]})
    elif output is Format.MARKDOWN:
        typer.echo(check_markdown(name, items), nl=False)
    else:
        colours = {Severity.VIOLATION: "red", Severity.CONTRADICTION: "yellow", Severity.NOTE: "dim"}
        for item in items:
            say(styled(f"{item.severity:13}", colours[item.severity]), f" {item.story}: {item.message}")
    violations = sum(1 for i in items if i.severity is Severity.VIOLATION)
    contradictions = sum(1 for i in items if i.severity is Severity.CONTRADICTION)
    if output is Format.TEXT:
        say(f"{name} ({seed.strategy}): {violations} violation(s), {contradictions} contradiction(s) of "
            f"the seed's own claims, {len(items) - violations - contradictions} note(s)")
    del catalog
    if violations:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("schedule")(schedule)
