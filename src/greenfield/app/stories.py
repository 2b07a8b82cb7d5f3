"""`greenfield stories`: the live board (offline gates from one validation run, runtime evidence)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenfield.app.plan import load_catalog, load_seeds, present_paths, read_evidence
from greenfield.app.schedule import default_schedule
from greenfield.core.findings import Finding
from greenfield.core.model import ClusterRender, chart_status
from greenfield.core.plan.board import Board, KustomizationInfo, build_board
from greenfield.core.plan.catalog import Catalog
from greenfield.core.plan.schedule import Strategy
from greenfield.errors import GreenfieldError, InputError, quoted


@dataclass
class Validation:
    """One validation run shared by every story: findings plus the rendered clusters (None when it did not run)."""

    findings: list[Finding] | None
    renders: dict[str, ClusterRender] = field(default_factory=dict)
    note: str = ""


def kustomization_info(render: ClusterRender) -> dict[str, KustomizationInfo]:
    info: dict[str, KustomizationInfo] = {}
    for node in render.kustomizations.values():
        info[node.key.name] = KustomizationInfo(
            name=node.key.name, namespace=node.key.namespace, path=node.path, built=node.built,
            parent=node.parent.name if node.parent else "", depends_on=tuple(d.name for d in node.depends_on),
            file=node.file)
    return info


def _as_validation(result: Any) -> Validation:
    findings = getattr(result, "findings", result)
    renders = getattr(result, "renders", {}) or {}
    if not isinstance(findings, list) or not all(isinstance(f, Finding) for f in findings):
        return Validation(None, {}, "validation returned no findings list")
    if isinstance(renders, list):
        renders = {r.cluster: r for r in renders if isinstance(r, ClusterRender)}
    return Validation(findings, {k: v for k, v in dict(renders).items() if isinstance(v, ClusterRender)})


def run_validation(repo: Path, clusters: list[str] | None = None) -> Validation:
    """One run of the engine (`greenfield.app.validate.validate_repository`) for the board and the report."""
    try:
        engine = importlib.import_module("greenfield.app.validate")
    except ImportError:
        return Validation(None, {}, "the validation engine is not installed: manifest stories stay unverified")
    validate = getattr(engine, "validate_repository", None)
    if validate is None:
        return Validation(None, {}, "greenfield.app.validate has no validate_repository")
    try:
        result = validate(repo, clusters=clusters) if clusters else validate(repo)
    except GreenfieldError as error:
        return Validation(None, {}, f"validation could not run: {error.render()}")
    except Exception as error:  # the board must still show evidence and not-started stories if the engine breaks
        return Validation(None, {}, f"validation failed unexpectedly: {error!r} (run `greenfield --debug validate`)")
    return _as_validation(result)


def known_rules() -> list[str]:
    from greenfield.core.rules.base import all_rules

    return [info.id for info in all_rules()]


def sprint_plan(repo: Path, catalog: Catalog, schedule: str) -> list[tuple[int, str, str, str, list[str]]]:
    """The sprints of a seed schedule (v3, gitops-first) or of the scheduler's plan (manifests-first, ...)."""
    seeds = load_seeds(repo)
    if schedule in seeds:
        seed = seeds[schedule]
        assignment = seed.assignment(catalog)
        return [(s.number, s.title, s.start.isoformat(), s.end.isoformat(),
                 [sid for sid, n in assignment.items() if n == s.number]) for s in seed.sprints]
    if schedule in {str(s) for s in Strategy}:
        planned = default_schedule(catalog, Strategy(schedule))
        return [(p.sprint.number, "", p.sprint.start.isoformat(), p.sprint.end.isoformat(), p.stories)
                for p in planned.sprints]
    raise InputError(f"unknown schedule {quoted(schedule)}",
                     hint=f"use one of: {', '.join(dict.fromkeys([*seeds, *(str(s) for s in Strategy)]))}")


def story_board(repo: Path, cluster: str | None = None, schedule: str = "v3",
                validation: Validation | None = None) -> tuple[Board, Validation]:
    catalog = load_catalog(repo)
    if cluster is not None and cluster not in catalog.clusters:
        raise InputError(f"unknown cluster {quoted(cluster)}", hint=f"clusters: {', '.join(catalog.clusters)}")
    plan = sprint_plan(repo, catalog, schedule)
    run = validation or run_validation(repo)
    kustomizations = ({name: kustomization_info(render) for name, render in run.renders.items()}
                      if run.findings is not None else None)
    notes = [run.note] if run.note else []
    if run.renders:
        charts = chart_status(run.renders)
        if charts.releases:
            notes.append(f"charts: {charts.line()}")
    board = build_board(catalog, present_paths(repo, catalog), run.findings, kustomizations, known_rules(),
                        read_evidence(repo, catalog), plan, schedule, cluster, notes)
    return board, run
