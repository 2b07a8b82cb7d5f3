"""`greenfield report [--out FILE]`: the self-contained HTML report."""

from __future__ import annotations

from pathlib import Path

import typer

from greenfield.app.report import write_report
from greenfield.cli.common import repo_option, say
from greenfield.core.plan.schedule import Strategy


def report(
    out: Path | None = typer.Option(None, "--out", help="HTML file to write (default .greenfield/report.html)."),
    schedule: str = typer.Option("v3", "--schedule", help="Sprints for the go/no-go gates: v3, gitops-first, ..."),
    strategy: Strategy = typer.Option(Strategy.MANIFESTS_FIRST, "--strategy", help="Strategy for the Gantt chart."),
    repo: Path | None = typer.Option(None, "--repo", help="Repository root."),
) -> None:
    """Write one HTML file: story board, Gantt chart, dependency graph, Kustomization graphs, findings."""
    path = write_report(repo_option(repo), out.resolve() if out else None, schedule, strategy)
    say(f"written {path}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
