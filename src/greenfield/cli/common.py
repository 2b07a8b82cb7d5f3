"""Shared CLI plumbing: consoles, repository discovery, output formats."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

from greenfield.errors import InputError

# Markup and emoji codes are off on both consoles: object names, paths and messages come from the validated
# repository and the command line, and `[/x]`, `[bold]` or `:smile:` in them must print as written. Styles are
# given explicitly with `styled`/`line` below, never as markup inside a string.
console = Console(highlight=False, markup=False, emoji=False)
err_console = Console(stderr=True, highlight=False, markup=False, emoji=False)

# control characters other than tab and newline (an ESC in an object name would drive the terminal)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

Part = str | Text | tuple[str, str]


def plain(value: object) -> str:
    """`value` as printable text: control characters shown as escapes, undecodable bytes of paths as \\xNN."""
    text = str(value)
    if any("\udc80" <= char <= "\udcff" for char in text):  # a path that was not UTF-8 (surrogateescape)
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def styled(value: object, style: str) -> Text:
    """One piece of a line in a style; the text is never read as markup."""
    return Text(plain(value), style=style)


def line(*parts: Part) -> Text:
    """A line from plain strings (never markup), styled pieces (`styled`) and (text, style) pairs."""
    pieces: list[Text] = []
    for part in parts:
        if isinstance(part, Text):
            pieces.append(part)
        elif isinstance(part, tuple):
            pieces.append(styled(part[0], part[1]))
        else:
            pieces.append(Text(plain(part)))
    return Text.assemble(*pieces)


def say(*parts: Part, style: str = "", err: bool = False) -> None:
    """Print one message line as text (soft-wrapped: a long line stays one line for tools that read it)."""
    (err_console if err else console).print(line(*parts), style=style, soft_wrap=True)


def cell(value: object, style: str = "") -> Text:
    """A table cell as text (strings given to a Table are otherwise parsed as markup)."""
    return styled(value, style)


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def find_repo(start: Path | None = None) -> Path:
    """The repository root: the nearest folder upwards holding platform.yaml or kubernetes/, else the nearest
    holding a repository config file or a git work tree (any Flux repository's layout, e.g. clusters/)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "platform.yaml").is_file() or (folder / "kubernetes").is_dir():
            return folder
    for folder in (here, *here.parents):
        if (folder / ".greenfield.yaml").is_file() or (folder / ".git").exists():
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


def in_ci() -> bool:
    """A CI job (`CI=true`, as GitHub Actions, GitLab CI and most others set it)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def show_progress(quiet: bool = False) -> bool:
    """Progress goes to a person's terminal only: never in CI, with --quiet, or when stderr is not a tty."""
    return not quiet and not in_ci() and err_console.is_terminal


@contextlib.contextmanager
def progress(text: str, quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr while a long operation runs; yields a function that changes its text."""
    if not show_progress(quiet):
        yield lambda _text: None
        return
    with err_console.status(text) as status:
        yield lambda message: status.update(message)
