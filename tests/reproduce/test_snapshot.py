"""Snapshot comparison: identical desired state compares equal, server defaults never count."""

from __future__ import annotations

from typing import Any

from greenfield.core.snapshot import compare, take


def service(cluster_ip: str, port: int = 80) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "apps", "uid": cluster_ip, "resourceVersion": "7",
                         "labels": {"app": "web"}},
            "spec": {"ports": [{"port": port, "protocol": "TCP"}], "clusterIP": cluster_ip,
                     "selector": {"app": "web"}}}


DESIRED = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "apps",
                                                               "labels": {"app": "web"}},
           "spec": {"ports": [{"port": 80}], "selector": {"app": "web"}}}


def test_server_assigned_fields_are_ignored() -> None:
    before = take([service("10.0.0.1")], [DESIRED])
    after = take([service("10.0.0.99")], [DESIRED])
    assert compare(before, after) == []


def test_a_changed_desired_field_is_a_difference() -> None:
    before = take([service("10.0.0.1")], [DESIRED])
    after = take([service("10.0.0.1", port=8080)], [DESIRED])
    assert [str(d) for d in compare(before, after)] == ["Service/apps/web: desired state changed"]


def test_missing_and_new_objects() -> None:
    other = {**DESIRED, "metadata": {"name": "api", "namespace": "apps"}}
    before = take([service("1"), other])
    after = take([service("1")])
    assert [str(d) for d in compare(before, after)] == ["Service/apps/api: missing after recreate"]
    assert [str(d) for d in compare(after, before)] == ["Service/apps/api: new after recreate"]
