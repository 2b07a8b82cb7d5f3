"""Health verdicts over recorded object statuses: ready, not ready, stale, suspended, missing."""

from __future__ import annotations

from typing import Any

import pytest

from greenfield.core.health import Status, object_verdict
from greenfield.core.health_catalog import Layer
from greenfield.core.health_eval import Target, healthy, index_objects, layer_checks, platform_checks


def ks(name: str, *, ready: str | None = "True", generation: int = 2, observed: int | None = 2,
       suspend: bool = False, message: str = "Applied revision: main@sha1:abc") -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "flux-system", "generation": generation},
        "spec": {"path": f"./{name}", "suspend": suspend}, "status": {}}
    if observed is not None:
        obj["status"]["observedGeneration"] = observed
    if ready is not None:
        obj["status"]["conditions"] = [{"type": "Ready", "status": ready, "message": message, "reason": "x"}]
    return obj


def deployment(name: str, replicas: int, ready: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "kube-system",
                                                                         "generation": 1},
            "spec": {"replicas": replicas}, "status": {"observedGeneration": 1, "readyReplicas": ready}}


ON_NODES = Target("talos", nodes=3, flux_controllers=True)
LOCAL = Target("local", nodes=0, flux_controllers=False)


@pytest.mark.parametrize(("obj", "status", "words"), [
    (ks("a"), Status.PASS, "Applied revision"),
    (ks("a", ready="False", message="kustomize build failed"), Status.FAIL, "kustomize build failed"),
    (ks("a", ready="Unknown", message="Reconciliation in progress"), Status.PENDING, "in progress"),
    (ks("a", observed=1), Status.PENDING, "observedGeneration 1 != generation 2"),
    (ks("a", suspend=True), Status.FAIL, "suspended"),
    (ks("a", ready=None), Status.PENDING, "no Ready condition"),
    (deployment("coredns", 2, 2), Status.PASS, "2/2"),
    (deployment("coredns", 2, 1), Status.FAIL, "1/2"),
])
def test_object_verdicts(obj: dict[str, Any], status: Status, words: str) -> None:
    verdict = object_verdict(obj)
    assert verdict.status == status
    assert words in verdict.reason


def test_flux_objects_defined_in_git_are_checked_one_by_one() -> None:
    desired = [ks("cilium"), ks("coredns"), ks("gone")]
    live = index_objects([ks("cilium"), ks("coredns", observed=1)])
    results = platform_checks("infra", ON_NODES, nodes=[], crds=[], live=live, desired=desired)
    by_check = {r.check: r for r in results}
    assert by_check["Kustomization flux-system/cilium Ready"].status == Status.PASS
    assert by_check["Kustomization flux-system/coredns Ready"].status == Status.PENDING
    assert by_check["Kustomization flux-system/gone Ready"].status == Status.MISSING
    assert by_check["0 CRDs Established"].status == Status.FAIL
    assert not healthy(results)


def test_without_nodes_or_controllers_nothing_is_a_silent_pass() -> None:
    desired = [ks("cilium"), deployment("coredns", 2, 0)]
    live = index_objects(desired)
    results = platform_checks("infra", LOCAL, nodes=[], crds=[], live=live, desired=desired)
    results += layer_checks("infra", LOCAL, [Layer.NETWORKING], live, desired)
    statuses = {r.check: r for r in results}
    assert statuses["nodes Ready"].status == Status.NOT_APPLICABLE
    assert statuses["Kustomization flux-system/cilium Ready"].status == Status.NOT_APPLICABLE
    assert "no Flux controllers" in statuses["Kustomization flux-system/cilium Ready"].reason
    assert statuses["Deployment kube-system/coredns"].status == Status.NOT_APPLICABLE
    assert "no nodes" in statuses["Deployment kube-system/coredns"].reason
    assert not any(r.status == Status.PASS and r.check != "Kubernetes API reachable" for r in results)


def test_suspended_is_a_failure_even_without_controllers() -> None:
    desired = [ks("cilium", suspend=True)]
    results = platform_checks("infra", LOCAL, nodes=[], crds=[], live=index_objects(desired), desired=desired)
    assert [r.status for r in results if r.check.startswith("Kustomization")] == [Status.FAIL]


def test_layer_checks_name_their_story_and_skip_what_the_cluster_does_not_run() -> None:
    desired = [deployment("coredns", 2, 2)]
    results = layer_checks("apps", ON_NODES, [Layer.NETWORKING], index_objects(desired), desired)
    coredns = next(r for r in results if r.subject == "Deployment/kube-system/coredns")
    assert coredns.story == "STORY-DNS-COREDNS-BASE" and coredns.status == Status.PASS
    cilium = next(r for r in results if r.check == "DaemonSet kube-system/cilium")
    assert cilium.status == Status.NOT_APPLICABLE and "not part of apps's desired state" in cilium.reason
    assert all(r.layer == "networking" for r in results)


def test_missing_live_object_fails_the_layer() -> None:
    desired = [deployment("coredns", 2, 2)]
    results = layer_checks("infra", ON_NODES, [Layer.NETWORKING], {}, desired)
    assert next(r for r in results if r.subject == "Deployment/kube-system/coredns").status == Status.MISSING
    assert not healthy(results)


def test_unreachable_api_stops_early() -> None:
    target = Target("talos", nodes=0, flux_controllers=False, api_reachable=False, api_detail="connection refused")
    results = platform_checks("infra", target, nodes=[], crds=[], live={}, desired=[])
    assert [(r.status, r.reason) for r in results] == [(Status.FAIL, "connection refused")]


def test_chart_created_workloads_apply_when_their_release_is_desired() -> None:
    release = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": "cilium", "namespace": "kube-system"}, "spec": {}}
    results = layer_checks("infra", LOCAL, [Layer.NETWORKING], index_objects([release]), [release])
    operator = next(r for r in results if r.check == "Deployment kube-system/cilium-operator")
    assert operator.status == Status.NOT_APPLICABLE and "kube-system/cilium chart" in operator.reason
    results = layer_checks("infra", ON_NODES, [Layer.NETWORKING], index_objects([release]), [release])
    operator = next(r for r in results if r.check == "Deployment kube-system/cilium-operator")
    assert operator.status == Status.MISSING  # on real nodes the chart's Deployment must exist
    results = layer_checks("apps", ON_NODES, [Layer.NETWORKING], {}, [])
    operator = next(r for r in results if r.check == "Deployment kube-system/cilium-operator")
    assert operator.status == Status.NOT_APPLICABLE


def test_target_limited_checks_are_told_apart_from_undesired_ones() -> None:
    from greenfield.core.health_eval import target_limited

    desired = [ks("cilium"), deployment("coredns", 2, 0)]
    results = platform_checks("infra", LOCAL, nodes=[], crds=[], live=index_objects(desired), desired=desired)
    results += layer_checks("apps", LOCAL, [Layer.NETWORKING], index_objects(desired), desired)
    flux = next(r for r in results if r.check == "Kustomization flux-system/cilium Ready")
    ceph = next(r for r in results if r.check == "CiliumBGPClusterConfig *")
    assert target_limited(flux) and not target_limited(ceph)
