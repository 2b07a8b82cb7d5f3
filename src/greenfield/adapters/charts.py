"""Local Helm charts for the engine: find a HelmRelease's chart (in the repository or a --chart-dir) and
`helm template` it with the pinned helm, cached on disk by content hash (chart files + values + flags).

A chart that is not found is not an error (most charts are remote): the output says `found=False`.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenfield.adapters import safe_read
from greenfield.adapters.cache import CacheStore, cache_folder, holds_plaintext_secret, register_secrets
from greenfield.core import goyaml
from greenfield.core.chart_templates import (
    asked_api_versions,
    generating_templates,
    lookup_template,
    rewrite_lookups,
    unknown_values,
    uses_capabilities,
    uses_lookup,
    values_reads,
)
from greenfield.core.engine import ChartOutput, ChartRequest, merge_values
from greenfield.errors import GreenfieldError

CACHE_VERSION = "5"  # 5: output read with Go YAML typing (core/goyaml) and the chart fidelity fixes
SOURCE_LINE = re.compile(r"^# Source: (\S+)", re.MULTILINE)


def _chart_version(folder: Path) -> str:
    try:
        data = goyaml.load(safe_read.read_text(folder / "Chart.yaml"), goyaml.K8S)
    except (OSError, goyaml.GoYAMLError):
        return ""
    return str(data.get("version", "")) if isinstance(data, dict) else ""


def _chart_name(path: Path) -> str:
    """The name in Chart.yaml of a chart folder or packaged chart ("" when it is not a chart)."""
    data = _chart_file(path, "Chart.yaml") if path.is_dir() or path.name.endswith(".tgz") else None
    try:
        meta = goyaml.load(data, goyaml.K8S) if data else None
    except goyaml.GoYAMLError:
        return ""
    return str(meta.get("name", "")) if isinstance(meta, dict) else ""


def chart_metadata(path: Path) -> dict[str, Any]:
    """Chart.yaml of a chart folder or packaged chart ({} when it is not a chart)."""
    data = _chart_file(path, "Chart.yaml") if path.is_dir() or path.name.endswith(".tgz") else None
    try:
        meta = goyaml.load(data, goyaml.K8S) if data else None
    except goyaml.GoYAMLError:
        return {}
    return meta if isinstance(meta, dict) else {}


def chart_identity(path: Path) -> str:
    """`<name>-<version>` of a chart folder or packaged chart from its Chart.yaml, as `helm list` shows it."""
    meta = chart_metadata(path)
    return f"{meta.get('name', '')}-{meta.get('version', '')}" if meta else path.name


def missing_dependencies(chart: Path) -> list[dict[str, Any]]:
    """The dependencies of an unpacked chart that its charts/ folder does not hold (source-controller builds
    these before packaging a chart folder; Chart.lock takes precedence over Chart.yaml)."""
    if not chart.is_dir():
        return []  # a packaged chart carries its dependencies
    requested: list[dict[str, Any]] = []
    for name in ("Chart.lock", "Chart.yaml"):
        try:
            data = goyaml.load(safe_read.read_text(chart / name), goyaml.K8S)
        except (OSError, goyaml.GoYAMLError):
            continue
        if isinstance(data, dict) and isinstance(data.get("dependencies"), list):
            requested = [d for d in data["dependencies"] if isinstance(d, dict)]
            break
    folder = chart / "charts"
    present = [_chart_name(entry) for entry in sorted(folder.iterdir())] if folder.is_dir() else []
    present = [name for name in present if name]
    if len(present) == len(requested):
        return []
    return [dep for dep in requested if str(dep.get("alias") or dep.get("name", "")) not in present]


def _is_local_dependency(dependency: dict[str, Any]) -> bool:
    repository = str(dependency.get("repository") or "")
    return repository == "" or repository.startswith("file://")


class ValuesFilesError(Exception):
    """A valuesFiles entry source-controller could not merge: the chart fails with this message."""


def _chart_file(chart: Path, name: str) -> bytes | None:
    """A file of a chart folder or packaged chart (.tgz, whose files sit under one top-level folder)."""
    if chart.is_dir():
        path = chart / name
        return safe_read.read_bytes(path) if path.is_file() else None
    with tarfile.open(chart) as archive:
        for member in archive.getmembers():
            parts = member.name.split("/", 1)
            if member.isfile() and len(parts) == 2 and parts[1] == name:
                extracted = archive.extractfile(member)
                return extracted.read() if extracted is not None else None
    return None


def _chart_copy(chart: Path, scratch: Path, anchor_dependencies: bool = False) -> Path:
    """A writable copy of the chart (folder or .tgz) to change (values.yaml, charts/). With
    `anchor_dependencies`, the copy's local (file://) dependencies point at the original's absolute paths."""
    if chart.is_dir():
        copy = Path(shutil.copytree(chart, scratch / chart.name, symlinks=False))
        if anchor_dependencies:
            for name in ("Chart.yaml", "Chart.lock"):
                path = copy / name
                data = goyaml.load(path.read_text(encoding="utf-8"), goyaml.K8S) if path.is_file() else None
                if not isinstance(data, dict) or not isinstance(data.get("dependencies"), list):
                    continue
                for dependency in data["dependencies"]:
                    repository = str(dependency.get("repository") or "") if isinstance(dependency, dict) else "-"
                    if repository == "" or repository.startswith("file://"):
                        relative = repository.removeprefix("file://") or f"charts/{dependency.get('name')}"
                        dependency["repository"] = f"file://{os.path.normpath(chart / relative)}"
                path.write_text(goyaml.dump(data), encoding="utf-8")
        return copy
    with tarfile.open(chart) as archive:
        archive.extractall(scratch / "unpacked", filter="data")
    folders = [p for p in (scratch / "unpacked").iterdir() if p.is_dir()]
    return folders[0] if len(folders) == 1 else scratch / "unpacked"


class PostRenderError(Exception):
    """helm-controller's post-rendering failed (a kustomize patch that does not apply, ...)."""


