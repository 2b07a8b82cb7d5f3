"""A persistent store of substituted Kustomization outputs, one sealed JSON entry per cluster in the cache.

The engine asks it before substituting a build (key: the build's documents, variables, cluster, ...). The
store is only valid for the code that wrote it: its file name carries a fingerprint of the engine's
substitution sources, so a changed engine starts from an empty store instead of replaying stale notes.
Entries not used by a run are dropped when it saves, which keeps the file the size of one render.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import threading
from collections.abc import Iterator, MutableMapping
from pathlib import Path

import greenfield.core.engine
import greenfield.core.gomatch
import greenfield.core.model
import greenfield.core.substitution
from greenfield.adapters.cache import CacheStore, contains_secret

# the modules whose code decides what a substitution gives (objects and notes)
_FINGERPRINTED = (greenfield.core.engine, greenfield.core.gomatch, greenfield.core.model, greenfield.core.substitution)


def code_fingerprint() -> str:
    digest = hashlib.sha256()
    for module in _FINGERPRINTED:
        init = Path(str(module.__file__))
        # a package (the engine) counts with every module in it
        for path in sorted(init.parent.glob("*.py")) if hasattr(module, "__path__") else [init]:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class ClusterMemo(MutableMapping[str, str]):
    """key -> JSON text; remembers which keys this run used or added."""

    def __init__(self, store: CacheStore, name: str) -> None:
        self.store = store
        self.name = name
        self._entries: dict[str, str] = {}
        self._used: set[str] = set()
        self._dirty = False
        text = store.read(name)  # None: no memo yet, or one that does not verify: start empty
        try:
            loaded = json.loads(text) if text is not None else {}
        except ValueError:
            loaded = {}
        if isinstance(loaded, dict):
            self._entries = {k: v for k, v in loaded.items() if isinstance(k, str) and isinstance(v, str)}

    def __getitem__(self, key: str) -> str:
        value = self._entries[key]
        self._used.add(key)
        return value

    def __setitem__(self, key: str, value: str) -> None:
        self._entries[key] = value
        self._used.add(key)
        self._dirty = True

    def __delitem__(self, key: str) -> None:
        del self._entries[key]
        self._dirty = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def save(self) -> None:
        if not self._dirty and self._used == set(self._entries):
            return
        # an entry holding a Secret value (substituted from a Secret, or a rendered Secret) is not kept
        kept = {key: self._entries[key] for key in sorted(self._used)
                if key in self._entries and not contains_secret(self._entries[key])}
        self.store.write(self.name, json.dumps(kept, separators=(",", ":")))


class RenderMemo:
    """One ClusterMemo per cluster; `save()` after the render."""

    def __init__(self, cache_dir: Path) -> None:
        self.store = CacheStore(cache_dir)
        self.fingerprint = code_fingerprint()
        self.folder = cache_dir / "substituted" / self.fingerprint
        self._clusters: dict[str, ClusterMemo] = {}
        self._lock = threading.Lock()

    def for_cluster(self, cluster: str) -> ClusterMemo:
        with self._lock:
            memo = self._clusters.get(cluster)
            if memo is None:
                safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in cluster) or "_"
                memo = self._clusters[cluster] = ClusterMemo(self.store, f"substituted/{self.fingerprint}/{safe}.json")
            return memo

    def save(self) -> None:
        for memo in self._clusters.values():
            memo.save()
        with contextlib.suppress(OSError):  # memos written by other versions of the engine are of no use
            for other in self.folder.parent.iterdir():
                if other != self.folder and other.is_dir():
                    shutil.rmtree(other, ignore_errors=True)
