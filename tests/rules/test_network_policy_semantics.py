"""Cilium and Kubernetes NetworkPolicy semantics behind the reachability rules: additive policies, label
selectors (matchLabels + matchExpressions, `k8s:` prefixes, namespace labels), entities and services."""

from __future__ import annotations

from rules_fixtures import make_context, renders_from_text

from greenfield.core.findings import Finding, Severity
from greenfield.core.rules import run_rules
from greenfield.core.rules.policy import holds, may_select_pods, requirements, selects_all_pods

COREDNS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system}
spec:
  selector: {matchLabels: {k8s-app: kube-dns}}
  template: {metadata: {labels: {k8s-app: kube-dns}}, spec: {containers: [{name: c, image: coredns}]}}
---
apiVersion: v1
kind: Namespace
metadata: {name: media, labels: {tier: apps}}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: operator, namespace: media}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: x}
subjects: [{kind: ServiceAccount, name: x, namespace: media}]
"""

# a clusterwide default deny for every namespace but kube-system, written with matchExpressions
CLUSTERWIDE_DENY = """
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: default-deny}
spec:
  endpointSelector:
    matchExpressions:
      - {key: k8s:io.kubernetes.pod.namespace, operator: NotIn, values: [kube-system]}
  egress:
    - toEndpoints: [{matchLabels: {app: nothing}}]
"""


def dns(text: str, house: bool = True) -> list[Finding]:
    context = make_context(renders_from_text(COREDNS + text), None, {"house_rules": house})
    return [f for f in run_rules(context, only=["policy/dns-unreachable"]) if f.rule == "policy/dns-unreachable"]


def api(text: str) -> list[Finding]:
    context = make_context(renders_from_text(COREDNS + text), None)
    return [f for f in run_rules(context, only=["policy/api-unreachable"]) if f.rule == "policy/api-unreachable"]


def test_selector_requirements_follow_kubernetes_semantics() -> None:
    selector = {"matchLabels": {"k8s:app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                     {"key": "debug", "operator": "DoesNotExist"}]}
    needed = requirements(selector)
    assert [r[0] for r in needed] == ["app", "tier", "debug"]
    assert all(holds(r, {"app": "web", "tier": "b"}) for r in needed)
    assert not all(holds(r, {"app": "web", "tier": "b", "debug": "1"}) for r in needed)
    assert not holds(("x", "Bogus", frozenset()), {"x": "1"})


def test_clusterwide_selectors_over_namespace_labels() -> None:
    not_kube_system = {"matchExpressions": [{"key": "io.kubernetes.pod.namespace", "operator": "NotIn",
                                             "values": ["kube-system"]}]}
    assert selects_all_pods(not_kube_system, "media")
    assert not selects_all_pods(not_kube_system, "kube-system")
    by_label = {"matchLabels": {"k8s:io.cilium.k8s.namespace.labels.tier": "apps"}}
    assert selects_all_pods(by_label, "media", {"tier": "apps"})
    assert not selects_all_pods(by_label, "media", {"tier": "infra"})
    assert not selects_all_pods({"matchLabels": {"app": "web"}}, "media")  # only some pods
    assert may_select_pods({"matchLabels": {"app": "web"}}, "media")
    assert not may_select_pods({"matchLabels": {"reserved:host": ""}}, "media")


def test_a_clusterwide_deny_with_match_expressions_isolates_the_namespaces_it_selects() -> None:
    found = dns(CLUSTERWIDE_DENY)
    assert [f.message.split()[1] for f in found] == ["media"]  # kube-system is left out by NotIn
    assert found[0].severity is Severity.ERROR
    assert [f.severity for f in dns(CLUSTERWIDE_DENY, house=False)] == [Severity.INFO]  # needs the live cluster


def test_policies_are_additive_a_namespaced_allow_completes_a_clusterwide_deny() -> None:
    allow = """
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: allow-dns, namespace: media}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
    - toEndpoints:
        - matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, k8s-app: kube-dns}
      toPorts: [{ports: [{port: "53", protocol: UDP}]}]
"""
    assert dns(CLUSTERWIDE_DENY + allow) == []


def test_entities_and_services_reach_dns_and_the_api_server() -> None:
    for egress in ("toEntities: [cluster]", "toEntities: [all]",
                   "toServices: [{k8sService: {serviceName: kube-dns, namespace: kube-system}}]"):
        policy = CLUSTERWIDE_DENY.replace("toEndpoints: [{matchLabels: {app: nothing}}]", egress)
        assert dns(policy) == [], egress
    assert dns(CLUSTERWIDE_DENY.replace("toEndpoints: [{matchLabels: {app: nothing}}]", "toEntities: [world]"))
    assert api(CLUSTERWIDE_DENY)  # the RoleBinding shows media runs a controller
    for egress in ("toEntities: [kube-apiserver]", "toEntities: [remote-node]",
                   "toServices: [{k8sService: {serviceName: kubernetes, namespace: default}}]"):
        policy = CLUSTERWIDE_DENY.replace("toEndpoints: [{matchLabels: {app: nothing}}]", egress)
        assert api(policy) == [], egress
    wrong_port = CLUSTERWIDE_DENY.replace("toEndpoints: [{matchLabels: {app: nothing}}]",
                                          "toEntities: [kube-apiserver]\n      toPorts: [{ports: [{port: '80'}]}]")
    assert api(wrong_port)


def test_namespace_label_selectors_in_to_endpoints() -> None:
    allow = CLUSTERWIDE_DENY.replace(
        "toEndpoints: [{matchLabels: {app: nothing}}]",
        "toEndpoints: [{matchLabels: {k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name: kube-system,"
        " k8s:k8s-app: kube-dns}}]")
    assert dns(allow) == []
