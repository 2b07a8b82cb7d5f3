"""The rule registry and the context every rule reads."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from greenfield.core.findings import Finding, Severity
from greenfield.core.inventory import Inventory
from greenfield.core.model import ClusterRender

Scope = Literal["cluster", "platform"]


@dataclass
class RuleContext:
    """What rules may read. Rules never do I/O: everything they need is in here."""

    renders: dict[str, ClusterRender]  # cluster name -> what Flux would apply there
    inventory: Inventory | None = None  # None when validating a foreign repository without platform.yaml
    settings: dict[str, dict[str, str]] = field(default_factory=dict)  # cluster -> substitution variables
    options: dict[str, Any] = field(default_factory=dict)  # e.g. {"privileged_allowlist": [...]}


ClusterCheck = Callable[[ClusterRender, RuleContext], Iterable[Finding]]
PlatformCheck = Callable[[RuleContext], Iterable[Finding]]


@dataclass(frozen=True)
class RuleInfo:
    id: str  # "graph/depends-on-missing"
    severity: Severity
    summary: str
    scope: Scope
    check: Callable[..., Iterable[Finding]]


_REGISTRY: dict[str, RuleInfo] = {}


def rule(rule_id: str, severity: Severity, summary: str, scope: Scope = "cluster") -> Callable[
        [Callable[..., Iterable[Finding]]], Callable[..., Iterable[Finding]]]:
    """Register a check. A "cluster" check is called once per ClusterRender, a "platform" check once."""

    def register(function: Callable[..., Iterable[Finding]]) -> Callable[..., Iterable[Finding]]:
        if rule_id in _REGISTRY and _REGISTRY[rule_id].check is not function:
            raise ValueError(f"rule {rule_id} registered twice")
        _REGISTRY[rule_id] = RuleInfo(rule_id, severity, summary, scope, function)
        return function

    return register


def all_rules() -> list[RuleInfo]:
    import greenfield.core.rules as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name != "base":
            importlib.import_module(f"{package.__name__}.{module.name}")
    return sorted(_REGISTRY.values(), key=lambda info: info.id)


def run_rules(context: RuleContext, only: Iterable[str] | None = None, clusters: Iterable[str] | None = None
              ) -> list[Finding]:
    """Run every registered rule (or those whose id starts with one of `only`). With `clusters`, cluster
    checks run for those clusters only (the context keeps every render: cross-cluster checks still see the
    others); platform checks run once either way."""
    prefixes = tuple(only) if only else ()
    names = list(context.renders) if clusters is None else list(clusters)
    findings: list[Finding] = []
    for info in all_rules():
        if prefixes and not info.id.startswith(prefixes):
            continue
        if info.scope == "platform":
            findings.extend(info.check(context))
        else:
            for name in names:
                findings.extend(info.check(context.renders[name], context))
    return sorted(set(findings), key=lambda f: (f.cluster, f.kustomization, f.file, f.line, f.rule, f.message,
                                                f.object, f.severity, f.hint))
