"""CRD kinds from a schema directory (the shared catalog, <group>/<kind>_<version>.json)."""

from __future__ import annotations

from pathlib import Path

import pytest
from schema_helpers import KUBERNETES, from_yaml, messages, rendered

from greenfield.adapters.schemas import build_schema_validator
from greenfield.core.schema_validation import RULE_INVALID, RULE_NOT_FOUND, SchemaValidator
from greenfield.errors import InputError


def test_valid_custom_resources_have_no_findings(with_catalog: SchemaValidator) -> None:
    assert with_catalog.validate(rendered("crs-valid.yaml")) == []


def test_typos_and_wrong_values_in_custom_resources(with_catalog: SchemaValidator) -> None:
    findings = with_catalog.validate(rendered("crs-invalid.yaml"))

    assert messages(findings) == [
        "CiliumLoadBalancerIPPool/pool metadata.lables: unknown field",
        'CiliumLoadBalancerIPPool/pool spec.allowFirstLastIPs: "Maybe" is not an allowed value',
        "CiliumLoadBalancerIPPool/pool spec.blocks[0].size: unknown field",
        "HelmRelease/demo/podinfo spec.intsall: unknown field",
        "ClusterIssuer/letsencrypt spec.acme.emial: unknown field",
        "Kustomization/flux-system/apps spce: unknown field",
    ]
    assert {f.rule for f in findings} == {RULE_INVALID}
    hints = {f.message: f.hint for f in findings}
    assert hints["spec.acme.emial: unknown field"].startswith('did you mean "email"? allowed fields: caBundle,')
    assert hints["spec.intsall: unknown field"].startswith('did you mean "install"?')
    assert hints['spec.allowFirstLastIPs: "Maybe" is not an allowed value'] == "allowed values: No, Yes"
    assert hints["spce: unknown field"].startswith('did you mean "spec"? allowed fields: apiVersion, kind, metadata,')


def test_custom_resource_metadata_is_checked_as_object_meta(with_catalog: SchemaValidator) -> None:
    findings = with_catalog.validate(from_yaml("""
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: web
  namespace: demo
  labels: {app: web}
  annotation: {a: b}
spec:
  secretName: web-tls
  issuerRef: {name: letsencrypt, kind: ClusterIssuer}
  dnsNames: [web.example.com]
"""))
    assert [(f.message, f.hint.split("?")[0]) for f in findings] == [
        ("metadata.annotation: unknown field", 'did you mean "annotations"')]


def test_unknown_custom_resource_is_not_found_with_the_places_tried(crd_schema_dir: Path, tmp_path: Path) -> None:
    validator = build_schema_validator(KUBERNETES, [str(crd_schema_dir)], tmp_path, [])
    findings = validator.validate(from_yaml("""
apiVersion: widgets.example.com/v1
kind: Widget
metadata: {name: w, namespace: demo}
"""))
    assert [(f.rule, f.message, f.object) for f in findings] == [
        (RULE_NOT_FOUND, "no schema for widgets.example.com/v1/Widget", "Widget/demo/w")]
    assert "add a schema location" in findings[0].hint
    schema = validator.schema_for("widgets.example.com/v1", "Widget")
    assert str(crd_schema_dir / "widgets.example.com" / "widget_v1.json") in getattr(schema, "tried", ())


def test_locations_are_tried_in_order_and_broken_files_are_reported(crd_schema_dir: Path, tmp_path: Path) -> None:
    own = tmp_path / "own"
    (own / "cert-manager.io").mkdir(parents=True)
    (own / "cert-manager.io" / "clusterissuer_v1.json").write_text(
        '{"type": "object", "properties": {"spec": {"type": "object", "properties": {"mine": {"type": "string"}}}}}')
    (own / "example.com").mkdir()
    (own / "example.com" / "broken_v1.json").write_text("{not json")
    validator = build_schema_validator(KUBERNETES, [str(own), str(crd_schema_dir)], tmp_path / "cache", [])

    findings = validator.validate(from_yaml("""
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: mine}
spec: {mine: "yes", acme: {}}
---
apiVersion: example.com/v1
kind: Broken
metadata: {name: b}
"""))
    assert messages(findings) == ["ClusterIssuer/mine spec.acme: unknown field", "Broken/b no schema for example.com/v1/Broken"]
    assert "broken_v1.json: not JSON" in findings[1].hint


def test_a_path_template_location(crd_schema_dir: Path, tmp_path: Path) -> None:
    template = str(crd_schema_dir) + "/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"
    validator = build_schema_validator(KUBERNETES, [template], tmp_path, [])
    assert validator.validate(rendered("crs-valid.yaml")) == []


def test_bad_locations_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="schema location is not a directory"):
        build_schema_validator(KUBERNETES, [str(tmp_path / "missing")], tmp_path, [])
    with pytest.raises(InputError, match=r"unknown template variable \{\{\.Kind\}\}"):
        build_schema_validator(KUBERNETES, ["https://127.0.0.1/{{.Kind}}.json"], tmp_path, [])
