"""A small fleet reconciled for real (issue 18): the real source-, kustomize- and helm-controller reconcile a
fixture repository into a local control plane whose nodes are simulated by kwok and whose pods are bound by
the real kube-scheduler; the chart comes from a registry on 127.0.0.1 that `greenfield mirror` seeded, and
the repository's upstream OCIRepository URL is pointed at it only by the mirror's root patch (git unchanged,
two Kustomization levels between the root and the source). A privileged pod in a namespace enforcing the
baseline Pod Security level is refused by the API server (admission configured as on Talos).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from greenfield.adapters.command import Command, which
from greenfield.adapters.gotools import CONTROL_PLANE_TOOLS, FLEET_TOOLS, FLUX_CONTROLLER_TOOLS, GoTools
from greenfield.adapters.kubeapi import KubeApi
from greenfield.adapters.local_cluster import ClusterSpec, LocalControlPlane, owns
from greenfield.adapters.local_fleet import FLEET_PROCESSES, LocalFleet
from greenfield.adapters.local_flux import LocalFlux
from greenfield.adapters.local_registry import LocalRegistry
from greenfield.app.bootstrap import point_sync_at
from greenfield.app.mirror import mirror
from greenfield.core.fleet import CONTROL_PLANE_ROLE, FleetNode, well_known_labels
from greenfield.core.mirror import with_root_patches

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fleet"
CLUSTER = "fleet"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid"}
NODES = (
    FleetNode("fleet-cp-01", "10.25.0.11", {**well_known_labels("fleet-cp-01"), CONTROL_PLANE_ROLE: ""},
              ({"key": CONTROL_PLANE_ROLE, "effect": "NoSchedule"},)),
    FleetNode("fleet-worker-01", "10.25.0.21", well_known_labels("fleet-worker-01")),
)
KS = "kustomizations.kustomize.toolkit.fluxcd.io"


def poll(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    end = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(1)


def condition(api: KubeApi, kind: str, name: str, namespace: str) -> dict[str, Any]:
    for item in api.get(kind, namespace=namespace).get("items", []):
        if item["metadata"]["name"] == name:
            for cond in (item.get("status") or {}).get("conditions") or []:
                if cond.get("type") == "Ready":
                    return dict(cond)
    return {}


@dataclass
class Fleet:
    plane: LocalControlPlane
    registry: LocalRegistry
    address: str
    repo: Path
    mirrored: list[str]

    @property
    def api(self) -> KubeApi:
        return self.plane.api(CLUSTER)


@pytest.fixture(scope="module")
def fleet(upstream_tools: GoTools, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    if which("git") is None:
        pytest.skip("git is not installed: git http-backend cannot serve the fixture repository")
    upstream_tools.ensure([*CONTROL_PLANE_TOOLS, *FLUX_CONTROLLER_TOOLS, *FLEET_TOOLS])
    work = tmp_path_factory.mktemp("fleet")
    charts = work / "charts"
    charts.mkdir()
    home = {f"HELM_{kind}_HOME": str(work / "helm") for kind in ("CACHE", "CONFIG", "DATA")}
    Command([str(upstream_tools.binary("helm")), "package", str(FIXTURES / "chart" / "web"), "--destination",
             str(charts)], env=home).run()
    repo = work / "repo"
    shutil.copytree(FIXTURES / "repo", repo)
    git = which("git") or "git"
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "fleet fixture"]):
        Command([git, "-C", str(repo), *args], env=GIT_ENV, timeout=60).run()
    registry = LocalRegistry(work / "registry", upstream_tools)
    plane = LocalControlPlane(work / "state", upstream_tools)
    try:
        state, _ = registry.start()
        # greenfield mirror: push the chart, plan the root patch from the engine's render of the fixture
        report = mirror(repo, state.address, [charts], cluster_paths=["clusters/fleet"], output=work / "out",
                        tools=upstream_tools)
        plan = report.plans[CLUSTER]
        assert [str(r) for r in plan.rewrites] == [
            f"OCIRepository web/web: oci://ghcr.io/example/charts/web -> oci://{state.address}/charts/web"]
        plane.up([ClusterSpec(CLUSTER, service_cidr="10.98.0.0/16")])
        LocalFleet(plane).start(CLUSTER, NODES, "10.244.0.0/16")
        info = LocalFlux(plane).start(CLUSTER, repo)
        # what bootstrap applies: the sync objects at the local git server, with the mirror's root patches
        from greenfield.app.mirror import render_clusters

        render = render_clusters(repo, [], ["clusters/fleet"])[CLUSTER]
        sync = [o.body for o in render.kustomizations[plan.root].objects  # type: ignore[index]
                if o.file.startswith("clusters/fleet/flux-system/")]
        bodies = with_root_patches(point_sync_at(sync, info.git_url), plan)
        import yaml

        plane.api(CLUSTER).apply("".join("---\n" + yaml.safe_dump(b, sort_keys=False) for b in bodies),
                                 server_side=True, field_manager="greenfield")
        yield Fleet(plane, registry, state.address, repo, [c.name for c in report.charts])
    finally:
        plane.down(wipe=True)
        registry.stop()


def test_kwok_runs_the_inventory_nodes_as_talos_registers_them(fleet: Fleet) -> None:
    def nodes_ready() -> dict[str, dict[str, Any]] | None:
        items = {n["metadata"]["name"]: n for n in fleet.api.get("nodes").get("items", [])}
        ready = all(any(c["type"] == "Ready" and c["status"] == "True" for c in (n.get("status") or {})
                        .get("conditions") or []) for n in items.values())
        # kube-controller-manager's node lifecycle controller lifts the not-ready taint of a Ready node
        ready = ready and not any(t["key"] == "node.kubernetes.io/not-ready" for n in items.values()
                                  for t in (n.get("spec") or {}).get("taints") or [])
        return items if len(items) == len(NODES) and ready else None

    nodes = poll(nodes_ready, 120, "kwok reporting both nodes Ready")
    control_plane = nodes["fleet-cp-01"]
    assert control_plane["metadata"]["labels"][CONTROL_PLANE_ROLE] == ""
    assert control_plane["spec"]["taints"] == [{"key": CONTROL_PLANE_ROLE, "effect": "NoSchedule"}]
    addresses = {a["type"]: a["address"] for a in control_plane["status"]["addresses"]}
    assert addresses == {"InternalIP": "10.25.0.11", "Hostname": "fleet-cp-01"}
    assert nodes["fleet-worker-01"]["status"]["capacity"]["pods"] == "110"
    state = fleet.plane.load_state(CLUSTER)
    assert state is not None
    marker = str(fleet.plane.cluster_dir(CLUSTER))
    assert all(owns(p, marker) for p in state.processes if p.name in FLEET_PROCESSES)
    assert {p.name for p in state.processes} >= set(FLEET_PROCESSES)


def test_a_helm_release_from_the_mirror_runs_on_a_simulated_node(fleet: Fleet) -> None:
    api = fleet.api
    poll(lambda: condition(api, KS, "apps", "flux-system").get("status") == "True", 300,
         "Kustomization apps Ready (it waits for the HelmRelease and its Deployment)")
    source = api.get("ocirepositories.source.toolkit.fluxcd.io", "web", namespace="web")
    assert source["spec"]["url"] == f"oci://{fleet.address}/charts/web"  # by the root patch only
    assert (fleet.repo / "apps" / "ocirepository.yaml").read_text().count("oci://ghcr.io/example/charts/web") == 1
    assert condition(api, "helmreleases.helm.toolkit.fluxcd.io", "web", "web")["status"] == "True"
    deployment = api.get("deployment", "web", namespace="web")
    assert deployment["status"].get("readyReplicas") == 2
    pods = api.get("pods", namespace="web", selector="app.kubernetes.io/name=web")["items"]
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["nodeName"] == "fleet-worker-01"  # the scheduler kept off the tainted control plane
        assert pod["status"]["phase"] == "Running" and pod["status"].get("podIP", "").startswith("10.244.")
        assert pod["metadata"]["annotations"]["message"] == "from-helmrelease"


def test_a_pod_violating_the_namespace_pod_security_level_is_refused(fleet: Fleet) -> None:
    api = fleet.api

    def refused() -> dict[str, Any] | None:
        found = condition(api, KS, "violation", "flux-system")
        return found if found.get("status") == "False" and "PodSecurity" in str(found.get("message")) else None

    failed = poll(refused, 300, "Kustomization violation failing on Pod Security admission")
    assert 'violates PodSecurity "baseline:latest"' in failed["message"] and "privileged" in failed["message"]
    assert not any(p["metadata"]["name"] == "privileged" for p in api.get("pods", namespace="web")["items"])
