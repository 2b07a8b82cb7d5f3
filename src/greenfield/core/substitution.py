"""Flux postBuild substitution, as kustomize-controller does it (fluxcd/pkg/envsubst semantics).

What the controller does for every object of a Kustomization with `spec.postBuild`:
- skip the object when it carries `kustomize.toolkit.fluxcd.io/substitute: disabled` (label or annotation);
- variables = `substituteFrom` ConfigMaps/Secrets in order (newlines removed from values), then
  `substitute` (wins); nothing happens when there is no variable at all;
- every variable name must match `^[_[:alpha:]][_[:alpha:][:digit:]]*$` or the whole Kustomization fails;
- the object is marshalled to YAML, the text is expanded, the result is parsed again (so a value can
  change type, or break the YAML);
- only `${...}` forms are expanded (a bare `$HOME` is left alone); `$$` always becomes `$`, so `$${x}`
  yields a literal `${x}`;
- supported forms: `${v}`, `${v:=d}` `${v=d}` `${v:-d}` `${v:+d}` `${v:?d}` (all: default when empty),
  `${#v}`, `${v,}` `${v,,}` `${v^}` `${v^^}`, `${v:pos}` `${v:pos:len}`, `${v#p}` `${v##p}` `${v%p}` `${v%%p}`,
  `${v/a/b}` `${v//a/b}` `${v/#a/b}` `${v/%a/b}`; `${v-d}` is a syntax error ("missing closing brace");
- without the StrictPostBuildSubstitutions feature gate an undefined variable expands to "" (with it, the
  Kustomization fails with `variable not set (strict mode)`). We always record undefined variables.

Pure: no I/O. Everything here is data in, data out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from greenfield.core import goyaml
from greenfield.core.gomatch import compile_pattern

VARIABLE_NAME = re.compile(r"^[_A-Za-z][_A-Za-z0-9]*$")
VARIABLE_NAME_PATTERN = "^[_[:alpha:]][_[:alpha:][:digit:]]*$"
SUBSTITUTE_KEY = "kustomize.toolkit.fluxcd.io/substitute"
DISABLED = "disabled"

DEFAULT_OPERATORS = frozenset({"-", "+", "=", "?", ":-", ":+", ":=", ":?"})

ERR_BAD_SUBSTITUTION = "bad substitution"
ERR_MISSING_CLOSING_BRACE = "missing closing brace"
ERR_PARSE_VARIABLE_NAME = "unable to parse variable name"
ERR_PARSE_FUNC_SUBSTITUTION = "unable to parse substitution within function"
ERR_PARSE_DEFAULT_FUNCTION = "unable to parse default function"


class SubstitutionError(ValueError):
    """The text cannot be expanded: Flux fails the whole Kustomization with this message."""

    def __init__(self, message: str, offset: int = -1) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Reference:
    """One `${...}` expansion: which variable, with which operator, and whether it was defined."""

    name: str
    operator: str  # "" for ${v}; ":=", "#", "/", ... otherwise
    defined: bool
    offset: int  # index of "${" in the text
    result: str = ""

    @property
    def has_default(self) -> bool:
        return self.operator in DEFAULT_OPERATORS


@dataclass
class Expansion:
    text: str
    references: list[Reference] = field(default_factory=list)
    escapes: int = 0  # how many `$$` were turned into `$`

    @property
    def undefined(self) -> list[Reference]:
        return [ref for ref in self.references if not ref.defined and not ref.has_default]


Lookup = Callable[[str], "tuple[str, bool]"]


def _is_ident(char: str) -> bool:
    return char.isalnum() or char == "_"  # Go: unicode.IsLetter || unicode.IsDigit || '_'


class _Parser:
    """Recursive-descent expansion of one text, mirroring fluxcd/pkg/envsubst's scanner and parser."""

    def __init__(self, text: str, lookup: Lookup, strict: bool) -> None:
        self.text = text
        self.pos = 0
        self.lookup = lookup
        self.strict = strict
        self.references: list[Reference] = []
        self.escapes = 0

    # -- helpers -----------------------------------------------------------------------------------
    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take_run(self, accept: Callable[[str, int], bool]) -> str:
        """Read characters while accept(char, index_from_1) holds."""
        start = self.pos
        while self.pos < len(self.text) and accept(self.text[self.pos], self.pos - start + 1):
            self.pos += 1
        return self.text[start:self.pos]

    def consume_rbrack(self) -> None:
        if self.peek() != "}":
            raise SubstitutionError(ERR_BAD_SUBSTITUTION, self.pos)
        self.pos += 1

    # -- top level ---------------------------------------------------------------------------------
    def expand(self) -> str:
        out: list[str] = []
        text = self.text
        while True:
            index = text.find("$", self.pos)
            if index < 0:
                out.append(text[self.pos:])
                return "".join(out)
            out.append(text[self.pos:index])
            following = text[index + 1:index + 2]
            if following == "{":
                self.pos = index + 2
                out.append(self.function(index))
            elif following == "$":
                out.append("$")
                self.escapes += 1
                self.pos = index + 2
            else:
                out.append("$")
                self.pos = index + 1

    # -- ${...} ------------------------------------------------------------------------------------
    def function(self, offset: int) -> str:
        if self.peek() == "#":
            return self.length_function(offset)
        name = self.take_run(lambda c, _i: _is_ident(c))
        if not name:
            raise SubstitutionError(ERR_PARSE_VARIABLE_NAME, offset)
        following = self.peek()
        if following == ":":
            after = self.text[self.pos + 1:self.pos + 2]
            if after in ("=", "-", "?", "+"):
                return self.default_function(name, offset)
            return self.substring_function(name, offset)
        if following == "=":
            return self.default_function(name, offset)
        if following in (",", "^"):
            operator = self.take_run(lambda c, i: c in ",^" and i < 3)
            self.consume_rbrack()
            return self.evaluate(name, operator, [], offset)
        if following == "/":
            return self.replace_function(name, offset)
        if following in ("#", "%"):
            operator = self.take_run(lambda c, i: c == following and i < 3)
            argument = self.parameter(lambda c: c != "}")
            self.consume_rbrack()
            return self.evaluate(name, operator, [argument], offset)
        if following != "}":
            raise SubstitutionError(ERR_MISSING_CLOSING_BRACE, offset)
        self.pos += 1
        return self.evaluate(name, "", [], offset)

    def length_function(self, offset: int) -> str:
        self.pos += 1  # the '#'
        name = self.take_run(lambda c, _i: _is_ident(c))
        if not name:
            raise SubstitutionError(ERR_BAD_SUBSTITUTION, offset)
        self.consume_rbrack()
        return self.evaluate(name, "#", [], offset)

    def parameter(self, accept: Callable[[str], bool], escapes: bool = False) -> str:
        """One function argument: a nested ${...} or a run of accepted characters (never empty)."""
        if self.text.startswith("${", self.pos):
            offset = self.pos
            self.pos += 2
            return self.function(offset)
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if self.text.startswith("${", self.pos):
                break
            if escapes and ((char == "$" and self.text[self.pos + 1:self.pos + 2] == "$")
                            or (char == "\\" and self.text[self.pos + 1:self.pos + 2] in ("/", "\\"))):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if not accept(char):
                break
            out.append(char)
            self.pos += 1
        if not out:
            raise SubstitutionError(ERR_PARSE_FUNC_SUBSTITUTION, self.pos)
        return "".join(out)

    def default_function(self, name: str, offset: int) -> str:
        if self.peek() == "=":
            operator = "="
            self.pos += 1
        else:
            operator = self.text[self.pos:self.pos + 2]
            self.pos += 2
        arguments: list[str] = []
        while True:
            if self.peek() == "}":
                self.pos += 1
                return self.evaluate(name, operator, arguments, offset)
            if self.pos >= len(self.text):
                raise SubstitutionError(ERR_PARSE_FUNC_SUBSTITUTION, offset)
            arguments.append(self.parameter(lambda c: c != "}"))

    def substring_function(self, name: str, offset: int) -> str:
        self.pos += 1  # ':'
        arguments = [self.parameter(lambda c: c not in ":}")]
        if self.peek() == "}":
            self.pos += 1
            return self.evaluate(name, ":", arguments, offset)
        if self.peek() != ":":
            raise SubstitutionError(ERR_BAD_SUBSTITUTION, offset)
        self.take_run(lambda c, _i: c == ":")
        arguments.append(self.parameter(lambda c: c != "}"))
        self.consume_rbrack()
        return self.evaluate(name, ":", arguments, offset)

    def replace_function(self, name: str, offset: int) -> str:
        operator = self.take_run(lambda c, i: (i == 1 and c == "/") or (i == 2 and c in "/#%"))
        arguments: list[str] = []
        if self.peek() == "/":
            arguments.append("")
        else:
            arguments.append(self.parameter(lambda c: c != "/", escapes=True))
        if self.peek() != "/":
            raise SubstitutionError(ERR_BAD_SUBSTITUTION, offset)
        self.take_run(lambda c, _i: c == "/")
        if self.peek() == "}":
            self.pos += 1
            return self.evaluate(name, operator, arguments, offset)
        arguments.append(self.parameter(lambda c: c != "}", escapes=True))
        self.consume_rbrack()
        return self.evaluate(name, operator, arguments, offset)

    # -- evaluation --------------------------------------------------------------------------------
    def evaluate(self, name: str, operator: str, arguments: list[str], offset: int) -> str:
        value, exists = self.lookup(name)
        if not exists and operator not in DEFAULT_OPERATORS and self.strict:
            raise SubstitutionError(f'variable not set (strict mode): "{name}"', offset)
        if not exists:
            value = ""
        result = _apply(operator, value, arguments)
        self.references.append(Reference(name, operator, exists, offset, result))
        return result


