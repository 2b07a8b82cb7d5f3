"""Validation options of the severity model end to end: missing schemas (info, or error when strict), the
Kubernetes version of the built-in schemas (flag, .greenfield.yaml, Talos), house rules and per-rule overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenfield.app.validate import ValidateOptions, validate_repository
from greenfield.core.findings import Severity
from greenfield.errors import InputError

OBJECTS = """
apiVersion: v1
kind: Namespace
metadata: {name: media}
---
apiVersion: example.io/v1
kind: Widget
metadata: {name: w, namespace: media}
"""


def _repo(tmp_path: Path, **files: str) -> Path:
    repo = tmp_path / "repo"
    (repo / "clusters" / "dev").mkdir(parents=True)
    (repo / "clusters" / "dev" / "objects.yaml").write_text(OBJECTS, encoding="utf-8")
    for name, text in files.items():
        path = repo / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return repo


def _findings(repo: Path, tmp_path: Path, **options: object) -> dict[str, Severity]:
    settings = {"cluster_paths": ["clusters/dev"], "cache_dir": tmp_path / "cache", **options}
    report = validate_repository(repo, None, ValidateOptions(**settings))  # type: ignore[arg-type]
    return {f.rule: f.severity for f in report.findings}


def test_a_missing_schema_is_info_unless_strict(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    assert _findings(repo, tmp_path)["schema/not-found"] is Severity.INFO
    assert _findings(repo, tmp_path, strict_schemas=True)["schema/not-found"] is Severity.ERROR
    strict_config = _repo(tmp_path / "b", **{".greenfield.yaml": "strict_schemas: true\n"})
    assert _findings(strict_config, tmp_path)["schema/not-found"] is Severity.ERROR


def test_house_rules_and_overrides_from_the_config_file(tmp_path: Path) -> None:
    assert "policy/psa-label" not in _findings(_repo(tmp_path), tmp_path)
    house = _repo(tmp_path / "b", **{".greenfield.yaml": "house_rules: true\nrules: {schema/: warning}\n"})
    found = _findings(house, tmp_path)
    assert found["policy/psa-label"] is Severity.ERROR
    assert found["schema/not-found"] is Severity.WARNING  # strict with house rules, then re-graded by `rules:`
    assert "policy/psa-label" not in _findings(house, tmp_path, house_rules=False)
    with pytest.raises(InputError, match=r"rules\.graph/cycle"):
        _findings(house, tmp_path, rules={"graph/cycle": "fatal"})


def test_an_unsupported_kubernetes_version_is_an_error_naming_the_supported_ones(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    with pytest.raises(InputError, match=r"no built-in schemas for Kubernetes 1\.99") as error:
        _findings(repo, tmp_path, kubernetes_version="1.99")
    assert "1.34" in str(error.value.hint)
    configured = _repo(tmp_path / "b", **{".greenfield.yaml": "kubernetes_version: '1.40'\n"})
    with pytest.raises(InputError, match=r"1\.40"):
        _findings(configured, tmp_path)


def test_the_talos_version_is_used_and_a_newer_one_says_which_schemas_validate(tmp_path: Path) -> None:
    supported = _repo(tmp_path, **{"talos__talconfig.yaml": "kubernetesVersion: v1.30.4\n"})
    assert "schema/kubernetes-version" not in _findings(supported, tmp_path)
    newer = _repo(tmp_path / "b", **{"talos__talconfig.yaml": "kubernetesVersion: v1.36.4\n"})
    report = validate_repository(newer, None, ValidateOptions(cluster_paths=["clusters/dev"],
                                                              cache_dir=tmp_path / "cache"))
    [note] = [f for f in report.findings if f.rule == "schema/kubernetes-version"]
    assert note.severity is Severity.INFO and note.file == "talos/talconfig.yaml" and "1.34" in note.message
