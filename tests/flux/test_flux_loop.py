"""The real GitOps loop offline: source-, kustomize- and helm-controller (built from tools/flux-controllers)
reconcile a fixture repository served by `git http-backend` on 127.0.0.1 into a local control plane.

One control plane (cluster `floop`) for the module, its own state folder: a Kustomization becomes Ready by
real reconciliation, a local commit is applied after `flux reconcile`-style annotation, a HelmRelease of a
chart the test packages is installed by the real helm-controller from a Helm repository served on
127.0.0.1, and a HelmRelease whose chart cannot be fetched stays not Ready.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from greenfield.adapters.command import Command, which
from greenfield.adapters.gotools import CONTROL_PLANE_TOOLS, FLUX_CONTROLLER_TOOLS, GoTools
from greenfield.adapters.kubeapi import KubeApi
from greenfield.adapters.local_cluster import ClusterSpec, LocalControlPlane, owns
from greenfield.adapters.local_flux import HTTP_SERVER, FluxInfo, LocalFlux, reconcile_now

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "flux"
CLUSTER = "floop"


def git(repo: Path, *args: str) -> str:
    return Command([which("git") or "git", "-C", str(repo), *args], timeout=60,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@example.invalid"}).run().stdout.strip()


def poll(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    end = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(1)


def condition(api: KubeApi, kind: str, name: str, namespace: str, kind_of: str = "Ready") -> dict[str, Any]:
    listing = api.get(kind, namespace=namespace)
    for item in listing.get("items", []):
        if item["metadata"]["name"] == name:
            for cond in (item.get("status") or {}).get("conditions") or []:
                if cond.get("type") == kind_of:
                    return dict(cond)
    return {}


def ready(api: KubeApi, kind: str, name: str, namespace: str) -> bool:
    return condition(api, kind, name, namespace).get("status") == "True"


@pytest.fixture(scope="module")
def loop(upstream_tools: GoTools, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[LocalControlPlane, FluxInfo, Path]]:
    if which("git") is None:
        pytest.skip("git is not installed: git http-backend cannot serve the fixture repository")
    upstream_tools.ensure([*CONTROL_PLANE_TOOLS, *FLUX_CONTROLLER_TOOLS, "helm"])
    work = tmp_path_factory.mktemp("flux-loop")
    # the Helm repository: the test's own chart, packaged and indexed (relative URLs)
    charts = work / "charts"
    charts.mkdir()
    helm = str(upstream_tools.binary("helm"))
    home = {"HELM_CACHE_HOME": str(work / "helm"), "HELM_CONFIG_HOME": str(work / "helm"),
            "HELM_DATA_HOME": str(work / "helm")}
    Command([helm, "package", str(FIXTURES / "chart" / "demo"), "--destination", str(charts)], env=home).run()
    Command([helm, "repo", "index", str(charts)], env=home).run()
    # the fixture repository, a git repository of its own
    repo = work / "repo"
    shutil.copytree(FIXTURES / "repo", repo)
    git(work, "init", "-q", "-b", "main", str(repo))
    plane = LocalControlPlane(work / "state", upstream_tools)
    plane.up([ClusterSpec(CLUSTER, service_cidr="10.97.0.0/16")])
    try:
        flux = LocalFlux(plane)
        flux.want(CLUSTER, repo, charts)
        info = flux.start(CLUSTER, repo, charts)
        assert info.charts_url is not None
        releases = repo / "helm" / "repositories.yaml"
        releases.write_text(releases.read_text(encoding="utf-8").replace("CHARTS_URL", info.charts_url),
                            encoding="utf-8")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "fixture")
        yield plane, info, repo
    finally:
        plane.down(wipe=True)


SYNC = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: fixture
  namespace: flux-system
spec:
  interval: 1m
  ref:
    branch: main
  url: {url}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps
  prune: true
  sourceRef:
    kind: GitRepository
    name: fixture
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: helm
  namespace: flux-system
spec:
  dependsOn:
    - name: apps
  interval: 10m
  path: ./helm
  prune: true
  sourceRef:
    kind: GitRepository
    name: fixture
"""


