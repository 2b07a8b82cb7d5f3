"""The repository as Flux's artifact holds it: without what `.sourceignore` files, the GitRepository's
`spec.ignore` or source-controller's built-in exclusions leave out, and without symlinks (the artifact
archive keeps regular files and folders only). See greenfield.core.sourceignore for the rules themselves.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from greenfield.adapters import safe_read
from greenfield.adapters.git import Git
from greenfield.core.sourceignore import IGNORE_FILE, ArtifactFilter, Pattern, read_patterns
from greenfield.errors import CommandError


def ignore_files(repo: Path) -> list[str]:
    """Repository-relative .sourceignore files: from git when the repository is one (the working tree holds
    much git never clones, e.g. a virtualenv), else from a walk."""
    try:
        listed = Git(repo).run("ls-files", "--cached", "--others", "--exclude-standard", "--",
                               IGNORE_FILE, f"**/{IGNORE_FILE}")
        return sorted({line.strip() for line in listed.stdout.splitlines() if line.strip()})
    except CommandError:
        found = []
        for folder, names, files in os.walk(repo):
            names[:] = [name for name in names if name != ".git"]
            if IGNORE_FILE in files:
                found.append((Path(folder) / IGNORE_FILE).relative_to(repo).as_posix())
        return sorted(found)


class SourceArtifact:
    """Which paths of the repository a build from the local GitRepository can read."""

    def __init__(self, repo: Path, spec_ignore: str | None = None, files: list[str] | None = None) -> None:
        self.repo = repo.resolve()
        patterns: list[Pattern] = []
        digest = hashlib.sha256()
        for name in files if files is not None else ignore_files(self.repo):
            try:
                text = safe_read.read_text(self.repo / name)
            except (OSError, UnicodeDecodeError):
                continue
            domain = [part for part in Path(name).parent.as_posix().split("/") if part and part != "."]
            patterns.extend(read_patterns(text, domain))
            digest.update(f"{name}\0{text}\0".encode())
        if spec_ignore is not None:
            patterns.extend(read_patterns(spec_ignore))
            digest.update(f"spec.ignore\0{spec_ignore}\0".encode())
        self.filter = ArtifactFilter(patterns)
        self.fingerprint = digest.hexdigest()
        self._below: dict[Path, bool] = {}
        self._lock = threading.Lock()

    def _relative(self, path: Path) -> str | None:
        try:
            return path.relative_to(self.repo).as_posix()
        except ValueError:
            return None  # outside the repository: not the artifact's business

    def excluded(self, path: Path) -> bool:
        """Left out of the artifact: a symlink, or a path the ignore rules match."""
        relative = self._relative(path)
        if relative is None or relative == ".":
            return False
        if path.is_symlink():
            return True
        return self.filter.excluded(relative, path.is_dir())

    def missing(self, path: Path) -> bool:
        """Not in the artifact: the path or one of its folders is left out (a file under a symlinked folder is
        never archived; an ignored folder's files are matched one by one, as the archive walk does)."""
        relative = self._relative(path)
        if relative is None or relative == ".":
            return False
        current = self.repo
        for part in relative.split("/")[:-1]:
            current = current / part
            if current.is_symlink():
                return True
        return self.excluded(path)

    def holds_excluded(self, folder: Path) -> bool:
        """Something below this (not excluded) folder is left out: a farm must not link it whole."""
        with self._lock:
            known = self._below.get(folder)
        if known is not None:
            return known
        found = False
        for current, names, files in os.walk(folder):
            base = Path(current)
            for name in names + files:
                if self.excluded(base / name):
                    found = True
                    break
            if found:
                break
            names[:] = [name for name in names if not (base / name).is_symlink()]
        with self._lock:
            self._below[folder] = found
        return found
