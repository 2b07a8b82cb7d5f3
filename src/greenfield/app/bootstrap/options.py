"""What `cluster create` takes (options, the bootstrap definitions, the schema catalog) and reports."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from greenfield.adapters import yamlio
from greenfield.core.bootstrap import Definitions, PhasePlan, TargetKind, parse_definitions
from greenfield.errors import InputError

DEFINITIONS = "bootstrap/bootstrap.yaml"
SPEC_HASH = "greenfield.io/spec-hash"
Progress = Callable[[str, str], None]  # (phase, message)
CrdSource = Literal["schemas", "charts"]


@dataclass
class CreateOptions:
    target: TargetKind = "local"
    dry_run: bool = False
    from_phase: str | None = None
    crd_source: CrdSource | None = None  # default: schemas on the local target, charts on Talos
    chart_dir: Path | None = None  # local charts (<name>-<version>/ or .tgz); local target: stand-ins
    schema_dirs: list[Path] = field(default_factory=list)
    skip_validate: bool = False
    timeout_s: float = 300.0
    # the flux-system GitRepository's URL on the cluster (default: git's; with local Flux: the local git server)
    git_url: str | None = None


@dataclass
class PhaseResult:
    name: str
    story: str
    status: str  # done | unchanged | skipped | planned | failed
    detail: str = ""
    seconds: float = 0.0
    changes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"phase": self.name, "story": self.story, "status": self.status, "detail": self.detail,
                "seconds": round(self.seconds, 2), "changes": self.changes}


@dataclass
class CreateReport:
    cluster: str
    target: str
    phases: list[PhaseResult]
    plan: list[PhasePlan] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # server-side dry-run rejections

    @property
    def ok(self) -> bool:
        return all(p.status != "failed" for p in self.phases)

    @property
    def changed(self) -> bool:
        return any(p.status == "done" for p in self.phases)


def load_definitions(repo: Path) -> Definitions:
    data = yamlio.load_file(repo / DEFINITIONS, DEFINITIONS)
    definitions, problems = parse_definitions(data)
    if definitions is None:
        raise InputError("invalid bootstrap definitions: " + "; ".join(problems), path=DEFINITIONS)
    return definitions


def schema_dirs(options: CreateOptions) -> list[Path]:
    if options.schema_dirs:
        return options.schema_dirs
    configured = os.environ.get("GREENFIELD_SCHEMAS")
    return [Path(configured)] if configured else []