@pytest.fixture(scope="module")
def synced(loop: tuple[LocalControlPlane, FluxInfo, Path]) -> tuple[LocalControlPlane, FluxInfo, Path]:
    plane, info, _repo = loop
    plane.api(CLUSTER).apply(SYNC.format(url=info.git_url), server_side=True)
    return loop


def test_controllers_and_server_run_as_recorded_processes(loop: tuple[LocalControlPlane, FluxInfo, Path]) -> None:
    plane, info, _repo = loop
    state = plane.load_state(CLUSTER)
    assert state is not None
    names = [p.name for p in state.processes]
    assert names == [*CONTROL_PLANE_TOOLS, HTTP_SERVER, *FLUX_CONTROLLER_TOOLS]
    marker = str(plane.cluster_dir(CLUSTER))
    assert all(owns(p, marker) for p in state.processes)
    assert LocalFlux(plane).running(CLUSTER)
    assert info.git_url.startswith("http://127.0.0.1:") and info.artifact_url.startswith("http://127.0.0.1:")
    for name in FLUX_CONTROLLER_TOOLS:
        assert (plane.cluster_dir(CLUSTER) / "logs" / f"{name}.log").is_file()
    # a second start changes nothing (same pids)
    again = LocalFlux(plane).start(CLUSTER, Path(info.repo), Path(json.loads(
        (plane.state_dir / "flux" / f"{CLUSTER}.json").read_text())["charts"]))
    assert again == info
    assert [p.pid for p in plane.load_state(CLUSTER).processes] == [p.pid for p in state.processes]  # type: ignore[union-attr]


