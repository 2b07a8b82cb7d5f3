"""The farm: a temporary mirror of a build folder and its ancestors (symlinks) holding the edited kustomization."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from greenfield.adapters.kustomize.files import KUSTOMIZATION_FILES
from greenfield.adapters.kustomize.state import KustomizerState
from greenfield.adapters.source_artifact import SourceArtifact
from greenfield.core import goyaml


class Farm(KustomizerState):
    """Mirrors of build folders, so that nothing is written into the repository."""

    @staticmethod
    def _link(link: Path, real: Path, artifact: SourceArtifact | None, descend: bool = True,
              rewrites: dict[Path, str] | None = None) -> None:
        """Link `real` at `link`, leaving out what the artifact does not hold (a folder holding such files is
        mirrored entry by entry instead of linked whole); a rewritten file is written, not linked."""
        if artifact is not None and artifact.excluded(real):
            return
        if rewrites and real in rewrites:
            link.write_text(rewrites[real], encoding="utf-8")
            return
        rewritten_below = bool(rewrites) and real.is_dir() and any(real in path.parents for path in rewrites or {})
        if rewritten_below or (artifact is not None and descend and real.is_dir() and artifact.holds_excluded(real)):
            link.mkdir(parents=True, exist_ok=True)
            for entry in real.iterdir():
                Farm._link(link / entry.name, entry, artifact, rewrites=rewrites)
            return
        link.symlink_to(real)

    def _farm(self, root: Path, folder: Path, edited: dict[str, Any], needed: set[Path] | None,
              artifact: SourceArtifact | None = None, rewrites: dict[Path, str] | None = None) -> Path:
        """Mirror `folder` and its ancestors under root with symlinks; write the edited kustomization.

        With `needed` (the files and folders the build reads), only the ancestors' entries leading to them
        are linked (few symlinks: fast to create and delete); without it, every entry is.
        """
        parts = folder.relative_to(self.repo).parts
        target = root.joinpath(*parts)
        target.mkdir(parents=True, exist_ok=True)
        links: dict[Path, Path] = {}
        for entry in folder.iterdir():
            if entry.name not in KUSTOMIZATION_FILES:
                links[target / entry.name] = entry
        if needed is None:
            current_real, current_farm = self.repo, root
            for part in parts:
                for entry in current_real.iterdir():
                    if entry.name != part:
                        links[current_farm / entry.name] = entry
                current_real, current_farm = current_real / part, current_farm / part
        else:
            for path in needed:
                try:
                    relative = path.relative_to(self.repo).parts
                except ValueError:
                    continue
                depth = 0
                while depth < len(parts) and depth < len(relative) and relative[depth] == parts[depth]:
                    depth += 1
                if depth >= len(relative) or depth == len(parts):
                    continue  # an ancestor of the folder, or inside it (linked above)
                links[root.joinpath(*relative[:depth + 1])] = self.repo.joinpath(*relative[:depth + 1])
        for link, real in links.items():
            # the full farm (a fallback) does not look inside the ancestors' other entries: they may be huge
            self._link(link, real, artifact, descend=needed is not None or link.parent == target, rewrites=rewrites)
        (target / "kustomization.yaml").write_text(
            goyaml.dump(edited), encoding="utf-8")
        return target
