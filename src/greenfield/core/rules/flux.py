"""Flux self-management rules (story 41): one Flux installation per cluster, nothing left suspended."""

from __future__ import annotations

from collections.abc import Iterator

from greenfield.core.findings import Finding, Severity
from greenfield.core.model import ClusterRender, RenderedObject
from greenfield.core.rules._helpers import SOURCE_GROUP, as_dict, dig, finding, group_of, labels_of, text
from greenfield.core.rules.base import RuleContext, rule

E = Severity.ERROR
W = Severity.WARNING
FLUX_CONTROLLERS = ("source-controller", "kustomize-controller", "helm-controller", "notification-controller")
FLUX_CRD_GROUPS = ("source.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io",
                   "notification.toolkit.fluxcd.io")


def _gotk_components(render: ClusterRender) -> list[RenderedObject]:
    """Objects of a `flux install` / gotk-components.yaml in git: the controllers or the Flux CRDs."""
    found = []
    for obj in render.objects:
        controller = obj.kind == "Deployment" and group_of(obj) == "apps" and obj.name in FLUX_CONTROLLERS
        crd = obj.kind == "CustomResourceDefinition" and text(dig(obj.body, "spec", "group")) in FLUX_CRD_GROUPS \
            and labels_of(obj.body).get("app.kubernetes.io/part-of") == "flux"
        if controller or crd:
            found.append(obj)
    return found


@rule("flux/duplicate-install", E, "a second, conflicting Flux installation (FluxInstance vs gotk-components/sync)")
def duplicate_install(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    instances = [o for o in render.objects if o.is_kind("fluxcd.controlplane.io", "FluxInstance")]
    for extra in instances[1:]:
        yield finding("flux/duplicate-install", E, extra,
                      f"{len(instances)} FluxInstances on cluster {render.cluster}: "
                      f"{', '.join(str(i.id) for i in instances)}",
                      "flux-operator reconciles exactly one FluxInstance (named flux, in flux-system)")
    if not instances:
        return
    instance = instances[0]
    components = _gotk_components(render)
    if components:
        yield finding("flux/duplicate-install", E, components[0],
                      f"Flux is installed twice: FluxInstance {instance.id} and gotk-components "
                      f"({', '.join(sorted({str(c.id) for c in components})[:4])})",
                      "let flux-operator own Flux: remove gotk-components.yaml from git")
    sync = as_dict(dig(instance.body, "spec", "sync"))
    if not sync:
        return
    namespace = instance.namespace or "flux-system"
    name = text(sync.get("name")) or namespace
    kind = text(sync.get("kind")) or "GitRepository"
    for obj in render.objects:
        source = group_of(obj) == SOURCE_GROUP and obj.kind == kind
        root = obj.is_kind("kustomize.toolkit.fluxcd.io", "Kustomization")
        if (source or root) and obj.name == name and (obj.namespace or namespace) == namespace:
            yield finding("flux/duplicate-install", E, obj,
                          f"{obj.kind} {namespace}/{name} is in git while FluxInstance {instance.id} spec.sync "
                          "creates the same object: two owners fight over the root sync",
                          "keep one: either FluxInstance.spec.sync or the flux-system GitRepository + Kustomization "
                          "in git")


@rule("flux/suspended", W, "a HelmRelease or Kustomization is committed with spec.suspend: true", house=True)
def suspended(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    for obj in render.objects:
        flux_kind = obj.is_kind("helm.toolkit.fluxcd.io", "HelmRelease") or \
            obj.is_kind("kustomize.toolkit.fluxcd.io", "Kustomization")
        if flux_kind and obj.spec.get("suspend") is True:
            yield finding("flux/suspended", W, obj, f"{obj.kind} {obj.namespace}/{obj.name} is suspended in git",
                          "suspend live with `flux suspend` while debugging; never commit suspend: true")
