"""Where every key of a YAML mapping file is, and duplicate keys refused.

PyYAML keeps the last of two equal keys without a word: a second `apps:` under `clusters:` silently replaces the
first cluster. Inventory-like files (one document of nested mappings a person edits) are composed once more to
find duplicates and to give every problem its line.
"""

from __future__ import annotations

from typing import Any

import yaml

from greenfield.errors import InputError

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - pure-python fallback
    _Loader = yaml.SafeLoader


def key_lines(text: str, source: str) -> dict[str, int]:
    """Dotted path (`clusters.apps.nodes.0.ip`) -> 1-based line of every key and list item of the one document
    of `text`. InputError naming both lines on a duplicate key. Call it on text the YAML loader already accepted
    (its limits apply there), so composing cannot fail differently."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return {}  # the loader reports it
    lines: dict[str, int] = {}
    pending: list[tuple[str, yaml.Node]] = [("", root)] if root is not None else []
    seen: set[int] = set()
    while pending:  # iterative: no recursion limit on deep input
        prefix, node = pending.pop()
        if id(node) in seen:  # an alias: walked once (a recursive or "billion laughs" alias never expands)
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                line = key_node.start_mark.line + 1
                path = f"{prefix}.{key}" if prefix else str(key)
                identity = (key_node.tag, str(key))  # `1` and `"1"` are different keys
                if key is not None and key_node.tag != "tag:yaml.org,2002:merge":
                    if identity in first:
                        raise InputError(f"line {line}: duplicate key {path} (first defined at line {first[identity]})",
                                         path=source,
                                         hint="YAML keeps only the last of two equal keys: merge them or rename one")
                    first[identity] = line
                lines.setdefault(path, line)
                pending.append((path, value_node))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                path = f"{prefix}.{index}" if prefix else str(index)
                lines.setdefault(path, item.start_mark.line + 1)
                pending.append((path, item))
    return lines


def line_of(lines: dict[str, int], dotted: str) -> int:
    """The line of `dotted`, else of its nearest parent that has one (0: unknown)."""
    parts = dotted.split(".") if dotted else []
    while parts:
        found = lines.get(".".join(parts))
        if found:
            return found
        parts.pop()
    return 0
