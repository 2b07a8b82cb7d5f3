"""Destroy, soft-destroy and the destroy/recreate reproducibility test (story 50)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenfield.adapters.command import Command
from greenfield.adapters.kubeapi import KubeApi
from greenfield.app.bootstrap import FLUX_NAME_LABEL, Bootstrap, CreateOptions, CreateReport
from greenfield.app.health import HealthReport, check_health, live_objects
from greenfield.app.local import default_control_plane
from greenfield.app.plan import write_evidence
from greenfield.core import snapshot
from greenfield.core.model import ObjectId
from greenfield.errors import ClusterError

Progress = Callable[[str, str], None]
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease", "flux-system"})


def flux_managed(api: KubeApi, bootstrap: Bootstrap) -> list[dict[str, Any]]:
    kinds = {(ObjectId.of(o.body).group, ObjectId.of(o.body).kind) for o in bootstrap.render().objects}
    return live_objects(api, kinds, selector=FLUX_NAME_LABEL)


def _desired(bootstrap: Bootstrap) -> list[dict[str, Any]]:
    return [obj.body for obj in bootstrap.render().objects]


def destroy(repo: Path, cluster: str, options: CreateOptions, progress: Progress | None = None) -> str:
    """Tear the cluster down completely (local: stop and wipe the control plane; Talos: reset the nodes)."""
    say = progress or (lambda _p, _m: None)
    bootstrap = Bootstrap(repo, cluster, options)
    state = bootstrap.state_file()
    if options.target == "local":
        say("destroy", "stopping and wiping the local control plane")
        stopped = default_control_plane(bootstrap.repo).down([cluster], wipe=True)
        state.unlink(missing_ok=True)
        return f"local control plane of {cluster} stopped and wiped ({', '.join(stopped) or 'was not running'})"
    talosctl = str(bootstrap.tools.binary("talosctl"))
    talosconfig = bootstrap.repo / "talos" / "generated" / cluster / "talosconfig"
    for node in bootstrap.inventory.clusters[cluster].nodes:
        say("destroy", f"talosctl reset {node.name}")
        Command([talosctl, "--talosconfig", str(talosconfig), "--nodes", str(node.ip), "--endpoints", str(node.ip),
                 "reset", "--graceful=false", "--reboot", "--wait=false"], timeout=300).run()
    state.unlink(missing_ok=True)
    return f"reset {len(bootstrap.inventory.clusters[cluster].nodes)} Talos nodes of {cluster}"


def soft_destroy(repo: Path, cluster: str, options: CreateOptions, progress: Progress | None = None) -> list[str]:
    """Delete everything Flux (or the local reconcile) applied, keep nodes, CRDs and the bootstrap core."""
    say = progress or (lambda _p, _m: None)
    bootstrap = Bootstrap(repo, cluster, options)
    api = bootstrap.api()
    objects = flux_managed(api, bootstrap)
    namespaced = [o for o in objects if o.get("kind") != "Namespace"]
    deleted = []
    for obj in namespaced:
        oid = ObjectId.of(obj)
        resource = f"{oid.kind.lower()}.{oid.group}" if oid.group else oid.kind.lower()
        api.delete(resource, oid.name, namespace=oid.namespace or None, wait=False)
        deleted.append(str(oid))
    for obj in objects:
        name = (obj.get("metadata") or {}).get("name", "")
        if obj.get("kind") == "Namespace" and name not in SYSTEM_NAMESPACES:
            api.delete("namespace", name, wait=False)
            deleted.append(f"Namespace/{name}")
    say("soft-destroy", f"deleted {len(deleted)} objects")
    bootstrap.state_file().unlink(missing_ok=True)
    return deleted


@dataclass
class ReproduceReport:
    cluster: str
    timings: dict[str, float] = field(default_factory=dict)
    before: snapshot.Snapshot = field(default_factory=dict)
    after: snapshot.Snapshot = field(default_factory=dict)
    differences: list[snapshot.Difference] = field(default_factory=list)
    create: CreateReport | None = None
    health: HealthReport | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem and not self.differences and bool(self.before)

    def to_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "ok": self.ok, "objects_before": len(self.before),
                "objects_after": len(self.after), "differences": [str(d) for d in self.differences],
                "timings": {k: round(v, 2) for k, v in self.timings.items()}, "problem": self.problem,
                "healthy": self.health.ok if self.health else None}


def wait_healthy(bootstrap: Bootstrap, timeout_s: float, progress: Progress) -> HealthReport:
    deadline = time.monotonic() + timeout_s
    while True:
        report = check_health(bootstrap.api(), bootstrap.render(), bootstrap.options.target, None)
        if report.ok or time.monotonic() > deadline:
            return report
        progress("wait", f"{sum(1 for r in report.results if not r.ok)} check(s) not healthy yet")
        time.sleep(5)


def reproduce(repo: Path, cluster: str, options: CreateOptions, progress: Progress | None = None,
              health_timeout_s: float = 600.0) -> ReproduceReport:
    say = progress or (lambda _p, _m: None)
    report = ReproduceReport(cluster)

    def timed(name: str, action: Callable[[], Any]) -> Any:
        started = time.monotonic()
        say(name, "start")
        try:
            return action()
        finally:
            report.timings[name] = time.monotonic() - started

    bootstrap = Bootstrap(repo, cluster, options, progress)
    try:
        bootstrap.api().raw("/readyz")
    except ClusterError:
        created = timed("initial-create", lambda: Bootstrap(repo, cluster, options, progress).run())
        if not created.ok:
            report.problem = "the initial create failed: " + "; ".join(p.detail for p in created.phases
                                                                      if p.status == "failed")
            return report
    report.before = timed("snapshot-before", lambda: snapshot.take(flux_managed(bootstrap.api(), bootstrap), _desired(bootstrap)))
    if not report.before:
        report.problem = "no Flux-managed objects on the cluster to compare (run `greenfield cluster create` first)"
        return report
    timed("destroy", lambda: destroy(repo, cluster, options, progress))
    fresh = Bootstrap(repo, cluster, options, progress)
    report.create = timed("create", fresh.run)
    if not report.create.ok:
        report.problem = "recreate failed: " + "; ".join(p.detail for p in report.create.phases if p.status == "failed")
        return report
    report.health = timed("wait-healthy", lambda: wait_healthy(fresh, health_timeout_s, say))
    if not report.health.ok:
        bad = [f"{r.check}: {r.reason}" for r in report.health.results if not r.ok][:5]
        report.problem = "not healthy after recreate: " + "; ".join(bad)
    report.after = timed("snapshot-after", lambda: snapshot.take(flux_managed(fresh.api(), fresh), _desired(fresh)))
    report.differences = snapshot.compare(report.before, report.after)
    checks = [{"name": f"phase {name}", "result": "pass", "detail": f"{seconds:.1f}s"}
              for name, seconds in report.timings.items()]
    checks.append({"name": "objects identical after destroy and recreate",
                   "result": "pass" if report.ok else "fail",
                   "detail": f"{len(report.before)} objects, {len(report.differences)} differences"
                             + (f"; {report.problem}" if report.problem else "")})
    if report.health is not None and not report.health.target.flux_controllers:
        checks.append({"name": "every Kustomization reconciles to Ready", "result": "skipped",
                       "detail": "no Flux controllers on this target: greenfield applied the desired state itself"})
    write_evidence(bootstrap.repo, "STORY-BOOT-AUTOMATION-ALIGN", cluster, bootstrap.target_description(), checks)
    return report
