"""The rendered inventory of three fixture repositories, pinned with syrupy snapshots.

Update after an intended engine change with: pytest tests/engine/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.engine.conftest import FIXTURES, run

from greenfield.app.validate import ValidationReport


def inventory(report: ValidationReport) -> dict[str, Any]:
    clusters: dict[str, Any] = {}
    for name, render in report.renders.items():
        clusters[name] = {
            "entry": render.entry,
            "kustomizations": [
                {
                    "key": str(node.key),
                    "parent": str(node.parent) if node.parent else None,
                    "path": node.path,
                    "built": node.built,
                    "generated": node.generated,
                    "synthetic": node.synthetic,
                    "depends_on": [str(d) for d in node.depends_on],
                    "substitutions": dict(sorted(node.substitutions.items())),
                    "inputs": node.inputs,
                    "objects": [f"{obj.id} {obj.file}:{obj.line}" + (" (sops)" if obj.encrypted else "")
                                for obj in node.objects],
                }
                for node in render.ordered_kustomizations()
            ],
            "helm_releases": [
                {"key": str(info.key), "kustomization": info.kustomization, "source": f"{info.source_kind} "
                 f"{info.source}", "url": info.source_url, "chart": info.chart, "version": info.version,
                 "values": info.values}
                for _, info in sorted(render.helm_releases.items())
            ],
            "bodies": {str(obj.id): obj.body for obj in render.objects if obj.kind in ("Deployment", "ConfigMap")},
        }
    return clusters


@pytest.mark.parametrize(("name", "options"), [
    ("basic", {}),
    ("multi", {}),
    ("foreign", {"cluster_paths": ["clusters/production"],
                 "substitute_from": [FIXTURES / "foreign-vars.yaml"]}),
])
def test_rendered_inventory(name: str, options: dict[str, Any], build_cache: Path, snapshot: Any) -> None:
    report = run(FIXTURES / name, build_cache, **options)
    assert inventory(report) == snapshot