def _trim(value: str, pattern: str, longest: bool, suffix: bool) -> str:
    # fluxcd/pkg/envsubst trims a suffix by reversing both the value and the pattern (kept bug for bug)
    subject, glob_text = (value[::-1], pattern[::-1]) if suffix else (value, pattern)
    matcher = compile_pattern(glob_text)
    if matcher is None:
        return value  # path.Match reports a malformed pattern: the value stays as it is
    match = ""
    for end in range(len(subject), 0, -1):
        if matcher.match(subject[:end]):
            match = subject[:end]
            if longest:
                break
    result = subject[len(match):] if match else subject
    return result[::-1] if suffix else result


def _substring(value: str, arguments: list[str]) -> str:
    try:
        position = int(arguments[0])
    except ValueError:
        return value
    if position < 0:
        position = max(len(value) + position, 0)
    if len(arguments) == 1:
        return value[position:]
    try:
        length = int(arguments[1])
    except ValueError:
        return value
    if length < 0:
        end = len(value) + length
        return "" if end < position else value[position:end]
    return value[position:position + length]


def _apply(operator: str, value: str, arguments: list[str]) -> str:
    if operator == ",":
        return value[:1].lower() + value[1:]
    if operator == ",,":
        return value.lower()
    if operator == "^":
        return value[:1].upper() + value[1:]
    if operator == "^^":
        return value.upper()
    if operator == "#":
        return _trim(value, arguments[0], False, False) if arguments else str(len(value.encode()))
    if operator == "##":
        return _trim(value, arguments[0], True, False)
    if operator == "%":
        return _trim(value, arguments[0], False, True)
    if operator == "%%":
        return _trim(value, arguments[0], True, True)
    if operator == ":":
        return _substring(value, arguments)
    if operator in ("/", "//"):
        if not arguments or not arguments[0]:
            return value
        replacement = arguments[1] if len(arguments) > 1 else ""
        return value.replace(arguments[0], replacement, 1 if operator == "/" else -1)
    if operator == "/#":
        if len(arguments) == 2 and value.startswith(arguments[0]):
            return arguments[1] + value[len(arguments[0]):]
        return value
    if operator == "/%":
        if len(arguments) == 2 and value.endswith(arguments[0]):
            return value[:len(value) - len(arguments[0])] + arguments[1]
        return value
    # every default-style operator (and anything unknown) is "value, or the arguments when empty"
    if not value and arguments:
        return "".join(arguments)
    return value


