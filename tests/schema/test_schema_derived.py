"""Schemas derived from CustomResourceDefinitions found in the rendered tree."""

from __future__ import annotations

from pathlib import Path

from schema_helpers import KUBERNETES, from_yaml, messages, rendered

from greenfield.adapters.schemas import build_schema_validator
from greenfield.core.schema_validation import (
    OBJECT_META_REF,
    RULE_NOT_FOUND,
    SchemaMiss,
    crd_schemas,
    derived_crds,
    normalize_crd_schema,
)

WIDGETS = """
apiVersion: example.com/v1
kind: Widget
metadata: {name: ok, namespace: demo}
spec:
  size: small
  port: http
  timeout: 30
  note: null
  extra: {known: a, anything: [1, 2]}
  template:
    apiVersion: v1
    kind: Pod
    metadata: {labels: {a: b}}
    spec: {replicas: 1}
  mode: {a: x}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: bad, namespace: demo, lables: {}}
spec:
  size: medium
  port: [1]
  timeout: 1.5
  colour: red
  extra: {known: 1}
  template:
    metadata: {lables: {}}
    spec: {replicas: 1, paused: true}
  mode: {a: x, b: y}
"""


def test_crd_objects_are_picked_from_the_rendered_tree() -> None:
    objects = rendered("crd-widget.yaml") + from_yaml(WIDGETS)
    assert [crd["metadata"]["name"] for crd in derived_crds(objects)] == ["widgets.example.com"]


def test_widgets_are_validated_with_the_derived_schema(tmp_path: Path) -> None:
    objects = rendered("crd-widget.yaml")
    validator = build_schema_validator(KUBERNETES, [], tmp_path, derived_crds(objects))

    findings = validator.validate(from_yaml(WIDGETS))

    assert messages(findings) == [
        "Widget/demo/bad metadata.lables: unknown field",
        'Widget/demo/bad spec.size: "medium" is not an allowed value',
        "Widget/demo/bad spec.port: expected integer or string, got array [1]",
        "Widget/demo/bad spec.timeout: expected integer or string, got number 1.5",
        "Widget/demo/bad spec.extra.known: expected string, got integer 1",
        "Widget/demo/bad spec.template.metadata.lables: unknown field",
        "Widget/demo/bad spec.template.spec.paused: unknown field",
        "Widget/demo/bad spec.mode: matches more than one of the allowed shapes (oneOf)",
        "Widget/demo/bad spec.colour: unknown field",
    ]
    # the CRD object itself is a built-in kind, validated like any other
    assert validator.validate(objects) == []


def test_unserved_versions_have_no_schema(tmp_path: Path) -> None:
    validator = build_schema_validator(KUBERNETES, [], tmp_path, derived_crds(rendered("crd-widget.yaml")))
    findings = validator.validate(from_yaml("apiVersion: example.com/v1alpha1\nkind: Widget\nmetadata: {name: w}\n"))
    assert [f.rule for f in findings] == [RULE_NOT_FOUND]
    miss = validator.schema_for("example.com/v1alpha1", "Widget")
    assert isinstance(miss, SchemaMiss) and "CRDs in the rendered tree" in miss.tried


def test_the_tree_wins_over_the_catalog(crd_schema_dir: Path, tmp_path: Path) -> None:
    """The CRD in the tree is the one the cluster will serve: its schema is used before the catalog's."""
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "clusterissuers.cert-manager.io"},
           "spec": {"group": "cert-manager.io", "names": {"kind": "ClusterIssuer"}, "versions": [
               {"name": "v1", "served": True, "schema": {"openAPIV3Schema": {
                   "type": "object", "properties": {"spec": {"type": "object", "properties": {
                       "future": {"type": "boolean"}}}}}}}]}}
    validator = build_schema_validator(KUBERNETES, [str(crd_schema_dir)], tmp_path, [crd])
    objects = from_yaml("apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: x}\nspec: {future: true}\n")
    assert validator.validate(objects) == []
    schema = validator.schema_for("cert-manager.io/v1", "ClusterIssuer")
    assert getattr(schema, "source", "") == "CRD clusterissuers.cert-manager.io (rendered tree)"


def test_normalization_of_openapi_v3() -> None:
    schema = normalize_crd_schema({
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 5}}},
            "spec": {
                "type": "object",
                "properties": {
                    "a": {"type": "string", "nullable": True, "enum": ["x"]},
                    "b": {"format": "int-or-string"},
                    "open": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                             "additionalProperties": False, "properties": {"k": {"type": "string"}}},
                    "typed": {"type": "object", "additionalProperties": {"type": "string"}},
                },
                "anyOf": [{"properties": {"a": {"type": "string"}}, "additionalProperties": False}],
            },
        },
    })
    spec = schema["properties"]["spec"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["metadata"] == {"$ref": OBJECT_META_REF}
    assert schema["properties"]["apiVersion"] == schema["properties"]["kind"] == {"type": "string"}
    assert spec["additionalProperties"] is False
    assert spec["properties"]["a"] == {"type": ["string", "null"], "nullable": True, "enum": ["x", None]}
    assert spec["properties"]["b"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert "additionalProperties" not in spec["properties"]["open"]
    assert spec["properties"]["typed"]["additionalProperties"] == {"type": "string"}
    assert spec["anyOf"] == [{"properties": {"a": {"type": "string"}}}]  # branches only constrain values


def test_crd_schemas_without_a_schema_accept_anything() -> None:
    crd = {"spec": {"group": "g.io", "names": {"kind": "Thing"}, "versions": [{"name": "v1"}]}}
    schema = crd_schemas(crd)[("g.io/v1", "Thing")]
    assert schema["x-kubernetes-preserve-unknown-fields"] is True and "additionalProperties" not in schema
    assert crd_schemas({"spec": "nonsense"}) == {}
