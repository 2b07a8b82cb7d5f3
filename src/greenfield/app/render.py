"""Render clusters: the I/O side of the engine (which clusters, entry folders, local sources, kustomize)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from greenfield.adapters import safe_read, yamlio
from greenfield.adapters.cache import register_secrets
from greenfield.adapters.kustomize import Kustomizer
from greenfield.adapters.render_memo import RenderMemo
from greenfield.app.prefetch import DEFAULT_WORKERS, Prefetch, default_cache_dir, stale_requests, write_index
from greenfield.core.engine import BuildOutput, BuildRequest, EngineOptions, Problem, render_cluster
from greenfield.core.inventory import Inventory
from greenfield.core.model import ClusterRender
from greenfield.core.repo_config import normalise_url, split_source
from greenfield.core.sources import RepositoryCopy
from greenfield.errors import GreenfieldError, InputError, quoted

# a folder name: no path separators, not `.` or `..`
CLUSTER_ARGUMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,252}$")

CLUSTERS_DIR = "kubernetes/clusters"


@dataclass
class ClusterTarget:
    name: str
    entry: str  # repository-relative folder


@dataclass
class RenderOptions:
    cluster_paths: list[str] = field(default_factory=list)  # --cluster-path (repository-relative or absolute)
    substitute_from: list[Path] = field(default_factory=list)
    cache_dir: Path | None = None  # --cache-dir: the base; each repository has its own folder below it
    use_cache: bool = True
    strict: bool = False
    workers: int = DEFAULT_WORKERS
    chart_dirs: list[Path] = field(default_factory=list)  # --chart-dir: charts supplied locally
    approximate_chart_dirs: list[Path] = field(default_factory=list)  # of those, folders of approximate charts
    kube_version: str = ""  # helm template --kube-version
    render_charts: bool = True
    prefetch: Prefetch | None = None  # builds started before the run got here (the CLI starts it first thing)
    memo_dir: Path | None = None  # where the substitution memo lives (default: cache_dir); diff's base has its own
    in_cluster: list[Path] = field(default_factory=list)  # config `in_cluster:` files (any object kinds)
    read_bootstrap: bool = True  # read what the repository's bootstrap creates (helmfile, FluxInstance, scripts)
    sources: dict[str, Path] = field(default_factory=dict)  # config `sources:`: "<url>[@<ref>]" -> local folder


def _relative(repo: Path, path: str) -> str:
    candidate = Path(path)
    absolute = candidate if candidate.is_absolute() else (repo / candidate)
    try:
        relative = absolute.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError as error:
        raise InputError("cluster path is outside the repository", path=path,
                         hint="pass a folder inside --repo") from error
    return "" if relative == "." else relative


def parse_cluster_path(value: str) -> tuple[str, str]:
    """`--cluster-path NAME=PATH` -> (NAME, PATH); a plain PATH -> ("", PATH) (the name is derived from it)."""
    name, equals, path = value.partition("=")
    if equals and name and "/" not in name and path:
        return name.strip(), path.strip()
    return "", value


def _derived_name(relative: str) -> str:
    return Path(relative).name or "root"


def _unique(targets: list[ClusterTarget], where: str) -> list[ClusterTarget]:
    """Two entries under one cluster name would silently become one cluster: that is an input error."""
    seen: dict[str, str] = {}
    for target in targets:
        if target.name in seen and seen[target.name] != target.entry:
            raise InputError(f"cluster name {quoted(target.name)} is used for both {quoted(seen[target.name] or '.')} "
                             f"and {quoted(target.entry or '.')}", path=where,
                             hint="name the clusters: --cluster-path NAME=PATH, or `clusters:` in .greenfield.yaml")
        seen[target.name] = target.entry
    deduplicated: list[ClusterTarget] = []
    for target in targets:
        if not any(t.name == target.name for t in deduplicated):
            deduplicated.append(target)
    return deduplicated


def select_clusters(repo: Path, inventory: Inventory | None, clusters: list[str], cluster_paths: list[str],
                    configured: dict[str, str] | None = None) -> list[ClusterTarget]:
    """--cluster-path entries (NAME=PATH or PATH), else `clusters:` of the config file, else enabled clusters of
    platform.yaml, else folders of kubernetes/clusters; --cluster names select among them. Two different entry
    folders under one name are an error."""
    targets: list[ClusterTarget] = []
    for value in cluster_paths:
        name, path = parse_cluster_path(value)
        if name and not CLUSTER_ARGUMENT.match(name):
            raise InputError(f"--cluster-path {quoted(value)}: {quoted(name)} is not a cluster name",
                             hint="NAME=PATH: letters, digits, '.', '_' or '-' before the '='")
        relative = _relative(repo, path)
        targets.append(ClusterTarget(name or _derived_name(relative), relative))
    targets = _unique(targets, "--cluster-path")
    if not cluster_paths and configured:
        targets = [ClusterTarget(name, _relative(repo, path)) for name, path in configured.items()]
    given = {t.entry for t in targets} if cluster_paths else set()
    if clusters:
        for name in clusters:
            if not CLUSTER_ARGUMENT.match(name):
                raise InputError(f"--cluster {quoted(name)}: not a cluster name",
                                 hint="a cluster is named by its folder under kubernetes/clusters/ (use --cluster-path "
                                      "for any other folder)")
            if any(t.name == name for t in targets):
                continue
            if inventory is not None and name not in inventory.clusters:
                raise InputError(f"unknown cluster {quoted(name)}", path="platform.yaml",
                                 hint=f"known clusters: {', '.join(sorted(inventory.clusters))}")
            entry = f"{CLUSTERS_DIR}/{name}"
            if inventory is None and not (repo / entry).is_dir():
                known = f" (configured: {', '.join(t.name for t in targets)})" if targets else ""
                raise InputError(f"no folder {entry}{known}", path=str(repo), hint="pass --cluster-path NAME=PATH")
            targets.append(ClusterTarget(name, entry))
        return [t for t in targets if t.name in clusters or t.entry in given]
    if targets:
        return targets
    if inventory is not None:
        return [ClusterTarget(name, f"{CLUSTERS_DIR}/{name}") for name in sorted(inventory.enabled_clusters())]
    folder = repo / CLUSTERS_DIR
    if folder.is_dir():
        found = [ClusterTarget(p.name, f"{CLUSTERS_DIR}/{p.name}") for p in sorted(folder.iterdir()) if p.is_dir()]
        if found:
            return found
    raise InputError("no cluster to validate", path=str(repo),
                     hint="add platform.yaml, kubernetes/clusters/<cluster>/, `clusters:` in .greenfield.yaml, "
                          "or pass --cluster-path NAME=PATH")


def _load_objects(file: Path) -> list[dict[str, Any]]:
    text = safe_read.read_text(file)  # bounded, regular files only: one-line errors
    # objects that exist in the cluster: kubectl and the API machinery read them with sigs.k8s.io/yaml
    return [d for d in yamlio.load_documents(text, str(file), yamlio.K8S) if d is not None]


def load_sources(files: list[Path]) -> list[dict[str, Any]]:
    """ConfigMaps and Secrets supplied with --substitute-from (objects that only exist in the cluster)."""
    sources: list[dict[str, Any]] = []
    for file in files:
        for document in _load_objects(file):
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


def load_in_cluster(files: list[Path]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Config `in_cluster:` files: (ConfigMaps/Secrets, every other object) that exist only in the cluster."""
    sources: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for file in files:
        for document in _load_objects(file):
            metadata = document.get("metadata") if isinstance(document, dict) else None
            if not isinstance(document, dict) or not document.get("kind") or not isinstance(metadata, dict) \
                    or not metadata.get("name"):
                raise InputError("expected Kubernetes objects (apiVersion, kind, metadata.name)", path=str(file),
                                 hint="list the objects that exist only in the cluster (ConfigMaps, Secrets, CRDs)")
            if document.get("kind") in ("ConfigMap", "Secret"):
                metadata.setdefault("namespace", "flux-system")
                sources.append(document)
            else:
                others.append(document)
    return sources, others


