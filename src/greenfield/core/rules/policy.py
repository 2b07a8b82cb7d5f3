"""Policy rules: network policies keep the platform working, namespaces are PSA-labelled, pods unprivileged,
Services select real pods.

Options read from `RuleContext.options`:
- `egress_namespaces`: namespaces that must reach the outside (default flux-system, external-secrets,
  cert-manager);
- `privileged_allowlist`: namespaces (or `namespace/name` of a workload or HelmRelease) where privileged pods
  are expected (default kube-system, rook-ceph, openebs-system, observability).
A reviewed exception may also carry the annotation `greenfield/privileged-reason: <why>` on the workload or
HelmRelease.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

from greenfield.core.findings import Finding, Severity
from greenfield.core.model import ClusterRender, RenderedObject
from greenfield.core.rules._helpers import (
    BUILTIN_GROUPS,
    CILIUM_GROUP,
    annotations_of,
    as_dict,
    as_list,
    containers,
    dig,
    finding,
    group_of,
    helm_releases,
    is_unresolved,
    labels_of,
    match_labels,
    match_map,
    network,
    pod_template,
    release_finding,
    releases_of_chart,
    selects_everything,
    text,
    walk_items,
)
from greenfield.core.rules.base import RuleContext, rule

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO
DEFAULT_EGRESS_NAMESPACES = ("flux-system", "external-secrets", "cert-manager")
DEFAULT_PRIVILEGED_ALLOWLIST = ("kube-system", "rook-ceph", "openebs-system", "observability")
PRIVILEGED_REASON = "greenfield/privileged-reason"  # annotation: a reviewed, documented exception
PSA_LEVELS = ("privileged", "baseline", "restricted")
DNS_PORT_NAMES = {"53", "dns", "udp-53", "dns-udp"}
NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
DEFAULT_COREDNS_LABELS = {"k8s-app": "kube-dns"}


# ---------------------------------------------------------------- policy model
#
# Policies are additive: a pod is isolated for egress as soon as one policy that restricts egress selects it,
# and then any policy selecting it that allows a destination allows it (Kubernetes NetworkPolicy, Cilium's
# CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy alike). Cilium matches label selectors against the
# pod's identity labels: its own labels, `io.kubernetes.pod.namespace` and one
# `io.cilium.k8s.namespace.labels.<key>` per label of its namespace; keys may carry a source prefix (`k8s:`,
# `any:`); `reserved:` labels belong to special identities (host, world, ...), never to a pod.

NAMESPACE_LABELS_PREFIX = "io.cilium.k8s.namespace.labels."
Requirement = tuple[str, str, frozenset[str]]  # key, operator (In/NotIn/Exists/DoesNotExist), values


@dataclass
class Policy:
    """One network policy (or one entry of a Cilium `specs:` list) as the rules need it."""

    obj: RenderedObject
    flavour: str  # "k8s" | "cilium" | "cilium-clusterwide"
    namespace: str  # "" for clusterwide
    selector: dict[str, Any]
    restricts_egress: bool
    egress: list[dict[str, Any]]

    def covers_all_pods_of(self, namespace: str, namespace_labels: dict[str, str] | None = None) -> bool:
        """The policy selects every pod of the namespace (whatever its labels)."""
        if self.flavour != "cilium-clusterwide" and self.namespace != namespace:
            return False
        if self.flavour == "k8s":
            return selects_everything(self.selector)
        return selects_all_pods(self.selector, namespace, namespace_labels)

    def applies_in(self, namespace: str, namespace_labels: dict[str, str] | None = None) -> bool:
        """The policy may select pods of the namespace (some of them): its rules then allow traffic for those."""
        if self.flavour != "cilium-clusterwide":
            return self.namespace == namespace
        return may_select_pods(self.selector, namespace, namespace_labels)


def _strip(key: str) -> str:
    for prefix in ("k8s:", "any:"):
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def requirements(selector: Any) -> list[Requirement]:
    """A label selector as requirements (matchLabels are `In [value]`), keys without Cilium's source prefix."""
    selector = as_dict(selector)
    found: list[Requirement] = [(_strip(str(key)), "In", frozenset({text(value)}))
                                for key, value in as_dict(selector.get("matchLabels")).items()]
    for expression in as_list(selector.get("matchExpressions")):
        expression = as_dict(expression)
        found.append((_strip(text(expression.get("key"))), text(expression.get("operator")),
                      frozenset(text(v) for v in as_list(expression.get("values")))))
    return found


