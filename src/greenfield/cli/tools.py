"""`greenfield tools`: the pinned upstream tools (built from tools/go.mod) and their builds."""

from __future__ import annotations

import time

import typer
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from greenfield.adapters.gotools import ToolState, ToolStatus, status_json
from greenfield.app.tools import build_tools, list_tools
from greenfield.cli.common import OutputFormat, cell, console, err_console, plain, print_json, say

_STYLE = {ToolState.BUILT: "green", ToolState.MISSING: "red", ToolState.STALE: "yellow"}


def tools(
    build: list[str] = typer.Option([], "--build", "-b", help="Build this tool if missing (repeatable)."),
    build_all: bool = typer.Option(False, "--all", help="Build every missing tool."),
    output: OutputFormat = typer.Option(OutputFormat.TEXT, "--format"),
) -> None:
    """List the pinned upstream tools (version, built or not, path); build missing ones with --build/--all."""
    if build or build_all:
        _build(build, build_all, quiet=output == OutputFormat.JSON)
    statuses = list_tools()
    if output == OutputFormat.JSON:
        print_json([status_json(s) for s in statuses])
        return
    table = Table(title="upstream tools (tools/go.mod)", title_justify="left")
    for column in ("tool", "version", "state", "path"):
        table.add_column(column)
    for status in statuses:
        style = _STYLE[status.state]
        table.add_row(cell(status.tool.name), cell(status.version), cell(status.state.value, style), cell(status.path))
    console.print(table)
    missing = [s.tool.name for s in statuses if not s.built]
    if missing:
        say(f"build them with: greenfield tools --build {' --build '.join(missing)}   (or --all)")


def _build(names: list[str], build_all: bool, *, quiet: bool) -> list[ToolStatus]:
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), TimeElapsedColumn(),
                        console=err_console, transient=False, disable=quiet)
    tasks: dict[str, TaskID] = {}
    started: dict[str, float] = {}

    def on_event(name: str, status: ToolStatus | None) -> None:
        if status is None:
            started[name] = time.monotonic()
            tasks[name] = progress.add_task(plain(f"go build {name}"), total=1)
            return
        if name in tasks:
            took = time.monotonic() - started[name]
            progress.update(tasks[name], completed=1,
                            description=plain(f"built {name} {status.version} ({took:.0f}s)"))

    with progress:
        return build_tools(names, build_all=build_all, on_event=on_event)


def register(app: typer.Typer) -> None:
    app.command("tools")(tools)
