"""Strict schema validation of rendered objects (pure: compiled validators are passed in).

Two halves:
- turning OpenAPI v3 schemas of CustomResourceDefinitions (from the rendered tree, a schema directory or a
  URL) into strict JSON schemas: unknown fields rejected where properties are listed, `nullable`,
  int-or-string, `x-kubernetes-preserve-unknown-fields`, embedded resources, and `metadata` checked as
  Kubernetes ObjectMeta (like the API server does);
- validating objects with those compiled schemas and turning every error into a `Finding` with the JSON
  path of the field, the problem, and a hint (allowed fields or values).

The adapter `greenfield.adapters.schemas` loads schema files, compiles them (jsonschema-rs) and hands
`SchemaValidator` a lookup function; this module never reads files or the network.
"""

from __future__ import annotations

import copy
import datetime
import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from greenfield.core.findings import Finding, Severity
from greenfield.core.model import RenderedObject

RULE_INVALID = "schema/invalid"
RULE_NOT_FOUND = "schema/not-found"

# The built-in Kubernetes definitions are registered under this URI (it is the `$id` of the
# kubernetes-validate `_definitions.json` files); CRD schemas point their `metadata` at ObjectMeta there.
DEFINITIONS_URI = "https://kubernetes.io/api/_definitions.json"
OBJECT_META_REF = f"{DEFINITIONS_URI}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

_COMBINATORS = ("allOf", "anyOf", "oneOf", "not")
_MAX_LISTED = 12  # allowed fields/values listed in a hint


# --------------------------------------------------------------------------------------------------
# Compiled schemas and the lookup contract


@dataclass(frozen=True)
class CompiledSchema:
    """A compiled validator for one (apiVersion, kind) and the documents its error locations point into."""

    validator: Any  # jsonschema_rs.Validator (kept untyped: core does not depend on the binding's types)
    source: str  # where the schema came from, for messages: "kubernetes 1.34", a file, a URL, "CRD x (tree)"
    documents: Mapping[str, Any] = field(default_factory=dict)  # base URI (no fragment) -> schema document


@dataclass(frozen=True)
class SchemaMiss:
    """No schema for an (apiVersion, kind): where we looked and what went wrong on the way."""

    tried: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # e.g. a URL that could not be fetched, a file that is not JSON
    known_versions: tuple[str, ...] = ()  # other apiVersions that do have a schema for this kind


SchemaLookup = Callable[[str, str], CompiledSchema | SchemaMiss]


# --------------------------------------------------------------------------------------------------
# OpenAPI v3 (CRD) -> strict JSON schema


