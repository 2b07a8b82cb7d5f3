"""Shared CLI plumbing: consoles, repository discovery, output formats."""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from greenfield.errors import InputError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def find_repo(start: Path | None = None) -> Path:
    """The repository root: the nearest folder upwards holding platform.yaml or kubernetes/."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "platform.yaml").is_file() or (folder / "kubernetes").is_dir():
            return folder
    raise InputError("no platform.yaml or kubernetes/ folder here or above", path=str(here),
                     hint="run inside the repository or pass --repo DIR")


def repo_option(value: Path | None) -> Path:
    if value is None:
        env = os.environ.get("GREENFIELD_REPO")
        return find_repo(Path(env) if env else None)
    if not value.is_dir():
        raise InputError("not a directory", path=str(value), hint="pass the repository root")
    return value.resolve()


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


RepoOption = typer.Option(None, "--repo", help="Repository root (default: found from the current folder).")
