"""Remote bases and generator files: left out of the build (never fetched), only reported."""

from __future__ import annotations

from typing import Any


def without_remote(data: dict[str, Any], remote: list[str]) -> dict[str, Any]:
    """A kustomization without its remote entries: they are never fetched (no network), only reported."""
    kept = dict(data)
    for key in ("resources", "bases", "components"):
        if isinstance(kept.get(key), list):
            kept[key] = [entry for entry in kept[key] if entry not in remote]
    for key in ("configMapGenerator", "secretGenerator"):
        if isinstance(kept.get(key), list):
            kept[key] = [_generator_without(generator, remote) for generator in kept[key]]
    return kept


def _generator_without(generator: Any, remote: list[str]) -> Any:
    if not isinstance(generator, dict):
        return generator
    kept = dict(generator)
    for field_name in ("files", "envs"):
        if isinstance(kept.get(field_name), list):
            kept[field_name] = [source for source in kept[field_name] if source not in remote]
    if kept.get("env") in remote:
        kept.pop("env")
    return kept