SOURCE_ANNOTATION = "greenfield.invalid/chart-source"  # carries a document's template through kustomize


def _is_chart_crd(source: str) -> bool:
    """A file of a crds/ folder of the chart or a subchart ("<chart>/crds/x.yaml",
    "<chart>/charts/<sub>/crds/y.yaml"): helm installs those without post-rendering, outside the release."""
    parts = source.split("/")
    return any(part == "crds" and (index == 1 or (index >= 3 and parts[index - 2] == "charts"))
               for index, part in enumerate(parts[:-1]))


def _kustomize_documents(documents: list[dict[str, Any]], renderer: dict[str, Any]) -> list[dict[str, Any]]:
    """One postRenderers[].kustomize entry, as helm-controller runs it: the manifests as the only resource of a
    kustomization with the entry's patches and images."""
    from greenfield.adapters.command import Command
    from greenfield.adapters.kustomize import kubectl_binary

    kustomization: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                                     "resources": ["helm-output.yaml"]}
    if renderer.get("patches"):
        kustomization["patches"] = renderer["patches"]
    if renderer.get("images"):
        kustomization["images"] = renderer["images"]
    with tempfile.TemporaryDirectory(prefix="greenfield-postrender-") as scratch:
        folder = Path(scratch)
        (folder / "helm-output.yaml").write_text(goyaml.dump_all(documents), encoding="utf-8")
        (folder / "kustomization.yaml").write_text(goyaml.dump(kustomization), encoding="utf-8")
        result = Command([str(kubectl_binary()), "kustomize", str(folder)], timeout=300,
                         allowed_exit_codes=frozenset(range(256))).run()
    if result.returncode != 0:
        lines = [line for line in (result.stderr or result.stdout).replace(scratch + "/", "").splitlines() if line]
        raise PostRenderError(f"post-renderer kustomize failed: {lines[-1].removeprefix('error: ') if lines else ''}")
    return [d for d in goyaml.load_all(result.stdout, goyaml.K8S) if isinstance(d, dict)]


