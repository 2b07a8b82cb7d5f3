"""Applying objects the way kustomize-controller does: its labels, no status, server-side diff and dry-run."""

from __future__ import annotations

from typing import Any

from greenfield.adapters.kubeapi import KubeApi
from greenfield.core import goyaml


def dump_objects(objects: list[dict[str, Any]]) -> str:
    return "".join("---\n" + goyaml.dump(obj) for obj in objects)


def clean(obj: dict[str, Any]) -> dict[str, Any]:
    """What we send: no status (the API server owns it)."""
    return {key: value for key, value in obj.items() if key != "status"}


FLUX_NAME_LABEL = "kustomize.toolkit.fluxcd.io/name"
FLUX_NAMESPACE_LABEL = "kustomize.toolkit.fluxcd.io/namespace"


def flux_labelled(obj: dict[str, Any], namespace: str, name: str) -> dict[str, Any]:
    """The labels kustomize-controller puts on what it applies (snapshots select on them)."""
    metadata = dict(obj.get("metadata") or {})
    metadata["labels"] = {**(metadata.get("labels") or {}), FLUX_NAME_LABEL: name, FLUX_NAMESPACE_LABEL: namespace}
    return {**obj, "metadata": metadata}


def server_diff(api: KubeApi, manifests: str) -> bool:
    """True when applying would change the cluster (kubectl diff --server-side exits 1)."""
    command = api.command(["diff", "--server-side", "--field-manager=greenfield", "--force-conflicts", "-f", "-"],
                          input=manifests, allowed_exit_codes=frozenset({0, 1}), timeout=600)
    return command.run().returncode == 1


def dry_run_rejections(api: KubeApi, objects: list[dict[str, Any]]) -> list[str]:
    """Server-side dry-run of every object; the API server's rejections, one line each."""
    command = api.command(["apply", "--server-side", "--dry-run=server", "--field-manager=greenfield",
                           "--force-conflicts", "-f", "-"], input=dump_objects(objects),
                          allowed_exit_codes=frozenset({0, 1}), timeout=900)
    result = command.run()
    return [line.strip() for line in result.stderr.splitlines() if line.strip().startswith("Error")]
