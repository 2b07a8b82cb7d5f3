"""A corpus of mutated copies of the basic fixture: each mutation yields its expected finding, never a traceback.

Mutations: deleted files and folders, renamed objects, variable typos, wrong namespaces, broken YAML,
wrong paths and sources. The build cache is shared: only what a mutation touches is rebuilt.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.engine.conftest import BASIC, run

from greenfield.core.findings import Severity

Op = Callable[[Path], None]

APPS = "kubernetes/apps"
DEV = "kubernetes/clusters/dev"
PODINFO_KS = f"{APPS}/podinfo/ks.yaml"
GRAFANA_KS = f"{APPS}/grafana/ks.yaml"
HELMRELEASE = f"{APPS}/podinfo/app/helmrelease.yaml"
CONFIGMAP = f"{APPS}/podinfo/app/configmap.yaml"
SETTINGS = f"{DEV}/cluster-settings.yaml"
SOURCE = ("---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: {kind}\nmetadata:\n  name: {name}\n"
          "  namespace: flux-system\nspec:\n  interval: 1h\n  url: oci://example.com/{name}\n")
ROLE = "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: reader\nrules: []\n"


def delete(path: str) -> Op:
    def op(repo: Path) -> None:
        target = repo / path
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    return op


def replace(path: str, old: str, new: str) -> Op:
    def op(repo: Path) -> None:
        text = (repo / path).read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {path}"
        (repo / path).write_text(text.replace(old, new, 1), encoding="utf-8")
    return op


def write(path: str, text: str) -> Op:
    def op(repo: Path) -> None:
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text, encoding="utf-8")
    return op


def append(path: str, text: str) -> Op:
    def op(repo: Path) -> None:
        with (repo / path).open("a", encoding="utf-8") as handle:
            handle.write(text)
    return op


MUTATIONS: list[tuple[str, list[Op], str]] = [
    # deleted files and folders
    ("delete-dashboard", [delete(f"{APPS}/grafana/app/dashboard.yaml")], "build/kustomize-error"),
    ("delete-grafana-namespace", [delete(f"{APPS}/grafana/app/namespace.yaml")], "build/kustomize-error"),
    ("delete-grafana-app", [delete(f"{APPS}/grafana/app")], "build/path-missing"),
    ("delete-podinfo-app", [delete(f"{APPS}/podinfo/app")], "build/path-missing"),
    ("delete-component", [delete("kubernetes/components/common")], "build/component-missing"),
    ("delete-component-file", [delete("kubernetes/components/common/serviceaccount.yaml")], "build/kustomize-error"),
    ("delete-settings", [delete(SETTINGS)], "build/kustomize-error"),
    ("delete-sync", [delete(f"{DEV}/flux-system/sync.yaml")], "build/kustomize-error"),
    ("delete-podinfo-ks", [delete(PODINFO_KS)], "build/kustomize-error"),
    ("delete-grafana-kustomization", [delete(f"{APPS}/grafana/kustomization.yaml")], "build/kustomize-error"),
    ("typo-apps-resource", [replace(f"{APPS}/kustomization.yaml", "- ./grafana", "- ./grafna")],
     "build/kustomize-error"),
    ("delete-apps-ks", [delete(f"{DEV}/apps.yaml")], "build/kustomize-error"),
    # renamed objects
    ("rename-settings", [replace(SETTINGS, "name: cluster-settings", "name: cluster-setting")],
     "build/substitute-from-missing"),
    ("typo-substitute-from", [replace(f"{DEV}/apps.yaml", "name: cluster-settings\n  prune",
                                      "name: clustersettings\n  prune")], "build/substitute-from-missing"),
    ("rename-grafana-to-podinfo", [replace(GRAFANA_KS, "name: grafana", "name: podinfo")],
     "build/kustomize-error"),  # kustomize itself refuses the second id in one build
    ("typo-depends-on", [replace(GRAFANA_KS, "- name: podinfo", "- name: podinf")], "graph/depends-on-missing"),
    ("rename-podinfo-depended-on", [replace(PODINFO_KS, "name: podinfo\n  namespace", "name: web\n  namespace")],
     "graph/depends-on-missing"),
    # variable typos
    ("typo-domain", [replace(HELMRELEASE, "${DOMAIN}", "${DOMIAN}")], "substitution/undefined-variable"),
    ("typo-replicas", [replace(HELMRELEASE, "${REPLICAS}", "${REPLICA}")], "substitution/undefined-variable"),
    ("typo-app-name", [replace(HELMRELEASE, "${APP_NAME}", "${APPNAME}")], "substitution/undefined-variable"),
    ("typo-serviceaccount", [replace("kubernetes/components/common/serviceaccount.yaml", "${APP_NAME}",
                                     "${APP_NAM}")], "substitution/undefined-variable"),
    ("typo-in-values-block", [replace(CONFIGMAP, "cluster: ${CLUSTER_NAME}", "cluster: ${CLUSTERNAME}")],
     "substitution/undefined-variable"),
    ("lowercase-variable", [replace(HELMRELEASE, "${DOMAIN}", "${domain}")], "substitution/runtime-placeholder"),
    ("default-without-colon", [replace(CONFIGMAP, "${TIER:=backend}", "${TIER-backend}")], "substitution/syntax"),
    ("unclosed-variable", [replace(HELMRELEASE, "${APP_NAME}.", "${APP_NAME.")], "substitution/syntax"),
    ("space-in-variable", [replace(HELMRELEASE, "${APP_NAME}", "${ APP_NAME}")], "substitution/syntax"),
    ("empty-variable", [replace(HELMRELEASE, "${APP_NAME}", "${}")], "substitution/syntax"),
    ("unescaped-home", [replace(CONFIGMAP, "$${HOME}", "${HOME}")], "substitution/runtime-placeholder"),
    ("dashboard-not-disabled", [replace(f"{APPS}/grafana/app/dashboard.yaml",
                                        "    kustomize.toolkit.fluxcd.io/substitute: disabled\n",
                                        "    note: substituted\n")], "substitution/runtime-placeholder"),
    ("invalid-name-in-settings", [append(SETTINGS, "  bad-name: x\n")], "substitution/invalid-variable-name"),
    ("invalid-name-inline", [replace(PODINFO_KS, "APP_NAME: podinfo", "APP_NAME: podinfo\n      1ST: x")],
     "substitution/invalid-variable-name"),
    ("value-breaks-yaml", [replace(PODINFO_KS, "APP_NAME: podinfo", 'APP_NAME: "pod: info"')],
     "substitution/invalid-yaml"),
    ("value-with-hash", [replace(PODINFO_KS, "APP_NAME: podinfo", 'APP_NAME: "[pod"')], "substitution/invalid-yaml"),
    ("empty-replicas", [replace(SETTINGS, 'REPLICAS: "2"', 'REPLICAS: ""')], "substitution/emptied-value"),
    ("nested-reference", [replace(SETTINGS, "DOMAIN: example.com", "DOMAIN: ${ROOT_DOMAIN}")],
     "substitution/leftover"),
    ("variable-in-root", [replace(f"{DEV}/kustomization.yaml", "  - ./apps.yaml\n",
                                  "  - ./apps.yaml\n  - ./info.yaml\n"),
                          write(f"{DEV}/info.yaml", "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: info\n"
                                "  namespace: flux-system\ndata:\n  domain: ${DOMAIN}\n")],
     "substitution/not-substituted"),
    # wrong namespaces
    ("apps-in-default", [replace(f"{DEV}/apps.yaml", "namespace: flux-system", "namespace: default")],
     "graph/reference-missing"),  # sourceRef defaults to the Kustomization's namespace
    ("podinfo-ks-in-default", [replace(PODINFO_KS, "namespace: flux-system", "namespace: default")],
     "graph/reference-missing"),
    ("substitute-from-other-namespace", [replace(f"{DEV}/apps.yaml", "namespace: flux-system",
                                                 "namespace: default"),
                                         replace(f"{DEV}/apps.yaml", "    name: flux-system\n",
                                                 "    name: flux-system\n    namespace: flux-system\n")],
     "build/substitute-from-missing"),
    ("grafana-into-podinfo-namespace", [replace(GRAFANA_KS, "targetNamespace: grafana", "targetNamespace: podinfo")],
     "build/duplicate-object"),
    ("settings-in-default", [replace(SETTINGS, "namespace: flux-system", "namespace: default")],
     "build/substitute-from-missing"),
    # broken YAML
    ("broken-namespace-yaml", [write(f"{APPS}/grafana/app/namespace.yaml", "metadata: [unclosed\n")],
     "build/kustomize-error"),
    ("broken-generated-folder-yaml", [append(CONFIGMAP, "  broken: [\n")], "build/kustomize-error"),
    ("broken-kustomization-yaml", [write(f"{APPS}/grafana/app/kustomization.yaml", "resources: [\n")],
     "build/kustomize-error"),
    ("broken-sync-yaml", [append(f"{DEV}/flux-system/sync.yaml", "  bad: : :\n\t- x\n")], "build/kustomize-error"),
    ("tab-indented-ks", [replace(f"{DEV}/apps.yaml", "  interval: 1h", "\tinterval: 1h")], "build/kustomize-error"),
    ("broken-entry-kustomization", [write(f"{DEV}/kustomization.yaml", "resources:\n  - [\n")],
     "build/kustomize-error"),
    # components and resources
    ("component-is-file", [replace(PODINFO_KS, "components/common", "components/common/serviceaccount.yaml")],
     "build/component-is-file"),
    ("component-typo", [replace(PODINFO_KS, "components/common", "components/comon")], "build/component-missing"),
    ("empty-grafana-resources", [write(f"{APPS}/grafana/app/kustomization.yaml", "resources: []\n")],
     "build/empty-resources"),
    ("empty-apps-resources", [write(f"{APPS}/kustomization.yaml", "resources:\n")], "build/empty-resources"),
    ("missing-resource-entry", [append(f"{APPS}/kustomization.yaml", "  - ./nginx\n")], "build/kustomize-error"),
    # paths and sources
    ("path-typo", [replace(GRAFANA_KS, "grafana/app", "grafana/ap")], "build/path-missing"),
    ("path-is-file", [replace(PODINFO_KS, "podinfo/app\n", "podinfo/app/helmrelease.yaml\n")], "build/path-missing"),
    ("path-outside-repo", [replace(f"{DEV}/apps.yaml", "./kubernetes/apps", "../../outside")], "build/path-missing"),
    ("foreign-source-name", [replace(GRAFANA_KS, "    name: flux-system", "    name: dashboards"),
                             append(GRAFANA_KS, SOURCE.format(kind="GitRepository", name="dashboards"))],
     "build/external-source"),
    ("foreign-source-kind", [replace(GRAFANA_KS, "kind: GitRepository", "kind: OCIRepository"),
                             append(GRAFANA_KS, SOURCE.format(kind="OCIRepository", name="flux-system"))],
     "build/external-source"),
    ("undefined-source", [replace(GRAFANA_KS, "    name: flux-system", "    name: nowhere")],
     "graph/reference-missing"),
    ("duplicate-cluster-role", [write(f"{APPS}/podinfo/app/clusterrole.yaml", ROLE),
                                write(f"{APPS}/grafana/app/clusterrole.yaml", ROLE),
                                append(f"{APPS}/grafana/app/kustomization.yaml", "  - ./clusterrole.yaml\n")],
     "build/duplicate-object"),
]


def test_corpus_is_large_enough() -> None:
    assert len(MUTATIONS) >= 50
    assert len({name for name, _, _ in MUTATIONS}) == len(MUTATIONS)


@pytest.mark.parametrize(("name", "ops", "rule"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_mutation_yields_expected_finding(name: str, ops: list[Op], rule: str, tmp_path: Path,
                                          build_cache: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(BASIC, repo)
    for op in ops:
        op(repo)
    report = run(repo, build_cache)
    rules = {f.rule for f in report.findings}
    assert rule in rules, sorted(f"{f.rule}: {f.message}" for f in report.findings)
    expected = [f for f in report.findings if f.rule == rule]
    assert all(f.cluster == "dev" and f.message for f in expected)
    assert all(f.severity in (Severity.ERROR, Severity.WARNING, Severity.INFO) for f in expected)


def test_deleted_kustomization_file_is_generated_as_flux_does(tmp_path: Path, build_cache: Path) -> None:
    """Without apps/kustomization.yaml kustomize-controller generates one that lists ./podinfo and ./grafana (each
    has its own kustomization.yaml), so the tree builds as before: `flux build kustomization apps` agrees."""
    repo = tmp_path / "repo"
    shutil.copytree(BASIC, repo)
    delete(f"{APPS}/kustomization.yaml")(repo)
    report = run(repo, build_cache)
    assert not [f for f in report.findings if f.rule.startswith("build/")], report.findings
