"""`greenfield settings render [--check]`."""

from __future__ import annotations

from pathlib import Path

import typer

from greenfield.app.inventory import load_inventory
from greenfield.app.settings import plan_settings, write_settings
from greenfield.cli.common import console, plain, repo_option, say, styled

app = typer.Typer(help="Cluster settings generated from the inventory.", no_args_is_help=True)


@app.command("render")
def render(
    check: bool = typer.Option(False, "--check", help="Do not write; fail and show the diff on drift."),
    repo: Path | None = typer.Option(None, "--repo", help="Repository root."),
) -> None:
    """Write kubernetes/clusters/<cluster>/cluster-settings.yaml for every enabled cluster."""
    root = repo_option(repo)
    inventory = load_inventory(root / "platform.yaml")
    files = plan_settings(root, inventory)
    if check:
        drifted = [f for f in files if f.drifted]
        for item in drifted:
            console.print(plain(item.diff(root)), end="", soft_wrap=True)
        if drifted:
            say(styled("drift", "red"), f" {len(drifted)} settings file(s) differ from the inventory "
                "(hint: run `greenfield settings render`)")
            raise typer.Exit(1)
        say(styled("ok", "green"), f" {len(files)} settings file(s) match the inventory")
        return
    changed = write_settings(files)
    for item in files:
        state = "written" if item in changed else "unchanged"
        say(f"{state:9} {item.path.relative_to(root)}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="settings")
