"""`greenfield diff`: render two revisions of a repository and compare what Flux would apply.

The base revision (default: the merge base of HEAD with the default branch) is exported from git into a
temporary folder outside the repository (adapters/gitrev.py: blobs read, nothing checked out, no hooks or
filters) and rendered there; the head (default: the work tree as it is, uncommitted changes included) is
rendered in place, or exported too when `--head REV` names a commit. Both renders use the same build cache
(entries are keyed by file contents and repository-relative paths), so the unchanged part of the base
costs cache look-ups only and a diff costs little more than one validate.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from greenfield.adapters import gitrev
from greenfield.app.prefetch import default_cache_dir
from greenfield.app.render import CLUSTERS_DIR, ClusterTarget, RenderOptions, render_repository, select_clusters
from greenfield.app.validate import DEFAULT_KUBERNETES_VERSION, _inventory
from greenfield.core.diff import RenderDiff, diff_renders
from greenfield.core.model import ClusterRender
from greenfield.errors import InputError

WORK_TREE = "work tree"
BASE_MEMO = "diff-base"
KEPT_TREES = 4  # exported revisions kept in the cache (a commit's tree never changes: a warm diff reuses it)


@dataclass
class DiffOptions:
    base: str = ""  # default: merge base of HEAD and the default branch
    head: str = ""  # default: the work tree
    cluster_paths: list[str] = field(default_factory=list)  # repository-relative entry folders
    substitute_from: list[Path] = field(default_factory=list)
    kubernetes_version: str = ""
    cache_dir: Path | None = None
    use_cache: bool = True
    strict_substitution: bool = False
    chart_dirs: list[Path] = field(default_factory=list)
    progress: Callable[[str], None] | None = None  # told what the diff is doing (a spinner's text)


@dataclass
class DiffResult:
    diff: RenderDiff
    base_commit: str
    head_commit: str  # "" for the work tree
    timings: dict[str, float] = field(default_factory=dict)


def base_revision(repo: Path, given: str) -> tuple[str, str]:
    """(label, commit) of the base: the given revision, else the merge base of HEAD with the default branch."""
    if given:
        return given, gitrev.resolve(repo, given)
    branch = gitrev.default_branch(repo)
    if branch is None:
        raise InputError("no default branch to compare with", path=str(repo),
                         hint="pass --base REV (e.g. --base HEAD~1 or --base origin/main)")
    head = gitrev.resolve(repo, "HEAD")
    return f"merge-base({branch}, HEAD)", gitrev.merge_base(repo, gitrev.resolve(repo, branch), head)


def _relative_paths(repo: Path, paths: list[str]) -> list[str]:
    relative: list[str] = []
    for path in paths:
        candidate = Path(path)
        if candidate.is_absolute():
            try:
                candidate = candidate.resolve().relative_to(repo)
            except ValueError as error:
                raise InputError("cluster path is outside the repository", path=path,
                                 hint="pass a folder inside --repo") from error
        relative.append(candidate.as_posix())
    return relative


def _render(root: Path, clusters: list[str], options: DiffOptions, cache_dir: Path, cluster_paths: list[str],
            given_paths: bool, memo_dir: Path | None = None) -> tuple[dict[str, ClusterRender], list[ClusterTarget]]:
    inventory = _inventory(root)
    wanted = clusters
    if clusters:  # a cluster that exists at one revision only has an empty render at the other
        wanted = [name for name in clusters if (name in inventory.clusters if inventory is not None
                                                else (root / CLUSTERS_DIR / name).is_dir())]
    if (clusters and not wanted and not cluster_paths) or (given_paths and not cluster_paths and not wanted):
        return {}, []
    targets = select_clusters(root, inventory, wanted, cluster_paths)
    version = options.kubernetes_version or (
        inventory.platform.versions.kubernetes if inventory is not None else DEFAULT_KUBERNETES_VERSION)
    render_options = RenderOptions(cluster_paths=cluster_paths, substitute_from=options.substitute_from,
                                   cache_dir=cache_dir, use_cache=options.use_cache,
                                   strict=options.strict_substitution, chart_dirs=list(options.chart_dirs),
                                   kube_version=version, memo_dir=memo_dir)
    return render_repository(root, targets, render_options).renders, targets


def diff_repository(repo: Path, clusters: list[str] | None = None, options: DiffOptions | None = None
                    ) -> DiffResult:
    options = options or DiffOptions()
    repo = repo.resolve()
    say = options.progress or (lambda _text: None)
    started = time.perf_counter()
    top, prefix = gitrev.toplevel(repo)
    base_label, base_commit = base_revision(top, options.base)
    head_commit = gitrev.resolve(top, options.head) if options.head else ""
    cache_dir = default_cache_dir(repo, options.cache_dir).resolve()  # the repository's folder below the base
    cluster_paths = _relative_paths(repo, options.cluster_paths)
    names = list(clusters or [])
    timings: dict[str, float] = {}
    scratch = Path(tempfile.mkdtemp(prefix="greenfield-diff-"))
    trees = cache_dir / "trees" if options.use_cache else scratch
    try:
        say(f"exporting {base_label} ({base_commit[:12]})")
        step = time.perf_counter()
        base_root = exported_tree(top, base_commit, prefix, trees)
        timings["export"] = time.perf_counter() - step
        step = time.perf_counter()
        say(f"rendering {base_label}")
        # the base first: the head's render writes the prefetch index last, for the next validate of the repo;
        # its own substitution memo, so that the two renders do not evict each other's entries
        base, _ = _render(base_root, names, options, cache_dir, _existing(base_root, cluster_paths),
                          bool(cluster_paths), memo_dir=cache_dir / BASE_MEMO)
        timings["render_base"] = time.perf_counter() - step
        head_root = exported_tree(top, head_commit, prefix, trees) if head_commit else repo
        step = time.perf_counter()
        say(f"rendering {options.head or WORK_TREE}")
        head, _ = _render(head_root, names, options, cache_dir, _existing(head_root, cluster_paths),
                          bool(cluster_paths))
        timings["render_head"] = time.perf_counter() - step
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    step = time.perf_counter()
    head_label = options.head or WORK_TREE
    diff = diff_renders(base, head, f"{base_label} ({base_commit[:12]})",
                        f"{head_label} ({head_commit[:12]})" if head_commit else head_label)
    timings["compare"] = time.perf_counter() - step
    timings["total"] = time.perf_counter() - started
    return DiffResult(diff, base_commit, head_commit, timings)


def exported_tree(top: Path, commit: str, prefix: str, trees: Path) -> Path:
    """The commit's files under prefix, exported once into `trees` (kept for the next diff of that commit)."""
    key = hashlib.sha256(f"{commit}\0{prefix}".encode()).hexdigest()[:24]
    folder = trees / key
    if folder.is_dir():
        with contextlib.suppress(OSError):
            os.utime(folder)  # recently used: kept when older trees are dropped
        return folder
    partial = trees / f".{key}.{os.getpid()}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        gitrev.export_tree(top, commit, partial, prefix)
        partial.rename(folder)  # atomic: a folder under its final name is always complete
    except OSError:
        if not folder.is_dir():
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    _drop_old_trees(trees)
    return folder


def _drop_old_trees(trees: Path) -> None:
    with contextlib.suppress(OSError):
        kept = sorted((p for p in trees.iterdir() if p.is_dir() and not p.name.startswith(".")),
                      key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[KEPT_TREES:]:
            shutil.rmtree(old, ignore_errors=True)


def _existing(root: Path, cluster_paths: list[str]) -> list[str]:
    """The cluster paths that exist at this revision (a cluster added by the change has no base)."""
    return [path for path in cluster_paths if (root / path).is_dir()] if cluster_paths else []


def write_output(path: Path, text: str) -> None:
    """--output-file: the formatted diff, for a CI step to post or archive."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