def _set_metadata(document: dict[str, Any], section: str, values: dict[str, Any]) -> None:
    metadata = document.setdefault("metadata", {})
    if isinstance(metadata, dict):
        current = metadata.get(section)
        metadata[section] = {**(current if isinstance(current, dict) else {}), **values}


def post_render(documents: list[dict[str, Any]], sources: list[str], request: ChartRequest
                ) -> tuple[list[dict[str, Any]], list[str]]:
    """helm-controller's post-renderers over the chart's manifests (not its crds/ files): the kustomize entries
    in order, then commonMetadata, then the labels naming the HelmRelease."""
    crds = [(d, s) for d, s in zip(documents, sources, strict=True) if _is_chart_crd(s)]
    manifests = [(d, s) for d, s in zip(documents, sources, strict=True) if not _is_chart_crd(s)]
    renderers = json.loads(request.post_renderers_json)
    if renderers and manifests:
        marked = []
        for document, source in manifests:
            _set_metadata(document, "annotations", {SOURCE_ANNOTATION: source})
            marked.append(document)
        for renderer in renderers:
            marked = _kustomize_documents(marked, renderer)
        manifests = []
        for document in marked:
            annotations = document.get("metadata", {}).get("annotations") or {}
            source = str(annotations.pop(SOURCE_ANNOTATION, ""))
            if not annotations:
                document["metadata"].pop("annotations", None)
            manifests.append((document, source))
    common = json.loads(request.common_metadata_json)
    namespace, name = request.origin
    for document, _ in manifests:
        if isinstance(common.get("labels"), dict) and common["labels"]:
            _set_metadata(document, "labels", common["labels"])
        if isinstance(common.get("annotations"), dict) and common["annotations"]:
            _set_metadata(document, "annotations", common["annotations"])
        if name:
            _set_metadata(document, "labels", {"helm.toolkit.fluxcd.io/name": name,
                                               "helm.toolkit.fluxcd.io/namespace": namespace})
    rendered = crds + manifests
    return [d for d, _ in rendered], [s for _, s in rendered]


def _flattened(document: dict[str, Any]) -> list[dict[str, Any]]:
    """A `List` / `<Kind>List` document as its items (helm's kube client and kustomize flatten lists: the
    items are what reaches the API server), anything else as itself."""
    items = document.get("items")
    if str(document.get("kind", "")).endswith("List") and isinstance(items, list):
        return [item for entry in items if isinstance(entry, dict) for item in _flattened(entry)]
    return [document]


