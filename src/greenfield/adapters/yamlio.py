"""YAML reading (fast, C loader) and writing (ruamel where files are rewritten)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from greenfield.adapters import safe_read
from greenfield.errors import InputError

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - pure-python fallback
    _Loader = yaml.SafeLoader


def _problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    reason = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"line {mark.line + 1}: invalid YAML: {reason}" if mark else f"invalid YAML: {reason}"


def load_documents(text: str, source: str = "<text>") -> list[Any]:
    """All non-empty documents of a YAML stream."""
    try:
        return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]
    except yaml.YAMLError as error:
        raise InputError(_problem(error), path=source, hint="fix the YAML syntax") from error


def iter_documents(text: str, source: str = "<text>") -> Iterator[Any]:
    yield from load_documents(text, source)


def load_file(path: Path, display: str | None = None) -> Any:
    shown = display or str(path)
    text = safe_read.read_text(path, shown)  # bounded, regular files only, UTF-8 (one-line errors)
    documents = load_documents(text, shown)
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
