"""Graph rules: the Flux dependency graph and every reference between rendered objects resolves.

Options read from `RuleContext.options`:
- `bootstrap_crd_groups`: API groups whose CRDs bootstrap phase 0 installs (from `bootstrap/crds.yaml`;
  see `bootstrap_groups`). The Flux groups always count. Default: the Flux and Gateway API groups.
- `crd_providers`: extra `{group: [chart, ...]}` entries for the HelmRelease CRD-provider table.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from typing import Any

from greenfield.core.findings import Finding, Severity
from greenfield.core.model import FLUX_KUSTOMIZATION, ClusterRender, KustomizationNode, NamespacedName, RenderedObject
from greenfield.core.rules._helpers import (
    BUILTIN_GROUPS,
    SOURCE_GROUP,
    annotations_of,
    applied_before,
    as_dict,
    as_list,
    depends_on,
    dig,
    finding,
    group_of,
    helm_releases,
    index_objects,
    is_built,
    is_synthetic,
    is_unresolved,
    node_finding,
    parse_key,
    release_finding,
    text,
)
from greenfield.core.rules.base import RuleContext, rule

E = Severity.ERROR

# API group → charts whose HelmRelease installs that group's CRDs.
CRD_PROVIDERS: dict[str, tuple[str, ...]] = {
    "cert-manager.io": ("cert-manager",),
    "acme.cert-manager.io": ("cert-manager",),
    "cilium.io": ("cilium",),
    "external-secrets.io": ("external-secrets",),
    "generators.external-secrets.io": ("external-secrets",),
    "postgresql.cnpg.io": ("cloudnative-pg",),
    "barmancloud.cnpg.io": ("plugin-barman-cloud",),
    "ceph.rook.io": ("rook-ceph",),
    "objectbucket.io": ("rook-ceph",),
    "operator.victoriametrics.com": ("victoria-metrics-operator", "victoria-metrics-k8s-stack"),
    "monitoring.coreos.com": ("prometheus-operator-crds", "kube-prometheus-stack"),
    "kafka.strimzi.io": ("strimzi-kafka-operator",),
    "core.strimzi.io": ("strimzi-kafka-operator",),
    "dragonflydb.io": ("dragonfly-operator",),
    "k8s.keycloak.org": ("keycloak-operator",),
    "volsync.backube": ("volsync",),
    "snapshot.storage.k8s.io": ("snapshot-controller",),
    "actions.github.com": ("gha-runner-scale-set-controller",),
    "fluentbit.fluent.io": ("fluent-operator",),
    "externaldns.k8s.io": ("external-dns",),
    "openebs.io": ("openebs",),
    "zfs.openebs.io": ("openebs", "zfs-localpv"),
    "spire.spiffe.io": ("spire-crds", "spire"),
    "fluxcd.controlplane.io": ("flux-operator",),
    "apps.gitlab.com": ("gitlab-operator",),
    "goharbor.io": ("harbor-operator",),
}

FLUX_GROUPS = ("source.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io",
               "notification.toolkit.fluxcd.io", "image.toolkit.fluxcd.io", "source.extensions.fluxcd.io")
DEFAULT_BOOTSTRAP_GROUPS = frozenset({*FLUX_GROUPS, "gateway.networking.k8s.io", "gateway.networking.x-k8s.io"})


def bootstrap_groups(documents: Iterable[Any]) -> set[str]:
    """API groups whose CRDs exist before Flux applies anything, for `options["bootstrap_crd_groups"]`.

    Reads the parsed bootstrap definition (`bootstrap/crds.yaml` or `bootstrap/bootstrap.yaml`):
    CustomResourceDefinition documents (`spec.group`), `groups:` lists (phase 0 entries such as
    `{helmrelease: ns/name, groups: [...]}`), and phase-2 `core:` HelmReleases whose chart registers its
    CRDs at runtime (e.g. Cilium's operator), looked up by release name in CRD_PROVIDERS.
    """
    groups: set[str] = set()
    for document in documents:
        if isinstance(document, list):
            groups |= bootstrap_groups(document)
            continue
        body = as_dict(document)
        if body.get("kind") == "CustomResourceDefinition":
            group = text(dig(body, "spec", "group"))
            if group:
                groups.add(group)
        for key in ("groups", "crds", "items"):
            for item in as_list(body.get(key)):
                if isinstance(item, str):
                    groups.add(item)
                else:
                    groups |= bootstrap_groups([item])
        if text(body.get("group")):
            groups.add(text(body.get("group")))
        for item in as_list(body.get("core")):
            release = text(dig(item, "helmrelease")).rsplit("/", 1)[-1]
            groups |= {group for group, charts in CRD_PROVIDERS.items() if release and release in charts}
    return groups


def _bootstrap(context: RuleContext) -> frozenset[str]:
    configured = context.options.get("bootstrap_crd_groups")
    if configured is None:
        return DEFAULT_BOOTSTRAP_GROUPS
    return frozenset({*FLUX_GROUPS, *(str(g) for g in configured)})  # Flux runs only with its CRDs installed


def _providers_table(context: RuleContext) -> dict[str, tuple[str, ...]]:
    table = dict(CRD_PROVIDERS)
    for group, charts in as_dict(context.options.get("crd_providers")).items():
        table[str(group)] = (*table.get(str(group), ()), *(str(c) for c in as_list(charts) or [charts]))
    return table


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
    return f"did you mean {', '.join(close)}?" if close else ""


# ---------------------------------------------------------------- dependsOn

@rule("graph/depends-on-missing", E, "dependsOn names a Kustomization/HelmRelease that this cluster does not render")
def depends_on_missing(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    names = [str(k) for k in render.kustomizations]
    for node in render.ordered_kustomizations():
        for target in depends_on(node):
            if target in render.kustomizations or _maybe_unbuilt_kustomization(render, target):
                continue
            same_name = [str(k) for k in render.kustomizations if k.name == target.name]
            hint = (f"it exists as {same_name[0]}: set dependsOn namespace" if same_name
                    else _suggest(str(target), names) or
                    f"no Kustomization {target} on cluster {render.cluster}; fix the name or include the app")
            yield node_finding("graph/depends-on-missing", E, node,
                               f"dependsOn {target} does not exist on cluster {render.cluster}", hint, render=render)
    releases = {r.key for r in helm_releases(render)}
    for release in helm_releases(render):
        for entry in as_list(dig(release.body, "spec", "dependsOn")):
            name = text(dig(entry, "name"))
            if not name or is_unresolved(name):
                continue
            target = NamespacedName(text(dig(entry, "namespace")) or release.namespace, name)
            if target not in releases and not _maybe_unbuilt(render, target):
                yield release_finding("graph/depends-on-missing", E, render, release,
                                      f"dependsOn HelmRelease {target} does not exist on cluster {render.cluster}",
                                      _suggest(str(target), [str(k) for k in releases])
                                      or "HelmRelease dependsOn names HelmReleases (namespace defaults to its own)")


def _maybe_unbuilt_kustomization(render: ClusterRender, target: NamespacedName) -> bool:
    """A not-built Kustomization may create the target Kustomization: one whose name starts the target's
    (cluster-crds creating cluster-crds-external-snapshotter, a convention for parent/child names)."""
    return any(not is_built(node) and target.name.startswith(f"{node.key.name}-")
               for node in render.kustomizations.values() if not node.synthetic)


def _maybe_unbuilt(render: ClusterRender, target: NamespacedName) -> bool:
    """A Kustomization that is not built (its finding says why) may apply the target: one deploying into its
    namespace or named after it. Reporting it missing would blame the target for the build's failure."""
    for node in render.kustomizations.values():
        if is_built(node):
            continue
        namespaces = {node.key.namespace, text(node.spec.get("targetNamespace"))}
        if target.namespace in namespaces or target.name in node.key.name or target.name in text(node.spec.get("path")):
            return True
    return False


@rule("graph/cycle", E, "Kustomizations or HelmReleases that depend on each other in a cycle")
def cycle(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    edges = {key: [d for d in depends_on(node) if d in render.kustomizations]
             for key, node in render.kustomizations.items()}
    for component in _cycles(edges):
        first = min(component)
        node = render.kustomizations[first]
        loop = " -> ".join(str(k) for k in _loop(edges, first, set(component)))
        yield node_finding("graph/cycle", E, node, f"dependsOn cycle: {loop}",
                           "break the cycle: keep dependsOn only for real ordering", render=render)
    releases = {r.key: r for r in helm_releases(render)}
    release_edges: dict[NamespacedName, list[NamespacedName]] = {}
    for key, release in releases.items():
        targets = []
        for entry in as_list(dig(release.body, "spec", "dependsOn")):
            target = NamespacedName(text(dig(entry, "namespace")) or key.namespace, text(dig(entry, "name")))
            if target in releases:
                targets.append(target)
        release_edges[key] = targets
    for component in _cycles(release_edges):
        first = min(component)
        loop = " -> ".join(str(k) for k in _loop(release_edges, first, set(component)))
        yield release_finding("graph/cycle", E, render, releases[first], f"HelmRelease dependsOn cycle: {loop}",
                              "break the cycle: keep dependsOn only for real ordering")


def _cycles(edges: dict[NamespacedName, list[NamespacedName]]) -> list[list[NamespacedName]]:
    """Strongly connected components with a cycle (Tarjan, iterative)."""
    index: dict[NamespacedName, int] = {}
    low: dict[NamespacedName, int] = {}
    on_stack: set[NamespacedName] = set()
    stack: list[NamespacedName] = []
    result: list[list[NamespacedName]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            vertex, position = work.pop()
            if position == 0:
                index[vertex] = low[vertex] = counter
                counter += 1
                stack.append(vertex)
                on_stack.add(vertex)
            successors = edges.get(vertex, [])
            recurse = False
            for i in range(position, len(successors)):
                nxt = successors[i]
                if nxt not in index:
                    work.append((vertex, i + 1))
                    work.append((nxt, 0))
                    recurse = True
                    break
                if nxt in on_stack:
                    low[vertex] = min(low[vertex], index[nxt])
            if recurse:
                continue
            if low[vertex] == index[vertex]:
                component = []
                while True:
                    item = stack.pop()
                    on_stack.discard(item)
                    component.append(item)
                    if item == vertex:
                        break
                if len(component) > 1 or vertex in edges.get(vertex, []):
                    result.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[vertex])
    return sorted(result)


def _loop(edges: dict[NamespacedName, list[NamespacedName]], start: NamespacedName,
          members: set[NamespacedName]) -> list[NamespacedName]:
    path = [start]
    current = start
    for _ in range(len(members) + 1):
        nexts = sorted(n for n in edges.get(current, []) if n in members)
        if not nexts:
            break
        current = start if start in nexts else next((n for n in nexts if n not in path), nexts[0])
        path.append(current)
        if current == start:
            break
    return path


@rule("graph/parent-depends-on-child", E, "a Kustomization depends on a Kustomization it creates (deadlock)")
def parent_depends_on_child(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    for node in render.ordered_kustomizations():
        for target in depends_on(node):
            child = render.kustomizations.get(target)
            if child is None:
                continue
            chain: list[NamespacedName] = []
            parent = child.parent
            while parent is not None and parent not in chain and len(chain) < 100:
                chain.append(parent)
                parent_node = render.kustomizations.get(parent)
                parent = parent_node.parent if parent_node else None
            if node.key in chain:
                yield node_finding("graph/parent-depends-on-child", E, node,
                                   f"depends on {target}, which it creates itself: it can never become Ready",
                                   "drop the dependsOn; a parent applies before its children exist", render=render)


@rule("graph/duplicate-kustomization", E, "the same Flux Kustomization is defined more than once on a cluster")
def duplicate_kustomization(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    seen: dict[tuple[str, str], list[RenderedObject]] = {}
    for obj in render.objects:
        if obj.is_kind(*FLUX_KUSTOMIZATION):
            namespace = obj.namespace or "flux-system"
            seen.setdefault((namespace, obj.name), []).append(obj)
    for (namespace, name), objects in sorted(seen.items()):
        if len(objects) < 2:
            continue
        places = ", ".join(sorted(f"{o.file or o.kustomization or 'root'}" for o in objects))
        for obj in objects[1:]:
            yield finding("graph/duplicate-kustomization", E, obj,
                          f"Kustomization {namespace}/{name} is defined {len(objects)} times ({places})",
                          "Kustomization names must be unique per cluster: rename one or include the app once")


# ---------------------------------------------------------------- CRD ordering

def _providers(render: ClusterRender, context: RuleContext) -> dict[str, dict[NamespacedName | None, str]]:
    """group/kind → {providing Kustomization (None = root): "crd" | "helm:<chart>"}; group → same for HRs."""
    table = _providers_table(context)
    providers: dict[str, dict[NamespacedName | None, str]] = {}
    for obj in render.objects:
        if obj.kind == "CustomResourceDefinition" and group_of(obj) == "apiextensions.k8s.io":
            group = text(dig(obj.body, "spec", "group"))
            kind = text(dig(obj.body, "spec", "names", "kind"))
            providers.setdefault(f"{group}/{kind}", {})[parse_key(obj.kustomization)] = "crd"
    groups_used = {group_of(o) for o in render.objects} - BUILTIN_GROUPS
    for release in helm_releases(render):
        for group, charts in table.items():
            if release.chart in charts:
                providers.setdefault(group, {}).setdefault(parse_key(release.kustomization), f"helm:{release.chart}")
        stem = release.chart
        for suffix in ("-operator", "-crds", "-controller", "-crd"):
            stem = stem.removesuffix(suffix)
        for group in groups_used - set(table):
            if stem and stem in group.split("."):  # e.g. chart kyverno for kyverno.io (foreign repositories)
                providers.setdefault(group, {}).setdefault(parse_key(release.kustomization), f"helm:{release.chart}")
    return providers


@rule("graph/crd-order", E, "a custom resource is applied before the Kustomization that provides its CRD")
def crd_order(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    bootstrap = _bootstrap(context) | set(render.provided_crd_groups)  # what the repository's bootstrap installs
    providers = _providers(render, context)
    # not rendered offline, or rendered without its remote bases (never fetched): either may provide a CRD
    unbuilt = {key for key, node in render.kustomizations.items()
               if not is_built(node) or any(note.kind == "remote-resource" for note in node.notes)}
    before_cache: dict[NamespacedName | None, set[NamespacedName]] = {}
    for obj in render.objects:
        group = group_of(obj)
        if group in BUILTIN_GROUPS or group in bootstrap or not obj.kind or "." not in group:
            continue
        where = parse_key(obj.kustomization)
        candidates = {**providers.get(group, {}), **providers.get(f"{group}/{obj.kind}", {})}
        if where not in before_cache:
            before_cache[where] = applied_before(render, where) if where is not None else set()
        before = before_cache[where]
        if not candidates and any(key in unbuilt for key in before):
            continue  # a Kustomization it waits for is not rendered offline (remote source): it may provide it
        if not candidates:
            yield finding("graph/crd-order", E, obj,
                          f"no Kustomization on cluster {render.cluster} provides the CRD of {obj.kind} ({group})",
                          "add the CRDs (or the HelmRelease that installs them) to a Kustomization this one dependsOn, "
                          "or list the group in bootstrap/crds.yaml")
            continue
        reachable = {provider: how for provider, how in candidates.items()
                     if provider in before or (provider == where and how == "crd")}
        if any(how == "crd" or _declares_readiness(render, provider) for provider, how in reachable.items()):
            continue
        if reachable:
            names = ", ".join(sorted(str(p) if p else "root" for p in reachable))
            yield finding("graph/crd-order", E, obj,
                          f"{obj.kind} ({group}) waits for {names}, whose HelmRelease installs the CRD, but {names} "
                          "declares no readiness: it is Ready as soon as the HelmRelease object is applied",
                          "give the provider Kustomization healthChecks (the chart's Deployment or the HelmRelease) "
                          "or wait: true")
            continue
        names = ", ".join(sorted(str(p) if p else "root" for p in candidates))
        same = where in candidates
        message = (f"{obj.kind} ({group}) is applied in the same Kustomization as the HelmRelease that installs its "
                   "CRD: the dry-run fails before the chart is installed" if same else
                   f"{obj.kind} ({group}) is applied before its CRD: provided by {names}, which "
                   f"{obj.kustomization or 'the root sync'} does not depend on")
        target = next(iter(sorted((str(p) for p in candidates if p and p != where), key=str)), names)
        hint = (f"move the custom resources to their own Kustomization with dependsOn: {target}"
                if same else f"add dependsOn: {target} (directly or through a parent)")
        yield finding("graph/crd-order", E, obj, message, hint)


def _declares_readiness(render: ClusterRender, key: NamespacedName | None) -> bool:
    node = render.kustomizations.get(key) if key is not None else None
    if node is None:
        return True  # the root or unknown: nothing to check
    spec = node.spec
    return spec.get("wait") is True or bool(as_list(spec.get("healthChecks"))) or \
        bool(as_list(spec.get("healthCheckExprs")))


# ---------------------------------------------------------------- health checks

@rule("graph/health-check-missing", E, "a Kustomization health check targets an object the cluster does not render")
def health_check_missing(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    index = index_objects(render)
    by_name: dict[tuple[str, str, str], list[str]] = {}
    unknown = any(not is_built(n) for n in render.kustomizations.values())
    for (group, kind, namespace, name) in index:
        by_name.setdefault((group, kind, name), []).append(namespace)
    release_namespaces = {r.release_namespace for r in helm_releases(render)}
    custom: dict[str, set[str]] = {}
    for (group, _, namespace, name) in index:
        if namespace and group not in BUILTIN_GROUPS and not group.endswith("toolkit.fluxcd.io"):
            custom.setdefault(namespace, set()).add(name)
    for node in render.ordered_kustomizations():
        if not is_built(node):
            continue  # remote or failed build: what it creates is unknown offline
        default_namespace = text(node.spec.get("targetNamespace"))
        for check in as_list(node.spec.get("healthChecks")):
            check = as_dict(check)
            api_version = text(check.get("apiVersion"))
            kind, name = text(check.get("kind")), text(check.get("name"))
            namespace = text(check.get("namespace")) or default_namespace
            if not kind or not name or is_unresolved(f"{api_version}{kind}{name}{namespace}"):
                continue
            group = api_version.split("/", 1)[0] if "/" in api_version else ""
            if (group, kind, namespace, name) in index or (not namespace and (group, kind, name) in by_name):
                continue
            if kind == "Kustomization" and group == FLUX_KUSTOMIZATION[0] and \
                    NamespacedName(namespace or node.key.namespace, name) in render.kustomizations:
                continue
            if namespace in release_namespaces and group not in ("helm.toolkit.fluxcd.io",):
                continue  # created by a HelmRelease whose chart is not rendered offline
            if group in BUILTIN_GROUPS and any(name.startswith(owner) for owner in custom.get(namespace, ())):
                continue  # created by an operator from a custom resource (children are named after it)
            elsewhere = sorted(by_name.get((group, kind, name), []))
            if not elsewhere and unknown and _created_by_unbuilt(render, node, namespace):
                continue
            hint = (f"it is rendered in namespace {', '.join(elsewhere)}: fix the namespace" if elsewhere
                    else "point the health check at an object this Kustomization (or its HelmRelease) creates")
            where = f"{namespace}/{name}" if namespace else name
            yield node_finding("graph/health-check-missing", E, node,
                               f"healthCheck {kind} {where} ({api_version}) is not rendered on cluster "
                               f"{render.cluster}", hint, render=render)


def _created_by_unbuilt(render: ClusterRender, node: KustomizationNode, namespace: str) -> bool:
    """An unbuilt Kustomization (remote source) might create the target: one it depends on, or one
    deploying into the same namespace."""
    before = applied_before(render, node.key)
    for other in render.kustomizations.values():
        if is_built(other) or other.key == node.key:
            continue
        if other.key in before or text(other.spec.get("targetNamespace")) == namespace:
            return True
    return False


# ---------------------------------------------------------------- references

def _reference(obj: RenderedObject, message: str, hint: str) -> Finding:
    return finding("graph/reference-missing", E, obj, message, hint)


def _exists(index: dict[tuple[str, str, str, str], list[RenderedObject]], group: str, kind: str,
            namespace: str, name: str) -> bool:
    return (group, kind, namespace, name) in index


def _namespaces_of(index: dict[tuple[str, str, str, str], list[RenderedObject]], group: str, kind: str,
                   name: str) -> list[str]:
    return sorted({key[2] for key in index if key[0] == group and key[1] == kind and key[3] == name})


def _operator_sync_sources(render: ClusterRender) -> set[tuple[str, str, str]]:
    """Sources a FluxInstance with `spec.sync` creates in the cluster (kind, namespace, name)."""
    created: set[tuple[str, str, str]] = set()
    for obj in render.objects:
        if obj.is_kind("fluxcd.controlplane.io", "FluxInstance"):
            sync = as_dict(dig(obj.body, "spec", "sync"))
            if sync:
                namespace = obj.namespace or "flux-system"
                created.add((text(sync.get("kind")) or "GitRepository", namespace,
                             text(sync.get("name")) or namespace))
    return created


@rule("graph/reference-missing", E, "sourceRef/chartRef/secretStoreRef/issuerRef missing or in the wrong namespace")
def reference_missing(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    index = index_objects(render)
    operator_sources = _operator_sync_sources(render)
    for node in render.ordered_kustomizations():
        if is_synthetic(node):
            continue
        ref = as_dict(node.spec.get("sourceRef"))
        kind, name = text(ref.get("kind")), text(ref.get("name"))
        namespace = text(ref.get("namespace")) or node.key.namespace
        if kind and name and not is_unresolved(name + namespace) and \
                not _exists(index, SOURCE_GROUP, kind, namespace, name) and \
                (kind, namespace, name) not in operator_sources:
            elsewhere = _namespaces_of(index, SOURCE_GROUP, kind, name)
            hint = (f"it exists in namespace {', '.join(elsewhere)}: set sourceRef.namespace" if elsewhere
                    else "define the source in git (or via FluxInstance.spec.sync) or fix the name")
            yield node_finding("graph/reference-missing", E, node,
                               f"sourceRef {kind} {namespace}/{name} is not rendered on cluster {render.cluster}",
                               hint, render=render)
    for obj in render.objects:
        group = group_of(obj)
        if obj.kind == "HelmRelease" and group == "helm.toolkit.fluxcd.io":
            yield from _helm_release_refs(obj, index)
        elif obj.kind == "ExternalSecret" and group == "external-secrets.io":
            yield from _store_ref(obj, index, as_dict(obj.spec.get("secretStoreRef")), "spec.secretStoreRef")
            for i, item in enumerate(as_list(obj.spec.get("dataFrom")) + as_list(obj.spec.get("data"))):
                store = as_dict(dig(item, "sourceRef", "storeRef"))
                if store:
                    yield from _store_ref(obj, index, store, f"sourceRef.storeRef[{i}]")
        elif obj.kind == "ClusterExternalSecret" and group == "external-secrets.io":
            store = as_dict(dig(obj.spec, "externalSecretSpec", "secretStoreRef"))
            if store and (text(store.get("kind")) or "SecretStore") == "ClusterSecretStore":
                yield from _store_ref(obj, index, store, "spec.externalSecretSpec.secretStoreRef")
        elif obj.kind == "Certificate" and group == "cert-manager.io":
            yield from _issuer_ref(obj, index, as_dict(obj.spec.get("issuerRef")), "spec.issuerRef")
        annotations = annotations_of(obj.body)
        for key, issuer_kind in (("cert-manager.io/cluster-issuer", "ClusterIssuer"),
                                 ("cert-manager.io/issuer", "Issuer")):
            if annotations.get(key):
                yield from _issuer_ref(obj, index, {"name": annotations[key], "kind": issuer_kind},
                                       f"annotation {key}")


def _helm_release_refs(obj: RenderedObject, index: dict[tuple[str, str, str, str], list[RenderedObject]]
                       ) -> Iterator[Finding]:
    chart_ref = as_dict(obj.spec.get("chartRef"))
    if chart_ref:
        kind, name = text(chart_ref.get("kind")), text(chart_ref.get("name"))
        explicit = text(chart_ref.get("namespace"))
        namespace = explicit or obj.namespace
        if not name or is_unresolved(name + namespace):
            return
        if explicit and explicit != obj.namespace and kind == "OCIRepository":
            yield _reference(obj, f"chartRef points to OCIRepository {explicit}/{name} in another namespace",
                             f"keep the OCIRepository next to its HelmRelease in namespace {obj.namespace}")
            return
        if not _exists(index, SOURCE_GROUP, kind, namespace, name):
            elsewhere = _namespaces_of(index, SOURCE_GROUP, kind, name)
            hint = (f"it is in namespace {', '.join(elsewhere)}: move it next to the HelmRelease "
                    f"(namespace {obj.namespace})" if elsewhere else
                    f"add an {kind or 'OCIRepository'} {name} in namespace {namespace} or fix chartRef.name")
            yield _reference(obj, f"chartRef {kind} {namespace}/{name} is not rendered on cluster {obj.cluster}",
                             hint)
    source = as_dict(dig(obj.spec, "chart", "spec", "sourceRef"))
    if source:
        kind, name = text(source.get("kind")), text(source.get("name"))
        namespace = text(source.get("namespace")) or obj.namespace
        if name and not is_unresolved(name + namespace) and not _exists(index, SOURCE_GROUP, kind, namespace, name):
            elsewhere = _namespaces_of(index, SOURCE_GROUP, kind, name)
            hint = (f"it is in namespace {', '.join(elsewhere)}: set sourceRef.namespace" if elsewhere
                    else f"add the {kind} or fix spec.chart.spec.sourceRef")
            yield _reference(obj, f"chart sourceRef {kind} {namespace}/{name} is not rendered on cluster "
                             f"{obj.cluster}", hint)


def _scoped_ref(obj: RenderedObject, index: dict[tuple[str, str, str, str], list[RenderedObject]], group: str,
                kind: str, name: str, where: str, kinds: tuple[str, str], fix: str, missing_hint: str
                ) -> Iterator[Finding]:
    """A reference to a namespaced kind or its cluster-scoped twin (SecretStore/ClusterSecretStore, ...)."""
    namespaced, clusterwide = kinds
    if not name or is_unresolved(name):
        return
    namespace = "" if kind == clusterwide else obj.namespace
    if _exists(index, group, kind, namespace, name):
        return
    other = namespaced if kind == clusterwide else clusterwide
    other_namespace = "" if other == clusterwide else obj.namespace
    elsewhere = _namespaces_of(index, group, kind, name) if kind == namespaced else []
    if _exists(index, group, other, other_namespace, name):
        hint = f"{name} is a {other}: {fix.format(other=other)}"
    elif elsewhere:
        hint = (f"{namespaced} {name} lives in {', '.join(elsewhere)}; a {namespaced} only serves its own "
                f"namespace — use a {clusterwide}")
    else:
        hint = missing_hint
    where_text = f"{namespace}/{name}" if namespace else name
    yield _reference(obj, f"{where} {kind} {where_text} is not rendered on cluster {obj.cluster}", hint)


def _store_ref(obj: RenderedObject, index: dict[tuple[str, str, str, str], list[RenderedObject]],
               ref: dict[str, Any], where: str) -> Iterator[Finding]:
    yield from _scoped_ref(obj, index, "external-secrets.io", text(ref.get("kind")) or "SecretStore",
                           text(ref.get("name")), where, ("SecretStore", "ClusterSecretStore"),
                           f"set {where}.kind: {{other}}",
                           "create the store or reference the platform ClusterSecretStore (${SECRET_STORE_NAME})")


def _issuer_ref(obj: RenderedObject, index: dict[tuple[str, str, str, str], list[RenderedObject]],
                ref: dict[str, Any], where: str) -> Iterator[Finding]:
    if (text(ref.get("group")) or "cert-manager.io") != "cert-manager.io":
        return
    yield from _scoped_ref(obj, index, "cert-manager.io", text(ref.get("kind")) or "Issuer", text(ref.get("name")),
                           where, ("Issuer", "ClusterIssuer"), "set the kind to {other}",
                           "create the issuer or reference an existing ClusterIssuer")


# ---------------------------------------------------------------- OCI

UNPINNED = {"", "latest", "*"}


@rule("graph/oci-unpinned", E, "a chart source is not pinned (no tag/semver/digest, latest, or no chart version)")
def oci_unpinned(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    for obj in render.objects:
        if obj.is_kind(SOURCE_GROUP, "OCIRepository"):
            ref = as_dict(obj.spec.get("ref"))
            digest, semver, tag = text(ref.get("digest")), text(ref.get("semver")), text(ref.get("tag"))
            if digest:
                continue
            if semver and semver.strip() not in UNPINNED:
                continue
            if tag and tag.strip() not in UNPINNED:
                continue
            shown = tag or semver or "none"
            yield finding("graph/oci-unpinned", E, obj,
                          f"OCIRepository {obj.namespace}/{obj.name} is not pinned (ref: {shown})",
                          "pin spec.ref.tag to a released chart version (or spec.ref.digest), never latest")
        elif obj.is_kind("helm.toolkit.fluxcd.io", "HelmRelease"):
            chart = as_dict(dig(obj.spec, "chart", "spec"))
            if chart and text(dig(chart, "sourceRef", "kind")) in ("HelmRepository", ""):
                version = text(chart.get("version")).strip()
                if version in UNPINNED:
                    yield finding("graph/oci-unpinned", E, obj,
                                  f"HelmRelease chart {text(chart.get('chart'))} has no pinned version "
                                  f"(version: {version or 'unset'})",
                                  "set spec.chart.spec.version to a released chart version")


def _oci_chart_missing(url: str) -> bool:
    path = url.removeprefix("oci://").rstrip("/")
    if "/" not in path:
        return True
    last = path.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    return last in {"charts", "helm", "helm-charts", "charts-mirror", "library"}


@rule("graph/oci-url", E, "OCI URL problems: not oci://, chart name missing or duplicated")
def oci_url(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    index = index_objects(render)
    for obj in render.objects:
        if obj.is_kind(SOURCE_GROUP, "OCIRepository"):
            url = text(obj.spec.get("url"))
            if is_unresolved(url):
                continue
            if not url.startswith("oci://"):
                yield finding("graph/oci-url", E, obj, f"OCIRepository url {url!r} does not start with oci://",
                              "write the artifact URL as oci://<registry>/<path>/<chart>")
            elif ":" in url.removeprefix("oci://").split("/", 1)[-1]:
                yield finding("graph/oci-url", E, obj, f"OCIRepository url {url!r} carries a tag",
                              "put the version in spec.ref.tag, not in the URL")
        elif obj.is_kind(SOURCE_GROUP, "HelmRepository"):
            url = text(obj.spec.get("url"))
            oci_type = text(obj.spec.get("type")) == "oci"
            if is_unresolved(url):
                continue
            if oci_type and not url.startswith("oci://"):
                yield finding("graph/oci-url", E, obj, f"HelmRepository of type oci has url {url!r}",
                              "OCI Helm repositories use oci://<registry>/<path>")
            elif not oci_type and url.startswith("oci://"):
                yield finding("graph/oci-url", E, obj, f"HelmRepository url {url!r} is OCI but type is not oci",
                              "set spec.type: oci (or better: an OCIRepository + chartRef)")
        elif obj.is_kind("helm.toolkit.fluxcd.io", "HelmRelease"):
            yield from _release_oci(obj, index)


def _release_oci(obj: RenderedObject, index: dict[tuple[str, str, str, str], list[RenderedObject]]
                 ) -> Iterator[Finding]:
    chart_ref = as_dict(obj.spec.get("chartRef"))
    if text(chart_ref.get("kind")) == "OCIRepository":
        namespace = text(chart_ref.get("namespace")) or obj.namespace
        for source in index.get((SOURCE_GROUP, "OCIRepository", namespace, text(chart_ref.get("name"))), []):
            url = text(source.spec.get("url"))
            if url.startswith("oci://") and not is_unresolved(url) and _oci_chart_missing(url):
                yield finding("graph/oci-url", E, obj,
                              f"chartRef OCIRepository {namespace}/{source.name} url {url!r} has no chart name",
                              "an OCIRepository for a chart points at the chart itself: "
                              f"{url.rstrip('/')}/<chart>")
    chart_spec = as_dict(dig(obj.spec, "chart", "spec"))
    source_ref = as_dict(chart_spec.get("sourceRef"))
    if text(source_ref.get("kind")) != "HelmRepository":
        return
    chart = text(chart_spec.get("chart"))
    namespace = text(source_ref.get("namespace")) or obj.namespace
    for repository in index.get((SOURCE_GROUP, "HelmRepository", namespace, text(source_ref.get("name"))), []):
        if text(repository.spec.get("type")) != "oci":
            continue
        url = text(repository.spec.get("url")).rstrip("/")
        if chart.startswith("oci://") or "/" in chart:
            yield finding("graph/oci-url", E, obj,
                          f"chart {chart!r} is a path; with an OCI HelmRepository the chart is only its name",
                          f"set spec.chart.spec.chart: {chart.rstrip('/').rsplit('/', 1)[-1]}")
        elif chart and url.rsplit("/", 1)[-1] == chart:
            yield finding("graph/oci-url", E, obj,
                          f"HelmRepository {namespace}/{repository.name} url {url!r} already ends with the chart "
                          f"name {chart!r}: Flux would pull {url}/{chart}",
                          f"drop /{chart} from the HelmRepository url (or use an OCIRepository with chartRef)")


