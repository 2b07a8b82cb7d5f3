"""Use case: `greenfield mirror` — air-gap mirroring of a repository's charts.

1. push every packaged chart of the chart folders to an OCI registry (`helm push`, plain HTTP for a
   registry on 127.0.0.1): chart <name> <version> lands at oci://<registry>/<name>:<version>;
2. render each cluster with the engine and write the cluster-root patch (core/mirror.py) that points its
   OCIRepository/HelmRepository objects at the registry. git stays unchanged: the patch belongs to the
   bootstrap (greenfield's `cluster create` applies it to the root Kustomization; with `flux bootstrap` it is
   a patch of flux-system/kustomization.yaml in the bootstrap overlay).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from greenfield.adapters.charts import chart_metadata
from greenfield.adapters.gotools import GoTools
from greenfield.adapters.helm import Helm
from greenfield.core.mirror import MirrorPlan, dump, plan_mirror
from greenfield.core.model import ClusterRender
from greenfield.errors import InputError

DEFAULT_PATH = "charts"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class MirroredChart:
    name: str
    version: str
    file: str
    reference: str  # host:port/path/name:version as helm reported it

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "file": self.file, "reference": self.reference}


@dataclass
class MirrorReport:
    registry: str  # host:port/path, what the patches point at
    charts: list[MirroredChart] = field(default_factory=list)
    plans: dict[str, MirrorPlan] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # cluster -> written patch file

    def to_json(self) -> dict[str, Any]:
        return {"registry": self.registry, "charts": [c.to_json() for c in self.charts],
                "clusters": {name: {"root": str(plan.root) if plan.root else None, "file": self.files.get(name),
                                    "rewrites": [str(r) for r in plan.rewrites], "unmirrored": plan.unmirrored}
                             for name, plan in self.plans.items()}}


def packaged_charts(chart_dirs: Sequence[Path]) -> list[Path]:
    """Every <name>-<version>.tgz directly in the folders (subfolders such as approximate/ are not taken)."""
    found: list[Path] = []
    for folder in chart_dirs:
        if not folder.is_dir():
            raise InputError("not a folder of packaged charts", path=str(folder), hint="pass --chart-dir DIR")
        found += sorted(p for p in folder.glob("*.tgz") if p.is_file())
    return found


def registry_address(registry: str, path: str = DEFAULT_PATH) -> str:
    host = registry.removeprefix("oci://").rstrip("/")
    if not host or "/" in host.split(":", 1)[0]:
        raise InputError(f"not a registry address: {registry!r}", path="--registry", hint="HOST:PORT, e.g. 127.0.0.1:5000")
    return f"{host}/{path.strip('/')}" if path.strip("/") else host


def push_charts(charts: Sequence[Path], address: str, *, tools: GoTools | None = None, plain_http: bool = True,
                progress: Progress | None = None) -> list[MirroredChart]:
    """helm push every chart to oci://<address> (host:port/path)."""
    say = progress or (lambda _m: None)
    helm = Helm(str((tools or GoTools()).binary("helm")))
    pushed = []
    with tempfile.TemporaryDirectory(prefix="greenfield-mirror-helm-") as home:
        for chart in charts:
            meta = chart_metadata(chart)
            if not meta.get("name"):
                raise InputError("not a packaged chart (no Chart.yaml)", path=str(chart))
            say(f"helm push {chart.name}")
            reference = helm.push(chart, f"oci://{address}", home=Path(home), plain_http=plain_http)
            pushed.append(MirroredChart(str(meta["name"]), str(meta.get("version", "")), str(chart), reference))
    return pushed


def patch_document(render: ClusterRender, plan: MirrorPlan) -> dict[str, Any]:
    """The root Kustomization merge patch: the root's own spec.patches (from git) then the mirror's."""
    root = render.kustomizations.get(plan.root) if plan.root else None
    existing = list((root.spec.get("patches") or []) if root else [])
    return plan.root_patch_document(existing)


def write_patch(path: Path, render: ClusterRender, plan: MirrorPlan) -> None:
    header = (f"# greenfield mirror: the root Kustomization of cluster {render.cluster} with its chart sources\n"
              "# pointed at the registry mirror. Apply it at bootstrap (server-side, its own field manager) or add it\n"
              "# to the patches of flux-system/kustomization.yaml; the repository's manifests stay unchanged.\n")
    for rewrite in plan.rewrites:
        header += f"#   {rewrite}\n"
    for line in plan.unmirrored:
        header += f"#   left as is: {line}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "---\n" + dump(patch_document(render, plan)), encoding="utf-8")


def render_clusters(repo: Path, clusters: Sequence[str], cluster_paths: Sequence[str]) -> dict[str, ClusterRender]:
    from greenfield.app.validate import ValidateOptions, validate_repository

    report = validate_repository(repo, list(clusters) or None,
                                 ValidateOptions(cluster_paths=list(cluster_paths), schema=False, only_rules=["build"]))
    return report.renders


def mirror(repo: Path, registry: str, chart_dirs: Sequence[Path], *, clusters: Sequence[str] = (),
           cluster_paths: Sequence[str] = (), output: Path | None = None, path: str = DEFAULT_PATH, push: bool = True,
           plain_http: bool = True, tools: GoTools | None = None, progress: Progress | None = None) -> MirrorReport:
    """Push the charts (unless push=False: the registry already holds them), then plan and write one patch
    file per cluster into `output` (<cluster>.yaml) when given."""
    address = registry_address(registry, path)
    report = MirrorReport(address)
    charts = packaged_charts(chart_dirs)
    if push:
        report.charts = push_charts(charts, address, tools=tools, plain_http=plain_http, progress=progress)
    else:
        report.charts = [MirroredChart(str(m.get("name", "")), str(m.get("version", "")), str(c), "")
                         for c in charts if (m := chart_metadata(c))]
    names = {chart.name for chart in report.charts}
    for name, render in render_clusters(repo, clusters, cluster_paths).items():
        plan = plan_mirror(render, address, names, insecure=plain_http)
        report.plans[name] = plan
        if output is not None and plan.root is not None:
            target = output / f"{name}.yaml"
            write_patch(target, render, plan)
            report.files[name] = str(target)
    return report


def load_patch(path: Path) -> dict[str, Any]:
    """A patch file written by `greenfield mirror` (the root Kustomization merge patch)."""
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    except (OSError, yaml.YAMLError) as error:
        raise InputError(f"cannot read the mirror patch: {error}", path=str(path),
                         hint="write it with `greenfield mirror --output DIR`") from error
    if len(documents) != 1 or documents[0].get("kind") != "Kustomization":
        raise InputError("expected one Kustomization document", path=str(path),
                         hint="write it with `greenfield mirror --output DIR`")
    return dict(documents[0])
