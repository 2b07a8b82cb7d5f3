"""`greenfield stories [--cluster C] [--schedule S] [--format text|json|markdown]`: the live board."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from greenfield.app.stories import story_board
from greenfield.cli.common import cell, console, line, print_json, repo_option, say, styled
from greenfield.core.plan.board import Board, Status
from greenfield.core.plan.markdown import board_markdown

COLOURS = {Status.PASS: "green", Status.FAIL: "red", Status.INCOMPLETE: "yellow", Status.UNVERIFIED: "magenta",
           Status.NOT_STARTED: "dim", Status.NOT_RUN: "dim"}


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


def print_board(board: Board) -> None:
    table = Table(title=cell(f"Stories (sprints of {board.schedule})"), show_lines=False, expand=False)
    for column in ("#", "story", "status", "clusters", "why"):
        table.add_column(column, overflow="fold")
    for item in board.stories:
        colour = COLOURS[item.status]
        clusters = Text(" ").join(line(f"{c.cluster}:", styled(c.status, COLOURS[c.status])) for c in item.clusters)
        why = "; ".join(dict.fromkeys(r for c in item.clusters if c.status is not Status.PASS for r in c.reasons[:1]))
        table.add_row(cell(item.story.number), cell(item.story.id), cell(item.status, colour), clusters, cell(why))
    console.print(table)
    for item in board.stories:
        failing = [(c.cluster, f) for c in item.clusters for f in c.findings]
        for cluster, finding in failing[:3]:
            say("  ", styled(f"{item.story.number:>2}", "red"),
                f" {cluster}: {finding.rule} {finding.location()}: {finding.message}")
        if len(failing) > 3:
            say(f"     ... {len(failing) - 3} more failing finding(s) (--format json lists all)")
    gates = Table(title="Sprint go/no-go")
    for column in ("sprint", "dates", "verdict", "blocking"):
        gates.add_column(column)
    for gate in board.sprints:
        verdict = cell("GO", "green") if gate.go else cell("NO-GO", "red")
        gates.add_row(cell(f"{gate.number} {gate.title}"), cell(f"{gate.start} \u2013 {gate.end}"), verdict,
                      cell(f"{len(gate.blocking)} of {len(gate.stories)}"))
    console.print(gates)
    counts = ", ".join(f"{n} {s}" for s, n in board.counts().items() if n)
    say(f"{len(board.stories)} stories: {counts}")
    for note in board.notes:
        say(f"note: {note}", style="dim")


def stories(
    cluster: str | None = typer.Option(None, "--cluster", help="Only this cluster's stories and statuses."),
    schedule: str = typer.Option("v3", "--schedule",
                                 help="Sprints for the go/no-go gates: v3, gitops-first, or a strategy."),
    output: Format = typer.Option(Format.TEXT, "--format", help="text, json or markdown."),
    repo: Path | None = typer.Option(None, "--repo", help="Repository root."),
) -> None:
    """Every story's status now (offline gates, runtime evidence) and every sprint's go/no-go."""
    board, _ = story_board(repo_option(repo), cluster, schedule)
    if output is Format.JSON:
        print_json(board.to_dict())
    elif output is Format.MARKDOWN:
        typer.echo(board_markdown(board), nl=False)
    else:
        print_board(board)


def register(app: typer.Typer) -> None:
    app.command("stories")(stories)
