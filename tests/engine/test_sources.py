"""Sources as Flux creates them, bootstrap facts, the repository config file and cluster naming.

Fixture repositories under tests/fixtures/engine/sources/ (one source/bootstrap form each), plus the corpus
repositories where the forms occur in real life (skipped nowhere: the corpus is part of ../shared).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.engine.conftest import run

from greenfield.adapters.bootstrap_scan import scan_bootstrap
from greenfield.app.render import select_clusters
from greenfield.app.validate import cluster_summary
from greenfield.core.findings import Severity
from greenfield.core.model import NamespacedName
from greenfield.core.repo_config import normalise_url, parse_repo_config, rule_severity, split_source
from greenfield.core.sources import SyncSource
from greenfield.errors import InputError

SOURCES = Path(__file__).parent.parent / "fixtures" / "engine" / "sources"
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "repos"
if not CORPUS.is_dir():
    CORPUS = Path("/work/shared/corpus/repos")


def _errors(report) -> list[str]:  # type: ignore[no-untyped-def]
    """Error findings of the engine's and the graph's rules (house rules are opt-in, not under test here)."""
    return [f"{f.rule} {f.kustomization} {f.message}" for f in report.findings if f.severity == Severity.ERROR
            and not f.rule.startswith(("story/", "policy/"))]


def test_flux_instance_object_with_sync_name(build_cache: Path) -> None:
    report = run(SOURCES / "fluxinstance", build_cache, cluster_paths=["main=clusters/main"])
    render = report.renders["main"]
    root = render.kustomizations[NamespacedName("flux-system", "cluster-repository")]
    assert not root.synthetic and root.path == "clusters/main" and root.body["spec"]["prune"] is True
    apps = render.kustomizations[NamespacedName("flux-system", "apps")]
    assert apps.built and [o.name for o in apps.objects] == ["hello"]
    assert [(o.kind, o.namespace, o.name) for o in render.provided] == [
        ("GitRepository", "flux-system", "cluster-repository")]
    assert _errors(report) == []


def test_helmfile_flux_instance_values_hooks_and_crd_groups(build_cache: Path) -> None:
    report = run(SOURCES / "helmfile", build_cache, cluster_paths=["main=kubernetes/flux/cluster"])
    render = report.renders["main"]
    root = render.kustomizations[NamespacedName("flux-system", "flux-system")]  # sync.name defaults to namespace
    assert root.file == "bootstrap/flux-instance-values.yaml"
    apps = render.kustomizations[NamespacedName("flux-system", "cluster-apps")]
    assert apps.built and apps.substitutions == {"GREETING": "hello"}  # from the hook's kubectl apply -f
    assert "cert-manager.io" in render.provided_crd_groups  # the helmfile installs cert-manager
    assert ("ConfigMap", "cluster-settings") in {(o.kind, o.name) for o in render.provided}
    assert _errors(report) == [], _errors(report)


def test_helmfile_bases_and_default_environment() -> None:
    """helmfile's layering (bases merged in order, a later layer's releases replacing a base's) and its default
    environment (values files and inline maps, referenced as .Values / .Environment.Values / .Environment.Name);
    the production environment is never the one a bare `helmfile sync` uses."""
    facts = scan_bootstrap(SOURCES / "helmfile-layers")
    assert facts.charts == [
        "cert-manager/cert-manager cert-manager v1.17.0 (bootstrap/helmfile.yaml.gotmpl)",
        "flux-system/flux-instance flux-instance __opaque_template__ (bootstrap/helmfile.yaml.gotmpl)",
        "observability/prometheus-operator-crds prometheus-operator-crds 19.0.0 (bootstrap/common.yaml)"]
    assert {"cert-manager.io", "monitoring.coreos.com"} <= facts.crd_groups  # crds/helmfile.yaml: the base's
    [sync] = facts.syncs
    assert (sync.namespace, sync.path, sync.ref, sync.file) == (
        "flux-system", "kubernetes/flux/cluster", "refs/heads/main", "bootstrap/values/default/flux.yaml")


def test_bootstrap_apply_folder_sops_secret_and_entry_repository(build_cache: Path) -> None:
    """A script applies a SOPS Secret folder and the entry itself (kubectl apply -k, literal paths): the Secret's
    keys substitute (values opaque), the entry's one GitRepository is this repository."""
    report = run(SOURCES / "apply-folder", build_cache, cluster_paths=["main=cluster/main"])
    render = report.renders["main"]
    node = render.kustomizations[NamespacedName("flux-system", "cluster")]
    assert node.built and node.opaque_variables == ["SECRET_DOMAIN"]
    provided = {(o.kind, o.name): o for o in render.provided}
    assert provided[("Secret", "cluster-secrets")].encrypted
    assert "scripts/bootstrap.sh" in provided[("Secret", "cluster-secrets")].provided_by
    assert _errors(report) == []
    [item] = [f for f in report.findings if f.rule.startswith("build/")]
    assert (item.rule, item.severity) == ("build/substitute-from-bootstrap", Severity.INFO)
    assert "kubectl apply in scripts/bootstrap.sh" in item.message