def test_kustomization_reconciles_to_ready_and_follows_a_local_commit(
        synced: tuple[LocalControlPlane, FluxInfo, Path]) -> None:
    plane, _info, repo = synced
    api = plane.api(CLUSTER)
    poll(lambda: ready(api, "gitrepositories.source.toolkit.fluxcd.io", "fixture", "flux-system"), 120,
         "GitRepository fixture Ready")
    poll(lambda: ready(api, "kustomizations.kustomize.toolkit.fluxcd.io", "apps", "flux-system"), 120,
         "Kustomization apps Ready")
    settings = api.get("configmap", "settings", namespace="loop")
    assert settings["data"] == {"greeting": "one"}
    assert settings["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "apps"
    # a local commit, then what `flux reconcile source git` does
    path = repo / "apps" / "settings.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("greeting: one", "greeting: two"), encoding="utf-8")
    git(repo, "commit", "-q", "-am", "change the greeting")
    head = git(repo, "rev-parse", "HEAD")
    reconcile_now(plane, CLUSTER, "gitrepositories.source.toolkit.fluxcd.io", "fixture", "flux-system")

    def applied() -> bool:
        kustomization = api.get("kustomizations.kustomize.toolkit.fluxcd.io", "apps", namespace="flux-system")
        revision = str((kustomization.get("status") or {}).get("lastAppliedRevision", ""))
        data = api.get("configmap", "settings", namespace="loop")["data"]
        return revision.endswith(head) and data == {"greeting": "two"}

    poll(applied, 180, f"the commit {head[:8]} applied by kustomize-controller")


def test_helm_controller_installs_a_chart_from_the_local_helm_repository(
        synced: tuple[LocalControlPlane, FluxInfo, Path]) -> None:
    plane, _info, _repo = synced
    api = plane.api(CLUSTER)
    poll(lambda: ready(api, "kustomizations.kustomize.toolkit.fluxcd.io", "helm", "flux-system"), 240,
         "Kustomization helm Ready")
    poll(lambda: ready(api, "helmreleases.helm.toolkit.fluxcd.io", "demo", "loop"), 240, "HelmRelease demo Ready")
    rendered = api.get("configmap", "demo-rendered", namespace="loop")
    assert rendered["data"] == {"message": "from-values"}
    # a Helm release secret written by helm-controller, not by greenfield
    secrets = api.get("secret", namespace="loop", selector="owner=helm,name=demo")
    assert secrets["items"]


def test_a_chart_that_cannot_be_fetched_stays_not_ready(synced: tuple[LocalControlPlane, FluxInfo, Path]) -> None:
    plane, _info, _repo = synced
    api = plane.api(CLUSTER)
    poll(lambda: ready(api, "kustomizations.kustomize.toolkit.fluxcd.io", "helm", "flux-system"), 240,
         "Kustomization helm Ready")
    poll(lambda: condition(api, "helmrepositories.source.toolkit.fluxcd.io", "unreachable", "loop").get("status")
         == "False", 120, "HelmRepository unreachable reported as failing")
    upstream = poll(lambda: condition(api, "helmreleases.helm.toolkit.fluxcd.io", "upstream", "loop") or None, 120,
                    "HelmRelease upstream has a Ready condition")
    assert upstream["status"] != "True"


DIFFERENTIAL_FILES = {
    # what source-controller leaves out of the artifact: a .sourceignore entry and a spec.ignore entry
    ".sourceignore": "differential/ignored/drop.yaml\n",
    "differential/ignored/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: diff\n",
    "differential/ignored/keep.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n  namespace: diff\n",
    "differential/ignored/drop.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: drop\n  namespace: diff\n",
    "differential/ignored/spec-dropped.yaml":
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: spec-dropped\n  namespace: diff\n",
    # one object whose substitution fails: kustomize-controller applies nothing of the Kustomization
    "differential/broken/good.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: good\n  namespace: diff\n"
                                     "data:\n  a: ${A}\n",
    "differential/broken/bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\n  namespace: diff\n"
                                    "data:\n  b: ${A\n",
}
DIFFERENTIAL_SYNC = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  ignore: |
    /differential/ignored/spec-dropped.yaml
  interval: 1m
  ref:
    branch: main
  url: {url}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: ignored
  namespace: flux-system
spec:
  interval: 10m
  path: ./differential/ignored
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: broken
  namespace: flux-system
spec:
  interval: 10m
  path: ./differential/broken
  postBuild:
    substitute:
      A: x
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
"""


def test_the_engine_renders_what_real_flux_applies_for_ignored_files_and_failed_substitutions(
        loop: tuple[LocalControlPlane, FluxInfo, Path]) -> None:
    """Differential: the same repository through source- and kustomize-controller and through the engine."""
    from greenfield.app.validate import ValidateOptions, validate_repository
    from greenfield.core.model import NamespacedName

    plane, info, repo = loop
    for name, text in DIFFERENTIAL_FILES.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text, encoding="utf-8")
    sync = DIFFERENTIAL_SYNC.format(url=info.git_url)
    (repo / "differential/cluster").mkdir(parents=True)
    (repo / "differential/cluster/sync.yaml").write_text(sync, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "differential fixture")
    api = plane.api(CLUSTER)
    api.apply(sync, server_side=True)
    poll(lambda: ready(api, "kustomizations.kustomize.toolkit.fluxcd.io", "ignored", "flux-system"), 180,
         "Kustomization ignored Ready")
    def build_failed() -> dict[str, Any] | None:
        found = condition(api, "kustomizations.kustomize.toolkit.fluxcd.io", "broken", "flux-system")
        return found if found.get("status") == "False" and "envsubst" in str(found.get("message")) else None

    failed = poll(build_failed, 180, "Kustomization broken failing its substitution")
    applied = {item["metadata"]["name"] for item in api.get("configmap", namespace="diff")["items"]
               if item["metadata"]["name"] != "kube-root-ca.crt"}

    report = validate_repository(repo, None, ValidateOptions(cluster_paths=["differential/cluster"], schema=False,
                                                             cache_dir=repo.parent / "engine-cache"))
    render = report.renders["cluster"]
    ignored = render.kustomizations[NamespacedName("flux-system", "ignored")]
    broken = render.kustomizations[NamespacedName("flux-system", "broken")]
    rendered = {o.name for o in ignored.objects + broken.objects if o.kind == "ConfigMap"}
    assert rendered == applied == {"keep"}
    assert "envsubst" in failed["message"] and "envsubst" in broken.error, (failed, broken.error)
    assert not broken.objects


CHART_FILES = {
    "differential/charts/demo/Chart.yaml": "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
    "differential/charts/demo/values.yaml": "message: from-defaults\nother: from-chart-defaults\n",
    "differential/charts/demo/values-prod.yaml": "message: from-values-file\nsize: small\n",
    "differential/charts/demo/templates/configmap.yaml":
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-rendered\n"
        "  namespace: {{ .Release.Namespace }}\ndata:\n  message: {{ .Values.message | quote }}\n"
        "  other: {{ .Values.other | default \"unset\" | quote }}\n  size: {{ .Values.size | quote }}\n",
    "differential/release/helmrelease.yaml": """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: chart-diff
  namespace: diff
spec:
  chart:
    spec:
      chart: ./differential/charts/demo
      sourceRef:
        kind: GitRepository
        name: flux-system
        namespace: flux-system
      valuesFiles:
        - differential/charts/demo/values-prod.yaml
  commonMetadata:
    labels:
      team: platform
  interval: 10m
  postRenderers:
    - kustomize:
        patches:
          - patch: |
              - op: add
                path: /data/patched
                value: "yes"
            target:
              kind: ConfigMap
  values:
    size: large
""",
}
CHART_SYNC = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: release
  namespace: flux-system
spec:
  dependsOn:
    - name: ignored
  interval: 10m
  path: ./differential/release
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
"""


def test_the_engine_renders_a_local_chart_as_real_helm_controller_installs_it(
        loop: tuple[LocalControlPlane, FluxInfo, Path]) -> None:
    """Differential: valuesFiles replacing the chart's defaults, post-renderer patches, commonMetadata and the
    origin labels, through source- and helm-controller and through the engine."""
    from greenfield.app.validate import ValidateOptions, validate_repository
    from greenfield.core.model import NamespacedName

    plane, _info, repo = loop
    assert (repo / "differential/cluster/sync.yaml").is_file(), "runs after the first differential test"
    for name, text in CHART_FILES.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text, encoding="utf-8")
    sync = repo / "differential/cluster/sync.yaml"
    sync.write_text(sync.read_text(encoding="utf-8") + "---\n" + CHART_SYNC, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "differential chart")
    api = plane.api(CLUSTER)
    reconcile_now(plane, CLUSTER, "gitrepositories.source.toolkit.fluxcd.io", "flux-system", "flux-system")
    api.apply(CHART_SYNC, server_side=True)
    poll(lambda: ready(api, "helmreleases.helm.toolkit.fluxcd.io", "chart-diff", "diff"), 240,
         "HelmRelease chart-diff Ready")
    installed = api.get("configmap", "chart-diff-rendered", namespace="diff")

    report = validate_repository(repo, None, ValidateOptions(cluster_paths=["differential/cluster"], schema=False,
                                                             cache_dir=repo.parent / "engine-cache"))
    node = report.renders["cluster"].kustomizations[NamespacedName("flux-system", "release")]
    [rendered] = [o.body for o in node.objects if o.chart and o.kind == "ConfigMap"]
    assert rendered["data"] == installed["data"] == {"message": "from-values-file", "other": "unset", "size": "large",
                                                     "patched": "yes"}
    ours = rendered["metadata"]["labels"]
    assert ours == {"team": "platform", "helm.toolkit.fluxcd.io/name": "chart-diff",
                    "helm.toolkit.fluxcd.io/namespace": "diff"}
    assert ours.items() <= installed["metadata"]["labels"].items()
