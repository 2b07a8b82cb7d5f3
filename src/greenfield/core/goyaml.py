"""YAML read as Flux's Go code reads it (pure: text in, data out).

Two readers matter, and they type plain scalars differently:

- ``V3``: gopkg.in/yaml.v3 (kustomize/kyaml reading repository files). YAML 1.2 booleans only (``yes``, ``on``,
  ``y`` are strings), ``0755`` and ``0o755`` are octal, base-60 ``1:20`` is a string, ``=`` is a string.
- ``K8S``: sigs.k8s.io/yaml (yaml.v2 then JSON), what the API machinery, helm and kustomize-controller's postBuild
  substitution use on rendered text: as V3 plus the YAML 1.1 booleans ``y/yes/on/n/no/off`` (any case variant Go
  lists). Rendered text comes from kyaml, which quotes every string a YAML 1.1 reader would misread, so both
  readers agree on kustomize output.

Shared by both (resolve.go of yaml.v2/v3): an integer is Go ``strconv.ParseInt(s, 0, 64)`` of the text without
``_`` (``0x``/``0o``/``0b``/leading-``0`` octal), else ``ParseUint``; beyond 64 bits a float when finite, else the
string (a 5,000-digit number is a string, never an error); ``.inf``/``.nan`` floats; ``~``/``null``/empty null;
timestamps stay strings (as yaml.v2/v3 decode them into ``interface{}``); ``!!binary`` is decoded; unknown tags
keep the scalar as a string; ``!!str``/``!!int``/... are checked as Go checks them (``!!bool yes`` fails in V3).
Mapping keys become JSON keys (``1`` -> ``"1"``, ``true`` -> ``"true"``) as sigs.k8s.io/yaml converts them.
Anchors: a later ``&a`` replaces an earlier one from that point on (Go accepts duplicates; PyYAML's composer
raises), aliases are per document, an alias inside its own anchor fails, merge keys ``<<`` merge (V3: keys written
in the mapping win wherever they appear and earlier merge sources win; K8S/yaml.v2: in document order).
Duplicate keys fail in V3 (``mapping key "a" already defined at line N``) and the last one wins in K8S.

Hostile input: libyaml's C composer recurses per nesting level and segfaults at ~50,000 levels, so documents are
composed here from the C parser's events with an explicit stack: depth is limited (``MAX_DEPTH``: far below Go's
10,000, far above any real manifest (the deepest of the corpus's 9,757 YAML files nests 23 levels), and shallow enough for the recursive code
that handles the data later: PyYAML's writer needs two Python frames per level and fails past ~300) and alias
expansion is bounded with yaml.v3's "excessive aliasing" ratio (a billion-laughs document fails, it is never
expanded).

Speed (1.35 MB of kustomize output from three corpus repositories, 1,424 objects; CPU time, best of 9 interleaved
runs, measured on the shared 2-core machine at load ~19): this module 107 ms (K8S) / 118 ms (V3, which also keeps
each key's line for Go's duplicate-key message); PyYAML ``CSafeLoader`` 187 ms (YAML 1.1, libyaml's C composer:
crashes on deep input, fails on duplicate anchors and ``=``); libyaml's event parser alone 64 ms; pure-Python
PyYAML ``SafeLoader`` 1,849 ms; ruamel.yaml 0.19 (YAML 1.2; pure Python, its C extension is not installed)
2,799 ms safe / 4,434 ms round-trip. Composing straight from the C parser's events is faster than PyYAML's C
composer followed by its Python constructor, so there is one code path and no fallback.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any

import yaml
from yaml import YAMLError
from yaml import _yaml as _cyaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

V3 = "v3"
K8S = "k8s"
MAX_DEPTH = 256  # see the module docstring

_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(1 << 63), (1 << 63) - 1, (1 << 64) - 1
_TAG_PREFIX = "tag:yaml.org,2002:"
_MISSING = object()

_COMMON: dict[str, Any] = {
    "true": True, "True": True, "TRUE": True,
    "false": False, "False": False, "FALSE": False,
    "": None, "~": None, "null": None, "Null": None, "NULL": None,
    ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan,
    ".inf": math.inf, ".Inf": math.inf, ".INF": math.inf,
    "+.inf": math.inf, "+.Inf": math.inf, "+.INF": math.inf,
    "-.inf": -math.inf, "-.Inf": -math.inf, "-.INF": -math.inf,
}
_YAML11_BOOLS: dict[str, Any] = {
    **{word: True for word in ("y", "Y", "yes", "Yes", "YES", "on", "On", "ON")},
    **{word: False for word in ("n", "N", "no", "No", "NO", "off", "Off", "OFF")},
}
_TABLES = {V3: _COMMON, K8S: {**_COMMON, **_YAML11_BOOLS}}

# strconv.ParseInt(s, 0, 64) syntax (after yaml's removal of "_"): sign, then 0x/0o/0b, a leading-0 octal, or decimal
_GO_INT = re.compile(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")  # resolve.go's yamlStyleFloat
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")  # strconv.ParseFloat of a text starting with "."
_BAD_UNDERSCORE = re.compile(r"(?<![0-9])_|_(?![0-9])")
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
                        r"([Tt ][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?(Z|[-+][0-9]{2}:[0-9]{2})?)?")
_BASES = {"x": 16, "X": 16, "o": 8, "O": 8, "b": 2, "B": 2}


class GoYAMLError(ValueError):
    """YAML that Go's reader refuses; `line` is 1-based (0 when unknown)."""

    def __init__(self, problem: str, line: int = 0) -> None:
        super().__init__(f"line {line}: {problem}" if line else problem)
        self.problem = problem
        self.line = line