class SourceRouter:
    """The builder the engine sees: builds of this repository go to its Kustomizer, builds of a configured local
    copy of another repository (BuildRequest.root) to that copy's own Kustomizer; files it reports are shown as
    `<root>/<file>` (the folder as the config names it)."""

    def __init__(self, primary: Any, copies: dict[str, Kustomizer]) -> None:
        self.primary = primary
        self.copies = copies

    @property
    def stats(self) -> dict[str, int]:
        return dict(self.primary.stats)

    def build_many(self, requests: Sequence[BuildRequest]) -> list[BuildOutput]:
        results: dict[int, BuildOutput] = {}
        groups: dict[str, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(request.root if request.root in self.copies else "", []).append(index)
        for root, indexes in sorted(groups.items()):
            if not root:
                for index, output in zip(indexes, self.primary.build_many([requests[i] for i in indexes]),
                                         strict=True):
                    results[index] = output
                continue
            local = [replace(requests[i], root="", source_ignore=None) for i in indexes]
            for index, output in zip(indexes, self.copies[root].build_many(local), strict=True):
                results[index] = self._shown(root, requests[index], output)
        return [results[index] for index in range(len(requests))]

    @staticmethod
    def _shown(root: str, request: BuildRequest, output: BuildOutput) -> BuildOutput:
        def where(file: str) -> str:
            return posixpath.join(root, file) if file else file

        return replace(output, request=request, origins=[(where(f), line) for f, line in output.origins],
                       inputs=[where(f) for f in output.inputs],
                       problems=[replace(p, file=where(p.file)) if isinstance(p, Problem) else p
                                 for p in output.problems])


@dataclass
class RenderResult:
    renders: dict[str, ClusterRender]
    seconds: float
    builds: int
    cached: int


def render_repository(repo: Path, targets: list[ClusterTarget], options: RenderOptions) -> RenderResult:
    started = time.perf_counter()
    in_cluster_sources, in_cluster = load_in_cluster(options.in_cluster)
    sources = [*in_cluster_sources, *load_sources(options.substitute_from)]
    register_secrets(sources)  # their values never reach the cache
    engine_options = EngineOptions(strict=options.strict, extra_sources=sources, kube_version=options.kube_version,
                                   in_cluster=in_cluster)
    if options.read_bootstrap:
        from greenfield.adapters.bootstrap_scan import scan_bootstrap

        engine_options.bootstrap = scan_bootstrap(repo)
    cache_dir = default_cache_dir(repo.resolve(), options.cache_dir)  # outside the repository, per repository
    if options.render_charts:
        from greenfield.adapters.charts import ChartRenderer

        check_chart_dirs(options.chart_dirs)
        engine_options.charts = ChartRenderer(repo, options.chart_dirs, cache_dir, use_cache=options.use_cache,
                                              workers=options.workers, approximate_dirs=options.approximate_chart_dirs)
        engine_options.api_versions = builtin_api_versions(options.kube_version)
    memo = None
    if options.use_cache:
        memo = RenderMemo(options.memo_dir or cache_dir)
        engine_options.substitution_memo = memo.for_cluster
    prefetch = options.prefetch
    if prefetch is not None and options.use_cache and prefetch.matches(repo, options.cache_dir, options.workers):
        builder = prefetch.take()
    else:
        builder = Kustomizer(repo, cache_dir, workers=options.workers, use_cache=options.use_cache)
        if options.use_cache:
            builder.start(stale_requests(repo.resolve(), cache_dir))
    with builder as kustomizer, contextlib.ExitStack() as stack:
        copies: dict[str, Kustomizer] = {}
        for key, folder in sorted(options.sources.items()):
            url, ref = split_source(key)
            root = os.path.relpath(folder.resolve(), repo.resolve()).replace(os.sep, "/")
            engine_options.repository_copies.append(RepositoryCopy(normalise_url(url), ref, root))
            if root not in copies:
                digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
                copies[root] = stack.enter_context(Kustomizer(
                    folder, cache_dir / "sources" / digest, workers=1, use_cache=options.use_cache))
        router = SourceRouter(kustomizer, copies) if copies else kustomizer
        # clusters walk concurrently: their builds share one pool of `workers` kustomize processes
        with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
            futures = {target.name: pool.submit(render_cluster, target.name, target.entry, router,
                                                engine_options) for target in targets}
            renders = {name: future.result() for name, future in futures.items()}
        stats = dict(kustomizer.stats)
        if options.use_cache:
            write_index(repo.resolve(), cache_dir, kustomizer.finished())
    if memo is not None:
        memo.save()
    return RenderResult(renders, time.perf_counter() - started, stats["builds"], stats["cached"])
