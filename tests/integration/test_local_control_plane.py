"""The local control plane against real etcd + kube-apiserver + kube-controller-manager (built from tools/)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from greenfield.adapters.local_cluster import LocalControlPlane, owns
from greenfield.cli.main import app
from greenfield.cli.registry import register

pytestmark = pytest.mark.integration

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  namespace: {namespace}
{extra}data:
  key: "{value}"
"""


def _poll(check, timeout_s: float = 60.0):  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > end:
            return value
        time.sleep(0.25)


def test_api_answers_with_the_pinned_version(local_control_plane: LocalControlPlane) -> None:
    api = local_control_plane.api("itest")
    assert api.server_version()["gitVersion"] == "v1.34.1"
    assert api.raw("/readyz").strip() == "ok"
    assert {"default", "kube-system", "kube-public"} <= set(api.names("namespaces"))
    status = local_control_plane.status(["itest"])[0]
    assert status.running and status.api_ready
    assert [p.name for p in status.processes] == ["etcd", "kube-apiserver", "kube-controller-manager"]


def test_server_side_apply_get_and_wait(local_control_plane: LocalControlPlane) -> None:
    api = local_control_plane.api("itest")
    api.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ssa\n", server_side=True)
    api.apply(CONFIGMAP.format(name="settings", namespace="ssa", extra="", value="one"), server_side=True)
    api.apply(CONFIGMAP.format(name="settings", namespace="ssa", extra="", value="two"), server_side=True)
    got = api.get("configmap", "settings", namespace="ssa", managed_fields=True)
    assert got["data"] == {"key": "two"}
    assert any(m["manager"] == "greenfield" and m["operation"] == "Apply" for m in got["metadata"]["managedFields"])
    api.wait("namespace/ssa", "jsonpath={.status.phase}=Active", timeout_s=30)


def test_controller_manager_runs_namespace_deletion_and_garbage_collection(
        local_control_plane: LocalControlPlane) -> None:
    api = local_control_plane.api("itest")
    api.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: gc\n")
    # the service-account controller gives every namespace its `default` ServiceAccount
    assert _poll(lambda: api.exists("serviceaccount", "default", namespace="gc"))
    api.apply(CONFIGMAP.format(name="owner", namespace="gc", extra="", value="x"))
    owner_uid = api.get("configmap", "owner", namespace="gc")["metadata"]["uid"]
    extra = (f"  ownerReferences:\n  - apiVersion: v1\n    kind: ConfigMap\n    name: owner\n"
             f"    uid: {owner_uid}\n")
    api.apply(CONFIGMAP.format(name="dependent", namespace="gc", extra=extra, value="y"))
    api.delete("configmap", "owner", namespace="gc")
    assert _poll(lambda: not api.exists("configmap", "dependent", namespace="gc")), "garbage collector idle"
    api.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: doomed\n")
    api.apply(CONFIGMAP.format(name="inside", namespace="doomed", extra="", value="z"))
    api.delete("namespace", "doomed", wait=False)
    assert _poll(lambda: "doomed" not in api.names("namespaces")), "namespace controller idle"


def test_cli_up_status_down_leaves_no_process(tmp_path: Path, upstream_tools) -> None:  # type: ignore[no-untyped-def]
    """`greenfield local up --cluster apps` on a copy of the reference inventory, then status and down."""
    repo = Path(__file__).resolve().parents[2]
    shutil.copy(repo / "platform.yaml", tmp_path / "platform.yaml")
    register(app)
    runner = CliRunner()
    up = runner.invoke(app, ["local", "up", "--cluster", "apps", "--repo", str(tmp_path), "--format", "json"])
    assert up.exit_code == 0, up.output
    started = json.loads(up.output)
    assert [c["name"] for c in started["clusters"]] == ["apps"]
    plane = LocalControlPlane(tmp_path / ".greenfield" / "local", upstream_tools)
    records = plane.load_state("apps").processes  # type: ignore[union-attr]
    try:
        kubeconfig = runner.invoke(app, ["local", "kubeconfig", "--repo", str(tmp_path)]).output.strip()
        assert kubeconfig == started["kubeconfig"] == str(plane.kubeconfig)
        assert "default" in plane.api("apps").names("namespaces")  # context named after the cluster
        status = runner.invoke(app, ["local", "status", "--repo", str(tmp_path), "--format", "json"])
        assert status.exit_code == 0, status.output
        assert json.loads(status.output)[0]["api_ready"] is True
        again = runner.invoke(app, ["local", "up", "--cluster", "apps", "--repo", str(tmp_path), "--format", "json"])
        assert again.exit_code == 0 and json.loads(again.output)["clusters"][0]["processes"] == \
            started["clusters"][0]["processes"]  # idempotent: the running cluster is kept
    finally:
        down = runner.invoke(app, ["local", "down", "--repo", str(tmp_path), "--wipe"])
    assert down.exit_code == 0, down.output
    marker = str(tmp_path / ".greenfield" / "local" / "apps")
    assert not any(owns(record, marker) for record in records)
    assert not (tmp_path / ".greenfield" / "local" / "apps").exists()
