"""Build rules: what stops kustomize-controller from building or applying a Kustomization.

The engine records what it found while building (EngineNote on each KustomizationNode); these rules
turn the notes into findings and add the checks that need the whole cluster (duplicate objects).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from greenfield.core.engine import duplicate_objects
from greenfield.core.findings import Finding, Severity
from greenfield.core.model import FLUX_KUSTOMIZATION, ClusterRender, EngineNote, KustomizationNode, RenderedObject
from greenfield.core.rules._helpers import parse_key
from greenfield.core.rules.base import RuleContext, rule

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO

HINTS = {
    "path-missing": "fix spec.path (relative to the repository root, e.g. ./kubernetes/apps/x/app)",
    "path-not-directory": "spec.path must be a folder",
    "path-ignored": "make the folder a real one (not a symlink) or stop .sourceignore / spec.ignore from "
                    "leaving it out",
    "component-is-file": "point at the component's folder (with kustomization.yaml `kind: Component`)",
    "component-missing": "fix the component path or set spec.ignoreMissingComponents",
    "empty-resources": "list the manifests under resources:, or remove the kustomization from its parent",
    "kustomize": "run `kubectl kustomize <path>` and fix the error it reports",
    "invalid-yaml": "fix the YAML syntax of the file (Flux cannot generate a kustomization for the folder)",
    "entry-missing": "create kubernetes/clusters/<cluster>/ or pass --cluster-path",
    "substitute-from-missing": "render the ConfigMap/Secret in the cluster, set optional: true, or pass "
                               "--substitute-from FILE",
    "external-source": "validate that source separately",
    "remote-resource": "vendor the remote base into the repository to validate it offline",
    "outside-root": "keep every file a kustomization reads inside the repository (`../` may climb only as far "
                    "as the root; no absolute paths, no symlinks)",
}


def _label(node: KustomizationNode) -> str:
    return "" if node.synthetic else str(node.key)


def _notes(render: ClusterRender, kinds: tuple[str, ...], rule_id: str, severity: Severity
           ) -> Iterator[Finding]:
    for note in render.notes:
        if note.kind in kinds:
            yield _finding(rule_id, severity, render, None, note)
    for node in render.kustomizations.values():
        for note in node.notes:
            if note.kind in kinds:
                yield _finding(rule_id, severity, render, node, note)


def _finding(rule_id: str, severity: Severity, render: ClusterRender, node: KustomizationNode | None,
             note: EngineNote) -> Finding:
    obj = note.object
    if not obj and node is not None and not node.synthetic:
        obj = f"Kustomization/{node.key.namespace}/{node.key.name}"
    return Finding(rule=rule_id, severity=severity, message=note.message, cluster=render.cluster,
                   kustomization=_label(node) if node is not None else "", object=obj,
                   file=note.file or (node.file if node is not None else ""), line=note.line,
                   hint=note.hint or HINTS.get(note.kind, ""))


@rule("build/entry-missing", E, "the cluster entry folder does not exist")
def entry_missing(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    yield from _notes(render, ("entry-missing",), "build/entry-missing", E)


@rule("build/path-missing", E, "a Kustomization's spec.path does not exist, is not a folder, or is not in the "
      "source artifact")
def path_missing(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    yield from _notes(render, ("path-missing", "path-not-directory", "path-ignored"), "build/path-missing", E)


@rule("build/component-is-file", E, "a component (spec.components or components:) is a file, not a folder")
def component_is_file(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    yield from _notes(render, ("component-is-file",), "build/component-is-file", E)


@rule("build/component-missing", E, "a spec.components entry does not exist")
def component_missing(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    yield from _notes(render, ("component-missing",), "build/component-missing", E)


@rule("build/empty-resources", W, "a kustomization.yaml has an empty `resources:` and renders nothing")
def empty_resources(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    yield from _notes(render, ("empty-resources",), "build/empty-resources", W)


@rule("build/kustomize-error", E, "kustomize cannot build the Kustomization (its exact message)")
def kustomize_error(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    yield from _notes(render, ("kustomize", "invalid-yaml"), "build/kustomize-error", E)


@rule("build/outside-root", E, "a kustomization reads a file outside the repository root (Flux's secure "
      "filesystem refuses it)")
def outside_root(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    yield from _notes(render, ("outside-root",), "build/outside-root", E)


@rule("build/substitute-from-missing", E, "a postBuild.substituteFrom source is neither rendered nor supplied")
def substitute_from_missing(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    yield from _notes(render, ("substitute-from-missing",), "build/substitute-from-missing", E)


@rule("build/external-source", INFO, "a Kustomization whose source is not this repository (not rendered)")
def external_source(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    yield from _notes(render, ("external-source", "remote-resource"), "build/external-source", INFO)


@rule("build/substitute-from-bootstrap", INFO, "a postBuild.substituteFrom source no Kustomization renders first, "
      "taken from the repository file its bootstrap applies")
def substitute_from_bootstrap(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    yield from _notes(render, ("substitute-from-bootstrap",), "build/substitute-from-bootstrap", INFO)


@rule("build/not-built", INFO, "a Kustomization found but not built, with the reason (parent fails, source unknown)")
def not_built(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    yield from _notes(render, ("not-built", "parent-failed"), "build/not-built", INFO)


@rule("build/duplicate-object", E, "the same object (group/kind/namespace/name) is applied by two Kustomizations")
def duplicate_object(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    """Two Kustomizations applying one object do not fail in Flux (within one build kustomize itself fails: that is
    build/kustomize-error). Each apply takes the object over (its kustomize.toolkit.fluxcd.io/name labels) and
    only the owner prunes it (fluxcd/pkg ssa DeleteAll keeps objects whose owner labels name another
    Kustomization). Identical copies are therefore harmless (info); different copies overwrite each other on
    every reconciliation (warning). Our house rule wants one owner per object (error)."""
    for (group, kind, namespace, name), found in sorted(duplicate_objects(render).items()):
        if (group, kind) == FLUX_KUSTOMIZATION:
            continue  # graph/duplicate-kustomization reports these
        # a Kustomization with spec.kubeConfig (or under one) applies to another cluster: only copies bound for the
        # same cluster meet
        by_target: dict[str, list[RenderedObject]] = {}
        for obj in found:
            by_target.setdefault(_target_cluster(render, obj.kustomization), []).append(obj)
        for objects in by_target.values():
            if len({o.kustomization for o in objects}) > 1 and not _same_chart_crd(objects):
                yield from _duplicates(render, context, kind, namespace, name, objects)


def _target_cluster(render: ClusterRender, kustomization: str) -> str:
    """The kubeConfig secret a Kustomization (or an ancestor) applies through; "" for the cluster itself."""
    key = parse_key(kustomization)
    seen = 0
    while key is not None and key in render.kustomizations and seen < 100:
        node = render.kustomizations[key]
        secret = node.spec.get("kubeConfig")
        if isinstance(secret, dict) and secret:
            reference = secret.get("secretRef") or secret.get("configMapRef")
            name = reference.get("name") if isinstance(reference, dict) else reference
            return f"{key.namespace}/{name}"
        key, seen = node.parent, seen + 1
    return ""


def _duplicates(render: ClusterRender, context: RuleContext, kind: str, namespace: str, name: str,
            objects: list[RenderedObject]) -> Iterator[Finding]:
    owners = sorted({o.kustomization or "(cluster entry)" for o in objects})
    label = f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
    identical = all(_content(o.body) == _content(objects[0].body) for o in objects[1:])
    severity = context.severity(INFO if identical else W)
    effect = ("equal copies (labels and annotations aside): the last one applied owns it, harmless while they "
              "stay equal" if identical else "their copies differ, so each reconciliation overwrites the "
              "other's fields")
    for obj in objects[1:]:
        yield Finding(rule="build/duplicate-object", severity=severity, cluster=render.cluster,
                      kustomization=obj.kustomization, object=label, file=obj.file, line=obj.line,
                      message=f"{label} is applied by {len(owners)} Kustomizations ({', '.join(owners)}): "
                              f"{effect}",
                      hint="keep the object in one Kustomization only (a shared component or a parent)")


def _content(body: dict[str, Any]) -> dict[str, Any]:
    """An object without its labels and annotations (commonMetadata stamps each owner's own: they flip, the
    object's content does not)."""
    metadata = {k: v for k, v in (body.get("metadata") or {}).items() if k not in ("labels", "annotations")}
    return {**body, "metadata": metadata}


def _same_chart_crd(objects: list[RenderedObject]) -> bool:
    """The very same CRD from the crds/ folder of several releases of one chart: helm-controller applies crds/
    files outside the release (install.crds Create skips an existing CRD, CreateReplace replaces it with the
    same content), so the releases do not fight over it and uninstalling one does not delete it."""
    first = objects[0].body
    return all(o.chart_crd and o.body == first for o in objects)


@rule("build/chart-template", E, "a chart rendered locally (repository path or --chart-dir) fails to template")
def chart_template(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    for info in render.helm_releases.values():
        if not info.chart_error or "values don't meet the specifications of the schema" in info.chart_error:
            continue  # values/schema reports those
        chart = info.chart_path or info.chart or "?"
        where = f" ({info.chart_file})" if info.chart_file and info.chart_file != chart else ""
        yield Finding("build/chart-template", E, f"chart {chart}{where} fails to template: {info.chart_error}",
                      render.cluster, info.kustomization, f"HelmRelease/{info.key.namespace}/{info.key.name}",
                      info.file, hint="fix the chart template or the values; `helm template` shows the same error")


@rule("build/chart-missing", W, "with require_charts: a HelmRelease's chart is not available locally")
def chart_missing(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    if not context.options.get("require_charts"):
        return
    for info in render.helm_releases.values():
        if info.rendered or info.chart_error:
            continue
        chart = info.chart_path or info.chart or "?"
        reason = info.chart_skipped or "not available locally"
        yield Finding("build/chart-missing", W,
                      f"chart {chart}{' ' + info.version if info.version else ''} is {reason}: its objects are "
                      "not validated", render.cluster, info.kustomization,
                      f"HelmRelease/{info.key.namespace}/{info.key.name}", info.file,
                      hint="pass --chart-dir DIR holding <name>-<version>.tgz (helm pull) or <name>-<version>/")
