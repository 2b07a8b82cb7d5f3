"""Built-in kinds: strict schemas from kubernetes-validate, all errors per object with their JSON path."""

from __future__ import annotations

from pathlib import Path

import pytest
from schema_helpers import KUBERNETES, from_yaml, messages, rendered

from greenfield.adapters.schemas import BuiltinSchemas, build_schema_validator, builtin_schemas, builtin_versions
from greenfield.core.findings import Severity
from greenfield.core.schema_validation import RULE_INVALID, RULE_NOT_FOUND, SchemaValidator
from greenfield.errors import InputError


def test_valid_builtin_objects_have_no_findings(builtin_only: SchemaValidator) -> None:
    assert builtin_only.validate(rendered("builtin-valid.yaml")) == []


def test_every_error_of_an_object_is_reported_at_once(builtin_only: SchemaValidator) -> None:
    findings = builtin_only.validate(rendered("builtin-invalid.yaml"))

    assert sorted(messages(findings)) == sorted([
        "Deployment/demo/web metadata.lables: unknown field",
        "Deployment/demo/web spec.selector: required field is missing",
        'Deployment/demo/web spec.replicas: expected integer, got string "2"',
        'Deployment/demo/web spec.template.spec.containers[0].imagePullPolicy: "Sometimes" is not an allowed value',
        "Deployment/demo/web spec.template.spec.containers[0].imagee: unknown field",
        'Service/demo/web spec.type: "Loadbalancer" is not an allowed value',
        'Service/demo/web spec.ports[0].port: expected integer, got string "http"',
    ])
    assert {(f.rule, f.severity) for f in findings} == {(RULE_INVALID, Severity.ERROR)}
    first = findings[0]
    assert (first.cluster, first.kustomization, first.file) == (
        "infra", "flux-system/demo", "tests/fixtures/schema/builtin-invalid.yaml")


def test_hints_name_the_allowed_fields_and_values(builtin_only: SchemaValidator) -> None:
    hints = {f.message.split(":")[0]: f.hint for f in builtin_only.validate(rendered("builtin-invalid.yaml"))}

    assert hints["metadata.lables"].startswith('did you mean "labels"? allowed fields: annotations, ')
    assert hints["spec.template.spec.containers[0].imagee"].startswith('did you mean "image"?')
    assert hints["spec.template.spec.containers[0].imagePullPolicy"] == "allowed values: Always, IfNotPresent, Never"
    assert hints["spec.type"] == (
        'did you mean "LoadBalancer"? allowed values: ClusterIP, ExternalName, LoadBalancer, NodePort')
    assert hints["spec.replicas"] == "write the number without quotes"
    assert hints["spec.selector"] == "add `selector`"


def test_int_or_string_and_quantities(builtin_only: SchemaValidator) -> None:
    findings = builtin_only.validate(from_yaml("""
apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  ports:
    - port: 80
      targetPort: [8080]
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - name: c
      resources:
        limits: {memory: {size: 1}}
"""))
    assert messages(findings) == [
        "Service/s spec.ports[0].targetPort: expected string or integer, got array [8080]",
        'Pod/p spec.containers[0].resources.limits.memory: expected string or number, got object {"size": 1}',
    ]


def test_yaml_only_values_and_nulls_are_accepted(builtin_only: SchemaValidator) -> None:
    objects = from_yaml("""
apiVersion: v1
kind: ConfigMap
metadata:
  name: dated
  annotations:
    released: 2024-01-01
    stamp: 2024-01-01T10:00:00Z
  labels:
data:
  key: value
""")
    assert builtin_only.validate(objects) == []


def test_sops_encrypted_objects_are_skipped(builtin_only: SchemaValidator) -> None:
    objects = from_yaml("""
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData:
  token: ENC[AES256_GCM,data:abc,type:str]
bogus: field
sops:
  age: []
  version: 3.11.0
""")
    assert builtin_only.validate(objects) == []


def test_objects_without_api_version_or_kind(builtin_only: SchemaValidator) -> None:
    findings = builtin_only.validate(from_yaml("metadata: {name: orphan}\n"))
    assert [(f.rule, f.message) for f in findings] == [(RULE_INVALID, "object has no apiVersion and kind")]


def test_removed_api_versions_are_not_found_with_the_served_version_as_hint(builtin_only: SchemaValidator) -> None:
    findings = builtin_only.validate(from_yaml("""
apiVersion: apps/v1beta1
kind: Deployment
metadata: {name: old}
"""))
    assert [(f.rule, f.message) for f in findings] == [(RULE_NOT_FOUND, "no schema for apps/v1beta1/Deployment")]
    assert findings[0].hint == "Deployment has a schema with `apiVersion: apps/v1`: use that (apps/v1beta1 is not served)"


def test_a_kind_of_another_group_with_the_same_file_name_is_not_taken_for_a_builtin(
        builtin_only: SchemaValidator) -> None:
    # networking.example.io/v1 NetworkPolicy maps to the same file name as networking.k8s.io/v1 NetworkPolicy
    findings = builtin_only.validate(from_yaml("""
apiVersion: networking.example.io/v1
kind: NetworkPolicy
metadata: {name: lookalike}
"""))
    assert [f.rule for f in findings] == [RULE_NOT_FOUND]
    assert findings[0].hint.startswith("add a schema location")  # no "use networking.k8s.io/v1" for a CRD


def test_kubernetes_version_selection(tmp_path: Path) -> None:
    versions = builtin_versions()
    assert "1.34" in versions and versions == sorted(versions, key=lambda v: tuple(map(int, v.split("."))))
    assert BuiltinSchemas("v1.30.2").version == "1.30"
    with pytest.raises(InputError, match=r"no built-in schemas for Kubernetes 1\.10") as older:
        build_schema_validator("1.10", [], tmp_path, [])
    assert "supported: 1.25," in str(older.value.hint)
    # newer than shipped: an error naming the supported versions, never a silent fall-back to older schemas
    with pytest.raises(InputError, match=r"no built-in schemas for Kubernetes 1\.99") as newer:
        builtin_schemas("1.99")
    assert f"supported: {', '.join(versions)}" in str(newer.value.hint)
    with pytest.raises(InputError, match="not a Kubernetes version"):
        build_schema_validator("latest", [], tmp_path, [])


def test_compiled_validators_are_shared_between_validators(tmp_path: Path) -> None:
    first = builtin_schemas(KUBERNETES)
    first.lookup("v1", "ConfigMap")
    assert builtin_schemas("1.34.0") is first
    assert first.lookup("v1", "ConfigMap") is first.lookup("v1", "ConfigMap")
