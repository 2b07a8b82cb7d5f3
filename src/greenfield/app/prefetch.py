"""Start the builds a run will need before it asks for them.

A validate run spends its first quarter second importing Python before the walk asks kustomize for anything;
kustomize itself runs on another core. The last run leaves an index of its builds with a stamp of their
inputs (name, size, modification time); the next run starts, right away and in the background, the builds
whose inputs changed since, so that the one slow kustomize process of a one-file change overlaps the
start-up instead of following it. The walk then finds those builds in flight (the Kustomizer reuses
identical requests). A stale guess costs one background build and nothing else: results are only used for
the requests the walk makes itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from greenfield.adapters.cache import CacheStore, cache_folder
from greenfield.adapters.kustomize import Kustomizer
from greenfield.core.engine import BuildOutput, BuildRequest

INDEX_FILE = "last-builds.json"
INDEX_VERSION = 1
DEFAULT_WORKERS = 2  # kustomize processes at once (the render's default too)


def default_cache_dir(repo: Path, base: Path | None = None) -> Path:
    """The repository's cache folder (outside it): under `base` (--cache-dir) or the user's cache."""
    return cache_folder(repo, base)


def input_stamp(repo: Path, inputs: list[str]) -> str:
    digest = hashlib.sha256()
    for name in inputs:
        try:
            status = (repo / name).stat()
            digest.update(f"{name}\0{status.st_size}\0{status.st_mtime_ns}\0".encode())
        except OSError:
            digest.update(f"{name}\0-\0".encode())
    return digest.hexdigest()


def write_index(repo: Path, cache_dir: Path, outputs: list[BuildOutput]) -> None:
    entries = [{"request": asdict(output.request), "inputs": output.inputs,
                "stamp": input_stamp(repo, output.inputs)} for output in outputs if output.inputs]
    # not written when it holds a Secret value (a patch substituted from one): the next run only starts later
    CacheStore(cache_dir).write(INDEX_FILE, json.dumps({"version": INDEX_VERSION, "repo": str(repo),
                                                        "builds": entries}, separators=(",", ":")))


def _request(data: Any) -> BuildRequest | None:
    if not isinstance(data, dict):
        return None
    fields: dict[str, Any] = {key: tuple(value) if isinstance(value, list) else value for key, value in data.items()}
    try:
        return BuildRequest(**fields)
    except TypeError:
        return None  # an index of another version of the request


def stale_requests(repo: Path, cache_dir: Path) -> list[BuildRequest]:
    """The last run's builds whose inputs changed since (their cache entries will most likely miss)."""
    text = CacheStore(cache_dir).read(INDEX_FILE)
    try:
        index = json.loads(text) if text is not None else None
    except ValueError:
        return []
    if not isinstance(index, dict) or index.get("version") != INDEX_VERSION or index.get("repo") != str(repo):
        return []
    stale: list[BuildRequest] = []
    for entry in index.get("builds") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("inputs"), list):
            continue
        request = _request(entry.get("request"))
        if request is not None and input_stamp(repo, [str(n) for n in entry["inputs"]]) != entry.get("stamp"):
            stale.append(request)
    return stale


class Prefetch:
    """An open Kustomizer with the stale builds already started; the render takes it over (`take`)."""

    def __init__(self, repo: Path, cache_dir: Path | None, workers: int = DEFAULT_WORKERS) -> None:
        self.repo = repo.resolve()
        self.cache_dir = default_cache_dir(self.repo, cache_dir)
        self.kustomizer = Kustomizer(self.repo, self.cache_dir, workers=workers)
        self._thread = threading.Thread(target=self._run, name="greenfield-prefetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(Exception):  # a guess that fails costs nothing: the walk builds for itself
            requests = stale_requests(self.repo, self.cache_dir)
            if requests:
                self.kustomizer.start(requests)

    def matches(self, repo: Path, cache_dir: Path | None, workers: int = DEFAULT_WORKERS) -> bool:
        wanted = default_cache_dir(repo.resolve(), cache_dir)
        return repo.resolve() == self.repo and wanted == self.cache_dir and workers == self.kustomizer.workers

    def take(self) -> Kustomizer:
        """The Kustomizer, once the background thread has handed its builds to the pool."""
        self._thread.join()
        return self.kustomizer

    def close(self) -> None:
        self._thread.join()
        self.kustomizer.close()
