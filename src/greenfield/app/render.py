"""Render clusters: the I/O side of the engine (which clusters, entry folders, local sources, kustomize)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenfield.adapters import yamlio
from greenfield.adapters.kustomize import Kustomizer
from greenfield.adapters.render_memo import RenderMemo
from greenfield.app.prefetch import DEFAULT_WORKERS, Prefetch, default_cache_dir, stale_requests, write_index
from greenfield.core.engine import EngineOptions, render_cluster
from greenfield.core.inventory import Inventory
from greenfield.core.model import ClusterRender
from greenfield.errors import GreenfieldError, InputError

CLUSTERS_DIR = "kubernetes/clusters"


@dataclass
class ClusterTarget:
    name: str
    entry: str  # repository-relative folder


@dataclass
class RenderOptions:
    cluster_paths: list[str] = field(default_factory=list)  # --cluster-path (repository-relative or absolute)
    substitute_from: list[Path] = field(default_factory=list)
    cache_dir: Path | None = None
    use_cache: bool = True
    strict: bool = False
    workers: int = DEFAULT_WORKERS
    chart_dirs: list[Path] = field(default_factory=list)  # --chart-dir: charts supplied locally
    approximate_chart_dirs: list[Path] = field(default_factory=list)  # of those, folders of approximate charts
    kube_version: str = ""  # helm template --kube-version
    render_charts: bool = True
    prefetch: Prefetch | None = None  # builds started before the run got here (the CLI starts it first thing)


def _relative(repo: Path, path: str) -> str:
    candidate = Path(path)
    absolute = candidate if candidate.is_absolute() else (repo / candidate)
    try:
        relative = absolute.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError as error:
        raise InputError("cluster path is outside the repository", path=path,
                         hint="pass a folder inside --repo") from error
    return "" if relative == "." else relative


def select_clusters(repo: Path, inventory: Inventory | None, clusters: list[str], cluster_paths: list[str]
                    ) -> list[ClusterTarget]:
    """--cluster names, else enabled clusters of platform.yaml, else folders of kubernetes/clusters, else paths."""
    targets: list[ClusterTarget] = []
    for path in cluster_paths:
        relative = _relative(repo, path)
        targets.append(ClusterTarget(Path(relative).name or "root", relative))
    if clusters:
        for name in clusters:
            if any(t.name == name for t in targets):
                continue
            if inventory is not None and name not in inventory.clusters:
                raise InputError(f"unknown cluster {name!r}", path="platform.yaml",
                                 hint=f"known clusters: {', '.join(sorted(inventory.clusters))}")
            entry = f"{CLUSTERS_DIR}/{name}"
            if inventory is None and not (repo / entry).is_dir():
                raise InputError(f"no folder {entry}", path=str(repo), hint="pass --cluster-path PATH")
            targets.append(ClusterTarget(name, entry))
        return [t for t in targets if t.name in clusters or t.entry in {_relative(repo, p) for p in cluster_paths}]
    if cluster_paths:
        return targets
    if inventory is not None:
        return [ClusterTarget(name, f"{CLUSTERS_DIR}/{name}") for name in sorted(inventory.enabled_clusters())]
    folder = repo / CLUSTERS_DIR
    if folder.is_dir():
        found = [ClusterTarget(p.name, f"{CLUSTERS_DIR}/{p.name}") for p in sorted(folder.iterdir()) if p.is_dir()]
        if found:
            return found
    raise InputError("no cluster to validate", path=str(repo),
                     hint="add platform.yaml, kubernetes/clusters/<cluster>/, or pass --cluster-path PATH")


def load_sources(files: list[Path]) -> list[dict[str, Any]]:
    """ConfigMaps and Secrets supplied with --substitute-from (objects that only exist in the cluster)."""
    sources: list[dict[str, Any]] = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as error:
            raise InputError(f"cannot read: {error.strerror or error}", path=str(file)) from error
        for document in yamlio.load_documents(text, str(file)):
            if isinstance(document, dict) and document.get("kind") in ("ConfigMap", "Secret"):
                metadata = document.setdefault("metadata", {})
                if isinstance(metadata, dict):
                    metadata.setdefault("namespace", "flux-system")
                sources.append(document)
            else:
                raise InputError("expected ConfigMap or Secret documents", path=str(file),
                                 hint="supply the in-cluster ConfigMaps/Secrets postBuild.substituteFrom reads")
    return sources


def check_chart_dirs(folders: list[Path]) -> None:
    """A configured chart folder that does not exist is an error (not silently no charts)."""
    for folder in folders:
        if not folder.is_dir():
            raise InputError("chart folder not found", path=str(folder),
                             hint="fix --chart-dir or the charts: list of platform.yaml / .greenfield.yaml")


def builtin_api_versions(kube_version: str) -> tuple[str, ...]:
    """The built-in API versions (kind-qualified too) helm's capabilities list for this Kubernetes version."""
    if not kube_version:
        return ()
    from greenfield.adapters.schemas import builtin_schemas

    try:
        return builtin_schemas(kube_version).served_api_versions()
    except (OSError, ValueError, GreenfieldError):
        return ()  # no built-in schemas for it: helm's own defaults


@dataclass
class RenderResult:
    renders: dict[str, ClusterRender]
    seconds: float
    builds: int
    cached: int


def render_repository(repo: Path, targets: list[ClusterTarget], options: RenderOptions) -> RenderResult:
    started = time.perf_counter()
    engine_options = EngineOptions(strict=options.strict, extra_sources=load_sources(options.substitute_from),
                                   kube_version=options.kube_version)
    cache_dir = (options.cache_dir or default_cache_dir(repo)).resolve()
    if options.render_charts:
        from greenfield.adapters.charts import ChartRenderer

        check_chart_dirs(options.chart_dirs)
        engine_options.charts = ChartRenderer(repo, options.chart_dirs, cache_dir, use_cache=options.use_cache,
                                              workers=options.workers, approximate_dirs=options.approximate_chart_dirs)
        engine_options.api_versions = builtin_api_versions(options.kube_version)
    memo = None
    if options.use_cache:
        memo = RenderMemo(cache_dir)
        engine_options.substitution_memo = memo.for_cluster
    prefetch = options.prefetch
    if prefetch is not None and options.use_cache and prefetch.matches(repo, options.cache_dir, options.workers):
        builder = prefetch.take()
    else:
        builder = Kustomizer(repo, options.cache_dir, workers=options.workers, use_cache=options.use_cache)
        if options.use_cache:
            builder.start(stale_requests(repo.resolve(), cache_dir))
    with builder as kustomizer:
        # clusters walk concurrently: their builds share one pool of `workers` kustomize processes
        with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
            futures = {target.name: pool.submit(render_cluster, target.name, target.entry, kustomizer,
                                                engine_options) for target in targets}
            renders = {name: future.result() for name, future in futures.items()}
        stats = dict(kustomizer.stats)
        if options.use_cache:
            write_index(repo.resolve(), cache_dir, kustomizer.finished())
    if memo is not None:
        memo.save()
    return RenderResult(renders, time.perf_counter() - started, stats["builds"], stats["cached"])
