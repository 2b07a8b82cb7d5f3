"""What a Kustomizer holds: the repository, its cache store, the pool, and the per-run memos."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from greenfield.adapters.cache import CacheStore, cache_folder
from greenfield.adapters.kustomize.process import kubectl_binary
from greenfield.adapters.source_artifact import SourceArtifact, ignore_files
from greenfield.core.engine import BuildOutput, BuildRequest


class KustomizerState:
    """The repository, the cache store, the pool and the per-run memos every part of the build shares."""

    def __init__(self, repo: Path, cache_dir: Path | None = None, workers: int = 2,
                 kubectl: Path | None = None, use_cache: bool = True) -> None:
        self.repo = repo.resolve()
        self.cache_dir = (cache_dir or cache_folder(self.repo)).absolute()
        self.store = CacheStore(self.cache_dir)
        self.workers = max(1, workers)
        self.kubectl = kubectl or kubectl_binary()
        self.use_cache = use_cache
        self._line_cache: dict[Path, list[tuple[int, str, str]]] = {}
        self._hash_cache: dict[Path, str] = {}
        self._memo: dict[Path, tuple[str, Any]] = {}  # parsed kustomization files, shared by every build
        self.stats = {"builds": 0, "cached": 0}
        self._pool: ThreadPoolExecutor | None = None
        self._futures: dict[BuildRequest, Future[BuildOutput]] = {}
        self._lock = threading.Lock()
        self._artifacts: dict[str | None, SourceArtifact] = {}
        self._ignore_files: list[str] | None = None

    def artifact(self, source_ignore: str | None) -> SourceArtifact:
        """The repository as the local GitRepository's artifact holds it (one per spec.ignore text)."""
        with self._lock:
            found = self._artifacts.get(source_ignore)
            if found is None:
                if self._ignore_files is None:
                    self._ignore_files = ignore_files(self.repo)
                found = SourceArtifact(self.repo, source_ignore, self._ignore_files)
                self._artifacts[source_ignore] = found
            return found
