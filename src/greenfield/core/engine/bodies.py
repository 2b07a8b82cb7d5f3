"""Reading object bodies: spec paths, identities, kinds."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from greenfield.core.model import FLUX_KUSTOMIZATION, NamespacedName, api_group


def normalise_path(path: Any) -> str | None:
    """spec.path relative to the source root, without "./"; None when it escapes the root."""
    text = str(path or "").strip()
    if not text:
        return ""
    joined = posixpath.normpath(posixpath.join("/", text.lstrip("/")))
    if joined == "/":
        return ""
    if ".." in joined.split("/"):
        return None
    return joined.lstrip("/")


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def key_of(body: Mapping[str, Any]) -> NamespacedName:
    metadata = as_dict(body.get("metadata"))
    return NamespacedName(str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))


def is_flux_kustomization(body: Mapping[str, Any]) -> bool:
    return (str(body.get("kind", "")) == FLUX_KUSTOMIZATION[1]
            and api_group(str(body.get("apiVersion", ""))) == FLUX_KUSTOMIZATION[0])


def object_label(body: Mapping[str, Any]) -> str:
    key = key_of(body)
    kind = str(body.get("kind", ""))
    return f"{kind}/{key.namespace}/{key.name}" if key.namespace else f"{kind}/{key.name}"
