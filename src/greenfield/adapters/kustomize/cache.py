"""The build cache: entries keyed by the edited kustomization, valid while every input file hashes the same."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from greenfield.adapters.cache import holds_plaintext_secret, register_secrets
from greenfield.adapters.kustomize.state import KustomizerState
from greenfield.core.engine import BuildOutput, BuildRequest

CACHE_VERSION = "7"  # 7: output read with Go YAML typing (core/goyaml); 6: a Component spec.path builds


class BuildCache(KustomizerState):
    """Cached builds on disk (greenfield.adapters.cache: outside the repository, private, verified)."""

    def _hash_file(self, path: Path) -> str:
        cached = self._hash_cache.get(path)
        if cached is None:
            try:
                cached = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                cached = "missing"
            self._hash_cache[path] = cached
        return cached

    def _key(self, request: BuildRequest, edited: dict[str, Any], original_text: str) -> str:
        digest = hashlib.sha256()
        digest.update(f"{CACHE_VERSION}\0{self.kubectl}\0{request.path}\0".encode())
        digest.update(json.dumps(edited, sort_keys=True, default=str).encode())
        digest.update(original_text.encode())
        return digest.hexdigest()

    @staticmethod
    def _entry_name(key: str) -> str:
        return f"builds/{key[:2]}/{key}.json"

    def _load(self, key: str) -> tuple[list[dict[str, Any]], list[tuple[str, int]], str] | None:
        """A verified entry whose input files still hash the same (anything else is rebuilt)."""
        text = self.store.read(self._entry_name(key))
        if text is None:
            return None
        try:
            entry = json.loads(text)
            inputs = entry["inputs"]
            documents, origins, error = entry["documents"], [tuple(o) for o in entry["origins"]], entry["error"]
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(inputs, dict) or not isinstance(documents, list) or not isinstance(error, str):
            return None
        for name, digest in inputs.items():
            if self._hash_file(self.repo / name) != digest:
                return None
        return documents, origins, error

    def _store(self, key: str, output: BuildOutput) -> None:
        if holds_plaintext_secret(output.documents):
            register_secrets(output.documents)  # never on disk, nor in any other entry (memo, index)
            return
        entry = {"inputs": {name: self._hash_file(self.repo / name) for name in output.inputs},
                 "documents": output.documents, "origins": output.origins, "error": output.error}
        self.store.write(self._entry_name(key), json.dumps(entry, separators=(",", ":"), default=str))

