"""Substitution rules: postBuild variables that Flux would expand wrongly, or not at all."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

from greenfield.core import substitution as subst
from greenfield.core.findings import Finding, Severity
from greenfield.core.model import FLUX_KUSTOMIZATION, ClusterRender
from greenfield.core.rules.base import RuleContext, rule
from greenfield.core.rules.build import _notes

E, W = Severity.ERROR, Severity.WARNING
_REFERENCE = re.compile(r"(?<!\$)\$\{([_A-Za-z][_A-Za-z0-9]*)(?=[}:=,^/#%])")


@rule("substitution/undefined-variable", E, "a ${VAR} without default is not defined for the cluster")
def undefined_variable(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    for item in _notes(render, ("undefined-variable",), "substitution/undefined-variable", E):
        if "Flux fails" not in item.message:  # without the strict feature gate Flux applies an empty string
            item = replace(item, severity=context.severity(W))
        yield _with_hint(item, "define it in platform.yaml settings (then `greenfield settings render`), in "
                               "postBuild.substitute, or give a default: ${VAR:=value}")


@rule("substitution/runtime-placeholder", E, "a runtime ${...} (script, dashboard, template) is not escaped")
def runtime_placeholder(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    for item in _notes(render, ("runtime-placeholder",), "substitution/runtime-placeholder", context.severity(W)):
        yield _with_hint(item, "escape it as $${...}, or annotate the object "
                               "kustomize.toolkit.fluxcd.io/substitute: disabled")


@rule("substitution/syntax", E, "a ${...} expression Flux cannot parse (the Kustomization fails)")
def syntax(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    for item in _notes(render, ("substitution-syntax",), "substitution/syntax", E):
        yield _with_hint(item, "use ${VAR}, ${VAR:=default} or escape a literal as $${...}")


@rule("substitution/invalid-yaml", E, "an object is no longer valid YAML after substitution")
def invalid_yaml(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    for item in _notes(render, ("substitution-invalid-yaml",), "substitution/invalid-yaml", E):
        yield _with_hint(item, "quote the field that receives the variable, e.g. key: \"${VAR}\", or fix the "
                               "variable's value")


@rule("substitution/invalid-variable-name", E, "a substitution variable name Flux rejects (whole build fails)")
def invalid_variable_name(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    yield from _notes(render, ("invalid-variable-name",), "substitution/invalid-variable-name", E)


@rule("substitution/emptied-value", W, "a field became empty or null after substitution")
def emptied_value(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    for item in _notes(render, ("emptied-value",), "substitution/emptied-value", W):
        yield _with_hint(item, "give the variable a value (or a non-empty default) for this cluster")


@rule("substitution/leftover", W, "`${` remains after substitution (a variable value holds a reference)")
def leftover(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    for item in _notes(render, ("leftover",), "substitution/leftover", W):
        yield _with_hint(item, "values are not expanded recursively: put the final value in the variable")


@rule("substitution/not-substituted", W, "a cluster variable is used in a Kustomization that does not substitute")
def not_substituted(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    known = set(context.settings.get(render.cluster, {}))
    for node in render.kustomizations.values():
        known.update(node.substitutions)
    if not known:
        return
    for node in render.ordered_kustomizations():
        if node.substitutions or not node.built:
            continue
        for obj in node.objects:
            if subst.is_disabled(obj.body) or obj.is_kind(*FLUX_KUSTOMIZATION):
                continue  # a child Kustomization's spec is substituted when the child is built
            names: set[str] = set()
            for _, value in subst.walk_strings(obj.body):
                if "${" in value:
                    names.update(name for name in _REFERENCE.findall(value) if name in known)
            for name in sorted(names):
                yield Finding(
                    rule="substitution/not-substituted", severity=W, cluster=render.cluster,
                    kustomization=obj.kustomization, object=str(obj.id), file=obj.file, line=obj.line,
                    message=f"${{{name}}} is a cluster variable but {node.key if not node.synthetic else 'the entry'}"
                            " has no postBuild substitution: it is applied literally",
                    hint="add postBuild.substituteFrom (cluster-settings) to the Kustomization, or escape it as "
                         "$${...} if it is meant literally")


def _with_hint(item: Finding, hint: str) -> Finding:
    if item.hint:
        return item
    return Finding(rule=item.rule, severity=item.severity, message=item.message, cluster=item.cluster,
                   kustomization=item.kustomization, object=item.object, file=item.file, line=item.line, hint=hint)
