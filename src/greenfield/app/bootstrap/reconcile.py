"""Phase reconcile: greenfield applies the desired state itself where no Flux controllers run."""

from __future__ import annotations

from greenfield.app.bootstrap.apply import clean, dry_run_rejections, flux_labelled
from greenfield.app.bootstrap.options import PhaseResult
from greenfield.app.bootstrap.state import BootstrapState
from greenfield.core.bootstrap import PHASE_STORY, reconcile_order


class ReconcilePhase(BootstrapState):
    """Every Kustomization's objects, in dependency order, after a server-side dry-run."""

    def phase_reconcile(self) -> tuple[PhaseResult, list[str]]:
        result = PhaseResult("reconcile", PHASE_STORY["reconcile"], "unchanged")
        order = reconcile_order(self.render())
        # what kustomize-controller applies: a chart's objects are helm-controller's (installed from the HelmRelease)
        objects = [flux_labelled(clean(obj.body), node.key.namespace, node.key.name)
                   for node in order for obj in node.objects if not obj.chart]
        namespaces = [o for o in objects if o.get("kind") == "Namespace"]
        rest = [o for o in objects if o.get("kind") != "Namespace"]
        if namespaces and self._apply_objects("reconcile", namespaces):
            result.status = "done"
            result.changes.append(f"{len(namespaces)} namespaces")
        self.progress("reconcile", f"server-side dry-run of {len(rest)} objects")
        rejected = dry_run_rejections(self.api(), rest)
        if rejected:
            result.status, result.detail = "failed", f"{len(rejected)} object(s) rejected by the API server"
            return result, rejected
        if self._apply_objects("reconcile", rest):
            result.status = "done"
            result.changes.append(f"{len(rest)} objects of {len(order)} Kustomizations")
        result.detail = f"{len(objects)} objects of {len(order)} Kustomizations accepted and applied"
        return result, []
