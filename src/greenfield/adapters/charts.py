"""Local Helm charts for the engine: find a HelmRelease's chart (in the repository or a --chart-dir) and
`helm template` it with the pinned helm, cached on disk by content hash (chart files + values + flags).

A chart that is not found is not an error (most charts are remote): the output says `found=False`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from greenfield.core.engine import ChartOutput, ChartRequest
from greenfield.errors import GreenfieldError

CACHE_VERSION = "1"
SOURCE_LINE = re.compile(r"^# Source: (\S+)", re.MULTILINE)


def _chart_version(folder: Path) -> str:
    try:
        data = yaml.safe_load((folder / "Chart.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return ""
    return str(data.get("version", "")) if isinstance(data, dict) else ""


def split_manifests(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """helm template output → documents and, per document, its `# Source:` template path."""
    documents: list[dict[str, Any]] = []
    sources: list[str] = []
    for chunk in re.split(r"^---\s*$", text, flags=re.MULTILINE):
        if not chunk.strip():
            continue
        source = SOURCE_LINE.search(chunk)
        for document in yaml.safe_load_all(chunk):
            if isinstance(document, dict):
                documents.append(document)
                sources.append(source.group(1) if source else "")
    return documents, sources


class ChartRenderer:
    """Implements the engine's ChartRenderer with the pinned helm (built lazily, only when a chart is found)."""

    def __init__(self, repo: Path, chart_dirs: Sequence[Path] = (), cache_dir: Path | None = None,
                 use_cache: bool = True, helm_binary: Path | None = None, workers: int = 2) -> None:
        self.repo = repo.resolve()
        self.chart_dirs = [Path(d).resolve() for d in chart_dirs]
        self.cache_dir = (cache_dir or self.repo / ".greenfield" / "cache").resolve() / "charts"
        self.use_cache = use_cache
        self._helm_binary = helm_binary
        self.workers = workers
        self.stats = {"charts": 0, "cached": 0}

    # -- finding charts ----------------------------------------------------------------------------------
    def locate(self, request: ChartRequest) -> Path | None:
        if request.local_path:
            candidate = self.repo / request.local_path
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
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            return list(pool.map(self._render_one, requests, located))

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
        try:
            helm = self.helm()
        except GreenfieldError as error:
            return ChartOutput(found=True, file=display, inputs=inputs, skipped=error.render())
        try:
            binary = helm.stat()
            identity = f"{helm}\0{binary.st_size}\0{binary.st_mtime_ns}"
        except OSError:
            identity = str(helm)
        digest = hashlib.sha256(f"{CACHE_VERSION}\0{identity}\0".encode())
        digest.update(json.dumps([request.release, request.namespace, request.values_json, request.include_crds,
                                  request.kube_version]).encode())
        for path in files:
            digest.update(path.relative_to(chart).as_posix().encode() if chart.is_dir() else b"")
            digest.update(b"\0" + hashlib.sha256(path.read_bytes()).digest())
        entry_path = self.cache_dir / digest.hexdigest()[:2] / f"{digest.hexdigest()}.json"
        if self.use_cache:
            try:
                entry = json.loads(entry_path.read_text(encoding="utf-8"))
                self.stats["cached"] += 1
                return ChartOutput(found=True, documents=entry["documents"], sources=entry["sources"], file=display,
                                   error=entry["error"], inputs=inputs, cached=True)
            except (OSError, ValueError, KeyError):
                pass
        output = self._template(request, chart, helm, display, inputs)
        self.stats["charts"] += 1
        if self.use_cache:
            try:
                entry_path.parent.mkdir(parents=True, exist_ok=True)
                temporary = entry_path.with_suffix(f".{os.getpid()}.{id(output)}.tmp")
                temporary.write_text(json.dumps({"documents": output.documents, "sources": output.sources,
                                                 "error": output.error}, default=str), encoding="utf-8")
                temporary.replace(entry_path)
            except OSError:
                pass  # a cache that cannot be written is only slower
        return output

    def _template(self, request: ChartRequest, chart: Path, helm: Path, display: str, inputs: list[str]
                  ) -> ChartOutput:
        from greenfield.adapters.helm import Helm

        home = self.cache_dir / "helm-home"
        code, stdout, stderr = Helm(str(helm)).template_raw(
            request.release, str(chart), request.namespace, request.values, include_crds=request.include_crds,
            kube_version=request.kube_version, home=home)
        if code != 0:
            message = (stderr or stdout).strip().replace(str(chart), display)
            return ChartOutput(found=True, file=display, inputs=inputs, error=message or f"helm exited {code}")
        try:
            documents, sources = split_manifests(stdout)
        except yaml.YAMLError as error:
            return ChartOutput(found=True, file=display, inputs=inputs,
                               error=f"helm template produced invalid YAML: {error}")
        files = []
        for source in sources:
            relative = source.split("/", 1)[1] if "/" in source else ""  # "<chart>/templates/x.yaml"
            files.append(f"{display}/{relative}" if chart.is_dir() and relative else display)
        return ChartOutput(found=True, documents=documents, sources=files, file=display, inputs=inputs)