def _go_int(plain: str) -> int | None:
    match = _GO_INT.fullmatch(plain)
    if match is None or len(plain) > 72:  # longer texts are out of 64-bit range in every base
        return None
    sign, digits = match.groups()
    if len(digits) > 1 and digits[1] in _BASES:
        value = int(digits[2:], _BASES[digits[1]])
    elif digits[0] == "0":
        value = int(digits, 8)
    else:
        value = int(digits)
    if sign == "-":
        value = -value
    if _INT64_MIN <= value <= _INT64_MAX or (not sign and value <= _UINT64_MAX):  # ParseInt, else ParseUint
        return value
    return None


def _number(text: str) -> Any:
    """A plain scalar starting with a digit or a sign (resolve.go hints 'D' and 'S')."""
    plain = text.replace("_", "") if "_" in text else text
    value = _go_int(plain)
    if value is not None:
        return value
    if _GO_FLOAT.fullmatch(plain):
        number = float(plain)
        if not math.isinf(number):  # ParseFloat's ErrRange leaves the text a string
            return number
    return text


def resolve_plain(text: str, flavour: str = V3) -> Any:
    """The value of an untagged plain scalar."""
    found = _TABLES[flavour].get(text, _MISSING)
    if found is not _MISSING:
        return found
    first = text[0]
    if first in "0123456789+-":
        return _number(text)
    if first == ".":
        plain = text
        if "_" in text:  # strconv.ParseFloat takes "_" only between two digits
            if _BAD_UNDERSCORE.search(text):
                return text
            plain = text.replace("_", "")
        if _DOT_FLOAT.fullmatch(plain):
            number = float(plain)
            return text if math.isinf(number) else number
    return text


def is_ambiguous_string(text: str) -> bool:
    """Whether the plain text would not read back as this string under either Go reader (quote it when writing)."""
    if text == "<<":
        return True
    return any(resolve_plain(text, flavour) is not text for flavour in (V3, K8S)) if text else True


def _short(tag: str) -> str:
    return "!!" + tag[len(_TAG_PREFIX):] if tag.startswith(_TAG_PREFIX) else tag


def _kind(value: Any) -> str:
    if value is None:
        return "!!null"
    if isinstance(value, bool):
        return "!!bool"
    if isinstance(value, int):
        return "!!int"
    if isinstance(value, float):
        return "!!float"
    return "!!str"


def _tagged(tag: str, text: str, plain: bool, flavour: str) -> Any:
    """A scalar with an explicit tag, checked as resolve.go checks it."""
    if tag == "!":  # the non-specific tag: a plain scalar is still resolved (yaml.v3 parser.node)
        return resolve_plain(text, flavour) if plain else text
    short = _short(tag)
    if short == "!!binary":
        try:
            data = base64.b64decode(text.replace("\n", "").replace("\r", ""), validate=True)
        except (binascii.Error, ValueError) as error:
            raise GoYAMLError("!!binary value contains invalid base64 data") from error
        return data.decode("utf-8", errors="replace")  # a Go string; JSON writes invalid bytes as U+FFFD
    if short not in ("!!bool", "!!int", "!!float", "!!null", "!!timestamp"):
        return text  # !!str and unknown tags: the scalar's text
    if short == "!!timestamp" and _TIMESTAMP.fullmatch(text):
        return text
    value: Any = resolve_plain(text, flavour) if text else None
    kind = _kind(value)
    if kind == short:
        return value
    if short == "!!float" and kind == "!!int" and value <= _INT64_MAX:
        return float(value)
    raise GoYAMLError(f"cannot decode {kind} `{text}` as a {short}")


