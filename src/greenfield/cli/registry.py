"""The list of command groups. Each line is added by the module that delivers it.

Startup time: when the `greenfield` program runs one known command, only the module registering that
command is imported (its app modules are heavy: bootstrap, PKI, the local control plane, the story board).
Help, an unknown name, or any other caller (tests) import and register every module.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

import typer

# Commands are only listed once they work end to end (no stubs). Modules, in registration order:
MODULES = (
    "inventory",  # foundation: platform.yaml checks
    "settings",  # foundation: cluster-settings generated from the inventory
    "tools",
    "local",
    "mirror",  # air-gap: charts into a registry mirror, root patches pointing the sources at it
    "validate",  # engine: offline Flux validation
    "diff",  # ci: rendered diff of two revisions
    "stories",  # plan: the live story board
    "schedule",  # plan: scheduler and seed checks
    "report",  # plan: the self-contained HTML report
    "commits",  # plan: story IDs on commits (lint-commits)
    "cluster",  # bootstrap, health, destroy, reproduce, talos
)
# top-level command name -> the module that registers it (a name missing here loads every module)
COMMANDS = {
    "inventory": "inventory",
    "settings": "settings",
    "tools": "tools",
    "local": "local",
    "mirror": "mirror",
    "validate": "validate",
    "diff": "diff",
    "stories": "stories",
    "schedule": "schedule",
    "report": "report",
    "lint-commits": "commits",
    "cluster": "cluster",
    "talos": "cluster",
    "reproduce": "cluster",
}
ROOT_FLAGS = ("--debug",)


def invoked_module(argv: Sequence[str]) -> str | None:
    """The module of the command `argv` (the program's arguments) runs, None when unknown or help."""
    for word in argv:
        if word in ROOT_FLAGS:
            continue
        if word.startswith("-"):
            return None  # --help, --version, ...: everything
        return COMMANDS.get(word)
    return None


def _program_argv() -> Sequence[str] | None:
    """sys.argv[1:] when this process is the greenfield program (not a test runner importing the CLI)."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    if program.name == "greenfield" or (program.name == "__main__.py" and program.parent.name == "greenfield"):
        return sys.argv[1:]
    return None


def running_as_program() -> bool:
    """This process is the greenfield program (its console script or `python -m greenfield`)."""
    return _program_argv() is not None


def register(app: typer.Typer, argv: Sequence[str] | None = None) -> None:
    arguments = argv if argv is not None else _program_argv()
    wanted = invoked_module(arguments) if arguments is not None else None
    for name in MODULES:
        if wanted is None or name == wanted:
            module = importlib.import_module(f"greenfield.cli.{name}")
            module.register(app)
            prepare = getattr(module, "prepare", None)
            if wanted is not None and arguments is not None and callable(prepare):
                prepare(list(arguments))  # the one command this process runs may start work early
