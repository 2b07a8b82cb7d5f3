"""The input scan: the files a build reads, confined to the repository root (Flux's secure filesystem)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from greenfield.adapters import safe_read
from greenfield.adapters.kustomize.files import as_list, below, is_remote, kustomization_file, line_of, line_of_entry
from greenfield.core import goyaml
from greenfield.core.engine import Problem


class InputScanner:
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
        if not Path(entry).is_absolute() and below(target, self.repo) and below(
                Path(os.path.realpath(target)), self.real_repo):
            return target
        where = self.rel(kfile) if kfile is not None else ""
        self.problems.append(Problem(
            "outside-root", f"{key} entry {entry} is outside the repository root (Flux builds in a secure "
            "filesystem rooted at the source artifact: absolute paths, `../` above the root and symlinks leaving "
            "it fail)", where, line_of_entry(text, entry) if text else 0))
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
        kfile = kustomization_file(folder)
        if kfile is None:
            return
        cached = self.memo.get(kfile)
        if cached is None:
            try:
                text = safe_read.read_text(kfile)
                data = goyaml.load(text)
            except (OSError, goyaml.GoYAMLError):
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
                    self.rel(kfile), line_of(text, "resources")))
        for key in ("resources", "bases", "components"):
            entries = data.get(key)
            if not isinstance(entries, list):
                continue
            for entry in entries:
                if not isinstance(entry, str):
                    continue
                if is_remote(entry):
                    self.problems.append(Problem("remote-resource", f"remote {key} entry {entry} is not rendered "
                                                 "offline (never fetched)", self.rel(kfile),
                                                 line_of_entry(text, entry) or line_of(text, key)))
                    self.remote.setdefault(kfile, []).append(entry)
                    continue
                target = self.confined(folder, entry, kfile, text, key)
                if target is None:
                    continue
                if key == "components" and target.is_file():
                    self.problems.append(Problem(
                        "component-is-file", f"component {entry} is a file; a component must be a folder with a "
                        "kustomization.yaml of kind Component", self.rel(kfile), line_of(text, key)))
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
            for entry in as_list(data.get(key)):
                if isinstance(entry, str) and "\n" not in entry and not is_remote(entry):
                    target = self.confined(folder, entry, kfile, text, key)
                    if target is not None and target.is_dir():
                        self.visit(target)
                    elif target is not None:
                        self.add_file(target)
        for key in ("patches", "patchesJson6902", "replacements"):
            for entry in as_list(data.get(key)):
                if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                    read(entry["path"], key)
        for entry in as_list(data.get("patchesStrategicMerge")):
            if isinstance(entry, str) and "\n" not in entry:
                read(entry, "patchesStrategicMerge")
        for key in ("configMapGenerator", "secretGenerator"):
            for generator in as_list(data.get(key)):
                if not isinstance(generator, dict):
                    continue
                sources = as_list(generator.get("files")) + as_list(generator.get("envs"))
                if isinstance(generator.get("env"), str):
                    sources.append(generator["env"])
                for source in sources:
                    if isinstance(source, str) and is_remote(source.split("=", 1)[-1]):
                        self.problems.append(Problem("remote-resource", f"remote {key} file {source} is not "
                                                     "rendered offline (never fetched)", self.rel(kfile),
                                                     line_of_entry(text, source)))
                        self.remote.setdefault(kfile, []).append(source)
                    elif isinstance(source, str):
                        read(source.split("=", 1)[-1], key)
        openapi = data.get("openapi")
        if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
            read(openapi["path"], "openapi")
        helm_globals = data.get("helmGlobals")
        if isinstance(helm_globals, dict) and isinstance(helm_globals.get("chartHome"), str):
            read(helm_globals["chartHome"], "helmGlobals")
        for chart in as_list(data.get("helmCharts")):
            if isinstance(chart, dict):
                for field_name in ("valuesFile", "additionalValuesFiles"):
                    for entry in as_list(chart.get(field_name)) if field_name != "valuesFile" else [
                            chart.get(field_name)]:
                        if isinstance(entry, str) and not is_remote(entry):
                            read(entry, "helmCharts")
