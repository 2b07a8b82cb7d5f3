"""The inventory model and its rules: the reference passes, each broken copy fails with one clear line."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greenfield.core.inventory import parse_inventory


@pytest.fixture(scope="module")
def reference(repo_root: Path) -> dict[str, Any]:
    data = yaml.safe_load((repo_root / "platform.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_reference_inventory_is_clean(reference: dict[str, Any]) -> None:
    inventory, problems = parse_inventory(reference)
    assert inventory is not None
    assert problems == []
    assert list(inventory.enabled_clusters()) == ["infra", "apps"]
    assert inventory.clusters["infra"].id == 1
    assert str(inventory.clusters["apps"].coredns_ip) == "10.247.0.10"


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    target: Any = data
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last = parts[-1]
    if value is _DELETE:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value


_DELETE = object()

# (change, field the problem names, words the message contains)
BROKEN: list[tuple[str, Any, str, str]] = [
    ("clusters.apps.pod_cidr", "10.244.0.0/16", "clusters.apps.pod_cidr", "overlaps clusters.infra.pod_cidr"),
    ("clusters.apps.service_cidr", "10.245.0.0/16", "clusters.apps.service_cidr", "overlaps clusters.infra"),
    ("clusters.infra.service_cidr", "10.244.0.0/16", "clusters.infra.service_cidr", "overlaps clusters.infra.pod_cidr"),
    ("clusters.apps.id", 1, "clusters.apps.id", "already used by clusters.infra"),
    ("clusters.apps.id", 0, "clusters.apps.id", "greater than or equal to 1"),
    ("clusters.apps.id", 256, "clusters.apps.id", "less than or equal to 255"),
    ("clusters.apps.lb_pool.start", "10.25.11.110", "clusters.apps.lb_pool", "overlaps clusters.infra.lb_pool"),
    ("clusters.infra.lb_pool.stop", "10.25.12.20", "clusters.infra.lb_pool.stop", "outside node_subnet"),
    ("clusters.infra.gateways.external", "10.25.11.125", "clusters.infra.gateways.external", "outside this cluster's lb_pool"),
    ("clusters.apps.clustermesh.ip", "10.25.11.100", "clusters.apps.clustermesh.ip", "outside this cluster's lb_pool"),
    ("clusters.infra.coredns_ip", "10.244.0.10", "clusters.infra.coredns_ip", "outside service_cidr"),
    ("clusters.apps.bgp.local_asn", 64512, "clusters.apps.bgp.local_asn", "already used by clusters.infra"),
    ("clusters.infra.bgp.local_asn", 64501, "clusters.infra.bgp.local_asn", "router's ASN"),
    ("clusters.infra.bgp.peer_address", "192.168.1.1", "clusters.infra.bgp.peer_address", "outside node_subnet"),
    ("clusters.apps.nodes.0.ip", "10.25.11.11", "clusters.apps.nodes.0.ip", "already used by"),
    ("clusters.apps.nodes.0.ip", "10.25.12.14", "clusters.apps.nodes.0.ip", "outside node_subnet"),
    ("clusters.apps.nodes.0.name", "infra-01", "clusters.apps.nodes.0.name", "already used by"),
    ("clusters.infra.nodes.0.ip", "10.25.11.105", "clusters.infra.nodes.0.ip", "inside lb_pool"),
    ("clusters.infra.nodes.0.storage_devices", ["/dev/sda"], "clusters.infra.nodes.0.storage_devices", "install disk"),
    ("clusters.infra.nodes.0.install_disk", "sda", "clusters.infra.nodes.0.install_disk", "pattern"),
    ("clusters.infra.pod_cidr", "10.244.0.1/16", "clusters.infra.pod_cidr", "network"),
    ("clusters.infra.nodes.0.ip", "10.25.11.300", "clusters.infra.nodes.0.ip", "IPv4"),
    ("clusters.infra.colour", "blue", "clusters.infra.colour", "extra inputs are not permitted"),
    ("platform.domian", "example.com", "platform.domian", "extra inputs are not permitted"),
    ("platform.domain", _DELETE, "platform.domain", "field required"),
    ("platform.domain", "Example.COM", "platform.domain", "lower-case DNS name"),
    ("platform.acme_email", "nobody", "platform.acme_email", "pattern"),
    ("platform.versions.talos", "latest", "platform.versions.talos", "not a version"),
    ("platform.secret_store.backend", "vault", "platform.secret_store.vault", "settings are missing"),
    ("platform.secret_store.backend", "aws", "platform.secret_store.backend", "input should be"),
    ("platform.router.address", "10.26.0.1", "platform.router.address", "outside clusters.infra.node_subnet"),
    ("platform.settings", {"lower_case": "x"}, "platform.settings", "UPPER_SNAKE_CASE"),
    ("clusters.apps.api.host", "infra-k8s.example.com", "clusters.apps.api.host", "also clusters.infra's"),
    ("clusters.apps.clustermesh.fqdn", "infra-mesh.example.com", "clusters.apps.clustermesh.fqdn", "also clusters.infra's"),
    ("clusters.apps.gateways.internal", "10.25.11.121", "clusters.apps.gateways", "must all differ"),
    ("clusters.apps.lb_pool.start", "10.25.11.140", "clusters.apps.lb_pool", "start 10.25.11.140 is after stop"),
    ("clusters.apps.nodes", [], "clusters.apps.nodes", "at least 1 item"),
    ("clusters.infra.api.port", 70000, "clusters.infra.api.port", "less than or equal to 65535"),
    ("clusters.apps.settings", {"DOMAIN_X": "a"}, "", ""),  # a valid extra: no problem expected
]


@pytest.mark.parametrize(("dotted", "value", "field", "words"), BROKEN,
                         ids=[f"{d}={v!r}"[:60] for d, v, _, _ in BROKEN])
def test_each_broken_inventory_is_rejected_with_one_clear_line(
        reference: dict[str, Any], dotted: str, value: Any, field: str, words: str) -> None:
    data = copy.deepcopy(reference)
    _set(data, dotted, value)
    _, problems = parse_inventory(data)
    errors = [p for p in problems if p.severity == "error"]
    if not field:
        assert errors == []
        return
    assert errors, f"{dotted}={value!r} was accepted"
    matching = [p for p in errors if p.field == field and words.lower() in p.problem.lower()]
    assert matching, [p.render("platform.yaml") for p in errors]
    line = matching[0].render("platform.yaml")
    assert line.startswith(f"platform.yaml: {field}: ")
    assert "\n" not in line


def test_overlap_message_names_both_sides(reference: dict[str, Any]) -> None:
    data = copy.deepcopy(reference)
    data["clusters"]["apps"]["pod_cidr"] = "10.244.0.0/16"
    _, problems = parse_inventory(data)
    rendered = [p.render("platform.yaml") for p in problems]
    assert ("platform.yaml: clusters.apps.pod_cidr: overlaps clusters.infra.pod_cidr 10.244.0.0/16 "
            "(hint: ClusterMesh needs disjoint pod and service networks per cluster)") in rendered


def test_two_control_planes_is_a_warning_not_an_error(reference: dict[str, Any]) -> None:
    data = copy.deepcopy(reference)
    data["clusters"]["infra"]["nodes"] = data["clusters"]["infra"]["nodes"][:2]
    inventory, problems = parse_inventory(data)
    assert inventory is not None
    assert [p.severity for p in problems] == ["warning"]
    assert "etcd" in problems[0].problem


def test_not_a_mapping() -> None:
    inventory, problems = parse_inventory(["a", "list"])
    assert inventory is None
    assert "mapping" in problems[0].problem


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
yaml_values = st.recursive(yaml_scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)), max_leaves=20)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=yaml_values)
def test_arbitrary_input_yields_problems_never_exceptions(data: Any) -> None:
    inventory, problems = parse_inventory(data)
    assert inventory is None or isinstance(problems, list)
    for problem in problems:
        assert isinstance(problem.render("platform.yaml"), str)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
          deadline=None)
@given(path=st.lists(st.sampled_from(["platform", "clusters", "infra", "apps", "nodes", "0", "ip", "lb_pool",
                                      "start", "bgp", "id", "pod_cidr", "api", "host"]), min_size=1, max_size=4),
       value=yaml_values)
def test_mutated_reference_yields_problems_never_exceptions(reference: dict[str, Any], path: list[str],
                                                             value: Any) -> None:
    data = copy.deepcopy(reference)
    target: Any = data
    for part in path[:-1]:
        if isinstance(target, dict) and part in target:
            target = target[part]
        elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        else:
            break
    if isinstance(target, dict):
        target[path[-1]] = value
    parse_inventory(data)  # must not raise