def test_oci_sync_resolves_to_the_local_tree(build_cache: Path) -> None:
    report = run(SOURCES / "oci-sync", build_cache, cluster_paths=["c1=clusters/c1"])
    render = report.renders["c1"]
    assert render.kustomizations[NamespacedName("flux-system", "apps")].built
    assert ("OCIRepository", "flux-system", "flux-system") in {(o.kind, o.namespace, o.name) for o in render.provided}
    assert _errors(report) == []


def test_artifact_generator_external_artifacts_map_to_copied_paths(build_cache: Path) -> None:
    report = run(SOURCES / "artifacts", build_cache, cluster_paths=["staging=clusters/staging"])
    render = report.renders["staging"]
    infra = render.kustomizations[NamespacedName("flux-system", "infra-controllers")]
    apps = render.kustomizations[NamespacedName("flux-system", "apps")]
    assert (infra.built, infra.path, [o.name for o in infra.objects]) == (True, "infrastructure/controllers",
                                                                         ["controllers"])
    assert (apps.built, apps.path, [o.name for o in apps.objects]) == (True, "apps/staging", ["app"])
    assert {("ExternalArtifact", "apps"), ("ExternalArtifact", "infrastructure")} <= {
        (o.kind, o.name) for o in render.provided}
    assert not [f for f in report.findings if f.rule == "graph/reference-missing"]


def test_flux_bootstrap_sync_is_provided(tmp_path: Path, build_cache: Path) -> None:
    """No sync in git (flux bootstrap writes gotk-sync.yaml at bootstrap): flux-system/flux-system exists."""
    repo = tmp_path / "repo"
    shutil.copytree(SOURCES / "fluxinstance", repo)
    text = (repo / "clusters/main/flux.yaml").read_text(encoding="utf-8")
    apps = "---\napiVersion: kustomize" + text.split("---\napiVersion: kustomize")[1]
    (repo / "clusters/main/flux.yaml").write_text(apps.replace("name: cluster-repository", "name: flux-system"),
                                                  encoding="utf-8")
    report = run(repo, build_cache, cluster_paths=["clusters/main"])
    render = report.renders["main"]
    assert render.kustomizations[NamespacedName("flux-system", "apps")].built
    assert [(o.kind, o.name) for o in render.provided] == [("GitRepository", "flux-system")]
    assert _errors(report) == []