def _json_key(key: Any) -> str:
    """sigs.k8s.io/yaml's conversion of a YAML map key to a JSON key."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        if math.isnan(key):
            return ".nan"
        if math.isinf(key):
            return ".inf" if key > 0 else "-.inf"
        return _format_float32(key)
    raise GoYAMLError(f"invalid map key: {key!r}")


def _format_float32(value: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 32): the shortest text that reads back as the same float32."""
    import struct

    single = struct.unpack("f", struct.pack("f", value))[0]
    for digits in range(1, 10):
        text = f"{single:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            break
    mantissa, _, exponent = text.partition("e")
    if exponent:
        sign, number = exponent[0], exponent[1:].lstrip("0")
        return f"{mantissa}e{sign}{number.rjust(2, '0')}"
    return text


def _allowed_alias_ratio(count: int) -> float:
    """yaml.v3 decode.go: the share of decoded nodes that may come from aliases."""
    if count <= 400_000:
        return 0.99
    if count >= 4_000_000:
        return 0.10
    return 0.99 - 0.89 * (count - 400_000) / 3_600_000


class _Frame:
    __slots__ = ("anchor", "container", "key", "key_line", "lines", "merged", "size")

    def __init__(self, container: Any, anchor: str | None) -> None:
        self.container = container
        self.key: Any = _MISSING
        self.key_line = 0
        self.lines: dict[Any, int] = {}  # V3: where each key was written (for Go's duplicate-key message)
        self.merged: set[Any] | None = None  # keys that came from merge sources (V3 lets written keys win)
        self.size = 1
        self.anchor = anchor


class _Merge:
    """Marks a `<<` key while its value is read."""


_MERGE_KEY = _Merge()


def _line(event: Any) -> int:
    mark = getattr(event, "start_mark", None)
    return mark.line + 1 if mark is not None else 0


def _merge(frame: _Frame, source: Any, flavour: str, line: int) -> None:
    target = frame.container
    if isinstance(source, dict):
        sources = [source]
    elif isinstance(source, list) and all(isinstance(item, dict) for item in source):
        sources = source if flavour == V3 else list(reversed(source))
    else:
        raise GoYAMLError("map merge requires map or sequence of maps as the value", line)
    if flavour == V3:  # keys written in the mapping win wherever they are; earlier sources win
        merged = frame.merged if frame.merged is not None else set()
        frame.merged = merged
        for item in sources:
            for key, value in item.items():
                if key not in target:
                    target[key] = value
                    merged.add(key)
    else:  # yaml.v2: document order, later sources of a sequence lose
        for item in sources:
            target.update(item)


