"""The kustomization kustomize-controller generates for a folder without one."""

from __future__ import annotations

from pathlib import Path

from greenfield.adapters import safe_read
from greenfield.adapters.kustomize.files import kustomization_file
from greenfield.adapters.source_artifact import SourceArtifact
from greenfield.core import goyaml
from greenfield.core.engine import Problem


def generated_resources(folder: Path, check: bool = True, artifact: SourceArtifact | None = None
                        ) -> tuple[list[str], list[Problem]]:
    """The resources kustomize-controller lists for a folder without kustomization file (with `check`, each
    file must decode as YAML, as the controller requires); files the artifact leaves out do not exist."""
    resources: list[str] = []
    problems: list[Problem] = []

    def walk(current: Path) -> None:
        for entry in sorted(current.iterdir(), key=lambda p: p.name):
            if artifact is not None and artifact.excluded(entry):
                continue
            if entry.is_dir() and not entry.is_symlink():
                if kustomization_file(entry) is not None:
                    resources.append(entry.relative_to(folder).as_posix())
                else:
                    walk(entry)
            elif entry.is_file() and entry.suffix in (".yaml", ".yml"):
                if not check:
                    resources.append(entry.relative_to(folder).as_posix())
                    continue
                try:
                    goyaml.load_all(safe_read.read_text(entry))
                except (OSError, goyaml.GoYAMLError) as error:
                    problems.append(Problem("invalid-yaml", f"failed to decode Kubernetes YAML from "
                                            f"{entry.name}: {str(error).splitlines()[0]}", str(entry)))
                    continue
                resources.append(entry.relative_to(folder).as_posix())

    walk(folder)
    return resources, problems