def expand(text: str, variables: Mapping[str, str], strict: bool = False) -> Expansion:
    """Expand `${...}` in text like Flux. Raises SubstitutionError where Flux fails the build."""

    def lookup(name: str) -> tuple[str, bool]:
        if name in variables:
            return variables[name], True
        return "", False

    parser = _Parser(text, lookup, strict)
    if "$" not in text:
        return Expansion(text)
    result = parser.expand()
    return Expansion(result, parser.references, parser.escapes)


def invalid_names(variables: Mapping[str, str]) -> list[str]:
    return sorted(name for name in variables if not VARIABLE_NAME.match(name))


def is_disabled(body: Mapping[str, Any]) -> bool:
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        return False
    for section in ("labels", "annotations"):
        values = metadata.get(section) or {}
        if isinstance(values, Mapping) and values.get(SUBSTITUTE_KEY) == DISABLED:
            return True
    return False


def normalise_value(value: str) -> str:
    """Values from substitute / ConfigMaps / Secrets lose their newlines, as in the controller."""
    return value.replace("\n", "")


# -- object level: marshal to YAML, expand, parse back -------------------------------------------------

def to_yaml(body: Any) -> str:
    """The object as kustomize-controller marshals it before substituting: multi-line strings as literal blocks,
    and every string Go would read back as something else quoted."""
    return goyaml.dump(body, literal_blocks=True)


