"""Cluster semantics: what the render asks of the network agrees with the inventory (platform.yaml).

Every rule here but `cluster/bgp-legacy` needs the inventory and is silent without it (foreign repos).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from ipaddress import IPv4Address
from typing import Any

from greenfield.core.findings import Finding, Severity
from greenfield.core.inventory import Cluster, Inventory
from greenfield.core.model import ClusterRender, RenderedObject
from greenfield.core.rules._helpers import (
    CILIUM_GROUP,
    HelmRelease,
    address_range,
    annotations_of,
    as_dict,
    as_list,
    by_kind,
    dig,
    finding,
    format_range,
    group_of,
    ip,
    is_unresolved,
    labels_of,
    merge_ranges,
    object_text,
    ranges_overlap,
    release_finding,
    releases_of_chart,
    text,
    walk_items,
    walk_strings,
    word_pattern,
)
from greenfield.core.rules.base import RuleContext, rule
from greenfield.core.settings import SettingsConflict, cluster_settings, derived_settings

E = Severity.ERROR
LB_ANNOTATIONS = ("lbipam.cilium.io/ips", "io.cilium/lb-ipam-ips")


def _cluster(render: ClusterRender, context: RuleContext) -> Cluster | None:
    if context.inventory is None:
        return None
    return context.inventory.clusters.get(render.cluster)


def settings_of(context: RuleContext, name: str) -> dict[str, str]:
    """The substitution variables of a cluster: from the context, else computed from the inventory."""
    if context.settings.get(name):
        return context.settings[name]
    if context.inventory is None or name not in context.inventory.clusters:
        return {}
    try:
        return cluster_settings(context.inventory, name)
    except SettingsConflict:
        return derived_settings(context.inventory, name)


def _pool_bounds(cluster: Cluster) -> tuple[int, int]:
    return int(cluster.lb_pool.start), int(cluster.lb_pool.stop)


def _owner_of(inventory: Inventory, address: IPv4Address) -> str:
    for name, cluster in inventory.clusters.items():
        if cluster.lb_pool.contains(address):
            return name
    return ""


# ---------------------------------------------------------------- load balancer pools

@rule("cluster/lb-pool", E, "CiliumLoadBalancerIPPool blocks equal the cluster's inventory pool, disjoint, in the node subnet", house=True)
def lb_pool(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    cluster = _cluster(render, context)
    if cluster is None or context.inventory is None:
        return
    own = _pool_bounds(cluster)
    pools = by_kind(render, "CiliumLoadBalancerIPPool", CILIUM_GROUP)
    if not pools:
        for release in releases_of_chart(render, "cilium"):
            yield release_finding("cluster/lb-pool", E, render, release,
                                  f"cluster {render.cluster} renders no CiliumLoadBalancerIPPool: LoadBalancer "
                                  "services and Gateways get no address",
                                  f"add the pool {cluster.lb_pool} (${{LB_POOL_START}}-${{LB_POOL_STOP}})")
        return
    subnet = (int(cluster.node_subnet.network_address), int(cluster.node_subnet.broadcast_address))
    others = {name: _pool_bounds(c) for name, c in context.inventory.clusters.items() if name != render.cluster}
    for pool in pools:
        blocks = as_list(pool.spec.get("blocks")) or as_list(pool.spec.get("cidrs"))
        ranges = [r for r in (address_range(b) for b in blocks) if r is not None]
        if not ranges:
            continue
        foreign = False
        for bounds in ranges:
            if not (subnet[0] <= bounds[0] and bounds[1] <= subnet[1]):
                yield finding("cluster/lb-pool", E, pool,
                              f"block {format_range(bounds)} is outside the node subnet {cluster.node_subnet}",
                              "load-balancer IPs are announced on the node network")
            for name, other in sorted(others.items()):
                if ranges_overlap(bounds, other):
                    foreign = True
                    yield finding("cluster/lb-pool", E, pool,
                                  f"block {format_range(bounds)} overlaps cluster {name}'s pool "
                                  f"{format_range(other)}: each cluster renders only its own pool",
                                  "build the blocks from ${LB_POOL_START}/${LB_POOL_STOP}, never literals")
        merged = merge_ranges(ranges)
        if not foreign and merged != [own]:
            shown = ", ".join(format_range(r) for r in merged)
            yield finding("cluster/lb-pool", E, pool,
                          f"pool covers {shown} but cluster {render.cluster}'s inventory pool is {cluster.lb_pool}",
                          "use blocks: [{start: ${LB_POOL_START}, stop: ${LB_POOL_STOP}}]")


def _requested_ips(obj: RenderedObject) -> Iterator[tuple[str, str]]:
    """(where, address) of every load-balancer address an object asks for."""
    for key in LB_ANNOTATIONS:
        for value in annotations_of(obj.body).get(key, "").split(","):
            if value.strip():
                yield f"annotation {key}", value.strip()
    if obj.kind == "Service" and group_of(obj) == "":
        value = text(obj.spec.get("loadBalancerIP"))
        if value:
            yield "spec.loadBalancerIP", value
    if obj.kind == "Gateway" and group_of(obj) == "gateway.networking.k8s.io":
        for index, address in enumerate(as_list(obj.spec.get("addresses"))):
            if text(dig(address, "type")) in ("", "IPAddress") and text(dig(address, "value")):
                yield f"spec.addresses[{index}]", text(dig(address, "value"))
        annotations = as_dict(dig(obj.spec, "infrastructure", "annotations"))
        for key in LB_ANNOTATIONS:
            for value in text(annotations.get(key)).split(","):
                if value.strip():
                    yield f"spec.infrastructure.annotations {key}", value.strip()
    if obj.kind == "HelmRelease" and group_of(obj) == "helm.toolkit.fluxcd.io":
        for path, key, value, _ in walk_items(as_dict(obj.spec.get("values")), "spec.values"):
            if key == "loadBalancerIP" and text(value):
                yield path, text(value)
            elif key in LB_ANNOTATIONS:
                for item in text(value).split(","):
                    if item.strip():
                        yield path, item.strip()


@rule("cluster/lb-ip", E, "every requested load-balancer IP is inside the owning cluster's pool", house=True)
def lb_ip(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    cluster = _cluster(render, context)
    if cluster is None or context.inventory is None:
        return
    for obj in render.objects:
        for where, value in _requested_ips(obj):
            if is_unresolved(value):
                continue
            address = ip(value)
            if address is None:
                yield finding("cluster/lb-ip", E, obj, f"{where}: {value!r} is not an IPv4 address",
                              "request an address of the cluster's pool")
                continue
            if cluster.lb_pool.contains(address):
                continue
            owner = _owner_of(context.inventory, address)
            where_text = f"it belongs to cluster {owner}'s pool" if owner else "it is in no cluster's pool"
            yield finding("cluster/lb-ip", E, obj,
                          f"{where}: {address} is outside cluster {render.cluster}'s pool {cluster.lb_pool} "
                          f"({where_text})",
                          "take the address from cluster-settings (${GATEWAY_EXTERNAL_IP}, ${CLUSTERMESH_IP}, ...)")


# ---------------------------------------------------------------- CoreDNS

def _is_coredns_service(obj: RenderedObject) -> bool:
    return (obj.kind == "Service" and group_of(obj) == "" and obj.namespace == "kube-system"
            and (obj.name in ("kube-dns", "coredns") or labels_of(obj.body).get("k8s-app") == "kube-dns"))


@rule("cluster/coredns-ip", E, "the CoreDNS Service clusterIP is the inventory's, inside the service CIDR", house=True)
def coredns_ip(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    cluster = _cluster(render, context)
    if cluster is None:
        return
    expected = cluster.coredns_ip
    hint = f"set the clusterIP from ${{COREDNS_IP}} ({expected}); Talos points every kubelet at it"
    for obj in render.objects:
        if _is_coredns_service(obj):
            value = text(obj.spec.get("clusterIP"))
            if value and not is_unresolved(value):
                yield from _check_coredns(render, obj, None, value, cluster, hint)
    for release in releases_of_chart(render, "coredns"):
        value = text(dig(release.values, "service", "clusterIP"))
        if not value:
            yield release_finding("cluster/coredns-ip", E, render, release,
                                  "CoreDNS values set no service.clusterIP: the Service gets a random address",
                                  hint)
        elif not is_unresolved(value):
            yield from _check_coredns(render, None, release, value, cluster, hint)


def _check_coredns(render: ClusterRender, obj: RenderedObject | None, release: HelmRelease | None, value: str,
                   cluster: Cluster, hint: str) -> Iterator[Finding]:
    address = ip(value)
    problems = []
    if address is None or address not in cluster.service_cidr:
        problems.append(f"clusterIP {value} is outside the service CIDR {cluster.service_cidr}")
    elif address != cluster.coredns_ip:
        problems.append(f"clusterIP {value} differs from the inventory's coredns_ip {cluster.coredns_ip}")
    for problem in problems:
        if obj is not None:
            yield finding("cluster/coredns-ip", E, obj, problem, hint)
        elif release is not None:
            yield release_finding("cluster/coredns-ip", E, render, release, f"service.{problem}", hint)


# ---------------------------------------------------------------- Cilium values

def _cilium_values(render: ClusterRender) -> list[HelmRelease]:
    return releases_of_chart(render, "cilium")


def _expect(path: str, actual: Any, wanted: str, variable: str, *, required: bool = True) -> tuple[str, str] | None:
    shown = text(actual)
    if is_unresolved(shown) or (not shown and not required) or shown == wanted:
        return None
    return (f"values.{path} is {shown or 'unset'} but the inventory says {wanted}", f"set {path}: ${{{variable}}}")


@rule("cluster/cilium-values", E, "Cilium cluster id/name, API endpoint and pod CIDR equal the inventory", house=True)
def cilium_values(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    cluster = _cluster(render, context)
    if cluster is None:
        return
    others: dict[str, tuple[str, str]] = {}
    for name, other in context.renders.items():
        if name == render.cluster:
            continue
        for release in _cilium_values(other):
            others[name] = (text(dig(release.values, "cluster", "id")), text(dig(release.values, "cluster", "name")))
    for release in _cilium_values(render):
        values = release.values
        problems: list[tuple[str, str]] = []

        problems.extend(p for p in (
            _expect("cluster.id", dig(values, "cluster", "id"), str(cluster.id), "CLUSTER_ID"),
            _expect("cluster.name", dig(values, "cluster", "name"), render.cluster, "CLUSTER_NAME"),
            _expect("k8sServiceHost", values.get("k8sServiceHost"), cluster.api.host, "API_HOST"),
            _expect("k8sServicePort", values.get("k8sServicePort"), str(cluster.api.port), "API_PORT"),
        ) if p)
        native = text(values.get("routingMode")) == "native"
        routing = _expect("ipv4NativeRoutingCIDR", values.get("ipv4NativeRoutingCIDR"), str(cluster.pod_cidr),
                          "POD_CIDR", required=native)
        if routing:
            problems.append(routing)
        ipam_mode = text(dig(values, "ipam", "mode")) or "cluster-pool"
        pool_list = dig(values, "ipam", "operator", "clusterPoolIPv4PodCIDRList")
        if ipam_mode == "cluster-pool":
            listed = [text(v) for v in (pool_list if isinstance(pool_list, list) else [pool_list] if pool_list
                                        else [])]
            if not any(is_unresolved(v) for v in listed) and listed != [str(cluster.pod_cidr)]:
                problems.append((f"values.ipam.operator.clusterPoolIPv4PodCIDRList is {listed or 'unset'} but the "
                                 f"inventory's pod CIDR is {cluster.pod_cidr}",
                                 "set clusterPoolIPv4PodCIDRList: [${POD_CIDR}] (the chart default is 10.0.0.0/8)"))
        for name, (other_id, other_name) in sorted(others.items()):
            own_id, own_name = text(dig(values, "cluster", "id")), text(dig(values, "cluster", "name"))
            if own_id and own_id == other_id:
                problems.append((f"cluster.id {own_id} is also used by cluster {name}",
                                 "ClusterMesh needs a unique id per cluster: use ${CLUSTER_ID}"))
            if own_name and own_name == other_name:
                problems.append((f"cluster.name {own_name} is also used by cluster {name}",
                                 "ClusterMesh needs a unique name per cluster: use ${CLUSTER_NAME}"))
        for message, hint in problems:
            yield release_finding("cluster/cilium-values", E, render, release, message, hint)


# ---------------------------------------------------------------- BGP

def _local_asns(render: ClusterRender) -> list[tuple[RenderedObject, str]]:
    found = []
    for config in by_kind(render, "CiliumBGPClusterConfig", CILIUM_GROUP):
        for instance in as_list(config.spec.get("bgpInstances")):
            found.append((config, text(dig(instance, "localASN"))))
    return found


@rule("cluster/bgp", E, "BGP local ASN equals the inventory and differs per cluster; peers on the node subnet", house=True)
def bgp(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    cluster = _cluster(render, context)
    if cluster is None:
        return
    other_asns = {asn: name for name, other in context.renders.items() if name != render.cluster
                  for _, asn in _local_asns(other) if asn}
    for config in by_kind(render, "CiliumBGPClusterConfig", CILIUM_GROUP):
        for index, instance in enumerate(as_list(config.spec.get("bgpInstances"))):
            where = f"bgpInstances[{index}]"
            asn = text(dig(instance, "localASN"))
            if asn and not is_unresolved(asn):
                if asn != str(cluster.bgp.local_asn):
                    yield finding("cluster/bgp", E, config,
                                  f"{where}.localASN {asn} differs from the inventory's {cluster.bgp.local_asn}",
                                  "use localASN: ${BGP_LOCAL_ASN}")
                if asn in other_asns:
                    yield finding("cluster/bgp", E, config,
                                  f"{where}.localASN {asn} is also cluster {other_asns[asn]}'s",
                                  "each cluster needs its own private ASN")
            for peer_index, peer in enumerate(as_list(dig(instance, "peers"))):
                address_text = text(dig(peer, "peerAddress"))
                if not address_text or is_unresolved(address_text):
                    continue
                address = ip(address_text.split("/", 1)[0])
                if address is None or address not in cluster.node_subnet:
                    yield finding("cluster/bgp", E, config,
                                  f"{where}.peers[{peer_index}].peerAddress {address_text} is outside the node "
                                  f"subnet {cluster.node_subnet}", "peer with the router: ${BGP_PEER_ADDRESS}")
                peer_asn = text(dig(peer, "peerASN"))
                if peer_asn and not is_unresolved(peer_asn) and peer_asn != str(cluster.bgp.peer_asn):
                    yield finding("cluster/bgp", E, config,
                                  f"{where}.peers[{peer_index}].peerASN {peer_asn} differs from the inventory's "
                                  f"{cluster.bgp.peer_asn}", "use peerASN: ${BGP_PEER_ASN}")


@rule("cluster/bgp-legacy", E, "the legacy CiliumBGPPeeringPolicy (BGP control plane v1) is rendered", house=True)
def bgp_legacy(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    for obj in by_kind(render, "CiliumBGPPeeringPolicy", CILIUM_GROUP):
        yield finding("cluster/bgp-legacy", E, obj, "CiliumBGPPeeringPolicy is the legacy BGP control plane (v1)",
                      "use CiliumBGPClusterConfig + CiliumBGPPeerConfig + CiliumBGPAdvertisement (v2)")


# ---------------------------------------------------------------- foreign values

def _specific_values(cluster: Cluster) -> dict[str, str]:
    """Values that identify one cluster: node names and IPs, FQDNs, its own addresses and networks."""
    values = {
        cluster.api.host: "API host", cluster.clustermesh.fqdn: "clustermesh FQDN",
        str(cluster.clustermesh.ip): "clustermesh IP", str(cluster.gateways.external): "external gateway IP",
        str(cluster.gateways.internal): "internal gateway IP", str(cluster.pod_cidr): "pod CIDR",
        str(cluster.service_cidr): "service CIDR", str(cluster.coredns_ip): "CoreDNS IP",
    }
    for node in cluster.nodes:
        values[node.name] = f"node {node.name}"
        values[str(node.ip)] = f"node {node.name}'s IP"
    return values


@rule("cluster/foreign-value", E, "an object names another cluster's nodes, IPs or FQDNs", house=True)
def foreign_value(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    cluster = _cluster(render, context)
    if cluster is None or context.inventory is None:
        return
    own = _specific_values(cluster)
    own_settings = " ".join(settings_of(context, render.cluster).values())
    foreign: dict[str, str] = {}
    for name, other in context.inventory.clusters.items():
        if name == render.cluster:
            continue
        for value, what in _specific_values(other).items():
            # shared values and values this cluster's own settings carry (cross-cluster endpoints) are fine
            if value in own or re.search(rf"(?<![\w.-]){re.escape(value)}(?![\w-]|\.\w)", own_settings):
                continue
            foreign[value] = f"cluster {name}'s {what}"
    pattern = word_pattern(foreign)
    if pattern is None:
        return
    for obj in render.objects:
        if obj.kind == "CustomResourceDefinition":
            continue  # API schemas (megabytes from charts) name no cluster's values
        flat = object_text(obj)
        if not any(value in flat for value in foreign):
            continue
        reported: set[str] = set()
        for path, value in walk_strings(obj.body):
            for match in pattern.finditer(value):
                token = match.group(0)
                if token in reported:
                    continue
                reported.add(token)
                yield finding("cluster/foreign-value", E, obj,
                              f"{path} names {token} ({foreign[token]}) on cluster {render.cluster}",
                              "cluster-specific values come from cluster-settings variables; include "
                              "cluster-specific apps only from that cluster's kustomization")


# ---------------------------------------------------------------- render drift

def _variants(value: Any, settings: dict[str, str], long_values: list[tuple[str, str]]) -> set[str]:
    """The ways a leaf may be written: as is, as the variable(s) it equals, with long values replaced."""
    raw = text(value)
    forms = {f"={type(value).__name__}:{raw}"}
    forms |= {f"${{{key}}}" for key, setting in settings.items() if setting == raw and raw}
    replaced = raw
    for setting, key in long_values:
        if setting in replaced:
            replaced = replaced.replace(setting, f"${{{key}}}")
    if replaced != raw:
        forms.add(f"~{replaced}")
    return forms


def _long_values(settings: dict[str, str]) -> list[tuple[str, str]]:
    return sorted(((v, k) for k, v in settings.items() if len(v) >= 6), key=lambda item: -len(item[0]))


def _diff(a: Any, b: Any, settings_a: dict[str, str], settings_b: dict[str, str], path: str,
          out: list[tuple[str, str, str]]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            here = f"{path}.{key}"
            if key not in a or key not in b:
                out.append((here, "unset" if key not in a else "set", "unset" if key not in b else "set"))
            else:
                _diff(a[key], b[key], settings_a, settings_b, here, out)
        return
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append((path, f"{len(a)} items", f"{len(b)} items"))
            return
        for index, (item_a, item_b) in enumerate(zip(a, b, strict=True)):
            _diff(item_a, item_b, settings_a, settings_b, f"{path}[{index}]", out)
        return
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        out.append((path, type(a).__name__, type(b).__name__))
        return
    if not _variants(a, settings_a, _long_values(settings_a)) & _variants(b, settings_b, _long_values(settings_b)):
        out.append((path, text(a), text(b)))


@rule("cluster/render-drift", E, "two clusters' Cilium values differ in more than cluster variables", "platform", house=True)
def render_drift(context: RuleContext) -> Iterator[Finding]:
    if context.inventory is None:
        return
    releases: list[tuple[str, ClusterRender, HelmRelease]] = []
    for name in sorted(context.renders):
        if name not in context.inventory.clusters:
            continue
        render = context.renders[name]
        releases.extend((name, render, release) for release in _cilium_values(render))
    if len(releases) < 2:
        return
    base_name, _, base = releases[0]
    base_settings = settings_of(context, base_name)
    for name, render, release in releases[1:]:
        differences: list[tuple[str, str, str]] = []
        _diff(base.values, release.values, base_settings, settings_of(context, name), "values", differences)
        version_a = base.info.version if base.info else ""
        version_b = release.info.version if release.info else ""
        if version_a and version_b and version_a != version_b:
            differences.append(("chart version", version_a, version_b))
        for path, on_base, here in differences[:20]:
            yield release_finding("cluster/render-drift", E, render, release,
                                  f"{path} is {here} on {name} but {on_base} on {base_name}, and the difference is "
                                  "not a cluster variable",
                                  "keep Cilium values identical across clusters; put what must differ in "
                                  "cluster-settings and reference it as ${VAR}")
        if len(differences) > 20:
            yield release_finding("cluster/render-drift", E, render, release,
                                  f"... and {len(differences) - 20} more differences from {base_name}",
                                  "keep Cilium values identical across clusters")