def test_not_built_children_and_summary(tmp_path: Path, build_cache: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(SOURCES / "helmfile", repo)
    (repo / "bootstrap/cluster-settings.yaml").unlink()  # now nothing creates the substituteFrom source
    (repo / "kubernetes/apps/kustomization.yaml").write_text(
        "resources: [child.yaml]\n", encoding="utf-8")
    (repo / "kubernetes/apps/child.yaml").write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: child, namespace: "
        "flux-system}\nspec: {interval: 1h, path: ./kubernetes/apps/hello, prune: true, sourceRef: {kind: "
        "GitRepository, name: flux-system}}\n", encoding="utf-8")
    report = run(repo, build_cache, cluster_paths=["main=kubernetes/flux/cluster"])
    render = report.renders["main"]
    child = render.kustomizations[NamespacedName("flux-system", "child")]
    assert not child.built
    [note] = [f for f in report.findings if f.rule == "build/not-built"]
    assert note.kustomization == "flux-system/child" and "parent flux-system/cluster-apps fails" in note.message
    assert [f.rule for f in report.findings if f.severity == Severity.ERROR] == ["build/substitute-from-missing"]
    summary = cluster_summary(report)["main"]
    assert summary["kustomizations"]["found"] == 3 and summary["kustomizations"]["built"] == 1
    assert {item["kustomization"] for item in summary["kustomizations"]["not_built"]} == {
        "flux-system/cluster-apps", "flux-system/child"}


def test_config_file_fields(tmp_path: Path, build_cache: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(SOURCES / "helmfile", repo)
    (repo / "bootstrap/helmfile.yaml").unlink()  # the config declares what the bootstrap created instead
    (repo / "in-cluster.yaml").write_text(
        (repo / "bootstrap/cluster-settings.yaml").read_text() + "---\napiVersion: apiextensions.k8s.io/v1\n"
        "kind: CustomResourceDefinition\nmetadata: {name: clusterissuers.cert-manager.io}\n"
        "spec: {group: cert-manager.io}\n", encoding="utf-8")
    (repo / "bootstrap/cluster-settings.yaml").unlink()
    (repo / ".greenfield.yaml").write_text(
        "clusters:\n  home: kubernetes/flux/cluster\nin_cluster: [in-cluster.yaml]\nkubernetes_version: \"1.33\"\n"
        "rules:\n  graph/: warning\n  graph/crd-order: off\n", encoding="utf-8")
    report = run(repo, build_cache)
    assert list(report.renders) == ["home"]
    render = report.renders["home"]
    assert render.kustomizations[NamespacedName("flux-system", "cluster-apps")].substitutions == {"GREETING": "hello"}
    assert "cert-manager.io" in render.provided_crd_groups  # an in_cluster CRD
    assert not [f for f in report.findings if f.rule == "graph/crd-order"]  # off
    assert all(f.severity != Severity.ERROR for f in report.findings if f.rule.startswith("graph/"))


def test_config_file_is_strict(tmp_path: Path) -> None:
    config, problems = parse_repo_config({"clusters": {"a": "x"}, "rulez": {}})
    assert config is None and problems[0].startswith("rulez: unknown setting")
    assert parse_repo_config({"rules": {"policy/psa-label": "loud"}})[0] is None
    assert parse_repo_config({"kubernetes_version": "latest"})[0] is None
    assert rule_severity({"story/": "off", "story/x": "info"}, "story/x") == "info"
    assert rule_severity({"story/": "off"}, "story/y") == "off"
    assert split_source("https://github.com/org/tenants@main") == ("https://github.com/org/tenants", "main")
    assert split_source("ssh://git@github.com/org/tenants") == ("ssh://git@github.com/org/tenants", "")
    assert normalise_url("ssh://git@github.com/Org/tenants.git") == normalise_url("https://github.com/org/tenants")
    assert normalise_url("git@github.com:org/tenants") == "github.com/org/tenants"


def test_cluster_path_names_and_duplicates(tmp_path: Path) -> None:
    for folder in ("a/cluster", "b/cluster"):
        (tmp_path / folder).mkdir(parents=True)
    targets = select_clusters(tmp_path, None, [], ["one=a/cluster", "b/cluster"])
    assert [(t.name, t.entry) for t in targets] == [("one", "a/cluster"), ("cluster", "b/cluster")]
    with pytest.raises(InputError, match="cluster name 'cluster' is used for both 'a/cluster' and 'b/cluster'"):
        select_clusters(tmp_path, None, [], ["a/cluster", "b/cluster"])
    configured = select_clusters(tmp_path, None, [], [], {"x": "a/cluster", "y": "b/cluster"})
    assert [t.name for t in configured] == ["x", "y"]


def test_templated_sync_path_matches_one_folder_level() -> None:
    sync = SyncSource("GitRepository", "flux-system", "flux-system", "./kubernetes/{{ .Values.cluster }}/flux")
    assert sync.matches_entry("kubernetes/main/flux")
    assert not sync.matches_entry("kubernetes/main/extra/flux")


@pytest.mark.parametrize(("repo", "clusters"), [
    ("angelnu__k8s-gitops", ["prod=clusters/prod/config", "test=clusters/test/config"]),
    ("fluxcd__flux2-kustomize-helm-example", ["staging=clusters/staging"]),
])
def test_corpus_sources_resolve(repo: str, clusters: list[str], build_cache: Path) -> None:
    """Real repositories: a FluxInstance with sync.name (angelnu), ArtifactGenerator (the official example)."""
    root = CORPUS / repo
    report = run(root, build_cache, cluster_paths=clusters)
    for name, render in report.renders.items():
        unbuilt = [str(n.key) for n in render.kustomizations.values() if not n.built]
        assert unbuilt == [], (name, unbuilt)
    assert not [f for f in report.findings if f.rule == "graph/reference-missing" and "sourceRef" in f.message]


def _validate_json(repo: Path, clusters: list[str], seed: str, cache: Path) -> str:
    command = [sys.executable, "-m", "greenfield", "validate", "--no-schema", "--format", "json", "--repo", str(repo),
               "--cache-dir", str(cache)]
    for cluster in clusters:
        command += ["--cluster-path", cluster]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False,
                            env={**os.environ, "PYTHONHASHSEED": seed})
    assert result.stdout.startswith("{"), result.stderr
    return result.stdout


