"""`greenfield validate` as users and CI meet it: formats, exit codes, --changed-since, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.engine.conftest import FIXTURES, make_repo, run


def greenfield(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "greenfield", "validate", "--no-schema", "--cache-dir", str(cache),
                           *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def test_clean_repo_exits_zero_with_a_summary(tmp_path: Path, build_cache: Path) -> None:
    repo = make_repo(tmp_path)
    result = greenfield("--repo", str(repo), cwd=tmp_path, cache=build_cache)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 error(s), 0 warning(s)" in result.stdout


def test_json_lists_findings_and_exit_one(tmp_path: Path, build_cache: Path) -> None:
    repo = make_repo(tmp_path, "undefined-variable")
    result = greenfield("--format", "json", cwd=repo, cache=build_cache)
    assert result.returncode == 1
    findings = json.loads(result.stdout)["findings"]
    [item] = [f for f in findings if f["rule"] == "substitution/undefined-variable"]
    assert set(item) >= {"rule", "severity", "cluster", "kustomization", "object", "file", "line", "message", "hint"}
    assert item["severity"] == "error" and item["cluster"] == "dev"


def test_text_line_format(tmp_path: Path, build_cache: Path) -> None:
    repo = make_repo(tmp_path, "path-missing")
    result = greenfield("--repo", str(repo), cwd=tmp_path, cache=build_cache)
    assert result.returncode == 1
    assert ("error build/path-missing kubernetes/apps/grafana/ks.yaml:2 Kustomization/flux-system/grafana: "
            "kustomization path not found: kubernetes/apps/grafana/ap") in result.stdout


def test_junit_and_github_formats(tmp_path: Path, build_cache: Path) -> None:
    repo = make_repo(tmp_path, "runtime-placeholder")
    junit = greenfield("--repo", str(repo), "--format", "junit", cwd=tmp_path, cache=build_cache)
    suite = ET.fromstring(junit.stdout)
    assert int(suite.get("failures", "0")) == 1
    failure = suite.find(".//testcase[@name='flux-system/podinfo']/failure")
    assert failure is not None and "substitution/runtime-placeholder" in (failure.text or "")
    github = greenfield("--repo", str(repo), "--format", "github", cwd=tmp_path, cache=build_cache)
    assert github.returncode == 1
    assert any(line.startswith("::error file=kubernetes/apps/podinfo/app/configmap.yaml,line=2,"
                               "title=substitution/runtime-placeholder::") for line in github.stdout.splitlines())


def test_warnings_fail_only_with_strict(tmp_path: Path, build_cache: Path) -> None:
    repo = make_repo(tmp_path, "emptied-value")
    assert greenfield("--repo", str(repo), cwd=tmp_path, cache=build_cache).returncode == 0
    assert greenfield("--repo", str(repo), "--strict", cwd=tmp_path, cache=build_cache).returncode == 1


def test_unknown_cluster_is_one_line_error(tmp_path: Path, build_cache: Path) -> None:
    repo = make_repo(tmp_path)
    result = greenfield("--repo", str(repo), "--cluster", "prod", cwd=tmp_path, cache=build_cache)
    assert result.returncode == 1
    assert result.stderr.startswith("greenfield: ") and "Traceback" not in result.stderr


def test_foreign_repo_with_cluster_path_and_local_sources(tmp_path: Path, build_cache: Path) -> None:
    result = greenfield("--repo", str(FIXTURES / "foreign"), "--cluster-path", "clusters/production",
                        "--substitute-from", str(FIXTURES / "foreign-vars.yaml"), "--format", "json",
                        cwd=tmp_path, cache=build_cache)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [f["rule"] for f in json.loads(result.stdout)["findings"]] == ["build/external-source"]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=repo, check=True,
                   capture_output=True, timeout=60)


def test_changed_since_limits_findings_to_affected_kustomizations(tmp_path: Path, build_cache: Path) -> None:
    repo = make_repo(tmp_path)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "base")
    # a committed problem in podinfo, then an uncommitted one in grafana (which depends on podinfo)
    helmrelease = repo / "kubernetes/apps/podinfo/app/helmrelease.yaml"
    helmrelease.write_text(helmrelease.read_text().replace("${DOMAIN}", "${DOMIAN}"))
    _git(repo, "commit", "-q", "-am", "podinfo problem")
    dashboard = repo / "kubernetes/apps/grafana/app/dashboard.yaml"
    dashboard.write_text(dashboard.read_text().replace("    kustomize.toolkit.fluxcd.io/substitute: disabled\n", ""))
    everything = run(repo, build_cache)
    assert {f.kustomization for f in everything.findings} >= {"flux-system/podinfo", "flux-system/grafana"}
    changed = run(repo, build_cache, changed_since="HEAD")
    assert changed.changed_files == ["kubernetes/apps/grafana/app/dashboard.yaml"]
    assert {f.kustomization for f in changed.findings} == {"flux-system/grafana"}
    assert changed.affected["dev"] == ["flux-system/grafana"]


def test_new_file_in_a_generated_folder_affects_its_kustomization(tmp_path: Path, build_cache: Path) -> None:
    repo = make_repo(tmp_path)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "base")
    (repo / "kubernetes/apps/podinfo/app/extra.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  home: ${HOME}\n", encoding="utf-8")
    report = run(repo, build_cache, changed_since="HEAD")
    assert report.changed_files == ["kubernetes/apps/podinfo/app/extra.yaml"]
    assert "flux-system/podinfo" in report.affected["dev"]
    assert [f.rule for f in report.findings] == ["substitution/runtime-placeholder"]


def test_strict_substitution_fails_the_kustomization_like_the_feature_gate(tmp_path: Path, build_cache: Path) -> None:
    repo = make_repo(tmp_path, "undefined-variable")
    report = run(repo, build_cache, strict_substitution=True)
    [item] = [f for f in report.findings if f.rule == "substitution/undefined-variable"]
    assert 'variable not set (strict mode): "DOMAN"' in item.message
    podinfo = report.renders["dev"].kustomizations
    assert not any(o.kind == "HelmRelease" for n in podinfo.values() for o in n.objects)
