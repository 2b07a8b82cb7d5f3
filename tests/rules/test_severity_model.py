"""The severity model (README "Severity"): error = Flux fails and stays failed, warning = self-healing or
order-dependent, info = needs the live cluster; house rules only where the repository opts in; per-rule overrides."""

from __future__ import annotations

import pytest
from rules_fixtures import make_context, renders_from_text

from greenfield.core.findings import Finding, Severity
from greenfield.core.rules import run_rules
from greenfield.core.rules.base import all_rules, apply_rule_overrides, override_for, parse_rule_overrides

FOREIGN = {"house_rules": False}

NAMESPACE_WITHOUT_PSA = """
apiVersion: v1
kind: Namespace
metadata: {name: media}
"""

CR_BEFORE_ITS_CRD = """
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: operators, namespace: flux-system}
spec: {path: ./operators, sourceRef: {kind: GitRepository, name: flux-system}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: external-secrets
  namespace: external-secrets
  annotations: {test/ks: operators}
spec:
  chart: {spec: {chart: external-secrets, version: 0.10.0, sourceRef: {kind: HelmRepository, name: es}}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: stores, namespace: flux-system}
spec: {path: ./stores, sourceRef: {kind: GitRepository, name: flux-system}}
---
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata:
  name: vault
  annotations: {test/ks: stores}
spec: {provider: {fake: {data: []}}}
"""

CR_WITH_ITS_HELMRELEASE = """
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: external-secrets, namespace: external-secrets}
spec:
  chart: {spec: {chart: external-secrets, version: 0.10.0, sourceRef: {kind: HelmRepository, name: es}}}
---
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: {name: vault}
spec: {provider: {fake: {data: []}}}
"""

CR_WITHOUT_PROVIDER = """
apiVersion: example.io/v1
kind: Widget
metadata: {name: w, namespace: default}
"""

DANGLING_REFERENCES = """
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: app, namespace: media}
spec: {secretStoreRef: {kind: ClusterSecretStore, name: missing}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: app, namespace: media}
spec: {chartRef: {kind: OCIRepository, name: missing}}
"""


def findings(text: str, rule_id: str, options: dict | None = None) -> list[Finding]:
    context = make_context(renders_from_text(text), None, options)
    return [f for f in run_rules(context, only=[rule_id]) if f.rule == rule_id]


def test_house_rules_run_only_where_the_repository_opts_in() -> None:
    assert [f.severity for f in findings(NAMESPACE_WITHOUT_PSA, "policy/psa-label")] == [Severity.ERROR]
    assert findings(NAMESPACE_WITHOUT_PSA, "policy/psa-label", FOREIGN) == []
    house = {info.id for info in all_rules() if info.house}
    assert {"policy/psa-label", "policy/privileged", "graph/oci-unpinned"} <= house
    assert all(rule_id in house for rule_id in (info.id for info in all_rules()) if rule_id.startswith("story/"))


def test_naming_a_house_rule_in_rules_enables_it() -> None:
    options = {**FOREIGN, "rules": {"policy/psa-label": "warning"}}
    assert [f.severity for f in findings(NAMESPACE_WITHOUT_PSA, "policy/psa-label", options)] == [Severity.WARNING]
    assert findings(NAMESPACE_WITHOUT_PSA, "policy/psa-label", {"house_rules": True,
                                                                 "rules": {"policy/": "off"}}) == []


def test_custom_resource_before_its_crd_heals_on_retry() -> None:
    [found] = findings(CR_BEFORE_ITS_CRD, "graph/crd-order", FOREIGN)
    assert found.severity is Severity.WARNING and "flux-system/operators" in found.message
    [house] = findings(CR_BEFORE_ITS_CRD, "graph/crd-order")
    assert house.severity is Severity.ERROR


def test_custom_resource_in_the_kustomization_of_its_helmrelease_never_heals() -> None:
    # kustomize-controller dry-runs the whole apply stage first: the HelmRelease installing the CRD never applies
    [found] = findings(CR_WITH_ITS_HELMRELEASE, "graph/crd-order", FOREIGN)
    assert found.severity is Severity.ERROR and "same Kustomization" in found.message


def test_a_crd_provided_nowhere_in_the_repository_needs_the_live_cluster() -> None:
    [found] = findings(CR_WITHOUT_PROVIDER, "graph/crd-order", FOREIGN)
    assert found.severity is Severity.INFO


def test_references_flux_resolves_stay_errors_references_in_custom_resources_do_not() -> None:
    by_object = {f.object: f.severity for f in findings(DANGLING_REFERENCES, "graph/reference-missing", FOREIGN)
                 if "/media/" in f.object}  # (the fixture's root sync has no GitRepository either: an error too)
    assert by_object == {"HelmRelease/media/app": Severity.ERROR, "ExternalSecret/media/app": Severity.WARNING}
    house = {f.object: f.severity for f in findings(DANGLING_REFERENCES, "graph/reference-missing")
             if "/media/" in f.object}
    assert set(house.values()) == {Severity.ERROR}


def test_cross_namespace_chart_ref_is_only_our_convention() -> None:
    text = """
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: app-template, namespace: flux-system}
spec: {url: oci://ghcr.io/bjw-s/helm/app-template, ref: {tag: 3.0.0}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: app, namespace: media}
spec: {chartRef: {kind: OCIRepository, name: app-template, namespace: flux-system}}
"""
    def media(options: dict | None = None) -> list[Finding]:
        return [f for f in findings(text, "graph/reference-missing", options) if "/media/" in f.object]

    assert media(FOREIGN) == []
    assert len(media()) == 1


