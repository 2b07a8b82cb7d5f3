"""`greenfield report`: one self-contained HTML file (board, Gantt, dependency graph, Kustomization graphs, findings)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from greenfield.adapters.safe_write import write_inside, write_output
from greenfield.app.schedule import ScheduleRequest, calendar_for, make_schedule
from greenfield.app.stories import kustomization_info, run_validation, story_board
from greenfield.core.plan.report import render_report
from greenfield.core.plan.schedule import Strategy

DEFAULT_OUT = ".greenfield/report.html"


def write_report(repo: Path, out: Path | None = None, schedule: str = "v3",
                 strategy: Strategy = Strategy.MANIFESTS_FIRST, now: dt.datetime | None = None) -> Path:
    validation = run_validation(repo)
    board, _ = story_board(repo, None, schedule, validation)
    from greenfield.app.plan import load_catalog

    catalog = load_catalog(repo)
    request = ScheduleRequest(strategy=strategy)
    planned = make_schedule(catalog, request)
    kustomizations = {name: kustomization_info(render) for name, render in sorted(validation.renders.items())}
    text = render_report(catalog, board, planned, calendar_for(catalog, request), validation.findings,
                         kustomizations, now or dt.datetime.now(dt.UTC))
    if out is not None:
        write_output(out, text)
        return out
    target = repo / DEFAULT_OUT
    write_inside(repo, target, text)  # in the repository: never through a link planted there
    return target