def _documents(text: str | bytes, flavour: str, max_depth: int) -> list[Any]:
    table = _TABLES[flavour]
    unique_keys = flavour == V3
    parser: Any = _cyaml.CParser(text)
    documents: list[Any] = []
    stack: list[_Frame] = []
    anchors: dict[str, tuple[Any, int]] = {}
    open_anchors: set[str] = set()
    root: Any = _MISSING
    aliased = decoded = 0
    get_event: Any = parser.get_event
    while True:
        event = get_event()
        cls = event.__class__
        if cls is ScalarEvent:
            tag = event.tag
            value = event.value
            if tag is None:
                if event.style:
                    pass  # quoted or block: a string
                elif value == "<<" and stack and stack[-1].key is _MISSING and stack[-1].container.__class__ is dict:
                    value = _MERGE_KEY
                else:
                    found = table.get(value, _MISSING)
                    if found is not _MISSING:
                        value = found
                    elif value[0] in "0123456789+-.":
                        value = resolve_plain(value, flavour)
            elif _short(tag) == "!!merge" and stack and stack[-1].key is _MISSING \
                    and stack[-1].container.__class__ is dict:
                value = _MERGE_KEY
            else:
                try:
                    value = _tagged(tag, value, not event.style, flavour)
                except GoYAMLError as error:
                    raise GoYAMLError(error.problem, _line(event)) from None
            size = 1
            if event.anchor is not None:
                anchors[event.anchor] = (value, 1)
        elif cls is MappingStartEvent or cls is SequenceStartEvent:
            if len(stack) >= max_depth:
                raise GoYAMLError(f"exceeded max depth of {max_depth}", _line(event))
            frame = _Frame({} if cls is MappingStartEvent else [], event.anchor)
            if event.anchor is not None:
                anchors[event.anchor] = (frame.container, 0)
                open_anchors.add(event.anchor)
            stack.append(frame)
            continue
        elif cls is MappingEndEvent or cls is SequenceEndEvent:
            frame = stack.pop()
            value, size = frame.container, frame.size
            if frame.anchor is not None:
                open_anchors.discard(frame.anchor)
                if anchors.get(frame.anchor, (None,))[0] is value:
                    anchors[frame.anchor] = (value, size)
        elif cls is AliasEvent:
            name = event.anchor
            if name in open_anchors:
                raise GoYAMLError(f"anchor '{name}' value contains itself", _line(event))
            if name not in anchors:
                raise GoYAMLError(f"unknown anchor '{name}' referenced", _line(event))
            value, size = anchors[name]
            aliased += size
        elif cls is DocumentEndEvent:
            if decoded > 1000 and aliased > 100 and aliased / decoded > _allowed_alias_ratio(decoded):
                raise GoYAMLError("document contains excessive aliasing")
            documents.append(None if root is _MISSING else root)
            root, anchors, aliased, decoded = _MISSING, {}, 0, 0
            continue
        elif cls is StreamEndEvent:
            return documents
        else:  # stream and document start
            continue
        if not stack:
            root, decoded = value, size
            continue
        parent = stack[-1]
        parent.size += size
        container = parent.container
        if container.__class__ is list:
            container.append(value)
        elif parent.key is _MISSING:
            if isinstance(value, (dict, list)):
                raise GoYAMLError(f"invalid map key: {value!r}", _line(event))
            parent.key = value if value is _MERGE_KEY or value.__class__ is str else _json_key(value)
            parent.key_line = _line(event) if unique_keys else 0
        else:
            key = parent.key
            parent.key = _MISSING
            if key is _MERGE_KEY:
                _merge(parent, value, flavour, _line(event))
            elif key in container and unique_keys and not (parent.merged and key in parent.merged):
                raise GoYAMLError(f'mapping key "{key}" already defined at line {parent.lines.get(key, 0)}',
                                  parent.key_line)
            else:
                container[key] = value
                if unique_keys:
                    parent.lines[key] = parent.key_line
                if parent.merged:
                    parent.merged.discard(key)


def load_all(text: str | bytes, flavour: str = V3, max_depth: int = MAX_DEPTH) -> list[Any]:
    """Every document of a YAML stream (an empty document is None)."""
    try:
        return _documents(text, flavour, max_depth)
    except UnicodeError as error:
        raise GoYAMLError(f"invalid text: {error.__class__.__name__}") from None
    except YAMLError as error:  # libyaml's scanner and parser errors
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        context = getattr(error, "context", None)
        message = f"{context}: {problem}" if context else problem
        raise GoYAMLError(message, mark.line + 1 if mark is not None else 0) from None


def load(text: str | bytes, flavour: str = V3, max_depth: int = MAX_DEPTH) -> Any:
    """The first document (None when the text holds none), as yaml.Unmarshal reads one."""
    documents = load_all(text, flavour, max_depth)
    return documents[0] if documents else None


# -- writing YAML that Go reads back unchanged ------------------------------------------------------------

_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _GoSafeDumper(_BaseDumper):
    """PyYAML's writer quotes what YAML 1.1 would misread; Go also reads `0o755`, `1e3`, `0x_1`... as numbers."""


class _GoBlockDumper(_GoSafeDumper):
    """Multi-line strings as literal blocks, like the Go YAML encoder kustomize-controller uses."""


def _represent_str(dumper: Any, value: str) -> Any:
    style = '"' if is_ambiguous_string(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_block_str(dumper: Any, value: str) -> Any:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return _represent_str(dumper, value)


_GoSafeDumper.add_representer(str, _represent_str)
_GoBlockDumper.add_representer(str, _represent_block_str)


def dump(data: Any, *, literal_blocks: bool = False, sort_keys: bool = False) -> str:
    """One YAML document that both Go readers read back as `data`."""
    dumper = _GoBlockDumper if literal_blocks else _GoSafeDumper
    return yaml.dump(data, Dumper=dumper, sort_keys=sort_keys, width=1 << 30, allow_unicode=True,
                     default_flow_style=False)


def dump_all(documents: list[Any], *, sort_keys: bool = False) -> str:
    return yaml.dump_all(documents, Dumper=_GoSafeDumper, sort_keys=sort_keys, width=1 << 30, allow_unicode=True,
                         default_flow_style=False)