def normalize_crd_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A strict JSON schema for a custom resource from its OpenAPI v3 schema (a CRD version's
    `openAPIV3Schema`, or a kubeconform-style converted file). Returns a new document.

    - objects that list `properties` reject other fields (`additionalProperties: false`), unless they
      carry `x-kubernetes-preserve-unknown-fields: true` (a `false` left there by converters is removed);
    - `nullable: true` admits null; `x-kubernetes-int-or-string` / `format: int-or-string` admit both;
    - the root and embedded resources (`x-kubernetes-embedded-resource`) get `apiVersion`, `kind` and a
      `metadata` checked as ObjectMeta;
    - branches of allOf/anyOf/oneOf/not are value validations only: no `additionalProperties` added there
      (and a `false` that a converter put there is removed, it would reject every other field).
    """
    root = copy.deepcopy(schema)
    for key in ("$schema", "$id", "id"):
        root.pop(key, None)
    _normalize_node(root, in_branch=False)
    _as_resource(root)
    return root


def _as_resource(node: dict[str, Any]) -> None:
    """Kubernetes object fields every resource has; closes the object unless unknown fields are preserved."""
    properties = node.setdefault("properties", {})
    for key in ("apiVersion", "kind"):
        if not isinstance(properties.get(key), dict):
            properties[key] = {"type": "string"}
    properties["metadata"] = {"$ref": OBJECT_META_REF}
    node.setdefault("type", "object")
    if not node.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in node:
        node["additionalProperties"] = False


def _normalize_node(node: Any, in_branch: bool) -> None:
    if not isinstance(node, dict):
        return
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if node.get("nullable") is True:
        _allow_null(node)
    if node.get("x-kubernetes-int-or-string") is True or node.get("format") == "int-or-string":
        if node.get("format") == "int-or-string":
            node.pop("format")
        if not any(key in node for key in ("anyOf", "oneOf")):
            node.pop("type", None)
            node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if in_branch or preserve:
        if node.get("additionalProperties") is False:
            del node["additionalProperties"]
    elif isinstance(node.get("properties"), dict) and "additionalProperties" not in node:
        node["additionalProperties"] = False
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            for child in value.values():
                _normalize_node(child, in_branch)
        elif key in ("items", "additionalProperties", "additionalItems") and isinstance(value, dict):
            _normalize_node(value, in_branch)
        elif key == "items" and isinstance(value, list):
            for child in value:
                _normalize_node(child, in_branch)
        elif key in _COMBINATORS:
            for child in value if isinstance(value, list) else [value]:
                _normalize_node(child, in_branch=True)
    if node.get("x-kubernetes-embedded-resource") is True and not in_branch:
        _as_resource(node)


def _allow_null(node: dict[str, Any]) -> None:
    kind = node.get("type")
    if isinstance(kind, str) and kind != "null":
        node["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        node["type"] = [*kind, "null"]
    if isinstance(node.get("enum"), list) and None not in node["enum"]:
        node["enum"] = [*node["enum"], None]


def crd_schemas(crd: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Strict JSON schemas keyed by (apiVersion, kind) for every served version of an
    `apiextensions.k8s.io/v1` CustomResourceDefinition that carries an `openAPIV3Schema`."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return {}
    group, names = spec.get("group"), spec.get("names")
    kind = names.get("kind") if isinstance(names, dict) else None
    if not isinstance(group, str) or not isinstance(kind, str):
        return {}
    result: dict[tuple[str, str], dict[str, Any]] = {}
    for version in spec.get("versions") or []:
        if not isinstance(version, dict) or not isinstance(version.get("name"), str):
            continue
        if version.get("served") is False:
            continue
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if not isinstance(schema, dict):  # no schema: anything goes (the API server would accept it)
            schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        result[(f"{group}/{version['name']}", kind)] = normalize_crd_schema(schema)
    return result


def crd_sources(objects: Iterable[RenderedObject]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The CustomResourceDefinitions among rendered objects, by where they come from, in lookup order: those
    the pinned charts render (the operator version actually deployed) before those committed to the tree.
    Schema locations (catalogs) come after both."""
    charts: list[dict[str, Any]] = []
    tree: list[dict[str, Any]] = []
    for obj in objects:
        if obj.is_kind("apiextensions.k8s.io", "CustomResourceDefinition") and "sops" not in obj.body:
            (charts if obj.release else tree).append(obj.body)
    return [("CRDs rendered by the pinned charts", charts), ("CRDs in the tree", tree)]


def derived_crds(objects: Iterable[RenderedObject]) -> list[dict[str, Any]]:
    """The CustomResourceDefinition bodies among rendered objects (input for derived schemas), in the order of
    `crd_sources`: for a kind and version defined twice, the first one wins."""
    return [body for _, bodies in crd_sources(objects) for body in bodies]


# --------------------------------------------------------------------------------------------------
# Validation


@dataclass(frozen=True)
class SchemaError:
    """One schema violation in one object: the JSON path of the field, the problem, a hint."""

    path: str
    problem: str
    hint: str = ""

    @property
    def message(self) -> str:
        return f"{self.path}: {self.problem}" if self.path else self.problem


class SchemaValidator:
    """Validates rendered objects against strict schemas; compiled validators come from `lookup`,
    which is called once per (apiVersion, kind) per validator."""

    def __init__(self, lookup: SchemaLookup, *, description: str = "") -> None:
        self._lookup = lookup
        self._cache: dict[tuple[str, str], CompiledSchema | SchemaMiss] = {}
        self.description = description  # e.g. "kubernetes 1.34 + 2 schema locations + 3 CRDs from the tree"

    def schema_for(self, api_version: str, kind: str) -> CompiledSchema | SchemaMiss:
        key = (api_version, kind)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._lookup(api_version, kind)
        return found

    def errors(self, body: Mapping[str, Any]) -> list[SchemaError] | SchemaMiss:
        """All schema errors of one object body (empty when valid), or the miss when there is no schema."""
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
            return [SchemaError("", "object has no apiVersion and kind",
                                "every Kubernetes object needs `apiVersion` and `kind`")]
        schema = self.schema_for(api_version, kind)
        if isinstance(schema, SchemaMiss):
            return schema
        try:
            if schema.validator.is_valid(body):
                return []
            raw = list(schema.validator.iter_errors(body))
        except ValueError:  # YAML-only values (timestamps, non-string keys): convert like kubectl does
            body = _json_compatible(body)
            raw = list(schema.validator.iter_errors(body))
        return _explain_all(raw, schema)

    def validate(self, objects: list[RenderedObject]) -> list[Finding]:
        findings: list[Finding] = []
        for obj in objects:
            body = obj.body
            if "sops" in body:  # SOPS-encrypted: opaque until decrypted in the cluster
                continue
            result = self.errors(body)
            if isinstance(result, SchemaMiss):
                findings.append(_not_found(obj, result))
                continue
            for error in result:
                findings.append(Finding(
                    rule=RULE_INVALID, severity=Severity.ERROR, message=error.message,
                    cluster=obj.cluster, kustomization=obj.kustomization, object=_object_label(obj),
                    file=obj.file, line=obj.line, hint=error.hint))
        return findings


