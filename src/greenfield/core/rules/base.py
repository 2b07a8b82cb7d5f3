"""The rule registry and the context every rule reads."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
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

    @property
    def house_rules(self) -> bool:
        """The repository opted into our house rules (platform.yaml at its root, or `house_rules: true`)."""
        return self.options.get("house_rules") is True

    def severity(self, model: Severity, house: Severity = Severity.ERROR) -> Severity:
        """The severity of a finding: `model` is what the effect in Flux warrants (README "Severity"); a
        repository with house rules keeps the stricter `house` severity its platform gates rely on."""
        return house if self.house_rules else model


ClusterCheck = Callable[[ClusterRender, RuleContext], Iterable[Finding]]
PlatformCheck = Callable[[RuleContext], Iterable[Finding]]


@dataclass(frozen=True)
class RuleInfo:
    id: str  # "graph/depends-on-missing"
    severity: Severity
    summary: str
    scope: Scope
    check: Callable[..., Iterable[Finding]]
    house: bool = False  # a house rule: runs only where the repository opts in (or names it in `rules:`)


_REGISTRY: dict[str, RuleInfo] = {}


def rule(rule_id: str, severity: Severity, summary: str, scope: Scope = "cluster", house: bool = False) -> Callable[
        [Callable[..., Iterable[Finding]]], Callable[..., Iterable[Finding]]]:
    """Register a check. A "cluster" check is called once per ClusterRender, a "platform" check once. `severity`
    is the rule's highest severity in a repository without house rules; `house` marks a convention of our own
    platform (not a Flux failure) that runs only where the repository opts in."""

    def register(function: Callable[..., Iterable[Finding]]) -> Callable[..., Iterable[Finding]]:
        if rule_id in _REGISTRY and _REGISTRY[rule_id].check is not function:
            raise ValueError(f"rule {rule_id} registered twice")
        _REGISTRY[rule_id] = RuleInfo(rule_id, severity, summary, scope, function, house)
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
    others); platform checks run once either way. House rules run only with `house_rules` (or when `rules:`
    names them); the per-rule overrides of `options["rules"]` apply to what the rules found."""
    prefixes = tuple(only) if only else ()
    overrides = parse_rule_overrides(context.options.get("rules"))
    names = list(context.renders) if clusters is None else list(clusters)
    findings: list[Finding] = []
    for info in all_rules():
        if prefixes and not info.id.startswith(prefixes):
            continue
        if info.house and not context.house_rules and override_for(overrides, info.id) in (None, OFF):
            continue
        if info.scope == "platform":
            findings.extend(info.check(context))
        else:
            for name in names:
                findings.extend(info.check(context.renders[name], context))
    findings = apply_rule_overrides(findings, overrides)
    return sorted(set(findings), key=lambda f: (f.cluster, f.kustomization, f.file, f.line, f.rule, f.message,
                                                f.object, f.severity, f.hint))


# ---------------------------------------------------------------- per-rule overrides

OFF = "off"
Override = Severity | str  # a Severity, or OFF


def parse_rule_overrides(value: Any) -> dict[str, Override]:
    """`rules: {rule-id or prefix/: error|warning|info|off}` (the repository config's shape) checked and typed;
    raises ValueError naming the bad entry."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("rules: must map a rule id (or a prefix ending in '/') to error|warning|info|off")
    parsed: dict[str, Override] = {}
    for key, level in value.items():
        name = str(key).strip()
        wanted = "off" if level is False else str(level).strip().lower()
        if not name:
            raise ValueError("rules: an empty rule id")
        if wanted == OFF:
            parsed[name] = OFF
        elif wanted in {s.value for s in Severity}:
            parsed[name] = Severity(wanted)
        else:
            raise ValueError(f"rules.{name}: {level!r} is not one of error, warning, info, off")
    return parsed


def override_for(overrides: dict[str, Override], rule_id: str) -> Override | None:
    """The override of a rule: its own id wins, else the longest matching prefix ending in '/'."""
    if rule_id in overrides:
        return overrides[rule_id]
    prefixes = [key for key in overrides if key.endswith("/") and rule_id.startswith(key)]
    return overrides[max(prefixes, key=len)] if prefixes else None


def apply_rule_overrides(findings: Iterable[Finding], overrides: dict[str, Override]) -> list[Finding]:
    """Findings with their rule's override applied: dropped when off, re-graded when a severity is given."""
    if not overrides:
        return list(findings)
    result: list[Finding] = []
    for item in findings:
        override = override_for(overrides, item.rule)
        if override == OFF:
            continue
        result.append(replace(item, severity=override) if isinstance(override, Severity) else item)
    return result
