"""Gates that need the real upstream charts (platform.yaml `charts:`): each test copies the platform, breaks it
the way a real change would and sees the chart-aware rule fire (values schema, unknown values keys, Pod
Security admission on the rendered pods, network policies against the pods the charts render)."""

from __future__ import annotations

from pathlib import Path

import pytest
from platform_gates import Edit, apply_edit, copy_platform, run_validation, serious

from greenfield.core.findings import Finding

ESO = "kubernetes/infrastructure/external-secrets/external-secrets/app/helmrelease.yaml"
ESO_RELEASE = "HelmRelease/external-secrets/external-secrets"


@pytest.fixture(scope="session")
def charts_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("charts-gates-cache")


def broken(repo_root: Path, tmp_path: Path, cache: Path, schemas: Path, *edits: Edit) -> list[Finding]:
    repo = copy_platform(repo_root, tmp_path)
    for edit in edits:
        apply_edit(repo, edit)
    return serious(run_validation(repo, ("infra",), cache, schemas))


def test_values_schema_gate(repo_root: Path, tmp_path: Path, charts_cache: Path, crd_schema_dir: Path) -> None:
    findings = broken(repo_root, tmp_path, charts_cache, crd_schema_dir,
                      Edit(ESO, "    replicaCount: 2\n    # chart 0.20.4", '    replicaCount: "two"\n    # chart 0.20.4'))
    fired = [f for f in findings if f.rule == "values/schema"]
    assert [(f.object, f.file) for f in fired] == [(ESO_RELEASE, ESO)], [f.rule for f in findings]
    assert "replicaCount" in fired[0].message


def test_unknown_values_key_gate(repo_root: Path, tmp_path: Path, charts_cache: Path, crd_schema_dir: Path) -> None:
    findings = broken(repo_root, tmp_path, charts_cache, crd_schema_dir,
                      Edit(ESO, "    certController:\n", "    certController:\n      serviceMonitor:\n"
                                                          "        enabled: true\n"))
    fired = [f for f in findings if f.rule == "values/unknown-key"]
    assert [(f.object, f.file) for f in fired] == [(ESO_RELEASE, ESO)], [f.rule for f in findings]
    assert "certController.serviceMonitor" in fired[0].message and fired[0].severity == "warning"


def test_pod_security_admission_gate(repo_root: Path, tmp_path: Path, charts_cache: Path,
                                     crd_schema_dir: Path) -> None:
    # external-secrets enforces restricted: a host-network controller is rejected by the API server
    findings = broken(repo_root, tmp_path, charts_cache, crd_schema_dir,
                      Edit(ESO, "    fullnameOverride: external-secrets\n",
                           "    fullnameOverride: external-secrets\n    hostNetwork: true\n"))
    fired = [f for f in findings if f.rule == "admission/pod-security"]
    assert "Deployment/external-secrets/external-secrets" in {f.object for f in fired}, [f.rule for f in findings]
    assert all("host namespaces (hostNetwork=true)" in f.message for f in fired)


def test_network_policy_against_the_pods_the_chart_renders(repo_root: Path, tmp_path: Path, charts_cache: Path,
                                                           crd_schema_dir: Path) -> None:
    # without the override the coredns chart labels its pods k8s-app=coredns: the allow-dns policies (they
    # select k8s-app=kube-dns) no longer reach DNS
    findings = broken(repo_root, tmp_path, charts_cache, crd_schema_dir,
                      Edit("kubernetes/infrastructure/kube-system/coredns/app/helmrelease.yaml",
                           "    k8sAppLabelOverride: kube-dns\n", ""))
    fired = [f for f in findings if f.rule == "policy/dns-unreachable"]
    assert fired, [f.rule for f in findings]
    assert all("rendered by coredns-1.45.0" in f.message for f in fired), fired[0].message
