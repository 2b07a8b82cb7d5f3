"""Kustomization files and quick look-ups in their text (lines of entries, keys, documents)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from greenfield.adapters import safe_read

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def kustomization_file(folder: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def is_remote(entry: str) -> bool:
    return "://" in entry or entry.startswith(("github.com/", "git@", "gitlab.com/", "bitbucket.org/"))


def below(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def line_of_entry(text: str, entry: str) -> int:
    """The first line of a kustomization file that names `entry` (0 when none does)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if entry in line:
            return number
    return 0


def line_of(text: str, key: str) -> int:
    match = re.search(rf"^\s*{re.escape(key)}\s*:", text, re.M)
    return text.count("\n", 0, match.start()) + 1 if match else 0


def line_index(path: Path) -> list[tuple[int, str, str]]:
    """(first line, kind, name) of every document of a YAML file, by a quick text scan."""
    try:
        text = safe_read.read_text(path)
    except (OSError, UnicodeDecodeError):
        return []
    index: list[tuple[int, str, str]] = []
    start, kind, name, in_metadata = 0, "", "", False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("---"):
            if kind or name:
                index.append((start, kind, name))
            start, kind, name, in_metadata = 0, "", "", False
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if start == 0:
            start = number
        if line.startswith("kind:"):
            kind = line.split(":", 1)[1].strip().strip("'\"")
        elif line.startswith("metadata:"):
            in_metadata = True
        elif in_metadata and not name and re.match(r"^\s+name:", line):
            name = line.split(":", 1)[1].strip().strip("'\"")
        elif not line.startswith(" "):
            in_metadata = False
    if kind or name:
        index.append((start, kind, name))
    return index
