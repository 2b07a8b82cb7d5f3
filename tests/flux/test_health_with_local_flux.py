"""Health on a node-less local control plane where Flux controllers run as local processes."""

from __future__ import annotations

from greenfield.core.health import Status
from greenfield.core.health_eval import Target, _judge


def kustomization(ready: str, reason: str) -> dict[str, object]:
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system", "generation": 1},
            "spec": {}, "status": {"observedGeneration": 1,
                                   "conditions": [{"type": "Ready", "status": ready, "reason": reason,
                                                   "message": reason}]}}


def test_flux_objects_are_judged_by_their_conditions_when_controllers_run_without_nodes() -> None:
    local_flux = Target("local", 0, True)
    assert _judge(kustomization("True", "ReconciliationSucceeded"), local_flux, False).status == Status.PASS
    assert _judge(kustomization("False", "DependencyNotReady"), local_flux, False).status == Status.FAIL


def test_without_controllers_flux_readiness_stays_not_applicable() -> None:
    no_flux = Target("local", 0, False)
    assert _judge(kustomization("True", "x"), no_flux, False).status == Status.NOT_APPLICABLE