def test_duplicate_objects_identical_copies_are_info_different_ones_a_warning() -> None:
    template = """
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: {name}, namespace: flux-system}}
spec: {{path: ./{name}, sourceRef: {{kind: GitRepository, name: flux-system}}}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: app-template
  namespace: media
  annotations: {{test/ks: {name}}}
spec: {{url: oci://ghcr.io/bjw-s/helm/app-template, ref: {{tag: {tag}}}}}
"""
    same = template.format(name="a", tag="3.0.0") + "---" + template.format(name="b", tag="3.0.0")
    different = template.format(name="a", tag="3.0.0") + "---" + template.format(name="b", tag="4.0.0")
    assert [f.severity for f in findings(same, "build/duplicate-object", FOREIGN)] == [Severity.INFO]
    assert [f.severity for f in findings(different, "build/duplicate-object", FOREIGN)] == [Severity.WARNING]
    assert [f.severity for f in findings(same, "build/duplicate-object")] == [Severity.ERROR]


def test_rule_overrides_exact_id_wins_over_the_longest_prefix() -> None:
    overrides = parse_rule_overrides({"graph/": "info", "graph/crd-order": "off", "policy/psa-label": False})
    assert override_for(overrides, "graph/crd-order") == "off"
    assert override_for(overrides, "graph/cycle") is Severity.INFO
    assert override_for(overrides, "policy/psa-label") == "off"  # YAML 1.1 `off` is false
    assert override_for(overrides, "build/path-missing") is None
    item = Finding("graph/cycle", Severity.ERROR, "m")
    assert apply_rule_overrides([item, Finding("graph/crd-order", Severity.ERROR, "m")], overrides) == [
        Finding("graph/cycle", Severity.INFO, "m")]


@pytest.mark.parametrize("bad", [{"graph/cycle": "fatal"}, ["graph/cycle"], {"": "off"}])
def test_rule_overrides_reject_what_they_cannot_mean(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_rule_overrides(bad)


def test_a_missing_dependency_an_unbuilt_kustomization_may_create_is_not_known_offline() -> None:
    text = """
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: app, namespace: flux-system}
spec:
  path: ./app
  sourceRef: {kind: GitRepository, name: flux-system}
  dependsOn: [{name: monitoring}]
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: monitoring, namespace: observability}
spec: {path: ./monitoring, sourceRef: {kind: GitRepository, name: flux-system}}
"""
    renders = renders_from_text(text)
    context = make_context(renders, None, FOREIGN)
    [missing] = [f for f in run_rules(context, only=["graph/depends-on-missing"])]
    assert missing.severity is Severity.ERROR  # every Kustomization is built: flux-system/monitoring never exists
    for render in renders.values():
        render.kustomizations[next(k for k in render.kustomizations if k.name == "monitoring")].built = False
    [unknown] = [f for f in run_rules(context, only=["graph/depends-on-missing"])]
    assert unknown.severity is Severity.INFO and "observability/monitoring" in unknown.message


def test_copies_applied_to_other_clusters_through_kube_config_are_not_duplicates() -> None:
    template = """
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: {name}, namespace: flux-system}}
spec:
  path: ./tenants
  sourceRef: {{kind: GitRepository, name: flux-system}}
  kubeConfig: {{secretRef: {{name: {name}-kubeconfig}}}}
---
apiVersion: v1
kind: Namespace
metadata:
  name: podinfo
  annotations: {{test/ks: {name}}}
  labels: {{env: {name}}}
"""
    text = template.format(name="staging") + "---" + template.format(name="production")
    assert findings(text, "build/duplicate-object", FOREIGN) == []
    local = text.replace("kubeConfig: {secretRef: {name: production-kubeconfig}}", "")
    assert findings(local, "build/duplicate-object", FOREIGN) == []  # one copy each on two clusters
    both_local = local.replace("kubeConfig: {secretRef: {name: staging-kubeconfig}}", "")
    assert [f.severity for f in findings(both_local, "build/duplicate-object", FOREIGN)] == [Severity.INFO]


def test_a_service_selecting_pods_an_operator_creates_for_its_resource() -> None:
    text = """
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: {name: postgres18, namespace: databases}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: backup, namespace: databases}
spec: {schedule: "@daily", jobTemplate: {spec: {template: {spec: {containers: [{name: c, image: x}]}}}}}
---
apiVersion: v1
kind: Service
metadata: {name: postgres18-lb, namespace: databases}
spec: {selector: {cnpg.io/cluster: postgres18, cnpg.io/instanceRole: primary}}
"""
    assert findings(text, "policy/service-selector", FOREIGN) == []
    assert findings(text.replace("cnpg.io/cluster: postgres18", "cnpg.io/cluster: other"), "policy/service-selector",
                    FOREIGN)


def test_a_kustomization_of_a_source_flux_operator_creates_says_why_it_is_not_rendered() -> None:
    text = """
apiVersion: fluxcd.controlplane.io/v1
kind: FluxInstance
metadata: {name: flux, namespace: flux-system}
spec: {sync: {kind: GitRepository, name: cluster-repository, url: "https://example.com/r.git", path: x}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec: {path: ./apps, sourceRef: {kind: GitRepository, name: cluster-repository}}
"""
    renders = renders_from_text(text)
    for render in renders.values():
        node = render.kustomizations[next(k for k in render.kustomizations if k.name == "apps")]
        node.built, node.error = False, "source GitRepository/flux-system/cluster-repository not found"
    context = make_context(renders, None, FOREIGN)
    found = [f for f in run_rules(context, only=["graph/reference-missing"]) if f.object.endswith("/apps")]
    assert [(f.severity, "FluxInstance" in f.message) for f in found] == [(Severity.INFO, True)]