@pytest.mark.parametrize(("repo", "clusters"), [
    ("tyriis__home-ops", ["main=kubernetes/main/flux", "utility=kubernetes/utility/flux"]),
    ("zhorvath83__home-ops", ["main=kubernetes/flux/cluster"]),
])
def test_same_findings_under_any_hash_seed(repo: str, clusters: list[str], tmp_path: Path) -> None:
    first = _validate_json(CORPUS / repo, clusters, "1", tmp_path / "cache-1")
    second = _validate_json(CORPUS / repo, clusters, "4242", tmp_path / "cache-4242")
    assert first == second  # byte for byte: the order of findings too


def test_external_source_not_configured_is_info(tmp_path: Path, build_cache: Path) -> None:
    shutil.copytree(SOURCES / "multi-repo", tmp_path / "multi-repo")
    report = run(tmp_path / "multi-repo/fleet", build_cache, cluster_paths=["prod=clusters/prod"])
    node = report.renders["prod"].kustomizations[NamespacedName("flux-system", "team-a")]
    assert not node.built
    [item] = [f for f in report.findings if f.kustomization == "flux-system/team-a"]
    assert (item.rule, item.severity) == ("build/external-source", Severity.INFO)
    assert "sources:" in item.hint


def test_external_source_configured_renders_the_local_copy(tmp_path: Path, build_cache: Path) -> None:
    shutil.copytree(SOURCES / "multi-repo", tmp_path / "multi-repo")
    fleet = tmp_path / "multi-repo/fleet"
    (fleet / ".greenfield.yaml").write_text(
        'clusters: {prod: clusters/prod}\nsources:\n  "https://github.com/org/tenants@main": ../tenants\n',
        encoding="utf-8")
    report = run(fleet, build_cache)
    node = report.renders["prod"].kustomizations[NamespacedName("flux-system", "team-a")]
    assert node.built
    assert [(o.name, o.file) for o in node.objects] == [("team-a", "../tenants/team-a/configmap.yaml")]
    assert not [f for f in report.findings if f.kustomization == "flux-system/team-a"]
    # a copy pinned to another ref does not stand in for this one
    (fleet / ".greenfield.yaml").write_text(
        'clusters: {prod: clusters/prod}\nsources:\n  "https://github.com/org/tenants@v2": ../tenants\n',
        encoding="utf-8")
    assert not run(fleet, build_cache).renders["prod"].kustomizations[node.key].built


