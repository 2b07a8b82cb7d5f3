"""Local Helm charts: a HelmRelease whose chart is in the repository (or in --chart-dir) is templated with
the pinned helm and its objects join the render (schema-validated, rules applied); remote charts are no error."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from tests.engine.conftest import BASIC, FIXTURES, make_repo, run

from greenfield.adapters.command import Command
from greenfield.core.engine import ChartOutput, ChartRequest, render_cluster
from greenfield.core.model import NamespacedName

SCENARIO = FIXTURES / "local-chart"
HELLO = NamespacedName("hello", "hello")


def chart_repo(tmp: Path) -> Path:
    """basic + the hello app (HelmRelease → ./charts/hello through the flux-system GitRepository)."""
    repo = tmp / "repo"
    shutil.copytree(BASIC, repo)
    shutil.copytree(SCENARIO / "repo", repo, dirs_exist_ok=True)
    shutil.copytree(SCENARIO / "charts", repo / "charts")
    return repo


@pytest.fixture(scope="module")
def helm(upstream_tools) -> Path:  # type: ignore[no-untyped-def]
    upstream_tools.ensure(["helm"])
    return Path(upstream_tools.binary("helm"))


def chart_objects(report, cluster: str = "dev") -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {str(o.id): o for o in report.renders[cluster].objects if o.chart}


# -- without helm: the engine's side with a fake renderer ---------------------------------------------------

class FakeCharts:
    def __init__(self) -> None:
        self.requests: list[ChartRequest] = []

    def render_many(self, requests: Sequence[ChartRequest]) -> list[ChartOutput]:
        self.requests.extend(requests)
        documents = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "from-chart"}},
                     {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "cr"}}]
        return [ChartOutput(found=True, documents=documents, sources=["charts/hello/templates/a.yaml"] * 2,
                            file="charts/hello", inputs=["charts/hello/Chart.yaml"])
                if r.local_path else ChartOutput(found=False) for r in requests]


def test_engine_hands_resolved_releases_to_the_chart_renderer(tmp_path: Path, build_cache: Path) -> None:
    from greenfield.adapters.kustomize import Kustomizer
    from greenfield.core.engine import EngineOptions

    repo = chart_repo(tmp_path)
    fake = FakeCharts()
    with Kustomizer(repo, build_cache) as kustomizer:
        render = render_cluster("dev", "kubernetes/clusters/dev", kustomizer,
                                EngineOptions(charts=fake, kube_version="1.34.1"))
    by_release = {r.release: r for r in fake.requests}
    hello = by_release["hello"]  # no spec.targetNamespace: the release is named after the HelmRelease
    assert (hello.namespace, hello.local_path, hello.chart, hello.include_crds, hello.kube_version) == (
        "hello", "charts/hello", "hello", True, "1.34.1")
    assert hello.values == {"greeting": "hello from valuesFrom", "replicaCount": 3}
    podinfo = by_release["podinfo"]
    assert (podinfo.local_path, podinfo.chart, podinfo.version) == ("", "podinfo", "6.9.2")
    info = render.helm_releases[HELLO]
    assert info.rendered and info.chart_file == "charts/hello"
    assert not render.helm_releases[NamespacedName("podinfo", "podinfo")].rendered
    node = render.kustomizations[NamespacedName("flux-system", "hello")]
    added = {str(o.id): o for o in node.objects if o.chart}
    assert set(added) == {"ConfigMap/hello/from-chart", "ClusterRole/cr"}  # namespaced kinds land in the release's
    assert added["ConfigMap/hello/from-chart"].file == "charts/hello/templates/a.yaml"
    assert added["ConfigMap/hello/from-chart"].chart == "hello (HelmRelease hello/hello)"
    assert "charts/hello/Chart.yaml" in node.inputs  # --changed-since sees chart edits


def test_remote_chart_is_not_an_error_unless_required(tmp_path: Path, build_cache: Path) -> None:
    repo = make_repo(tmp_path)
    report = run(repo, build_cache)
    assert not [f for f in report.findings if f.rule.startswith("build/chart")]
    assert not report.renders["dev"].helm_releases[NamespacedName("podinfo", "podinfo")].rendered
    required = run(repo, build_cache, require_charts=True)
    [item] = [f for f in required.findings if f.rule == "build/chart-missing"]
    assert item.severity == "warning" and item.object == "HelmRelease/podinfo/podinfo"
    assert "--chart-dir" in item.hint


# -- with the pinned helm ------------------------------------------------------------------------------------

@pytest.mark.integration
def test_local_chart_objects_are_rendered_with_resolved_values(tmp_path: Path, build_cache: Path, helm: Path) -> None:
    report = run(chart_repo(tmp_path), build_cache)
    assert report.findings == [], [f.to_dict() for f in report.findings]
    objects = chart_objects(report)
    assert set(objects) == {"Deployment/hello/hello", "ConfigMap/hello/hello-greeting"}
    deployment = objects["Deployment/hello/hello"]
    assert deployment.kustomization == "flux-system/hello"
    assert deployment.file == "charts/hello/templates/deployment.yaml"
    assert deployment.body["spec"]["replicas"] == 3  # inline values
    config = objects["ConfigMap/hello/hello-greeting"].body["data"]
    assert config == {"greeting": "hello from valuesFrom", "kubeVersion": "v1.34.1"}  # valuesFrom, --kube-version
    assert report.renders["dev"].helm_releases[HELLO].rendered


@pytest.mark.integration
def test_chart_objects_are_schema_validated(tmp_path: Path, build_cache: Path, helm: Path,
                                            crd_schema_dir: Path) -> None:
    repo = chart_repo(tmp_path)
    template = repo / "charts/hello/templates/deployment.yaml"
    template.write_text(template.read_text().replace("  replicas:", "  replicaz:"), encoding="utf-8")
    report = run(repo, build_cache, schema=True, schemas=[str(crd_schema_dir)])
    invalid = [f for f in report.findings if f.rule == "schema/invalid"]
    assert invalid and all(f.object == "Deployment/hello/hello" for f in invalid), [f.to_dict() for f in invalid]
    assert invalid[0].file == "charts/hello/templates/deployment.yaml"
    assert "replicaz" in " ".join(f.message for f in invalid)


@pytest.mark.integration
def test_chart_that_fails_to_template_is_an_error(tmp_path: Path, build_cache: Path, helm: Path) -> None:
    repo = chart_repo(tmp_path)
    release = repo / "kubernetes/apps/hello/app/helmrelease.yaml"
    release.write_text(release.read_text().replace("./charts/hello", "./charts/broken"), encoding="utf-8")
    report = run(repo, build_cache)
    [item] = [f for f in report.findings if f.rule == "build/chart-template"]
    assert item.severity == "error" and item.object == "HelmRelease/hello/hello"
    assert "values.mustBeSet is required" in item.message
    assert item.file == "kubernetes/apps/hello/app/helmrelease.yaml"
    assert not chart_objects(report)


@pytest.mark.integration
def test_chart_dir_with_a_packaged_chart(tmp_path: Path, build_cache: Path, helm: Path) -> None:
    # a stand-in for the remote podinfo chart, pinned 6.9.2 by its OCIRepository: packaged with `helm package`
    source = tmp_path / "podinfo"
    shutil.copytree(SCENARIO / "charts/hello", source)
    meta = yaml.safe_load((source / "Chart.yaml").read_text())
    meta.update(name="podinfo", version="6.9.2")
    (source / "Chart.yaml").write_text(yaml.safe_dump(meta), encoding="utf-8")
    charts = tmp_path / "charts"
    charts.mkdir()
    Command([str(helm), "package", str(source), "--destination", str(charts)], timeout=120).run()
    assert (charts / "podinfo-6.9.2.tgz").is_file()
    repo = make_repo(tmp_path)
    report = run(repo, build_cache, chart_dirs=[charts], require_charts=True)
    assert not [f for f in report.findings if f.rule.startswith("build/chart")]
    objects = chart_objects(report)
    assert "Deployment/podinfo/podinfo" in objects
    deployment = objects["Deployment/podinfo/podinfo"]
    assert deployment.kustomization == "flux-system/podinfo"
    assert deployment.file == str(charts / "podinfo-6.9.2.tgz")
    assert deployment.body["spec"]["replicas"] == 2  # ${REPLICAS} substituted into the HelmRelease values
    # the CLI option, end to end
    result = subprocess.run([sys.executable, "-m", "greenfield", "validate", "--no-schema", "--cache-dir",
                             str(build_cache), "--chart-dir", str(charts), "--require-charts", "--format", "json"],
                            cwd=repo, capture_output=True, text=True, timeout=300, check=False)
    # the stand-in (the hello chart renamed) is not the real podinfo: its pods break the namespace's restricted
    # Pod Security level and it reads none of podinfo's values; the chart itself renders
    assert result.returncode in (0, 1), result.stdout + result.stderr
    data = json.loads(result.stdout)
    rules = {item["rule"] for item in (data["findings"] if isinstance(data, dict) else data)}
    assert not {rule for rule in rules if rule.startswith("build/chart")}
    assert rules <= {"admission/pod-security", "values/unknown-key"}, rules


@pytest.mark.integration
def test_changed_chart_file_affects_its_kustomization(tmp_path: Path, build_cache: Path, helm: Path) -> None:
    repo = chart_repo(tmp_path)
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "base"]):
        Command([*git, *args], cwd=repo, timeout=60).run()
    (repo / "charts/hello/values.yaml").write_text("replicaCount: 1\ngreeting: changed\nimage: x\n", encoding="utf-8")
    report = run(repo, build_cache, changed_since="HEAD")
    assert report.affected["dev"] == ["flux-system/hello"]


def test_release_name_and_namespace_follow_helm_controller(tmp_path: Path, build_cache: Path) -> None:
    from greenfield.adapters.kustomize import Kustomizer
    from greenfield.core.engine import EngineOptions

    repo = chart_repo(tmp_path)
    release = repo / "kubernetes/apps/hello/app/helmrelease.yaml"
    text = release.read_text().replace("  interval: 1h\n", "  interval: 1h\n  targetNamespace: other\n"
                                       "  install:\n    crds: Skip\n", 1)
    release.write_text(text, encoding="utf-8")
    fake = FakeCharts()
    with Kustomizer(repo, build_cache) as kustomizer:
        render = render_cluster("dev", "kubernetes/clusters/dev", kustomizer, EngineOptions(charts=fake))
    [hello] = [r for r in fake.requests if r.local_path]
    assert (hello.release, hello.namespace, hello.include_crds) == ("other-hello", "other", False)
    node = render.kustomizations[NamespacedName("flux-system", "hello")]
    assert "ConfigMap/other/from-chart" in {str(o.id) for o in node.objects if o.chart}


def test_missing_local_chart_path_is_an_error(tmp_path: Path, build_cache: Path) -> None:
    repo = chart_repo(tmp_path)
    shutil.rmtree(repo / "charts/hello")
    report = run(repo, build_cache)
    [item] = [f for f in report.findings if f.rule == "build/chart-template"]
    assert "charts/hello does not exist in the repository" in item.message


def _with_values_files(repo: Path, *entries: str, ignore_missing: bool = False) -> None:
    release = repo / "kubernetes/apps/hello/app/helmrelease.yaml"
    listed = "".join(f"        - {entry}\n" for entry in entries)
    extra = "      ignoreMissingValuesFiles: true\n" if ignore_missing else ""
    release.write_text(release.read_text().replace(
        "      chart: ./charts/hello\n", f"      chart: ./charts/hello\n      valuesFiles:\n{listed}{extra}", 1),
        encoding="utf-8")


@pytest.mark.integration
def test_values_files_replace_the_chart_defaults_like_source_controller(tmp_path: Path, build_cache: Path,
                                                                         helm: Path) -> None:
    repo = chart_repo(tmp_path)
    # repository-relative paths, merged in order; the chart's own values.yaml is no longer the default
    (repo / "charts/hello/values-prod.yaml").write_text("greeting: from values-prod\nimage: x\n", encoding="utf-8")
    (repo / "kubernetes/apps/hello/extra.yaml").write_text("image: y\nreplicaCount: 5\n", encoding="utf-8")
    _with_values_files(repo, "charts/hello/values-prod.yaml", "./kubernetes/apps/hello/extra.yaml")
    configmap = repo / "kubernetes/apps/hello/app/configmap.yaml"
    configmap.write_text(configmap.read_text().replace("greeting: hello from valuesFrom", "other: x"),
                         encoding="utf-8")
    report = run(repo, build_cache)
    assert not [f for f in report.findings if f.rule.startswith("build/chart")], [f.to_dict() for f in report.findings]
    objects = chart_objects(report)
    assert objects["ConfigMap/hello/hello-greeting"].body["data"]["greeting"] == "from values-prod"
    assert objects["Deployment/hello/hello"].body["spec"]["replicas"] == 3  # the HelmRelease's values still win
    node = report.renders["dev"].kustomizations[NamespacedName("flux-system", "hello")]
    assert "kubernetes/apps/hello/extra.yaml" in node.inputs  # a values file is an input for --changed-since


@pytest.mark.integration
def test_a_missing_values_file_fails_the_chart_unless_ignored(tmp_path: Path, build_cache: Path, helm: Path) -> None:
    repo = chart_repo(tmp_path)
    _with_values_files(repo, "charts/hello/values-missing.yaml")
    report = run(repo, build_cache)
    [item] = [f for f in report.findings if f.rule == "build/chart-template"]
    assert "no values file found at path '/charts/hello/values-missing.yaml'" in item.message
    ignored = chart_repo(tmp_path / "ignored")
    _with_values_files(ignored, "charts/hello/values-missing.yaml", ignore_missing=True)
    report = run(ignored, build_cache)
    assert not [f for f in report.findings if f.rule.startswith("build/chart")]
    # every listed file missing and ignored: the chart's defaults are still replaced (by nothing)
    deployment = chart_objects(report)["Deployment/hello/hello"].body
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] is None


def test_values_files_of_a_repository_chart_are_files_of_the_chart(tmp_path: Path) -> None:
    """A chart from a Helm/OCI repository (here a packaged chart in --chart-dir): paths name files inside the
    chart, and "values.yaml" is the chart's own defaults."""
    import tarfile

    from greenfield.adapters.charts import ChartRenderer, ValuesFilesError

    source = tmp_path / "podinfo"
    shutil.copytree(SCENARIO / "charts/hello", source)
    (source / "values-prod.yaml").write_text("greeting: prod\nextra: {a: 1}\n", encoding="utf-8")
    package = tmp_path / "podinfo-6.9.2.tgz"
    with tarfile.open(package, "w:gz") as archive:
        archive.add(source, arcname="podinfo")
    renderer = ChartRenderer(tmp_path, [tmp_path], tmp_path / "cache")
    request = ChartRequest(release="podinfo", namespace="podinfo", chart="podinfo", version="6.9.2", local_path="",
                           values_json="{}", include_crds=True, values_files=("values.yaml", "values-prod.yaml"))
    located = renderer.locate(request)
    assert located == package
    merged, read = renderer._values_files(request, package)
    assert merged == {"replicaCount": 1, "greeting": "prod", "image": "ghcr.io/example/hello:1.0.0", "extra": {"a": 1}}
    assert read == []  # nothing of the repository was read
    with pytest.raises(ValuesFilesError, match=r"no values file found at path 'values-dev\.yaml'"):
        renderer._values_files(replace(request, values_files=("values-dev.yaml",)), package)


