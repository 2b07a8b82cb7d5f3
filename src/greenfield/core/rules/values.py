"""HelmRelease values against the chart that consumes them (charts rendered locally only).

- `values/schema`: the chart's values.schema.json rejects the values: helm (and helm-controller) fails the
  install before templating anything.
- `values/unknown-key`: a values key no template of the chart reads and its values.yaml does not have: helm
  ignores it silently (a typo, or a key of another chart version), like flate's stale-values check.
"""

from __future__ import annotations

from collections.abc import Iterator

from greenfield.core.findings import Finding, Severity
from greenfield.core.model import ClusterRender
from greenfield.core.rules.base import RuleContext, rule

E, W = Severity.ERROR, Severity.WARNING
SCHEMA_FAILURE = "values don't meet the specifications of the schema"
SHOWN = 8


def _release_label(key: object) -> str:
    namespace, _, name = str(key).partition("/")
    return f"HelmRelease/{namespace}/{name}"


@rule("values/schema", E, "HelmRelease values that the chart's values.schema.json rejects (helm fails the release)")
def values_schema(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    for info in render.helm_releases.values():
        if SCHEMA_FAILURE not in info.chart_error:
            continue
        problems = [line.strip().lstrip("- ").strip() for line in info.chart_error.splitlines()
                    if line.strip().startswith("- ")]
        chart = info.chart_path or info.chart or "?"
        yield Finding("values/schema", E,
                      f"the values do not match {chart} {info.version}'s values.schema.json, helm fails the release: "
                      f"{'; '.join(problems) or info.chart_error.splitlines()[-1]}",
                      render.cluster, info.kustomization, _release_label(info.key), info.file,
                      hint="fix the values named (helm template with the same values shows the same error)")


@rule("values/unknown-key", W, "HelmRelease values keys the chart never reads (not in its templates or values.yaml)")
def unknown_key(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    for info in render.helm_releases.values():
        if not info.unknown_values:
            continue
        chart = info.chart_path or info.chart or "?"
        shown = ", ".join(info.unknown_values[:SHOWN])
        more = f" (and {len(info.unknown_values) - SHOWN} more)" if len(info.unknown_values) > SHOWN else ""
        yield Finding("values/unknown-key", W,
                      f"values {shown}{more} are not read by chart {chart} {info.version} (no template reads them, "
                      "not in its values.yaml): helm ignores them", render.cluster, info.kustomization,
                      _release_label(info.key), info.file,
                      hint="remove them or use the chart's key (see its values.yaml)")