def split_manifests(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """helm template output → documents (lists flattened) and, per document, its `# Source:` template path."""
    documents: list[dict[str, Any]] = []
    sources: list[str] = []
    for chunk in re.split(r"^---\s*$", text, flags=re.MULTILINE):
        if not chunk.strip():
            continue
        source = SOURCE_LINE.search(chunk)
        for document in goyaml.load_all(chunk, goyaml.K8S):  # helm reads its output so
            if isinstance(document, dict):
                for item in _flattened(document):
                    documents.append(item)
                    sources.append(source.group(1) if source else "")
    return documents, sources


def _inside_chart(source: str) -> str:
    """A `# Source:` path without its leading chart name ("cilium/templates/x.yaml" -> "templates/x.yaml")."""
    return source.split("/", 1)[1] if "/" in source else source


TEXT_SUFFIXES = (".yaml", ".yml", ".tpl", ".txt", ".json", ".conf", ".toml", ".ini", ".lua", ".sh", ".tmpl")


def _template_texts(chart: Path, every_file: bool = False) -> dict[str, str]:
    """The chart's template files (subcharts' too, packaged ones included) by path inside the chart, as
    helm's `# Source:` names them without the chart name: "templates/x.yaml", "charts/sub/templates/y.tpl".
    With `every_file`, every text file (files a template may `tpl`, values.yaml, Chart.yaml)."""
    texts: dict[str, str] = {}

    def add(name: str, data: bytes) -> None:
        parts = name.split("/")
        if (every_file or "templates" in parts[:-1]) and parts[-1].endswith(TEXT_SUFFIXES):
            texts[name] = data.decode("utf-8", "replace")

    def read_archive(archive: tarfile.TarFile, prefix: str) -> None:
        for member in archive.getmembers():
            if not member.isfile():
                continue
            inner = member.name.split("/", 1)[1] if "/" in member.name else member.name
            extracted = archive.extractfile(member)
            if extracted is None:
                continue
            data = extracted.read()
            if inner.endswith(".tgz") and inner.startswith("charts/"):
                import io

                with tarfile.open(fileobj=io.BytesIO(data)) as nested:
                    sub = _archive_chart_name(nested) or inner.rsplit("/", 1)[-1].removesuffix(".tgz")
                    read_archive(nested, f"{prefix}charts/{sub}/")
                continue
            add(prefix + inner, data)

    if chart.is_dir():
        for path in sorted(chart.rglob("*")):
            if not path.is_file():
                continue
            relative = path.relative_to(chart).as_posix()
            if relative.endswith(".tgz") and relative.startswith("charts/"):
                with tarfile.open(path) as nested:
                    sub = _archive_chart_name(nested) or path.name.removesuffix(".tgz")
                    read_archive(nested, f"charts/{sub}/")
            else:
                add(relative, path.read_bytes())
    else:
        with tarfile.open(chart) as archive:
            read_archive(archive, "")
    return texts


def _answer_lookups(chart: Path, objects: dict[str, Any]) -> None:
    """Rewrite the lookups of an unpacked chart (and its unpacked subcharts) to answer from `objects`: offline,
    helm template's lookup finds nothing, where helm-controller's finds what the cluster holds at install."""
    helper = lookup_template(objects)
    for templates in [chart / "templates", *sorted(chart.glob("charts/*/templates"))]:
        if not templates.is_dir():
            continue
        for path in sorted(templates.rglob("*")):
            if path.is_file() and path.suffix in (".yaml", ".yml", ".tpl", ".txt"):
                text = path.read_text(encoding="utf-8", errors="replace")
                if "lookup" in text:
                    path.write_text(rewrite_lookups(text), encoding="utf-8")
        (templates / "_greenfield_lookup.tpl").write_text(helper, encoding="utf-8")


def _archive_chart_name(archive: tarfile.TarFile) -> str:
    top = {member.name.split("/", 1)[0] for member in archive.getmembers() if "/" in member.name}
    return top.pop() if len(top) == 1 else ""


@dataclass(frozen=True)
class ChartFacts:
    generating: frozenset[str]  # template paths ("templates/x.yaml") whose output helm generates at install time
    uses_capabilities: bool
    uses_lookup: bool = False
    values: ValuesFacts | None = None  # what the templates read, for unknown values keys
    asked: frozenset[str] | None = None  # the API versions the templates ask about (None: not only literals)

    def capabilities_key(self, api_versions: tuple[str, ...]) -> list[str]:
        """What of the API versions can change the output (cache key material)."""
        if not self.uses_capabilities:
            return []
        if self.asked is None:
            return list(api_versions)
        return sorted(self.asked & set(api_versions))


@dataclass(frozen=True)
class ValuesFacts:
    reads: frozenset[tuple[str, ...]]
    defaults: Any  # the chart's values.yaml
    subcharts: dict[str, tuple[frozenset[tuple[str, ...]], Any]]  # values key (alias or name) -> reads, defaults

    def to_json(self) -> dict[str, Any]:
        return {"reads": sorted(self.reads), "defaults": self.defaults,
                "subcharts": {k: [sorted(r), d] for k, (r, d) in self.subcharts.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ValuesFacts:
        return cls(frozenset(tuple(r) for r in data["reads"]), data["defaults"],
                   {k: (frozenset(tuple(r) for r in reads), defaults) for k, (reads, defaults) in
                    data["subcharts"].items()})


def _values_facts(texts: dict[str, str]) -> ValuesFacts:
    """Reads of the whole chart (its subcharts' and library charts' templates count: conservative), the
    defaults, and per subchart its own reads and defaults (Chart.yaml conditions and tags are reads too)."""
    def load(name: str) -> Any:
        try:
            return goyaml.load(texts.get(name, ""), goyaml.K8S) or {}  # helm reads chart files so
        except goyaml.GoYAMLError:
            return {}

    reads = set(values_reads(texts))
    meta = load("Chart.yaml")
    dependencies = [d for d in (meta.get("dependencies") or []) if isinstance(d, dict)] if isinstance(meta, dict) \
        else []
    for dependency in dependencies:
        for condition in str(dependency.get("condition") or "").split(","):
            if condition.strip():
                reads.add(tuple(condition.strip().split(".")))
        reads.update(("tags", str(tag)) for tag in dependency.get("tags") or [])
    folders = {name.split("/")[1] for name in texts if name.startswith("charts/") and name.count("/") >= 2}
    keys = {str(d.get("name")): str(d.get("alias") or d.get("name")) for d in dependencies}
    subcharts: dict[str, tuple[frozenset[tuple[str, ...]], Any]] = {}
    for folder in sorted(folders):
        inner = {name.removeprefix(f"charts/{folder}/"): text for name, text in texts.items()
                 if name.startswith(f"charts/{folder}/")}
        defaults = inner.get("values.yaml", "")
        try:
            parsed = goyaml.load(defaults, goyaml.K8S) or {}
        except goyaml.GoYAMLError:
            parsed = {}
        sub_reads = frozenset(values_reads(inner))
        for key in {keys.get(folder, folder), *[alias for name, alias in keys.items() if name == folder]}:
            subcharts[key] = (sub_reads, parsed)
    return ValuesFacts(frozenset(reads), load("values.yaml"), subcharts)


class ChartRenderer:
    """Implements the engine's ChartRenderer with the pinned helm (built lazily, only when a chart is found)."""

    def __init__(self, repo: Path, chart_dirs: Sequence[Path] = (), cache_dir: Path | None = None,
                 use_cache: bool = True, helm_binary: Path | None = None, workers: int = 2,
                 approximate_dirs: Sequence[Path] = ()) -> None:
        self.repo = repo.resolve()
        self.chart_dirs = [Path(d).resolve() for d in chart_dirs]
        self.approximate_dirs = [Path(d).resolve() for d in approximate_dirs]
        self.cache_dir = (cache_dir or cache_folder(self.repo)).absolute() / "charts"
        self.store = CacheStore(self.cache_dir)
        self.use_cache = use_cache
        self._helm_binary = helm_binary
        self.workers = workers
        self.stats = {"charts": 0, "cached": 0}
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        # helm processes at once, over every cluster rendering concurrently (each asks render_many itself)
        self._slots = threading.BoundedSemaphore(max(1, workers))

    # -- finding charts ----------------------------------------------------------------------------------
    def locate(self, request: ChartRequest) -> Path | None:
        if request.local_path:
            # inside the artifact root, as source-controller joins it (`../` cannot climb above the root)
            candidate = self.repo / posixpath.normpath("/" + request.local_path).lstrip("/")
            return candidate if candidate.is_dir() or candidate.is_file() else None
        if not request.chart:
            return None
        versions = [v for v in dict.fromkeys([request.version, request.version.removeprefix("v")]) if v]
        for folder in self.chart_dirs:
            for version in versions:
                for candidate in (folder / f"{request.chart}-{version}", folder / f"{request.chart}-{version}.tgz"):
                    if candidate.exists():
                        return candidate
            plain = folder / request.chart
            if plain.is_dir() and (not versions or _chart_version(plain) in versions):
                return plain
        return None

    def _display(self, path: Path) -> str:
        try:
            return path.relative_to(self.repo).as_posix()
        except ValueError:
            return str(path)

    def _files(self, chart: Path) -> list[Path]:
        if chart.is_file():
            return [chart]
        return sorted(p for p in chart.rglob("*") if p.is_file())

    # -- rendering ---------------------------------------------------------------------------------------
    def helm(self) -> Path:
        if self._helm_binary is None:
            from greenfield.adapters.gotools import GoTools

            self._helm_binary = GoTools().binary("helm")
        return self._helm_binary

    def render_many(self, requests: Sequence[ChartRequest]) -> list[ChartOutput]:
        located = [self.locate(request) for request in requests]
        if not any(located) and not any(request.local_path for request in requests):
            return [ChartOutput(found=False) for _ in requests]
        with ThreadPoolExecutor(max_workers=max(1, self.workers) * 2) as pool:  # helm itself is limited by _slots
            outputs = list(pool.map(self._render_one, requests, located))
        for output, chart in zip(outputs, located, strict=True):
            output.approximate = chart is not None and any(chart.is_relative_to(d) for d in self.approximate_dirs)
        return outputs

    def _render_one(self, request: ChartRequest, chart: Path | None) -> ChartOutput:
        if chart is None and request.local_path:
            # the source is this repository: Flux's source-controller fails the chart like this
            return ChartOutput(found=True, file=request.local_path,
                               error=f"chart path {request.local_path} does not exist in the repository")
        if chart is None:
            return ChartOutput(found=False)
        files = self._files(chart)
        display = self._display(chart)
        inputs = [self._display(p) for p in files] if request.local_path else []
        dependencies = missing_dependencies(chart)
        remote = [d for d in dependencies if not _is_local_dependency(d)]
        if remote:
            return ChartOutput(found=True, file=display, inputs=inputs, skipped=(
                f"missing its dependency {remote[0].get('name')} from {remote[0].get('repository')} (not vendored "
                "in charts/: remote dependencies are not fetched offline)"))
        for dependency in dependencies:  # local ones are built from the repository: their files are inputs
            repository = str(dependency.get("repository") or "")
            relative = repository.removeprefix("file://") if repository else f"charts/{dependency.get('name')}"
            target = Path(os.path.normpath(chart / relative))
            added = [path for path in self._files(target) if path not in files] if target.exists() else []
            files += added
            inputs += [self._display(path) for path in added] if request.local_path else []
        if request.local_path:  # the artifact holds no symlinks and nothing outside the repository
            real_repo = Path(os.path.realpath(self.repo))
            for path in files:
                real = Path(os.path.realpath(path))
                if path.is_symlink() or not (real == real_repo or real_repo in real.parents):
                    return ChartOutput(found=True, file=display, inputs=inputs, error=(
                        f"chart file {self._display(path)} is outside the repository root or a symlink (not in "
                        "the source artifact)"))
        default_values: dict[str, Any] | None = None
        if request.values_files:
            try:
                default_values, read = self._values_files(request, chart)
            except ValuesFilesError as error:
                return ChartOutput(found=True, file=display, inputs=inputs, error=str(error))
            inputs += [name for name in read if name not in inputs]
        try:
            helm = self.helm()
        except GreenfieldError as error:
            return ChartOutput(found=True, file=display, inputs=inputs, skipped=error.render())
        try:
            binary = helm.stat()
            identity = f"{helm}\0{binary.st_size}\0{binary.st_mtime_ns}"
        except OSError:
            identity = str(helm)
        chart_digest = hashlib.sha256(f"{CACHE_VERSION}\0{identity}\0".encode())
        for path in files:
            inside = chart.is_dir() and path.is_relative_to(chart)
            chart_digest.update(path.relative_to(chart).as_posix().encode() if inside else str(path).encode())
            chart_digest.update(b"\0" + hashlib.sha256(path.read_bytes()).digest())
        facts = self._facts(chart, chart_digest.hexdigest())
        digest = chart_digest.copy()
        digest.update(json.dumps([request.release, request.namespace, request.values_json, request.include_crds,
                                  request.kube_version, default_values, request.post_renderers_json,
                                  request.common_metadata_json, request.origin, request.include_tests,
                                  # API versions change the output only of charts that ask .Capabilities
                                  facts.capabilities_key(request.api_versions),
                                  # and what lookups find, only those that look objects up
                                  request.lookup_json if facts.uses_lookup else "{}"],
                                 sort_keys=True, default=str).encode())
        key = digest.hexdigest()
        with self._lock:  # one render per key at a time: the second cluster asking waits and reads the cache
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            return self._render_cached(request, chart, helm, display, inputs, default_values, bool(dependencies),
                                       facts, key)

    def _render_cached(self, request: ChartRequest, chart: Path, helm: Path, display: str, inputs: list[str],
                       default_values: dict[str, Any] | None, dependencies: bool, facts: ChartFacts, key: str
                       ) -> ChartOutput:
        entry_name = f"{key[:2]}/{key}.json"
        output: ChartOutput | None = None
        if self.use_cache:
            text = self.store.read(entry_name)  # None: missing, or forged/corrupt (does not verify)
            try:
                entry = json.loads(text) if text is not None else None
                if entry is not None:
                    output = ChartOutput(found=True, documents=entry["documents"], sources=entry["sources"],
                                         file=display, error=entry["error"], inputs=inputs, cached=True,
                                         crds=entry["crds"], generated=entry["generated"])
                    with self._lock:
                        self.stats["cached"] += 1
            except (ValueError, KeyError, TypeError):
                output = None
        if output is None:
            with self._slots:
                output = self._template(request, chart, helm, display, inputs, default_values, dependencies, facts)
            with self._lock:
                self.stats["charts"] += 1
            if self.use_cache:
                if holds_plaintext_secret(output.documents):  # a chart's Secret (values): never stored
                    register_secrets(output.documents)
                else:
                    self.store.write(entry_name, json.dumps(
                        {"documents": output.documents, "sources": output.sources, "error": output.error,
                         "crds": output.crds, "generated": output.generated}, default=str))
        output.uses_capabilities = facts.uses_capabilities
        output.asked_api_versions = None if facts.asked is None else tuple(sorted(facts.asked))
        if facts.values is not None and not output.error:
            output.unknown_values = unknown_values(
                request.values, set(facts.values.reads), facts.values.defaults,
                {key: (set(reads), defaults) for key, (reads, defaults) in facts.values.subcharts.items()})
        return output

    def _facts(self, chart: Path, chart_key: str) -> ChartFacts:
        """What the chart's templates do (read once per chart content, kept in the cache)."""
        name = f"facts/{chart_key}.json"
        if self.use_cache:
            try:
                text = self.store.read(name)
                entry = json.loads(text) if text is not None else None
                if entry is None:
                    raise ValueError("no entry")
                asked = entry["asked"]
                return ChartFacts(frozenset(entry["generating"]), bool(entry["uses_capabilities"]),
                                  bool(entry["uses_lookup"]), ValuesFacts.from_json(entry["values"]),
                                  None if asked is None else frozenset(asked))
            except (ValueError, KeyError, TypeError):
                pass
        texts = _template_texts(chart)
        facts = ChartFacts(frozenset(generating_templates(texts)), uses_capabilities(texts), uses_lookup(texts),
                           _values_facts(_template_texts(chart, every_file=True)), asked_api_versions(texts))
        if self.use_cache and facts.values is not None:
            self.store.write(name, json.dumps(
                {"generating": sorted(facts.generating), "uses_capabilities": facts.uses_capabilities,
                 "uses_lookup": facts.uses_lookup, "values": facts.values.to_json(),
                 "asked": None if facts.asked is None else sorted(facts.asked)}, default=str))
        return facts

    # -- valuesFiles (source-controller's chart builders) ------------------------------------------------
    def _values_files(self, request: ChartRequest, chart: Path) -> tuple[dict[str, Any], list[str]]:
        """The merged values that replace the chart's values.yaml, and the repository files read for them."""
        merged: dict[str, Any] = {}
        read: list[str] = []
        for reference in request.values_files:
            if request.local_path:  # chart from this repository: paths are relative to the repository root
                inside = posixpath.normpath("/" + reference).lstrip("/")
                path = self.repo / inside
                if not path.is_file():
                    if request.ignore_missing_values_files and not path.exists():
                        continue
                    raise ValuesFilesError(f"values files merge error: no values file found at path '/{inside}' "
                                           f"(reference '{reference}')")
                data: bytes | None = path.read_bytes()
                read.append(inside)
            else:  # a chart from a Helm or OCI repository: paths are files of the chart itself
                name = posixpath.normpath(reference)
                data = _chart_file(chart, "values.yaml" if name == "values.yaml" else name)
                if data is None:
                    if request.ignore_missing_values_files:
                        continue
                    raise ValuesFilesError(f"values files merge error: no values file found at path '{reference}'")
            try:
                values = goyaml.load(data or b"", goyaml.K8S) or {}
            except goyaml.GoYAMLError as error:
                raise ValuesFilesError(f"values files merge error: unmarshaling values from '{reference}' failed: "
                                       f"{str(error).splitlines()[0]}") from error
            if not isinstance(values, dict):
                raise ValuesFilesError(f"values files merge error: unmarshaling values from '{reference}' failed: "
                                       "not a mapping")
            merged = merge_values(merged, values)
        return merged, read

    def _template(self, request: ChartRequest, chart: Path, helm: Path, display: str, inputs: list[str],
                  default_values: dict[str, Any] | None = None, dependencies: bool = False,
                  facts: ChartFacts | None = None) -> ChartOutput:
        from greenfield.adapters.helm import Helm

        try:
            home = self.store.private_dir("helm-home")  # outside the repository, 0700, no symlinked component
        except OSError:
            home = Path(tempfile.mkdtemp(prefix="greenfield-helm-home-"))
        with tempfile.TemporaryDirectory(prefix="greenfield-chart-") as scratch:
            target = chart
            answer_lookups = facts is not None and facts.uses_lookup and request.lookup_json != "{}"
            if default_values is not None or dependencies or answer_lookups:
                target = _chart_copy(chart, Path(scratch), anchor_dependencies=dependencies)
            if answer_lookups:
                _answer_lookups(target, json.loads(request.lookup_json))
            if dependencies:
                code, message = Helm(str(helm)).dependency_update(target, home=home)
                if code != 0:
                    message = message.replace(str(target), display).replace(str(chart), display)
                    return ChartOutput(found=True, file=display, inputs=inputs,
                                       error=f"dependency build failed: {message or f'helm exited {code}'}")
            if default_values is not None:
                if not (target / "values.yaml").is_file():
                    return ChartOutput(found=True, file=display, inputs=inputs,
                                       error="values files merge error: failed to locate values file: values.yaml")
                (target / "values.yaml").write_text(goyaml.dump(default_values) if default_values else "",
                                                    encoding="utf-8")
            code, stdout, stderr = Helm(str(helm)).template_raw(
                request.release, str(target), request.namespace, request.values, include_crds=request.include_crds,
                kube_version=request.kube_version, home=home, api_versions=request.api_versions,
                skip_tests=not request.include_tests)
            if code != 0:
                message = (stderr or stdout).strip().replace(str(target), display).replace(str(chart), display)
                return ChartOutput(found=True, file=display, inputs=inputs, error=message or f"helm exited {code}")
        try:
            documents, sources = split_manifests(stdout)
        except goyaml.GoYAMLError as error:
            return ChartOutput(found=True, file=display, inputs=inputs,
                               error=f"helm template produced invalid YAML: {error}")
        try:
            documents, sources = post_render(documents, sources, request)
        except PostRenderError as error:
            return ChartOutput(found=True, file=display, inputs=inputs, error=str(error))
        files = []
        for source in sources:
            relative = source.split("/", 1)[1] if "/" in source else ""  # "<chart>/templates/x.yaml"
            files.append(f"{display}/{relative}" if chart.is_dir() and relative else display)
        generating = facts.generating if facts is not None else frozenset()
        return ChartOutput(found=True, documents=documents, sources=files, file=display, inputs=inputs,
                           crds=[_is_chart_crd(source) for source in sources],
                           generated=[_inside_chart(source) in generating for source in sources])
