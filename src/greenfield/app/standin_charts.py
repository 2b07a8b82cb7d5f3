"""Stand-in charts for the local target, where upstream charts cannot be fetched.

A stand-in carries the real chart's name and version and renders the release's values into a
ConfigMap (`<release>-greenfield-values`), so phase 2 runs the real helm install/upgrade path with
the exact GitOps values and the handover can be checked (values in the cluster == values in git).
It never pretends to run the component: its ConfigMap says it is a stand-in.
"""

from __future__ import annotations

from pathlib import Path

import yaml

TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-greenfield-values
  namespace: {{ .Release.Namespace }}
  labels:
    greenfield.io/stand-in-chart: "{{ .Chart.Name }}-{{ .Chart.Version }}"
data:
  note: "stand-in for chart {{ .Chart.Name }} {{ .Chart.Version }}: upstream charts cannot be fetched offline"
  values.yaml: |
{{ toYaml .Values | indent 4 }}
"""


def chart_version(version: str) -> str:
    """Helm needs SemVer: upstream tags like `v1.19.1` are stored as 1.19.1 (helm matches both)."""
    return version.lstrip("v")


def build_standin(folder: Path, chart: str, version: str) -> Path:
    """Write an unpacked stand-in chart named `chart` at `version` under folder; returns its path."""
    path = folder / f"{chart}-{chart_version(version)}"
    (path / "templates").mkdir(parents=True, exist_ok=True)
    (path / "Chart.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v2", "name": chart, "version": chart_version(version), "appVersion": version,
        "description": f"greenfield stand-in for {chart} {version} (offline local target)"}), encoding="utf-8")
    (path / "values.yaml").write_text("{}\n", encoding="utf-8")
    (path / "templates" / "values-configmap.yaml").write_text(TEMPLATE, encoding="utf-8")
    return path
