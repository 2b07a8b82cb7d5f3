"""Use case: list the pinned upstream tools and build the missing ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from greenfield.adapters.gotools import TOOLS, GoTools, ToolStatus, tool

BuildEvent = Callable[[str, ToolStatus | None], None]


def list_tools(root: Path | None = None, names: Sequence[str] = ()) -> list[ToolStatus]:
    return GoTools(root).statuses(list(names) or None)


def build_tools(names: Sequence[str], *, build_all: bool = False, root: Path | None = None,
                on_event: BuildEvent | None = None) -> list[ToolStatus]:
    """Build the named tools (all of them with build_all) that are missing or stale; built ones are kept."""
    wanted = [t.name for t in TOOLS] if build_all else [tool(n).name for n in names]
    return GoTools(root).ensure(wanted, on_event)