def _object_label(obj: RenderedObject) -> str:
    return str(obj.id)


def _not_found(obj: RenderedObject, miss: SchemaMiss) -> Finding:
    if miss.known_versions:
        versions = " or ".join(f"`apiVersion: {version}`" for version in miss.known_versions)
        hint = f"{obj.kind} has a schema with {versions}: use that ({obj.api_version} is not served)"
    else:
        hint = ("add a schema location (a directory laid out <group>/<kind>_<version>.json or a URL template), "
                "or render the CustomResourceDefinition in the tree")
        if miss.problems:
            hint += "; " + "; ".join(miss.problems)
        elif miss.tried:
            hint += "; looked in: " + ", ".join(miss.tried)
    return Finding(rule=RULE_NOT_FOUND, severity=Severity.ERROR,
                   message=f"no schema for {obj.api_version}/{obj.kind}",
                   cluster=obj.cluster, kustomization=obj.kustomization, object=_object_label(obj),
                   file=obj.file, line=obj.line, hint=hint)


def _json_compatible(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_compatible(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_compatible(item) for item in value]
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            return value.strftime("%Y-%m-%dT%H:%M:%SZ")
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


# --------------------------------------------------------------------------------------------------
# Error explanation

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


def json_path(parts: Iterable[str | int]) -> str:
    """`spec.template.spec.containers[0].image`, `metadata.annotations["a.io/b"]`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _show(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _listing(values: Iterable[str]) -> str:
    items = sorted(values)
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f", ... ({len(items) - _MAX_LISTED} more)" if len(items) > _MAX_LISTED else "")


def _schema_node(error: Any, schema: CompiledSchema, up: int = 1) -> dict[str, Any] | None:
    """The schema object holding the failing keyword (`up` levels above the keyword)."""
    location = error.absolute_keyword_location
    if location and "#" in location:
        base, fragment = location.split("#", 1)
        document = schema.documents.get(base)
        parts: list[str | int] = [unquote(p).replace("~1", "/").replace("~0", "~")
                                  for p in fragment.split("/")[1:]]
    else:
        document = schema.documents.get("")
        parts = list(error.schema_path)
    if document is None or len(parts) < up:
        return None
    node: Any = document
    for part in parts[: len(parts) - up]:
        if isinstance(node, dict):
            node = node.get(str(part))
        elif isinstance(node, list) and isinstance(part, int | str) and str(part).isdigit():
            index = int(part)
            node = node[index] if index < len(node) else None
        else:
            return None
    return node if isinstance(node, dict) else None


def _explain_all(raw: list[Any], schema: CompiledSchema) -> list[SchemaError]:
    out: list[SchemaError] = []
    seen: set[tuple[str, str]] = set()
    for error in raw:
        if error.instance is None and error.kind.name != "required":
            # null for an optional field: the API server drops it (CRDs prune nulls, built-ins default them)
            continue
        if isinstance(error.instance, str) and "${" in error.instance:
            # an unresolved substitution variable: reported once by the substitution rules, not per field
            continue
        for explained in _explain(error, schema):
            key = (explained.path, explained.problem)
            if key not in seen:
                seen.add(key)
                out.append(explained)
    return out


def _explain(error: Any, schema: CompiledSchema) -> list[SchemaError]:
    kind = error.kind
    name = kind.name
    path = list(error.instance_path)
    instance = error.instance
    if name == "additionalProperties":
        node = _schema_node(error, schema)
        allowed = sorted((node or {}).get("properties") or {})
        results = []
        for unexpected in kind.unexpected:
            hint = ""
            if allowed:
                close = difflib.get_close_matches(unexpected, allowed, n=1, cutoff=0.6)
                hint = (f'did you mean "{close[0]}"? ' if close else "") + f"allowed fields: {_listing(allowed)}"
            results.append(SchemaError(json_path([*path, unexpected]), "unknown field", hint))
        return results
    if name == "required":
        return [SchemaError(json_path([*path, kind.property]), "required field is missing",
                            f"add `{kind.property}`")]
    if name == "enum":
        options = [o for o in kind.options if o is not None and o != ""]
        shown = [o if isinstance(o, str) else _show(o) for o in options]
        close = (difflib.get_close_matches(instance, [o for o in options if isinstance(o, str)], n=1, cutoff=0.6)
                 if isinstance(instance, str) else [])
        hint = (f'did you mean "{close[0]}"? ' if close else "") + f"allowed values: {_listing(shown)}"
        return [SchemaError(json_path(path), f"{_show(instance)} is not an allowed value", hint)]
    if name == "const":
        return [SchemaError(json_path(path), f"{_show(instance)} is not allowed",
                            f"the only allowed value is {_show(kind.expected_value)}")]
    if name == "type":
        expected = [t for t in kind.types if t != "null"] or list(kind.types)
        return [SchemaError(json_path(path), f"expected {' or '.join(expected)}, got {_type_name(instance)} "
                                             f"{_show(instance)}", _type_hint(expected, instance))]
    if name in ("anyOf", "oneOf"):
        expected = _alternative_types(kind)
        if expected:
            return [SchemaError(json_path(path), f"expected {' or '.join(expected)}, got {_type_name(instance)} "
                                                 f"{_show(instance)}", _type_hint(expected, instance))]
        if name == "oneOf" and type(kind).__name__ == "OneOfMultipleValid":
            return [SchemaError(json_path(path), "matches more than one of the allowed shapes (oneOf)",
                                "set only one of the mutually exclusive fields")]
        return [SchemaError(json_path(path), f"matches none of the allowed shapes ({name})",
                            _branch_hint(kind))]
    if name == "pattern":
        return [SchemaError(json_path(path), f"{_show(instance)} does not match the required pattern",
                            f"pattern: {_show(kind.pattern, 100)}")]
    if name in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        word = {"minimum": "less than", "maximum": "greater than", "exclusiveMinimum": "at most",
                "exclusiveMaximum": "at least"}[name]
        return [SchemaError(json_path(path), f"{_show(instance)} is {word} the limit {kind.limit}")]
    if name in ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"):
        return [SchemaError(json_path(path), f"{_show(instance)} violates {name} {kind.limit}")]
    if name == "not":
        return [SchemaError(json_path(path), "value is not allowed here (not)", _fields_hint(kind.schema))]
    if name == "uniqueItems":
        return [SchemaError(json_path(path), "items must be unique")]
    return [SchemaError(json_path(path), str(error.message))]


def _type_hint(expected: list[str], instance: Any) -> str:
    if isinstance(instance, str) and any(t in ("integer", "number") for t in expected):
        return "write the number without quotes"
    if isinstance(instance, int | float) and not isinstance(instance, bool) and "string" in expected:
        return "quote the value"
    if isinstance(instance, str) and "boolean" in expected:
        return "write true or false without quotes"
    return f"use a value of type {' or '.join(expected)}"


def _alternative_types(kind: Any) -> list[str]:
    """For anyOf/oneOf over plain types (int-or-string, quantity): the expected types, else []."""
    types: list[str] = []
    for branch in getattr(kind, "context", None) or []:
        if len(branch) != 1 or branch[0].kind.name != "type":
            return []
        for kind_name in branch[0].kind.types:
            if kind_name != "null" and kind_name not in types:
                types.append(kind_name)
    return types


def _branch_hint(kind: Any) -> str:
    problems: list[str] = []
    for branch in getattr(kind, "context", None) or []:
        for sub in branch[:2]:
            if sub.kind.name == "required":
                problems.append(f"`{sub.kind.property}` missing")
    return ("one branch needs: " + ", ".join(dict.fromkeys(problems))) if problems else ""


def _fields_hint(schema: Any) -> str:
    if isinstance(schema, dict):
        required = schema.get("required")
        if isinstance(required, list) and required:
            return f"remove {', '.join(f'`{r}`' for r in required)} (not allowed together with the other fields)"
    return ""
