"""Bootstrap, health, destroy and reproduce for real on local control planes (stories 42-50).

One copy of the repository per session (its own .greenfield state), the reference platform's clusters
created on 127.0.0.1: phases run for real, re-runs change nothing, a killed run converges, the API server
accepts every rendered object, and destroy/recreate reproduces the same inventory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import copy_platform_yaml

from greenfield.app.bootstrap import Bootstrap, CreateOptions
from greenfield.app.health import check_health
from greenfield.app.reproduce import destroy, reproduce
from greenfield.core.health import Status

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def platform_copy(repo_root: Path, tmp_path_factory: pytest.TempPathFactory, upstream_tools,  # type: ignore[no-untyped-def]
                  crd_schema_dir: Path) -> Iterator[Path]:
    upstream_tools.ensure(["etcd", "kube-apiserver", "kube-controller-manager", "helm"])
    repo = tmp_path_factory.mktemp("platform")
    copy_platform_yaml(repo_root, repo)  # its chart folders: the real charts phase 2 installs
    for item in ("kubernetes", "bootstrap", "plan"):
        shutil.copytree(repo_root / item, repo / item)
    yield repo
    for cluster in ("infra", "apps"):
        destroy(repo, cluster, CreateOptions())


def options(crd_dir: Path) -> CreateOptions:
    # validation has its own suites; here the cluster side is under test
    return CreateOptions(target="local", skip_validate=True, schema_dirs=[crd_dir])


def test_create_runs_every_phase_then_changes_nothing(platform_copy: Path, crd_schema_dir: Path) -> None:
    first = Bootstrap(platform_copy, "apps", options(crd_schema_dir)).run()
    assert first.ok, [p.to_dict() for p in first.phases]
    assert [p.name for p in first.phases] == ["preflight", "talos", "api", "crds", "core", "sync", "reconcile"]
    by_name = {p.name: p for p in first.phases}
    assert by_name["crds"].status == "done" and "CRDs Established" in by_name["crds"].detail
    assert by_name["core"].status == "done" and "cilium=1.18.2" in by_name["core"].detail
    assert first.rejected == []
    second = Bootstrap(platform_copy, "apps", options(crd_schema_dir)).run()
    assert second.ok and not second.changed, [p.to_dict() for p in second.phases]
    assert {p.status for p in second.phases} == {"unchanged"}


def test_core_releases_carry_the_gitops_values(platform_copy: Path, crd_schema_dir: Path) -> None:
    bootstrap = Bootstrap(platform_copy, "apps", options(crd_schema_dir))
    helm = bootstrap._helm()
    release = helm.release("cilium", "kube-system", home=bootstrap.helm_home)
    assert release is not None and release["chart"] == "cilium-1.18.2"
    wanted = bootstrap.render().helm_releases
    cilium = next(info for key, info in wanted.items() if key.name == "cilium")
    assert release["values"] == cilium.values  # no drift at handover
    assert release["values"]["cluster"]["name"] == "apps"
    crds = bootstrap.api().get("crd")["items"]
    # the real chart, as Flux later reconciles it: its DaemonSet, no stand-in ConfigMap
    agent = bootstrap.api().get("daemonset", "cilium", namespace="kube-system")
    assert agent["metadata"]["labels"]["app.kubernetes.io/part-of"] == "cilium"
    configmaps = bootstrap.api().get("configmap", namespace="kube-system")["items"]
    assert not [c for c in configmaps if c["metadata"]["name"].endswith("-greenfield-values")]
    # phase 0 takes the CRD the pinned chart (or the tree) renders, the catalog only for the others
    sources = {c["metadata"]["name"]: c["metadata"]["labels"].get("greenfield.io/crd-source") for c in crds}
    assert set(sources.values()) <= {"schema-catalog", "rendered"}
    assert sources["kafkas.kafka.strimzi.io"] == "rendered"  # strimzi 0.48.0's v1beta2, not the catalog's v1


def test_health_is_honest_about_the_local_target(platform_copy: Path, crd_schema_dir: Path) -> None:
    bootstrap = Bootstrap(platform_copy, "apps", options(crd_schema_dir))
    report = check_health(bootstrap.api(), bootstrap.render(), "local", None, platform_copy)
    assert report.ok, [r for r in report.results if not r.ok][:5]
    statuses = {r.check: r.status for r in report.results}
    assert statuses["Kubernetes API reachable"] == Status.PASS
    assert statuses["nodes Ready"] == Status.NOT_APPLICABLE
    assert not any(r.status == Status.PASS for r in report.results
                   if r.check.startswith(("Kustomization", "HelmRelease", "DaemonSet", "Deployment")))
    evidence = json.loads((platform_copy / ".greenfield/evidence/apps/STORY-VALIDATE-NETWORKING.json").read_text())
    assert evidence["story"] == "STORY-VALIDATE-NETWORKING" and evidence["checks"]


def test_a_killed_run_converges_when_rerun(platform_copy: Path, crd_schema_dir: Path) -> None:
    destroy(platform_copy, "apps", options(crd_schema_dir))
    argv = [sys.executable, "-m", "greenfield", "cluster", "create", "apps", "--skip-validate",
            "--repo", str(platform_copy)]
    env = {**__import__("os").environ, "GREENFIELD_SCHEMAS": str(crd_schema_dir)}
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    assert process.stderr is not None
    deadline = time.monotonic() + 600
    for line in process.stderr:
        if "crds start" in " ".join(line.split()) or time.monotonic() > deadline:
            break
    time.sleep(2)
    process.kill()
    process.wait(timeout=30)
    resumed = Bootstrap(platform_copy, "apps", options(crd_schema_dir)).run()
    assert resumed.ok, [p.to_dict() for p in resumed.phases]
    again = Bootstrap(platform_copy, "apps", options(crd_schema_dir)).run()
    assert not again.changed


def test_resume_from_a_phase_needs_the_earlier_ones(platform_copy: Path, crd_schema_dir: Path) -> None:
    from greenfield.errors import InputError

    fresh = CreateOptions(target="local", skip_validate=True, schema_dirs=[crd_schema_dir], from_phase="core")
    destroy(platform_copy, "apps", fresh)
    with pytest.raises(InputError, match="never completed"):
        Bootstrap(platform_copy, "apps", fresh).run()


def test_every_rendered_object_of_infra_is_accepted_by_the_api_server(platform_copy: Path,
                                                                        crd_schema_dir: Path) -> None:
    report = Bootstrap(platform_copy, "infra", options(crd_schema_dir)).run()
    assert report.ok, [p.to_dict() for p in report.phases]
    assert report.rejected == []


def test_reproduce_twice_with_zero_differences(platform_copy: Path, crd_schema_dir: Path) -> None:
    for _ in range(2):
        report = reproduce(platform_copy, "infra", options(crd_schema_dir), health_timeout_s=60)
        assert report.ok, report.to_dict()
        assert report.differences == [] and len(report.before) > 100
        assert set(report.timings) >= {"snapshot-before", "destroy", "create", "wait-healthy", "snapshot-after"}
