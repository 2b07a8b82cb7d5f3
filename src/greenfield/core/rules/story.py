"""Story-specific offline gates of STORIES.md that are checkable on the render (6, 8, 11, 12, 16/31, 20, 24, 28).

Options read from `RuleContext.options`:
- `bootstrap_crd_groups` (see graph.py): a bootstrap-provided group counts as an owner for story 6.
- `spire_enabled`: overrides the SPIRE flag (else the cluster's SPIRE_ENABLED setting, else the inventory).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from greenfield.core.findings import Finding, Severity
from greenfield.core.model import ClusterRender, NamespacedName
from greenfield.core.rules._helpers import (
    HelmRelease,
    as_dict,
    as_list,
    dig,
    finding,
    group_of,
    helm_releases,
    is_unresolved,
    labels_of,
    network,
    node_finding,
    parse_key,
    release_finding,
    releases_of_chart,
    text,
    truthy,
    walk_strings,
)
from greenfield.core.rules.base import RuleContext, rule

E = Severity.ERROR
CERT_MANAGER_GROUPS = ("cert-manager.io", "acme.cert-manager.io")


# ---------------------------------------------------------------- story 6

def _cert_manager_crds_enabled(release: HelmRelease) -> bool:
    values = release.values
    return truthy(dig(values, "crds", "enabled")) or truthy(values.get("installCRDs"))


@rule("story/crd-single-owner", E, "cert-manager CRDs are provided by exactly one owner (story 6)", house=True)
def crd_single_owner(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    uses = [o for o in render.objects if group_of(o) in CERT_MANAGER_GROUPS]
    releases = releases_of_chart(render, "cert-manager")
    if not uses and not releases:
        return
    owners: list[str] = []
    crd_objects = [o for o in render.objects if o.kind == "CustomResourceDefinition"
                   and text(dig(o.body, "spec", "group")) in CERT_MANAGER_GROUPS]
    # CRDs a chart renders belong to its HelmRelease (one owner however many CRDs), not to the Kustomization
    # that applies the HelmRelease
    chart_owners = {o.release for o in crd_objects if o.release}
    for kustomization in sorted({o.kustomization or "root" for o in crd_objects if not o.release}):
        owners.append(f"CRD manifests in Kustomization {kustomization}")
    owners += [f"HelmRelease {r.key} (crds.enabled)" for r in releases
               if _cert_manager_crds_enabled(r) or str(r.key) in chart_owners]
    owners += [f"HelmRelease {key}" for key in sorted(chart_owners - {str(r.key) for r in releases})]
    bootstrap = {str(g) for g in as_list(context.options.get("bootstrap_crd_groups"))}
    from_bootstrap = bool(bootstrap & set(CERT_MANAGER_GROUPS))
    anchor_release = releases[0] if releases else None
    if len(owners) > 1:
        message = f"cert-manager CRDs have {len(owners)} owners: {'; '.join(owners)}"
        hint = "pick one owner (the HelmRelease with crds.enabled: true and crds.keep: true, or a CRD Kustomization)"
    elif not owners and not from_bootstrap:
        message = "no one installs the cert-manager CRDs (crds.enabled is off and no CRD manifests are rendered)"
        hint = "set crds.enabled: true (and crds.keep: true) in the cert-manager HelmRelease"
    else:
        return
    if anchor_release is not None:
        yield release_finding("story/crd-single-owner", E, render, anchor_release, message, hint)
    else:
        yield finding("story/crd-single-owner", E, (crd_objects or uses)[0], message, hint)


# ---------------------------------------------------------------- story 8

def _externaldns_owner(release: HelmRelease) -> tuple[str, str]:
    values = release.values
    provider = values.get("provider")
    provider_name = text(dig(provider, "name")) if isinstance(provider, dict) else text(provider)
    owner = text(values.get("txtOwnerId"))
    for arg in as_list(values.get("extraArgs")):
        match = re.match(r"--txt-owner-id=(.+)", text(arg))
        if match:
            owner = match.group(1)
    if isinstance(values.get("extraArgs"), dict):
        owner = text(as_dict(values.get("extraArgs")).get("txt-owner-id")) or owner
    return provider_name or "aws", owner


@rule("story/externaldns-owner", E, "ExternalDNS TXT owner IDs differ per cluster and provider (story 8)", "platform", house=True)
def externaldns_owner(context: RuleContext) -> Iterator[Finding]:
    seen: dict[str, tuple[str, str, str]] = {}
    for cluster in sorted(context.renders):
        render = context.renders[cluster]
        for release in releases_of_chart(render, "external-dns"):
            provider, owner = _externaldns_owner(release)
            if is_unresolved(owner):
                continue
            if not owner:
                yield release_finding("story/externaldns-owner", E, render, release,
                                      f"ExternalDNS ({provider}) has no txtOwnerId: it uses the shared default "
                                      "\"default\" and fights every other instance over the records",
                                      "set txtOwnerId: ${CLUSTER_NAME}-<provider>")
                owner = "default"
            if owner in seen:
                other_cluster, other_release, other_provider = seen[owner]
                yield release_finding("story/externaldns-owner", E, render, release,
                                      f"TXT owner id {owner!r} ({provider}) is also used by {other_release} "
                                      f"({other_provider}) on cluster {other_cluster}",
                                      "owner ids must be unique per cluster and provider: ${CLUSTER_NAME}-<provider>")
            else:
                seen[owner] = (cluster, str(release.key), provider)


# ---------------------------------------------------------------- story 11

SPEGEL_TALOS = {
    "containerdRegistryConfigPath": "/etc/cri/conf.d/hosts",
    "containerdSock": "/run/containerd/containerd.sock",
    "containerdContentPath": "/var/lib/containerd/io.containerd.content.v1.content",
}


@rule("story/spegel-talos", E, "Spegel's containerd paths are Talos' (story 11)", house=True)
def spegel_talos(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    for release in releases_of_chart(render, "spegel"):
        spegel = as_dict(release.values.get("spegel"))
        for key, wanted in SPEGEL_TALOS.items():
            value = text(spegel.get(key))
            if value != wanted and not is_unresolved(value):
                yield release_finding("story/spegel-talos", E, render, release,
                                      f"values.spegel.{key} is {value or 'unset (chart default)'}; on Talos it "
                                      f"must be {wanted}",
                                      f"set spegel.{key}: {wanted} (Talos keeps containerd's files there)")


# ---------------------------------------------------------------- story 12

@rule("story/clustermesh-ids", E, "Cilium cluster ids are 1-255 and unique, pod CIDRs disjoint (story 12)", "platform", house=True)
def clustermesh_ids(context: RuleContext) -> Iterator[Finding]:
    ids: dict[str, str] = {}
    cidrs: list[tuple[str, Any]] = []
    for cluster in sorted(context.renders):
        render = context.renders[cluster]
        for release in releases_of_chart(render, "cilium"):
            raw = text(dig(release.values, "cluster", "id"))
            if raw and not is_unresolved(raw):
                if not raw.isdigit() or not 1 <= int(raw) <= 255:
                    yield release_finding("story/clustermesh-ids", E, render, release,
                                          f"cluster.id {raw} is outside 1-255", "ClusterMesh ids are 1-255")
                elif raw in ids:
                    yield release_finding("story/clustermesh-ids", E, render, release,
                                          f"cluster.id {raw} is also cluster {ids[raw]}'s",
                                          "give every cluster its own id (${CLUSTER_ID})")
                else:
                    ids[raw] = cluster
            pod_cidrs = [release.values.get("ipv4NativeRoutingCIDR")]
            pool = dig(release.values, "ipam", "operator", "clusterPoolIPv4PodCIDRList")
            pod_cidrs += pool if isinstance(pool, list) else [pool]
            for value in {text(v) for v in pod_cidrs if text(v) and not is_unresolved(text(v))}:
                net = network(value)
                if net is None:
                    continue
                for other_cluster, other in cidrs:
                    if other_cluster != cluster and net.overlaps(other):
                        yield release_finding("story/clustermesh-ids", E, render, release,
                                              f"pod CIDR {net} overlaps cluster {other_cluster}'s {other}",
                                              "ClusterMesh routes pod IPs between clusters: give each its own range")
                cidrs.append((cluster, net))


# ---------------------------------------------------------------- stories 16 and 31

@rule("story/ceph-nodes", E, "CephCluster OSD nodes and devices belong to this cluster's inventory (stories 16, 31)", house=True)
def ceph_nodes(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    if context.inventory is None or render.cluster not in context.inventory.clusters:
        return
    nodes = {node.name: node for node in context.inventory.clusters[render.cluster].nodes}
    for obj in render.objects:
        if not obj.is_kind("ceph.rook.io", "CephCluster"):
            continue
        storage = as_dict(obj.spec.get("storage"))
        for flag in ("useAllNodes", "useAllDevices"):
            if truthy(storage.get(flag)):
                yield finding("story/ceph-nodes", E, obj, f"spec.storage.{flag} is true: OSDs are not limited to the "
                              "inventory's storage devices", f"set {flag}: false and list nodes/devices from "
                              "cluster-settings (${NODE_n_NAME}, ${NODE_n_STORAGE_DEVICE})")
        for index, entry in enumerate(as_list(storage.get("nodes"))):
            name = text(dig(entry, "name"))
            if not name or is_unresolved(name):
                continue
            node = nodes.get(name)
            if node is None:
                yield finding("story/ceph-nodes", E, obj,
                              f"spec.storage.nodes[{index}] {name} is not a node of cluster {render.cluster}",
                              f"use this cluster's nodes: {', '.join(sorted(nodes))} (from ${{NODE_n_NAME}})")
                continue
            for device_index, device in enumerate(as_list(dig(entry, "devices"))):
                device_name = text(dig(device, "name"))
                if not device_name or is_unresolved(device_name):
                    continue
                path = device_name if device_name.startswith("/dev/") else f"/dev/{device_name}"
                if path not in node.storage_devices:
                    yield finding("story/ceph-nodes", E, obj,
                                  f"spec.storage.nodes[{index}].devices[{device_index}] {device_name} is not a "
                                  f"storage device of {name} in the inventory "
                                  f"({', '.join(node.storage_devices) or 'none'})",
                                  "list only inventory storage_devices (never the install disk)")


# ---------------------------------------------------------------- story 20

def _dashboard_problems(document: Any) -> list[str]:
    problems: list[str] = []
    variables = [text(dig(v, "name")) for v in as_list(dig(document, "templating", "list"))]
    variables += [text(dig(v, "name")) for v in as_list(document.get("__inputs")) if isinstance(v, dict)]
    blob = "\n".join(value for _, value in walk_strings(document))
    if "${" not in blob:  # every ${...} was consumed by Flux: unreferenced variables are the evidence
        for name in sorted({v for v in variables if v}):
            if not re.search(rf"\${re.escape(name)}\b|\[\[{re.escape(name)}", blob):
                problems.append(f"variable {name!r} is declared but never referenced: its ${{{name}}} uses were "
                                "substituted away by Flux")
    problems += [f"{path} is empty: a ${{datasource}} reference was substituted away"
                 for path in list(_empty_datasource_uids(document))[:5]]
    return problems


def _empty_datasource_uids(document: Any, path: str = "") -> Iterator[str]:
    if isinstance(document, dict):
        for key, item in document.items():
            here = f"{path}.{key}" if path else str(key)
            if key == "datasource" and isinstance(item, dict) and "uid" in item and text(item.get("uid")) == "":
                yield f"{here}.uid"
            else:
                yield from _empty_datasource_uids(item, here)
    elif isinstance(document, list):
        for index, item in enumerate(document):
            yield from _empty_datasource_uids(item, f"{path}[{index}]")


@rule("story/grafana-dashboard", E, "dashboard ConfigMaps hold valid JSON whose Grafana variables survived substitution", house=True)
def grafana_dashboard(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    for obj in render.objects:
        if obj.kind != "ConfigMap" or group_of(obj) != "":
            continue
        labelled = "grafana_dashboard" in labels_of(obj.body)
        for key, value in as_dict(obj.body.get("data")).items():
            if not str(key).endswith(".json") or not isinstance(value, str):
                continue
            try:
                document = json.loads(value)
            except ValueError as error:
                if labelled or '"panels"' in value:
                    yield finding("story/grafana-dashboard", E, obj, f"data.{key} is not valid JSON: {error}",
                                  "after substitution the dashboard must still parse; escape Grafana's $ as $${...} "
                                  "or annotate the ConfigMap kustomize.toolkit.fluxcd.io/substitute: disabled")
                continue
            if not isinstance(document, dict) or not (labelled or "panels" in document):
                continue
            for problem in _dashboard_problems(document):
                yield finding("story/grafana-dashboard", E, obj, f"data.{key}: {problem}",
                              "escape Grafana variables as $${var} in git, or annotate the ConfigMap "
                              "kustomize.toolkit.fluxcd.io/substitute: disabled")


# ---------------------------------------------------------------- story 24

@rule("story/cnpg-cron", E, "CloudNativePG ScheduledBackup schedules have six fields (seconds first) (story 24)", house=True)
def cnpg_cron(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    for obj in render.objects:
        if not obj.is_kind("postgresql.cnpg.io", "ScheduledBackup"):
            continue
        schedule = text(obj.spec.get("schedule")).strip()
        if schedule.startswith("@") or is_unresolved(schedule):
            continue
        fields = schedule.split()
        if len(fields) != 6:
            yield finding("story/cnpg-cron", E, obj,
                          f"schedule {schedule!r} has {len(fields)} fields; CloudNativePG expects six "
                          "(seconds minutes hours day month weekday)",
                          f"prepend the seconds field: \"0 {schedule}\"" if len(fields) == 5
                          else "write a six-field cron expression")


# ---------------------------------------------------------------- story 28

def _spire_enabled(render: ClusterRender, context: RuleContext) -> bool | None:
    if "spire_enabled" in context.options:
        return bool(context.options["spire_enabled"])
    setting = context.settings.get(render.cluster, {}).get("SPIRE_ENABLED")
    if setting is not None:
        return setting.strip().lower() == "true"
    if context.inventory is not None:
        return context.inventory.platform.features.spire
    return None


@rule("story/spire-flag", E, "with SPIRE off, no SPIRE objects or Cilium mutual auth are rendered (story 28)", house=True)
def spire_flag(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    if _spire_enabled(render, context) is not False:
        return
    hint = "render SPIRE only when SPIRE_ENABLED is true (include it from a flag-gated Kustomization)"
    for node in render.ordered_kustomizations():
        if node.key.name == "spire" or node.key.name.startswith("spire-"):
            yield node_finding("story/spire-flag", E, node, f"Kustomization {node.key} is rendered with SPIRE off",
                               hint, render=render)
    for obj in render.objects:
        spire = group_of(obj) == "spire.spiffe.io" or (obj.kind == "Namespace" and obj.name == "spire") or \
            (obj.namespace == "spire" and obj.kind != "Namespace")
        if spire and parse_key(obj.kustomization) not in {NamespacedName("flux-system", "spire")}:
            yield finding("story/spire-flag", E, obj, f"{obj.id} is rendered with SPIRE off", hint)
    for release in helm_releases(render):
        if release.chart in ("spire", "spire-crds"):
            yield release_finding("story/spire-flag", E, render, release,
                                  f"HelmRelease {release.key} ({release.chart}) is rendered with SPIRE off", hint)
        elif release.chart == "cilium" and truthy(dig(release.values, "authentication", "mutual", "spire", "enabled")):
            yield release_finding("story/spire-flag", E, render, release,
                                  "Cilium mutual authentication (authentication.mutual.spire.enabled) is on "
                                  "while SPIRE is off", "set it to ${SPIRE_ENABLED}")