@pytest.mark.integration
def test_post_renderers_common_metadata_and_origin_labels_like_helm_controller(tmp_path: Path, build_cache: Path,
                                                                               helm: Path) -> None:
    repo = chart_repo(tmp_path)
    crds = repo / "charts/hello/crds"
    crds.mkdir()
    (crds / "widget.yaml").write_text(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n"
        "  name: widgets.example.com\nspec:\n  group: example.com\n  names: {kind: Widget, plural: widgets}\n"
        "  scope: Namespaced\n  versions: []\n", encoding="utf-8")
    release = repo / "kubernetes/apps/hello/app/helmrelease.yaml"
    release.write_text(release.read_text() + (
        "  commonMetadata:\n    labels:\n      team: platform\n"
        "  postRenderers:\n    - kustomize:\n        patches:\n          - target:\n              kind: Deployment\n"
        "            patch: |\n              - op: replace\n                path: /spec/replicas\n                value: 7\n"
        "        images:\n          - name: ghcr.io/example/hello\n            newTag: 2.0.0\n"), encoding="utf-8")
    report = run(repo, build_cache)
    assert not [f for f in report.findings if f.rule.startswith("build/chart")], [f.to_dict() for f in report.findings]
    objects = chart_objects(report)
    deployment = objects["Deployment/hello/hello"]
    assert deployment.body["spec"]["replicas"] == 7
    assert deployment.body["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/example/hello:2.0.0"
    assert deployment.file == "charts/hello/templates/deployment.yaml"  # the template is still named
    labels = deployment.body["metadata"]["labels"]
    assert labels["team"] == "platform"
    assert (labels["helm.toolkit.fluxcd.io/name"], labels["helm.toolkit.fluxcd.io/namespace"]) == ("hello", "hello")
    assert "annotations" not in deployment.body["metadata"]
    crd = objects["CustomResourceDefinition/widgets.example.com"].body  # crds/ files are not post-rendered
    assert "labels" not in crd["metadata"]


@pytest.mark.integration
def test_a_post_renderer_that_fails_fails_the_chart(tmp_path: Path, build_cache: Path, helm: Path) -> None:
    repo = chart_repo(tmp_path)
    release = repo / "kubernetes/apps/hello/app/helmrelease.yaml"
    release.write_text(release.read_text() + (
        "  postRenderers:\n    - kustomize:\n        patches:\n          - target:\n              kind: Deployment\n"
        "            patch: |\n              - op: remove\n                path: /spec/nothing/here\n"), encoding="utf-8")
    report = run(repo, build_cache)
    [item] = [f for f in report.findings if f.rule == "build/chart-template"]
    assert "post-renderer kustomize failed" in item.message


def _with_dependency(repo: Path, repository: str, version: str = "0.1.0") -> None:
    chart = repo / "charts/hello/Chart.yaml"
    meta = yaml.safe_load(chart.read_text())
    meta["dependencies"] = [{"name": "sidecar", "version": version, "repository": repository}]
    chart.write_text(yaml.safe_dump(meta), encoding="utf-8")


@pytest.mark.integration
def test_local_chart_dependencies_are_built_like_source_controller(tmp_path: Path, build_cache: Path,
                                                                    helm: Path) -> None:
    repo = chart_repo(tmp_path)
    sidecar = repo / "charts/sidecar"
    (sidecar / "templates").mkdir(parents=True)
    (sidecar / "Chart.yaml").write_text("apiVersion: v2\nname: sidecar\nversion: 0.1.0\n", encoding="utf-8")
    (sidecar / "templates/configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-sidecar\ndata:\n  a: b\n",
        encoding="utf-8")
    _with_dependency(repo, "file://../sidecar")
    report = run(repo, build_cache)
    assert not [f for f in report.findings if f.rule.startswith("build/chart")], [f.to_dict() for f in report.findings]
    assert "ConfigMap/hello/hello-sidecar" in chart_objects(report)
    node = report.renders["dev"].kustomizations[NamespacedName("flux-system", "hello")]
    assert "charts/sidecar/templates/configmap.yaml" in node.inputs
    assert not (repo / "charts/hello/charts").exists()  # the repository is never written to
    # a constraint the local chart does not satisfy fails the chart, as the dependency build does
    _with_dependency(repo, "file://../sidecar", version="^2.0.0")
    [item] = [f for f in run(repo, build_cache).findings if f.rule == "build/chart-template"]
    assert "dependency build failed" in item.message


def test_a_remote_dependency_that_is_not_vendored_is_not_rendered_offline(tmp_path: Path, build_cache: Path) -> None:
    repo = chart_repo(tmp_path)
    _with_dependency(repo, "https://charts.example.com")
    report = run(repo, build_cache, require_charts=True)
    [item] = [f for f in report.findings if f.kustomization == "flux-system/hello" and f.rule.startswith("build/")]
    assert item.rule == "build/chart-missing" and "not fetched offline" in item.message
    assert not chart_objects(report)
