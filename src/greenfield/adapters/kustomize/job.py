"""One build kustomize must run: the prepared output, its folder, the edited kustomization."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenfield.adapters.source_artifact import SourceArtifact
from greenfield.core.engine import BuildOutput


@dataclass
class Job:
    output: BuildOutput
    folder: Path
    edited: dict[str, Any]
    needed: set[Path]
    key: str
    solo: bool  # top-level-only kustomization fields (buildMetadata, sortOptions, openapi): never batched
    keep_origin: bool = False  # Flux's build keeps config.kubernetes.io/origin (see _prepare)
    future: Future[BuildOutput] | None = None
    artifact: SourceArtifact | None = None  # what of the repository the build may read (None: everything)
    rewrites: dict[Path, str] = field(default_factory=dict)  # kustomization files built without remote entries