def holds(requirement: Requirement, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics of one requirement (an unknown operator selects nothing)."""
    key, operator, values = requirement
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    return False


def _namespace_key(key: str) -> bool:
    return key == NAMESPACE_LABEL or key.startswith(NAMESPACE_LABELS_PREFIX)


def namespace_identity(namespace: str, namespace_labels: dict[str, str] | None = None) -> dict[str, str]:
    """The identity labels every pod of the namespace carries in Cilium."""
    labels = {NAMESPACE_LABEL: namespace}
    for key, value in (namespace_labels or {"kubernetes.io/metadata.name": namespace}).items():
        labels[NAMESPACE_LABELS_PREFIX + key] = value
    return labels


def selects_all_pods(selector: Any, namespace: str, namespace_labels: dict[str, str] | None = None) -> bool:
    """A Cilium endpointSelector selects every pod of the namespace: it constrains only namespace labels (a
    requirement on pod labels leaves some pods out), and those hold."""
    identity = namespace_identity(namespace, namespace_labels)
    needed = requirements(selector)
    return all(_namespace_key(r[0]) and holds(r, identity) for r in needed)


def may_select_pods(selector: Any, namespace: str, namespace_labels: dict[str, str] | None = None) -> bool:
    """A Cilium endpointSelector may select some pod of the namespace: its namespace requirements hold and no
    requirement asks for a reserved (non-pod) identity."""
    identity = namespace_identity(namespace, namespace_labels)
    for requirement in requirements(selector):
        key = requirement[0]
        if key.startswith("reserved:") and requirement[1] in ("In", "Exists"):
            return False
        if _namespace_key(key) and not holds(requirement, identity):
            return False
    return True


def policies(render: ClusterRender) -> list[Policy]:
    found: list[Policy] = []
    for obj in render.objects:
        group = group_of(obj)
        if obj.kind == "NetworkPolicy" and group == "networking.k8s.io":
            types = [text(t) for t in as_list(obj.spec.get("policyTypes"))]
            restricts = "Egress" in types or (not types and "egress" in obj.spec)
            found.append(Policy(obj, "k8s", obj.namespace, as_dict(obj.spec.get("podSelector")), restricts,
                                [as_dict(r) for r in as_list(obj.spec.get("egress"))]))
        elif obj.kind in ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy") and group == CILIUM_GROUP:
            flavour = "cilium" if obj.kind == "CiliumNetworkPolicy" else "cilium-clusterwide"
            namespace = obj.namespace if flavour == "cilium" else ""
            specs = [as_dict(obj.body.get("spec"))] if "spec" in obj.body else []
            specs += [as_dict(s) for s in as_list(obj.body.get("specs"))]
            for spec in specs:
                if "endpointSelector" not in spec:
                    continue  # nodeSelector policies (host firewall) do not apply to pods
                egress = [as_dict(r) for r in as_list(spec.get("egress"))]
                default_deny = dig(spec, "enableDefaultDeny", "egress")
                restricts = bool(egress or as_list(spec.get("egressDeny"))) and default_deny is not False
                found.append(Policy(obj, flavour, namespace, as_dict(spec.get("endpointSelector")), restricts,
                                    egress))
    return found


def _namespaces(render: ClusterRender) -> set[str]:
    names = {o.namespace for o in render.objects if o.namespace}
    names |= {o.name for o in render.objects if o.kind == "Namespace" and group_of(o) == ""}
    return names


def namespace_labels(render: ClusterRender) -> dict[str, dict[str, str]]:
    """Labels of every namespace the render knows (its Namespace object's, plus kubernetes.io/metadata.name)."""
    labels = {namespace: {"kubernetes.io/metadata.name": namespace} for namespace in _namespaces(render)}
    for obj in render.objects:
        if obj.kind == "Namespace" and group_of(obj) == "":
            labels.setdefault(obj.name, {"kubernetes.io/metadata.name": obj.name}).update(labels_of(obj.body))
    return labels


def _namespace_labels(render: ClusterRender, namespace: str) -> dict[str, str]:
    return namespace_labels(render).get(namespace, {"kubernetes.io/metadata.name": namespace})


def applying_to(all_policies: list[Policy], namespace: str, labels: dict[str, str] | None = None) -> list[Policy]:
    """The policies whose rules apply to pods of the namespace (its own, and clusterwide ones selecting them)."""
    return [p for p in all_policies if p.applies_in(namespace, labels)]


def _denied(render: ClusterRender, namespaces: list[str],
            reaches: Callable[[Policy, dict[str, Any]], bool]) -> Iterator[tuple[str, list[Policy]]]:
    """Namespaces that deny egress by default with no egress rule `reaches` allows, and the denying policies."""
    all_policies = policies(render)
    labels = namespace_labels(render)
    for namespace in namespaces:
        own = labels.get(namespace)
        restrictive = restricting(all_policies, namespace, own)
        if restrictive and not any(reaches(p, r) for p in applying_to(all_policies, namespace, own)
                                   for r in p.egress):
            yield namespace, restrictive


def restricting(all_policies: list[Policy], namespace: str, labels: dict[str, str] | None = None) -> list[Policy]:
    return [p for p in all_policies if p.restricts_egress and p.covers_all_pods_of(namespace, labels)]


# ---------------------------------------------------------------- DNS

@dataclass
class DnsTarget:
    namespace: str
    labels: dict[str, str]
    origin: str


def coredns_target(render: ClusterRender) -> DnsTarget:
    """Where DNS really runs: the pods the coredns chart renders, else a CoreDNS Deployment in git, else the
    labels the chart's values imply (chart not rendered), else kube-dns defaults."""
    releases = {str(release.key) for release in releases_of_chart(render, "coredns")}
    for obj in render.objects:
        if obj.release in releases and obj.kind == "Deployment" and group_of(obj) == "apps":
            return DnsTarget(obj.namespace, labels_of(pod_template(obj) or {}),
                             f"the pods of Deployment {obj.namespace}/{obj.name} rendered by {obj.chart}")
    for obj in render.objects:
        if obj.kind == "Deployment" and group_of(obj) == "apps" and obj.namespace == "kube-system":
            template = pod_template(obj) or {}
            labels = labels_of(template)
            if "coredns" in obj.name or labels.get("k8s-app") == "kube-dns":
                return DnsTarget("kube-system", labels, f"Deployment kube-system/{obj.name}")
    for release in releases_of_chart(render, "coredns"):
        values = release.values
        name = text(values.get("nameOverride")) or "coredns"
        labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": release.release_name}
        if values.get("isClusterService", True) is not False:
            labels["k8s-app"] = text(values.get("k8sAppLabelOverride")) or "coredns"
        labels.update({str(k): text(v) for k, v in as_dict(values.get("customLabels")).items()})
        return DnsTarget(release.release_namespace, labels, f"HelmRelease {release.key} (coredns chart labels)")
    return DnsTarget("kube-system", dict(DEFAULT_COREDNS_LABELS), "the kube-dns default labels")


def _port_matches(port: dict[str, Any], number: int, names: set[str], wildcards: tuple[str, ...]) -> bool:
    """A port entry (number, name or range with endPort) admits `number`; `wildcards` mean any port."""
    value = text(port.get("port"))
    if value in wildcards or value in names:
        return True
    if not value.isdigit():
        return False
    end = text(port.get("endPort"))
    return int(value) <= number <= (int(end) if end.isdigit() else int(value))


def _k8s_port_allows(ports: list[Any], number: int, names: set[str], protocol: str) -> bool:
    if not ports:
        return True
    for port in ports:
        port = as_dict(port)
        if (text(port.get("protocol")) or "TCP") != protocol:
            continue
        if _port_matches(port, number, names, ("",)):
            return True
    return False


def _cilium_port_allows(to_ports: list[Any], number: int, names: set[str], protocol: str) -> bool:
    if not to_ports:
        return True
    for entry in to_ports:
        ports = as_list(dig(entry, "ports"))
        if not ports:
            return True
        for port in ports:
            port = as_dict(port)
            if (text(port.get("protocol")) or "ANY") not in (protocol, "ANY"):
                continue
            if _port_matches(port, number, names, ("", "0")):
                return True
    return False


def _k8s_peer_reaches(policy: Policy, peer: dict[str, Any], target: DnsTarget,
                      namespace_labels: dict[str, str], pod_cidr: IPv4Network | None) -> bool:
    block = as_dict(peer.get("ipBlock"))
    if block:
        net = network(block.get("cidr"))
        return net is not None and (net.prefixlen == 0 or (pod_cidr is not None and pod_cidr.subnet_of(net)))
    if "namespaceSelector" in peer:
        if not match_labels(peer.get("namespaceSelector"), namespace_labels):
            return False
    elif policy.namespace != target.namespace:
        return False
    return match_labels(peer.get("podSelector"), target.labels)


def _cilium_endpoint_reaches(policy: Policy, selector: Any, target: DnsTarget,
                             target_namespace_labels: dict[str, str] | None = None) -> bool:
    """A toEndpoints selector matches the target pods: their labels plus their namespace's identity labels; in a
    CiliumNetworkPolicy a selector without a namespace requirement means the policy's own namespace."""
    needed = requirements(selector)
    if policy.flavour == "cilium" and not any(_namespace_key(r[0]) for r in needed) \
            and policy.namespace != target.namespace:
        return False
    labels = {**target.labels, **namespace_identity(target.namespace, target_namespace_labels)}
    return all(holds(r, labels) for r in needed)


def _rule_reaches_dns(policy: Policy, egress_rule: dict[str, Any], target: DnsTarget,
                      namespace_labels: dict[str, str], pod_cidr: IPv4Network | None) -> tuple[bool, bool]:
    """(allows DNS to the target, allows port 53 somewhere) for one egress rule."""
    if policy.flavour == "k8s":
        port_ok = _k8s_port_allows(as_list(egress_rule.get("ports")), 53, DNS_PORT_NAMES, "UDP")
        peers = as_list(egress_rule.get("to"))
        if not port_ok:
            return False, False
        if not peers:
            return True, True
        return any(_k8s_peer_reaches(policy, as_dict(p), target, namespace_labels, pod_cidr) for p in peers), True
    to_ports = as_list(egress_rule.get("toPorts"))
    port_ok = _cilium_port_allows(to_ports, 53, DNS_PORT_NAMES, "UDP")
    l3_fields = [k for k in egress_rule if k.startswith("to") and k != "toPorts"]
    if not port_ok:
        return False, False
    if not l3_fields:
        return bool(to_ports), bool(to_ports)
    entities = {text(e) for e in as_list(egress_rule.get("toEntities"))}
    if entities & DNS_ENTITIES:
        return True, True
    if any(_names_service(service, target.namespace, DNS_SERVICES) for service in as_list(egress_rule.get("toServices"))):
        return True, True
    endpoints = as_list(egress_rule.get("toEndpoints"))
    return any(_cilium_endpoint_reaches(policy, s, target, namespace_labels) for s in endpoints), True


DNS_ENTITIES = {"cluster", "all"}
DNS_SERVICES = {"kube-dns", "coredns"}
WORLD_ENTITIES = {"world", "world-ipv4", "world-ipv6", "all"}


def _names_service(entry: Any, namespace: str, names: set[str]) -> bool:
    """A Cilium toServices entry naming one of the Services (k8sService) in the namespace."""
    service = as_dict(dig(entry, "k8sService"))
    return text(service.get("serviceName")) in names and (text(service.get("namespace")) or namespace) == namespace


def _pod_cidr(render: ClusterRender, context: RuleContext) -> IPv4Network | None:
    if context.inventory is not None and render.cluster in context.inventory.clusters:
        return context.inventory.clusters[render.cluster].pod_cidr
    return None


@rule("policy/dns-unreachable", E, "a default-deny namespace cannot reach the CoreDNS pods on UDP 53")
def dns_unreachable(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    all_policies = policies(render)
    if not any(p.restricts_egress for p in all_policies):
        return
    target = coredns_target(render)
    labels = namespace_labels(render)
    target_labels = labels.get(target.namespace, {"kubernetes.io/metadata.name": target.namespace})
    pod_cidr = _pod_cidr(render, context)
    for namespace in sorted(_namespaces(render)):
        restrictive = restricting(all_policies, namespace, labels.get(namespace))
        if not restrictive:
            continue
        near_misses: list[str] = []
        reachable = False
        for policy in applying_to(all_policies, namespace, labels.get(namespace)):  # any allowing policy allows
            for egress_rule in policy.egress:
                ok, port_53 = _rule_reaches_dns(policy, egress_rule, target, target_labels, pod_cidr)
                if ok:
                    reachable = True
                    break
                if port_53:
                    near_misses.append(str(policy.obj.id))
            if reachable:
                break
        if reachable:
            continue
        shown = ", ".join(f"{k}={v}" for k, v in sorted(target.labels.items()))
        detail = (f"; {', '.join(sorted(set(near_misses)))} allows port 53 but to pods that are not CoreDNS"
                  if near_misses else "")
        yield finding("policy/dns-unreachable", context.severity(INFO), restrictive[0].obj,
                      f"namespace {namespace} denies egress by default but nothing lets its pods reach CoreDNS "
                      f"(UDP 53 to pods {shown} in {target.namespace}, from {target.origin}){detail}",
                      "compose the allow-dns component: egress UDP/TCP 53 to namespace kube-system pods labelled "
                      "like the CoreDNS pods")


# ---------------------------------------------------------------- egress to the world

def _reaches_world(policy: Policy, egress_rule: dict[str, Any]) -> bool:
    if policy.flavour == "k8s":
        peers = as_list(egress_rule.get("to"))
        if not peers:
            return True
        for peer in peers:
            net = network(dig(peer, "ipBlock", "cidr"))
            if net is not None and (net.prefixlen == 0 or not net.is_private):
                return True
        return False
    l3_fields = [k for k in egress_rule if k.startswith("to") and k != "toPorts"]
    if not l3_fields:
        return bool(as_list(egress_rule.get("toPorts")))
    if {text(e) for e in as_list(egress_rule.get("toEntities"))} & WORLD_ENTITIES:
        return True
    if as_list(egress_rule.get("toFQDNs")):
        return True
    cidrs = [text(c) for c in as_list(egress_rule.get("toCIDR"))]
    cidrs += [text(dig(c, "cidr")) for c in as_list(egress_rule.get("toCIDRSet"))]
    for cidr in cidrs:
        net = network(cidr)
        if net is not None and (net.prefixlen == 0 or not net.is_private):
            return True
    return False


@rule("policy/egress-missing", E, "a namespace that must reach the internet is default-deny without an egress allowance")
def egress_missing(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    wanted = [str(n) for n in as_list(context.options.get("egress_namespaces"))] or list(DEFAULT_EGRESS_NAMESPACES)
    present = _namespaces(render)
    for namespace, restrictive in _denied(render, [n for n in wanted if n in present], _reaches_world):
        yield finding("policy/egress-missing", context.severity(INFO), restrictive[0].obj,
                      f"namespace {namespace} denies egress by default and nothing allows it to reach the outside "
                      "(git/OCI sources, secret backend, ACME)",
                      "compose the allow-fqdn component (toFQDNs) or allow toEntities: [world] on 443")


# ---------------------------------------------------------------- the Kubernetes API

# Cilium entities: `cluster` holds every endpoint of the local cluster plus host, remote-node and init; the API
# server on the nodes has the kube-apiserver identity together with host/remote-node; `all` is everything.
API_ENTITIES = {"kube-apiserver", "cluster", "all", "host", "remote-node"}
API_PORTS = (6443, 443)
API_SERVICES = {("default", "kubernetes")}


def _needs_api(render: ClusterRender, namespace: str) -> str:
    """Why pods of the namespace talk to the API server ("" when nothing shows they do): a rendered workload
    (a chart's controller) whose service account is bound to a role first, else what the tree suggests."""
    bound = _bound_service_accounts(render)
    for obj in render.objects:
        template = pod_template(obj) if obj.namespace == namespace else None
        account = text(dig(template, "spec", "serviceAccountName")) if template else ""
        if account and (namespace, account) in bound:
            return f"{obj.kind} {obj.name} (service account {account}, {bound[(namespace, account)]})"
    for obj in render.objects:
        if obj.namespace != namespace:
            continue
        if obj.kind == "HelmRelease" and group_of(obj) == "helm.toolkit.fluxcd.io":
            return f"HelmRelease {obj.name} (a controller or operator)"
        if obj.kind in ("Role", "RoleBinding") and group_of(obj) == "rbac.authorization.k8s.io":
            return f"{obj.kind} {obj.name}"
    for obj in render.objects:
        if obj.kind == "ClusterRoleBinding" and group_of(obj) == "rbac.authorization.k8s.io":
            for subject in as_list(obj.body.get("subjects")):
                if text(dig(subject, "kind")) == "ServiceAccount" and text(dig(subject, "namespace")) == namespace:
                    return f"ClusterRoleBinding {obj.name}"
    return ""


def _bound_service_accounts(render: ClusterRender) -> dict[tuple[str, str], str]:
    """(namespace, service account) -> the RoleBinding/ClusterRoleBinding that gives it API rights."""
    bound: dict[tuple[str, str], str] = {}
    for obj in render.objects:
        if obj.kind in ("RoleBinding", "ClusterRoleBinding") and group_of(obj) == "rbac.authorization.k8s.io":
            for subject in as_list(obj.body.get("subjects")):
                if text(dig(subject, "kind")) == "ServiceAccount":
                    key = (text(dig(subject, "namespace")) or obj.namespace, text(dig(subject, "name")))
                    bound.setdefault(key, f"{obj.kind} {obj.name}")
    return bound


def _reaches_api(policy: Policy, egress_rule: dict[str, Any]) -> bool:
    if policy.flavour == "k8s":
        ports = as_list(egress_rule.get("ports"))
        port_ok = not ports or any(_k8s_port_allows(ports, number, {"https"}, "TCP") for number in API_PORTS)
        peers = as_list(egress_rule.get("to"))
        return port_ok and (not peers or any(network(dig(peer, "ipBlock", "cidr")) is not None for peer in peers))
    to_ports = as_list(egress_rule.get("toPorts"))
    if not any(_cilium_port_allows(to_ports, number, {"https"}, "TCP") for number in API_PORTS):
        return False
    if {text(e) for e in as_list(egress_rule.get("toEntities"))} & API_ENTITIES:
        return True
    if any(_names_service(service, "default", {"kubernetes"}) for service in as_list(egress_rule.get("toServices"))):
        return True
    if as_list(egress_rule.get("toCIDR")) or as_list(egress_rule.get("toCIDRSet")):
        return True  # the node or API endpoint addresses: not known offline, so taken as reaching it
    l3_fields = [k for k in egress_rule if k.startswith("to") and k != "toPorts"]
    return not l3_fields  # only toPorts (or nothing): any destination on those ports


@rule("policy/api-unreachable", E, "a default-deny namespace running controllers cannot reach the Kubernetes API")
def api_unreachable(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    needing = {n: reason for n in sorted(_namespaces(render)) if (reason := _needs_api(render, n))}
    for namespace, restrictive in _denied(render, list(needing), _reaches_api):
        reason = needing[namespace]
        yield finding("policy/api-unreachable", context.severity(INFO), restrictive[0].obj,
                      f"namespace {namespace} denies egress by default but nothing lets its pods reach the "
                      f"Kubernetes API, which {reason} needs",
                      "compose the allow-kube-api component (Cilium toEntities: [kube-apiserver])")


# ---------------------------------------------------------------- PSA

@rule("policy/psa-label", E, "a Namespace has no (valid) pod-security.kubernetes.io/enforce label", house=True)
def psa_label(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    for obj in render.objects:
        if obj.kind != "Namespace" or group_of(obj) != "":
            continue
        value = labels_of(obj.body).get("pod-security.kubernetes.io/enforce")
        if value is None:
            yield finding("policy/psa-label", E, obj, f"Namespace {obj.name} has no pod-security.kubernetes.io/enforce "
                          "label", "label it restricted (or baseline/privileged where the workload needs it)")
        elif not is_unresolved(value) and value not in PSA_LEVELS:
            yield finding("policy/psa-label", E, obj,
                          f"Namespace {obj.name} has pod-security.kubernetes.io/enforce={value!r}",
                          f"use one of {', '.join(PSA_LEVELS)}")


# ---------------------------------------------------------------- privileged pods

def _privileges(pod_spec: dict[str, Any]) -> list[str]:
    found = [field for field in ("hostNetwork", "hostPID", "hostIPC") if pod_spec.get(field) is True]
    for container in containers(pod_spec):
        name = text(container.get("name")) or "?"
        context = as_dict(container.get("securityContext"))
        if context.get("privileged") is True:
            found.append(f"container {name} privileged")
        added = {text(c).upper().removeprefix("CAP_") for c in as_list(dig(context, "capabilities", "add"))}
        for capability in sorted(added & {"SYS_ADMIN", "ALL"}):
            found.append(f"container {name} adds {capability}")
    return found


@rule("policy/privileged", E, "privileged pods (privileged, hostNetwork/PID/IPC, SYS_ADMIN) outside the allowlist", house=True)
def privileged(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    allowlist = {str(n) for n in as_list(context.options.get("privileged_allowlist"))} or \
        set(DEFAULT_PRIVILEGED_ALLOWLIST)
    hint = (f"drop the privilege, or run it in an allowed namespace ({', '.join(sorted(allowlist))}); a reviewed "
            f"exception carries the annotation {PRIVILEGED_REASON}: <why>")
    # a chart's workloads carry the reviewed reason of the HelmRelease that renders them
    reasons = {str(release.key): annotations_of(release.body).get(PRIVILEGED_REASON, "").strip()
               for release in helm_releases(render)}
    for obj in render.objects:
        template = pod_template(obj)
        if template is None:
            continue
        namespace = obj.namespace or "default"
        if namespace in allowlist or f"{namespace}/{obj.name}" in allowlist or \
                annotations_of(obj.body).get(PRIVILEGED_REASON, "").strip() or reasons.get(obj.release):
            continue
        problems = _privileges(as_dict(template.get("spec")))
        if problems:
            yield finding("policy/privileged", E, obj,
                          f"{obj.kind} {namespace}/{obj.name} runs privileged in {namespace}: {'; '.join(problems)}",
                          hint)
    for release in helm_releases(render):
        namespace = release.release_namespace
        if namespace in allowlist or f"{release.namespace}/{release.name}" in allowlist or \
                annotations_of(release.body).get(PRIVILEGED_REASON, "").strip():
            continue
        problems = []
        for path, key, value, _ in walk_items(release.values, "values"):
            if value is not True:
                continue
            if key in ("hostNetwork", "hostPID", "hostIPC") or (key == "privileged" and "securityContext" in path):
                problems.append(path)
        if problems:
            yield release_finding("policy/privileged", E, render, release,
                                  f"HelmRelease {release.key} asks for privileged pods in {namespace}: "
                                  f"{', '.join(problems)}", hint)


# ---------------------------------------------------------------- Service selectors

POD_NEUTRAL_GROUPS = frozenset({
    "monitoring.coreos.com", "external-secrets.io", "cert-manager.io", "gateway.networking.k8s.io", CILIUM_GROUP,
    "source.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io", "notification.toolkit.fluxcd.io",
    "policy",
})


def _pod_creators(render: ClusterRender) -> set[str]:
    """Namespaces where pods may come from something not rendered here (HelmReleases, operators)."""
    namespaces = {release.release_namespace for release in helm_releases(render)}
    for obj in render.objects:
        group = group_of(obj)
        if group in BUILTIN_GROUPS or group in POD_NEUTRAL_GROUPS or not obj.namespace:
            continue
        if obj.kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule", "VMServiceScrape", "VMPodScrape",
                        "VMRule", "ExternalSecret", "Certificate", "HTTPRoute", "GRPCRoute"):
            continue
        namespaces.add(obj.namespace)
    return namespaces


def _label_domain(key: str) -> str:
    return key.split("/", 1)[0] if "/" in key else ""


@rule("policy/service-selector", E, "a Service selects no pod template rendered in its namespace")
def service_selector(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    templates: dict[str, list[tuple[RenderedObject, dict[str, str]]]] = {}
    for obj in render.objects:
        template = pod_template(obj)
        if template is not None:
            templates.setdefault(obj.namespace, []).append((obj, labels_of(template)))
    external = _pod_creators(render)
    operators: dict[str, set[tuple[str, str]]] = {}  # namespace -> (label domain of the group, resource name)
    for obj in render.objects:
        group = group_of(obj)
        if obj.namespace and group not in BUILTIN_GROUPS and group not in POD_NEUTRAL_GROUPS:
            parts = group.split(".")
            for start in range(len(parts) - 1):  # postgresql.cnpg.io labels its pods cnpg.io/cluster=<name>
                operators.setdefault(obj.namespace, set()).add((".".join(parts[start:]), obj.name))
    for obj in render.objects:
        if obj.kind != "Service" or group_of(obj) != "":
            continue
        selector = {str(k): text(v) for k, v in as_dict(obj.spec.get("selector")).items()}
        if not selector or any(is_unresolved(v) for v in selector.values()):
            continue
        candidates = templates.get(obj.namespace, [])
        own = [item for item in candidates if item[0].kustomization == obj.kustomization]
        if not candidates or (not own and obj.namespace in external):
            continue  # nothing rendered to compare with, or pods come from a chart/operator
        if any((_label_domain(k), v) in operators.get(obj.namespace, set()) for k, v in selector.items()):
            continue  # pods an operator creates for its custom resource: labelled with its domain and the name
        if any(match_map(selector, labels) for _, labels in candidates):
            continue
        closest = min(candidates, key=lambda item: sum(item[1].get(k) != v for k, v in selector.items()))
        shown = ", ".join(f"{k}={v}" for k, v in sorted(selector.items()))
        their = ", ".join(f"{k}={v}" for k, v in sorted(closest[1].items())) or "no labels"
        yield finding("policy/service-selector", context.severity(W), obj,
                      f"Service {obj.namespace}/{obj.name} selects {shown}, which no pod template in "
                      f"{obj.namespace} carries (closest: {closest[0].kind} {closest[0].name} with {their})",
                      "make spec.selector a subset of the workload's spec.template.metadata.labels")
