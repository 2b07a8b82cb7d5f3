"""`greenfield inventory check`."""

from __future__ import annotations

from pathlib import Path

import typer

from greenfield.app.inventory import check_inventory_file
from greenfield.cli.common import OutputFormat, print_json, repo_option, say, styled

app = typer.Typer(help="The platform inventory (platform.yaml).", no_args_is_help=True)


@app.command("check")
def check(
    file: Path | None = typer.Option(None, "--file", "-f", help="Inventory file (default: <repo>/platform.yaml)."),
    repo: Path | None = typer.Option(None, "--repo", help="Repository root."),
    output: OutputFormat = typer.Option(OutputFormat.TEXT, "--format"),
) -> None:
    """Validate the inventory: strict fields plus cross-field and cross-cluster rules."""
    path = file if file is not None else repo_option(repo) / "platform.yaml"
    result = check_inventory_file(path, str(file) if file is not None else "platform.yaml")
    if output == OutputFormat.JSON:
        print_json({"source": result.source, "ok": result.ok,
                    "problems": [{"field": p.field, "line": p.line or None, "problem": p.problem, "hint": p.hint,
                                  "severity": p.severity} for p in result.problems]})
    else:
        for problem in result.problems:
            style = "red" if problem.severity == "error" else "yellow"
            say(styled(problem.severity, style), f" {problem.render(result.source)}")
        if result.ok and result.inventory is not None:
            clusters = ", ".join(result.inventory.clusters)
            say(styled("ok", "green"), f" {result.source}: {len(result.inventory.clusters)} clusters ({clusters})")
    raise typer.Exit(0 if result.ok else 1)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="inventory")
