"""Phase 2 installs the real upstream charts from the chart folders platform.yaml names (stand-ins only for a
chart that is not there), and knows which name-version helm lists for them (re-runs change nothing)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.conftest import copy_platform_yaml

from greenfield.app.bootstrap import Bootstrap, CreateOptions

pytestmark = pytest.mark.integration  # renders the platform with helm


@pytest.fixture(scope="module")
def bootstrap(repo_root: Path, tmp_path_factory: pytest.TempPathFactory, upstream_tools) -> Bootstrap:  # type: ignore[no-untyped-def]
    upstream_tools.ensure(["helm"])
    repo = tmp_path_factory.mktemp("platform-charts")
    copy_platform_yaml(repo_root, repo)
    for item in ("kubernetes", "bootstrap", "plan"):
        shutil.copytree(repo_root / item, repo / item)
    return Bootstrap(repo, "apps", CreateOptions(target="local", skip_validate=True))


def test_core_releases_install_the_real_charts(bootstrap: Bootstrap, repo_root: Path) -> None:
    shared = Path(str((repo_root / "../shared/charts").resolve()))
    assert bootstrap.chart_folders() == [shared, shared / "approximate"]
    assert bootstrap.standin_releases() == []  # cilium, coredns, cert-manager, external-secrets, flux-operator
    assert bootstrap._chart("cilium", "1.18.2", "oci://quay.io/cilium/charts") == str(shared / "cilium-1.18.2.tgz")
    # the tag v1.19.1 is the chart's version: helm lists cert-manager-v1.19.1, which a re-run compares with
    assert bootstrap._wanted_chart("cert-manager", "v1.19.1") == "cert-manager-v1.19.1"


def test_a_chart_in_no_folder_gets_a_stand_in_on_the_local_target(bootstrap: Bootstrap) -> None:
    chart = Path(bootstrap._chart("gitlab-runner", "0.82.0", "https://charts.gitlab.io"))
    assert chart.name == "gitlab-runner-0.82.0" and (chart / "templates" / "values-configmap.yaml").is_file()
    assert bootstrap._wanted_chart("gitlab-runner", "0.82.0") == "gitlab-runner-0.82.0"


def test_namespaces_a_core_chart_uses_but_does_not_create_come_from_git(bootstrap: Bootstrap) -> None:
    from greenfield.core.bootstrap import Ref, resolve_release

    cilium = resolve_release(bootstrap.render(), Ref(helmrelease="kube-system/cilium"))
    namespaces = {body["metadata"]["name"]: body for body in bootstrap._release_namespaces(cilium)}
    assert set(namespaces) == {"cilium-secrets", "kube-system"}  # the chart's Roles live in cilium-secrets
    assert namespaces["cilium-secrets"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
