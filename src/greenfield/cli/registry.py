"""The list of command groups beyond inventory/settings. Each line is added by the module that delivers it."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    # Commands are only listed once they work end to end (no stubs).
    from greenfield.cli import local, tools

    tools.register(app)
    local.register(app)
    from greenfield.cli import validate

    validate.register(app)  # engine: offline Flux validation
    from greenfield.cli import commits, report, schedule, stories

    stories.register(app)  # plan: the live story board
    schedule.register(app)  # plan: scheduler and seed checks
    report.register(app)  # plan: the self-contained HTML report
    commits.register(app)  # plan: story IDs on commits (lint-commits)
    from greenfield.cli import cluster

    cluster.register(app)  # bootstrap, health, destroy, reproduce, talos
