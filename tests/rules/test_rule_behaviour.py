"""Targeted behaviour of the semantic rules beyond the pass/fail fixtures: options, unknown content,
inventory-less runs and robustness against malformed objects."""

from __future__ import annotations

import copy

import pytest
from rules_fixtures import FIXTURES, load_renders, make_context, reference_inventory, renders_from_text

from greenfield.core.findings import Severity
from greenfield.core.model import NamespacedName
from greenfield.core.rules import all_rules, run_rules
from greenfield.core.rules._helpers import match_labels, merge_ranges
from greenfield.core.rules.graph import bootstrap_groups

INVENTORY = reference_inventory()


def rule_findings(rule_id: str, text: str, inventory: object = INVENTORY, options: dict | None = None,
                  settings: dict | None = None) -> list:
    renders = renders_from_text(text)
    context = make_context(renders, INVENTORY if inventory is INVENTORY else None, options)
    if settings is not None:
        context.settings.update(settings)
    return [f for f in run_rules(context, only=[rule_id]) if f.rule == rule_id]


def fixture(rule_id: str, kind: str) -> str:
    return (FIXTURES / rule_id / f"{kind}.yaml").read_text(encoding="utf-8")


def test_label_selector_semantics() -> None:
    labels = {"app": "web", "tier": "front"}
    assert match_labels({}, labels)
    assert match_labels({"matchLabels": {"app": "web"}}, labels)
    assert not match_labels({"matchLabels": {"app": "db"}}, labels)
    assert match_labels({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]}, labels)
    assert not match_labels({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]},
                            labels)
    assert match_labels({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}, labels)
    assert not match_labels({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}, labels)


def test_merge_ranges_joins_adjacent_blocks() -> None:
    assert merge_ranges([(10, 19), (0, 9), (30, 40)]) == [(0, 19), (30, 40)]


def test_bootstrap_groups_accepts_crds_and_lists() -> None:
    documents = [
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
         "spec": {"group": "cert-manager.io"}},
        {"groups": ["cilium.io"]},
        [{"group": "monitoring.coreos.com"}],
    ]
    assert bootstrap_groups(documents) == {"cert-manager.io", "cilium.io", "monitoring.coreos.com"}


def test_crd_order_accepts_bootstrap_groups() -> None:
    text = fixture("graph/crd-order", "fail")
    before = {f.object for f in rule_findings("graph/crd-order", text)}
    after = {f.object for f in rule_findings("graph/crd-order", text,
                                             options={"bootstrap_crd_groups": ["cert-manager.io"]})}
    assert "ClusterIssuer/letsencrypt-production" in before
    assert after == {"Widget/default/w", "PrometheusRule/observability/alerts"}


def test_crd_order_extra_providers_option() -> None:
    text = """
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: widgets, namespace: flux-system}
spec: {path: ./w, sourceRef: {kind: GitRepository, name: flux-system}, wait: true}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: use, namespace: flux-system}
spec: {dependsOn: [{name: widgets}], path: ./u, sourceRef: {kind: GitRepository, name: flux-system}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: widget-operator, namespace: widgets, annotations: {test/ks: widgets}}
spec: {chart: {spec: {chart: widget-operator, version: 1.0.0, sourceRef: {kind: HelmRepository, name: r}}}}
---
apiVersion: example.org/v1
kind: Widget
metadata: {name: w, namespace: default, annotations: {test/ks: use}}
"""
    assert rule_findings("graph/crd-order", text)
    assert rule_findings("graph/crd-order", text, options={"crd_providers": {"example.org": ["widget-operator"]}}) \
        == []


UNBUILT = """
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: keycloak-operator, namespace: flux-system}
spec:
  healthChecks: [{apiVersion: apps/v1, kind: Deployment, name: keycloak-operator, namespace: identity}]
  path: ./kubernetes
  sourceRef: {kind: GitRepository, name: keycloak-k8s-resources}
  targetNamespace: identity
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: keycloak, namespace: flux-system}
spec:
  dependsOn: [{name: keycloak-operator}]
  healthChecks: [{apiVersion: apps/v1, kind: StatefulSet, name: keycloak, namespace: identity}]
  path: ./keycloak
  sourceRef: {kind: GitRepository, name: flux-system}
---
apiVersion: k8s.keycloak.org/v2alpha1
kind: Keycloak
metadata: {name: keycloak, namespace: identity, annotations: {test/ks: keycloak}}
spec: {instances: 2}
"""