@dataclass
class ObjectSubstitution:
    """The outcome for one object."""

    body: dict[str, Any] | None  # None when the YAML broke
    expansion: Expansion | None  # None when skipped (disabled or no variable)
    error: str = ""  # Flux's message when the object fails (syntax, strict, invalid YAML)
    error_kind: str = ""  # "syntax" | "strict" | "yaml"
    text: str = ""  # the YAML text after expansion (for error reports)


def substitute_object(body: dict[str, Any], variables: Mapping[str, str], strict: bool = False,
                      text: str | None = None) -> ObjectSubstitution:
    """Apply postBuild substitution to one object. Callers check `is_disabled` and empty variables first."""
    if text is None and "$" not in json.dumps(body, default=str):
        return ObjectSubstitution(body, Expansion(""))  # nothing to expand: skip the YAML round trip
    source = text if text is not None else to_yaml(body)
    if "$" not in source:
        return ObjectSubstitution(body, Expansion(source))
    try:
        expansion = expand(source, variables, strict)
    except SubstitutionError as error:
        kind = "strict" if "strict mode" in str(error) else "syntax"
        return ObjectSubstitution(None, None, f"envsubst error: variable substitution failed: {error}", kind,
                                  source)
    if not expansion.references and expansion.escapes == 0:
        return ObjectSubstitution(body, expansion)
    try:
        parsed = goyaml.load(expansion.text, goyaml.K8S)  # the controller's yaml.YAMLToJSON (sigs.k8s.io/yaml)
    except goyaml.GoYAMLError as error:
        return ObjectSubstitution(None, expansion, f"YAMLToJSON: {error}", "yaml", expansion.text)
    if not isinstance(parsed, dict):
        return ObjectSubstitution(None, expansion, "YAMLToJSON: the object is no longer a mapping", "yaml",
                                  expansion.text)
    return ObjectSubstitution(parsed, expansion, text=expansion.text)


def resolve_variables(sources: Sequence[Mapping[str, str]], inline: Mapping[str, Any] | None) -> dict[str, str]:
    """substituteFrom sources in order, then the inline `substitute` map (which wins)."""
    variables: dict[str, str] = {}
    for source in sources:
        for key, value in source.items():
            variables[str(key)] = normalise_value(str(value))
    for key, value in (inline or {}).items():
        variables[str(key)] = normalise_value("" if value is None else str(value))
    return variables


def walk_strings(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Every string in a structure with its dotted path (keys and list indexes)."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            found.append((where, item))
        elif isinstance(item, dict):
            for key, child in item.items():
                stack.append((child, f"{where}.{key}" if where else str(key)))
        elif isinstance(item, list):
            for index, child in enumerate(item):
                stack.append((child, f"{where}[{index}]"))
    found.reverse()
    return found


def emptied_fields(before: Any, after: Any, path: str = "") -> list[str]:
    """Paths whose string value held `${` before and became "" or null after substitution."""
    emptied: list[str] = []
    if isinstance(before, dict) and isinstance(after, dict):
        for key, value in before.items():
            child = f"{path}.{key}" if path else str(key)
            if key in after:
                emptied.extend(emptied_fields(value, after[key], child))
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (one, two) in enumerate(zip(before, after, strict=True)):
            emptied.extend(emptied_fields(one, two, f"{path}[{index}]"))
    elif isinstance(before, str) and "${" in before and (after is None or after == ""):
        emptied.append(path)
    return emptied