def test_talos_manifests_are_bootstrap_facts(tmp_path: Path) -> None:
    from greenfield.adapters.bootstrap_scan import scan_bootstrap

    (tmp_path / "talos").mkdir()
    (tmp_path / "talos/talconfig.yaml").write_text(
        "clusterName: home\ncontrolPlane:\n  patches:\n    - |-\n      cluster:\n        extraManifests:\n"
        "          - https://github.com/prometheus-operator/prometheus-operator/releases/download/v0.93.1/"
        "stripped-down-crds.yaml\n        inlineManifests:\n          - name: ns\n            contents: |-\n"
        "              apiVersion: v1\n              kind: Namespace\n              metadata:\n"
        "                name: network\n", encoding="utf-8")
    facts = scan_bootstrap(tmp_path)
    assert "monitoring.coreos.com" in facts.crd_groups  # Talos applies that CRD bundle at bootstrap
    assert [(o["kind"], o["metadata"]["name"]) for o in facts.objects] == [("Namespace", "network")]
    assert "inlineManifest" in facts.origins[0][2]


def test_helm_release_dependency_in_an_unbuilt_kustomization_is_not_missing() -> None:
    from greenfield.core.model import ClusterRender, KustomizationNode, RenderedObject
    from greenfield.core.rules.base import RuleContext
    from greenfield.core.rules.graph import depends_on_missing

    render = ClusterRender("main", "clusters/main")
    built = KustomizationNode(NamespacedName("flux-system", "apps"), "main", "apps", {"spec": {}}, None, built=True)
    failed = KustomizationNode(NamespacedName("rook-ceph", "rook-ceph-cluster"), "main", "",
                               {"spec": {"path": "./apps/rook-ceph/cluster"}}, None, built=False)
    render.kustomizations = {built.key: built, failed.key: failed}
    built.objects.append(RenderedObject(
        {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": "app",
         "namespace": "default"}, "spec": {"dependsOn": [{"name": "rook-ceph-cluster", "namespace": "rook-ceph"},
                                                         {"name": "nothing", "namespace": "default"}]}},
        "main", "flux-system/apps"))
    crds = KustomizationNode(NamespacedName("flux-system", "cluster-crds"), "main", "", {"spec": {}}, None)
    user = KustomizationNode(NamespacedName("flux-system", "snapshots"), "main", "", {"spec": {}}, None, built=True,
                             depends_on=[NamespacedName("flux-system", "cluster-crds-external-snapshotter"),
                                         NamespacedName("flux-system", "typo")])
    render.kustomizations.update({crds.key: crds, user.key: user})
    found = list(depends_on_missing(render, RuleContext(renders={"main": render})))
    assert sorted(f.message for f in found) == [
        "dependsOn HelmRelease default/nothing does not exist on cluster main",
        "dependsOn flux-system/typo does not exist on cluster main"]


def test_a_kustomization_whose_path_is_a_component_builds(tmp_path: Path, build_cache: Path) -> None:
    """kustomize-controller (and `flux build`) build a spec.path whose kustomization.yaml is kind: Component;
    a batch of builds must not list it under resources: (kustomize rejects a Component there)."""
    repo = tmp_path / "repo"
    shutil.copytree(SOURCES / "fluxinstance", repo)
    (repo / "apps/kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [hello/configmap.yaml]\n",
        encoding="utf-8")
    report = run(repo, build_cache, cluster_paths=["main=clusters/main"])
    apps = report.renders["main"].kustomizations[NamespacedName("flux-system", "apps")]
    assert apps.built, apps.error
    assert [o.name for o in apps.objects] == ["hello"]