def _unbuilt_renders() -> dict:
    renders = renders_from_text(UNBUILT)
    renders["infra"].kustomizations[NamespacedName("flux-system", "keycloak-operator")].built = False
    return renders


def test_unbuilt_kustomizations_are_unknown_not_missing() -> None:
    context = make_context(_unbuilt_renders(), INVENTORY)
    found = [f for f in run_rules(context, only=["graph/crd-order", "graph/health-check-missing"])]
    assert found == []


def test_unbuilt_kustomizations_do_not_hide_unrelated_problems() -> None:
    renders = _unbuilt_renders()
    node = renders["infra"].kustomizations[NamespacedName("flux-system", "keycloak")]
    node.body["spec"]["dependsOn"] = []
    node.body["spec"]["targetNamespace"] = "other"
    context = make_context(renders, INVENTORY)
    rules = {f.rule for f in run_rules(context, only=["graph/crd-order"])}
    assert rules == {"graph/crd-order"}


def test_privileged_allowlist_option_and_reason_annotation() -> None:
    text = fixture("policy/privileged", "fail")
    assert rule_findings("policy/privileged", text, options={"privileged_allowlist": ["default",
                                                                                       "actions-runner-system"]}) == []
    annotated = text.replace("metadata: {name: arc-runners, namespace: actions-runner-system}",
                             "metadata: {name: arc-runners, namespace: actions-runner-system, annotations: "
                             "{greenfield/privileged-reason: dind needs it}}")
    assert "HelmRelease/actions-runner-system/arc-runners" not in {
        f.object for f in rule_findings("policy/privileged", annotated)}


def test_egress_namespaces_option() -> None:
    text = fixture("policy/egress-missing", "fail")
    assert rule_findings("policy/egress-missing", text, options={"egress_namespaces": ["cert-manager"]}) == []


def test_foreign_value_allows_cross_cluster_endpoints_from_own_settings() -> None:
    text = """
---
apiVersion: v1
kind: ConfigMap
metadata: {name: remote-write, namespace: observability, annotations: {test/cluster: apps}}
data: {url: "http://10.25.11.110:8480/insert/0/prometheus"}
"""
    assert rule_findings("cluster/foreign-value", text)
    settings = {"apps": {**make_context({}, INVENTORY).settings["apps"],
                         "METRICS_WRITE_URL": "http://10.25.11.110:8480/insert/0/prometheus"}}
    assert rule_findings("cluster/foreign-value", text, settings=settings) == []


def test_render_drift_ignores_cluster_variables_but_not_versions() -> None:
    assert rule_findings("cluster/render-drift", fixture("cluster/render-drift", "pass")) == []
    findings = rule_findings("cluster/render-drift", fixture("cluster/render-drift", "fail"))
    assert [f.message.split(" is ")[0] for f in findings] == ["values.bpf"]


INVENTORY_RULES = ["cluster/lb-pool", "cluster/lb-ip", "cluster/coredns-ip", "cluster/cilium-values", "cluster/bgp",
                   "cluster/foreign-value", "cluster/render-drift", "story/ceph-nodes"]


@pytest.mark.parametrize("rule_id", INVENTORY_RULES)
def test_inventory_rules_are_silent_without_inventory(rule_id: str) -> None:
    assert rule_findings(rule_id, fixture(rule_id, "fail"), inventory=None) == []


def test_bgp_legacy_needs_no_inventory() -> None:
    assert rule_findings("cluster/bgp-legacy", fixture("cluster/bgp-legacy", "fail"), inventory=None)


def test_suspended_is_a_warning() -> None:
    findings = rule_findings("flux/suspended", fixture("flux/suspended", "fail"))
    assert {f.severity for f in findings} == {Severity.WARNING}


def test_spire_flag_on_allows_spire() -> None:
    text = fixture("story/spire-flag", "fail")
    assert rule_findings("story/spire-flag", text, options={"spire_enabled": True}) == []


