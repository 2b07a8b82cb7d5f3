"""Validation rules. Each rule is a named function over the rendered platform that yields Findings.

Rule modules register themselves with `@rule(...)`; `all_rules()` imports every module of this
package so that the engine runs them all.
"""

from greenfield.core.rules.base import RuleContext, RuleInfo, all_rules, rule, run_rules

__all__ = ["RuleContext", "RuleInfo", "all_rules", "rule", "run_rules"]
