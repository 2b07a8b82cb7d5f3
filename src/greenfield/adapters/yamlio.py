"""YAML reading as Flux's Go code reads it (core/goyaml) and writing (ruamel where files are rewritten).

Every YAML read of the engine goes through `core.goyaml`: repository files with yaml.v3's typing (`V3`, what
kustomize reads), rendered text (kustomize and helm output, substituted objects) with sigs.k8s.io/yaml's (`K8S`).
Files are read through `safe_read` (bounded, regular files only: a FIFO or a device never blocks or fills memory).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from greenfield.adapters import safe_read
from greenfield.core import goyaml
from greenfield.core.goyaml import K8S, V3, GoYAMLError
from greenfield.errors import InputError

__all__ = ["K8S", "V3", "GoYAMLError", "dump_documents", "iter_documents", "load_documents",
           "load_file"]

_OwnLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _problem(error: GoYAMLError) -> str:
    return f"line {error.line}: invalid YAML: {error.problem}" if error.line else f"invalid YAML: {error.problem}"


def load_documents(text: str, source: str = "<text>", flavour: str = V3) -> list[Any]:
    """All non-empty documents of a YAML stream."""
    try:
        return [doc for doc in goyaml.load_all(text, flavour) if doc is not None]
    except GoYAMLError as error:
        raise InputError(_problem(error), path=source, hint="fix the YAML syntax") from error


def iter_documents(text: str, source: str = "<text>", flavour: str = V3) -> Iterator[Any]:
    yield from load_documents(text, source, flavour)


def load_file(path: Path, display: str | None = None) -> Any:
    """The one document of one of the tool's own files (inventory, plan, bootstrap definitions).

    These keep PyYAML's YAML 1.1 typing their models are written for (dates, integer keys); Go's reader runs
    first so that hostile nesting or aliasing fails with a clear error instead of crashing the C composer."""
    shown = display or str(path)
    text = safe_read.read_text(path, shown)  # bounded, regular files only, UTF-8 (one-line errors)
    load_documents(text, shown, K8S)  # K8S: a duplicate key is left to the callers' own check (yaml_keys)
    try:
        documents = [doc for doc in yaml.load_all(text, Loader=_OwnLoader) if doc is not None]
    except ValueError as error:  # int() of more than 4,300 digits
        raise InputError(f"invalid YAML: {str(error).split(':')[0]}", path=shown) from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        reason = getattr(error, "problem", None) or str(error).splitlines()[0]
        first = getattr(error, "context_mark", None)
        if reason == "second occurrence" and first is not None:  # PyYAML's composer on a repeated anchor
            reason = f"duplicate anchor (first at line {first.line + 1})"
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise InputError(f"{where}invalid YAML: {reason}", path=shown, hint="fix the YAML syntax") from error
    if len(documents) != 1:
        raise InputError(f"expected one YAML document, found {len(documents)}", path=shown)
    return documents[0]


def dump_documents(documents: list[Any]) -> str:
    """Deterministic YAML for generated files (key order kept, `---` before every document)."""
    from ruamel.yaml import YAML  # only files that are written need it: not loaded on every start

    writer = YAML()
    writer.default_flow_style = False
    writer.width = 4096
    writer.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    for document in documents:
        out.write("---\n")
        writer.dump(document, out)
    return out.getvalue()