GARBAGE = [None, "text", [1, "x"], {"": None}]


def _mangle(value: object, garbage: object) -> object:
    if isinstance(value, dict):
        return {k: (garbage if k not in ("apiVersion", "kind", "metadata") else _mangle(v, garbage))
                for k, v in value.items()}
    return value


@pytest.mark.parametrize("garbage", GARBAGE, ids=[repr(g) for g in GARBAGE])
def test_rules_never_raise_on_malformed_objects(garbage: object) -> None:
    ids = tuple(info.id for info in all_rules())
    for path in sorted(FIXTURES.rglob("*.yaml")):
        renders = load_renders(path)
        for render in renders.values():
            for node in render.kustomizations.values():
                node.body = _mangle(copy.deepcopy(node.body), garbage)  # type: ignore[assignment]
                for obj in node.objects:
                    obj.body = _mangle(obj.body, garbage)  # type: ignore[assignment]
                    mangled_meta = obj.body.get("metadata")
                    if isinstance(mangled_meta, dict):
                        mangled_meta["labels"] = garbage
                        mangled_meta["annotations"] = garbage
            for info in render.helm_releases.values():
                info.values = {"cluster": garbage, "service": garbage, "spegel": garbage}
        context = make_context(renders, INVENTORY)
        run_rules(context, only=[i for i in ids if i.startswith(("graph/", "cluster/", "policy/", "secrets/",
                                                                   "flux/", "story/"))])


def test_bootstrap_groups_of_the_bootstrap_definition_format() -> None:
    definition = {
        "crds": [{"helmrelease": "cert-manager/cert-manager", "groups": ["cert-manager.io", "acme.cert-manager.io"]},
                 {"kustomization": "flux-system/gateway-api-crds", "groups": ["gateway.networking.k8s.io"]}],
        "core": [{"helmrelease": "kube-system/cilium"}, {"kustomization": "flux-system/flux-instance"}],
    }
    assert bootstrap_groups([definition]) == {"cert-manager.io", "acme.cert-manager.io",
                                              "gateway.networking.k8s.io", "cilium.io"}


def test_crd_order_guesses_providers_of_unknown_groups_from_chart_names() -> None:
    text = """
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: kyverno, namespace: flux-system}
spec: {path: ./k, sourceRef: {kind: GitRepository, name: flux-system}, wait: true}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: policies, namespace: flux-system}
spec: {DEPENDS path: ./p, sourceRef: {kind: GitRepository, name: flux-system}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: kyverno, namespace: kyverno, annotations: {test/ks: kyverno}}
spec: {chart: {spec: {chart: kyverno, version: 3.5.0, sourceRef: {kind: HelmRepository, name: kyverno}}}}
---
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: require-labels, annotations: {test/ks: policies}}
spec: {rules: []}
"""
    ordered = text.replace("DEPENDS", "dependsOn: [{name: kyverno}],")
    assert rule_findings("graph/crd-order", ordered) == []
    unordered = [f.message for f in rule_findings("graph/crd-order", text.replace("DEPENDS", ""))]
    assert len(unordered) == 1 and "flux-system/kyverno" in unordered[0]


def test_health_checks_on_operator_children_are_accepted() -> None:
    text = """
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: shared-postgres, namespace: flux-system}
spec:
  healthChecks:
    - {apiVersion: postgresql.cnpg.io/v1, kind: Pooler, name: shared-postgres-pooler-rw, namespace: databases}
    - {apiVersion: apps/v1, kind: Deployment, name: shared-postgres-pooler-rw, namespace: databases}
    - {apiVersion: apps/v1, kind: Deployment, name: unrelated, namespace: databases}
  path: ./pg
  sourceRef: {kind: GitRepository, name: flux-system}
---
apiVersion: postgresql.cnpg.io/v1
kind: Pooler
metadata: {name: shared-postgres-pooler-rw, namespace: databases, annotations: {test/ks: shared-postgres}}
spec: {cluster: {name: shared-postgres}, instances: 2, type: rw, pgbouncer: {poolMode: transaction}}
"""
    messages = [f.message for f in rule_findings("graph/health-check-missing", text)]
    assert len(messages) == 1 and "unrelated" in messages[0]
