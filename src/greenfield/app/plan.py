"""Loading the plan (catalog, seed schedules) and runtime evidence from the repository."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from greenfield.adapters import safe_read, yamlio
from greenfield.core.plan.catalog import Catalog, parse_catalog
from greenfield.core.plan.evidence import EvidenceVerdict, evaluate, evidence_document, parse_evidence
from greenfield.core.plan.schedule import SeedSchedule, parse_seed
from greenfield.errors import InputError

CATALOG = "plan/stories.yaml"
SCHEDULES = "plan/schedules"
EVIDENCE_DIR = ".greenfield/evidence"


def seed_files(repo: Path) -> dict[str, Path]:
    folder = repo / SCHEDULES
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def load_seeds(repo: Path) -> dict[str, SeedSchedule]:
    seeds: dict[str, SeedSchedule] = {}
    for name, path in seed_files(repo).items():
        shown = path.relative_to(repo).as_posix()
        seed = parse_seed(yamlio.load_file(path, shown), shown)
        if seed.name != name:
            raise InputError(f"name {seed.name!r} differs from the file name", path=shown,
                             hint=f"set name: {name}")
        seeds[name] = seed
    return seeds


def load_catalog(repo: Path) -> Catalog:
    path = repo / CATALOG
    if not path.is_file():
        raise InputError("story catalog not found", path=CATALOG, hint="run inside the greenfield repository")
    return parse_catalog(yamlio.load_file(path, CATALOG), CATALOG, schedules=seed_files(repo))


def present_paths(repo: Path, catalog: Catalog) -> dict[str, bool]:
    """Which catalog path patterns match something in the repository now."""
    patterns = {p for story in catalog.stories for p in story.paths}
    return {pattern: next(iter(repo.glob(pattern)), None) is not None for pattern in sorted(patterns)}


def evidence_path(repo: Path, cluster: str, story: str) -> Path:
    return repo / EVIDENCE_DIR / cluster / f"{story}.json"


def read_evidence(repo: Path, catalog: Catalog) -> dict[tuple[str, str], EvidenceVerdict]:
    verdicts: dict[tuple[str, str], EvidenceVerdict] = {}
    for story in catalog.stories:
        for cluster in story.clusters:
            path = evidence_path(repo, cluster, story.id)
            if not path.is_file():
                continue
            try:
                data: Any = json.loads(safe_read.read_text(path))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
                verdicts[(cluster, story.id)] = evaluate(None, story.id, cluster, f"not JSON: {error}")
                continue
            evidence, problem = parse_evidence(data)
            verdicts[(cluster, story.id)] = evaluate(evidence, story.id, cluster, problem)
    return verdicts


def write_evidence(repo: Path, story: str, cluster: str, target: str, checks: list[dict[str, str]],
                   time: dt.datetime | None = None, tool: str = "greenfield") -> Path:
    """What the cluster commands call: records one story's runtime checks on one cluster (docs/evidence.md)."""
    document = evidence_document(story, cluster, target, checks, time or dt.datetime.now(dt.UTC), tool)
    path = evidence_path(repo, cluster, story)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
