"""Read what a repository says its bootstrap creates before Flux runs, without executing anything.

- FluxInstance objects and HelmReleases of the `flux-instance` chart anywhere in the repository's YAML: the
  sync flux-operator creates from them (core/sources.py).
- helmfile files (helmfile.yaml[.gotmpl], helmfile.d/*.yaml, */helmfile/*.yaml): releases with their chart,
  version, namespace and plain values files; `{{ }}` templates are opaque text, never evaluated. The charts
  map to the API groups whose CRDs they install; a flux-instance release's values give the sync; hooks running
  `kubectl apply -k DIR` / `-f FILE` with literal paths apply those objects. A helmfile's `bases:` are its
  layers, merged in order of occurrence with arrays replaced, not merged (helmfile docs, writing-helmfile.md
  "Layering State Files", "Merging Arrays in Layers"): a base's releases count when the helmfile lists none of
  its own. Its state values are the root-level `values:` then those of the `default` environment (the one
  helmfile uses without --environment; each entry a file or an inline map, docs environments.md); the only
  templates read are plain references to them (`{{ .Values.a.b }}`, `.StateValues`, `.Environment.Values`) and
  `{{ .Environment.Name }}`, replaced where the value is a known scalar.
- scripts (*.sh, justfiles, Taskfiles): `kubectl apply -k DIR` / `-f FILE` with literal paths.
- every ConfigMap/Secret document in the repository (SOPS files: key names, values stay opaque), for
  postBuild.substituteFrom sources the bootstrap applies from a file no Kustomization renders.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from greenfield.adapters import safe_read
from greenfield.core.rules.graph import CRD_PROVIDERS
from greenfield.core.sources import BootstrapFacts, SyncSource, sync_of_instance, syncs_in
from greenfield.errors import GreenfieldError

SKIP_DIRS = {".git", "node_modules", ".venv", ".greenfield", "vendor", "fixtures", "testdata"}
TOP_SKIP_DIRS = {"tests"}  # a tool's own test data is not what its repository's bootstrap applies
YAML_SUFFIXES = (".yaml", ".yml")
SCRIPT_NAMES = re.compile(r"(\.sh|\.bash|\.just|^justfile|^\.justfile|^Justfile|^Taskfile.*\.ya?ml|\.taskfile.*)$")
APPLY = re.compile(r"kubectl\b[^\n|;&]*?\bapply\b([^\n|;&]*)")
TEMPLATE_LINE = re.compile(r"^\s*\{\{-?.*-?\}\}\s*$")
INLINE_TEMPLATE = re.compile(r"\{\{.*?\}\}")
OPAQUE = "__opaque_template__"  # what an inline `{{ }}` reads as: never evaluated, never a usable value
ENVIRONMENT = "default"  # helmfile's environment when run without --environment
ENVIRONMENT_NAME = re.compile(r"\{\{-?\s*\.Environment\.Name\s*-?\}\}")
STATE_REFERENCE = re.compile(
    r"\{\{-?\s*\.(?:Values|StateValues|Environment\.Values)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*-?\}\}")
PLAIN_VALUE = re.compile(r"[\w./:@+-]*")  # a value that reads the same wherever YAML puts it
MAX_FILE = 2_000_000
# Talos `cluster.extraManifests` URLs are fetched by Talos at bootstrap, never by us: the projects whose release
# manifests are CRD bundles, by a word of the URL, and the API groups they install
MANIFEST_GROUPS = {
    "prometheus-operator": ("monitoring.coreos.com",),
    "gateway-api": ("gateway.networking.k8s.io", "gateway.networking.x-k8s.io"),
    "grafana-operator": ("grafana.integreatly.org",),
    "external-snapshotter": ("snapshot.storage.k8s.io", "groupsnapshot.storage.k8s.io"),
    "cert-manager": ("cert-manager.io", "acme.cert-manager.io"),
    "external-secrets": ("external-secrets.io", "generators.external-secrets.io"),
    "cloudnative-pg": ("postgresql.cnpg.io",),
    "volsync": ("volsync.backube",),
}

try:  # the C loader when PyYAML has it (much faster on large repositories)
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


def _files(repo: Path) -> Iterator[tuple[str, Path]]:
    for folder, dirs, names in os.walk(repo):
        top = Path(folder) == repo
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not (top and d in TOP_SKIP_DIRS)
                         and not (Path(folder) / d).is_symlink())
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                continue  # links and FIFOs, devices, sockets: never part of what the bootstrap applies
            yield path.relative_to(repo).as_posix(), path


def _read(path: Path) -> str:
    """The text of a regular file (bounded, never blocking on a FIFO); "" when it cannot be read as such."""
    try:
        return safe_read.read_text(path, limit=MAX_FILE)
    except GreenfieldError:
        return ""


def _documents(text: str) -> list[tuple[int, Any]]:
    """(line, document) of a YAML stream; [] when it does not parse (a template, a broken file)."""
    if "{{" in text:
        text = "\n".join("" if TEMPLATE_LINE.match(line) else INLINE_TEMPLATE.sub(OPAQUE, line)
                         for line in text.splitlines())
    found: list[tuple[int, Any]] = []
    try:
        loader = _Loader(text)
        try:
            while loader.check_node():
                node = loader.get_node()
                if node is not None:
                    found.append((node.start_mark.line + 1, loader.construct_document(node)))
        finally:
            loader.dispose()
    except yaml.YAMLError:
        return found
    except (ValueError, TypeError, RecursionError):
        return []
    return found


def _talos_clusters(document: Any) -> Iterator[dict[str, Any]]:
    """The `cluster:` sections of a Talos machine config, a talhelper talconfig (controlPlane/patches) or a patch."""
    if not isinstance(document, dict):
        return
    cluster = document.get("cluster")
    if isinstance(cluster, dict):
        yield cluster
    for key in ("controlPlane", "worker"):
        yield from _talos_clusters(document.get(key))
    for patch in document.get("patches") or []:
        if isinstance(patch, str) and "cluster:" in patch:
            for _, inner in _documents(patch):
                yield from _talos_clusters(inner)
        else:
            yield from _talos_clusters(patch)
    for node in document.get("nodes") or []:
        yield from _talos_clusters(node)


def _inside(repo: Path, base: str, path: str) -> str | None:
    """A literal path from a script/hook, repository-relative, when it stays inside the repository."""
    if not path or any(mark in path for mark in ("{{", "$", "`", "*", OPAQUE)) or path == "-":
        return None
    joined = posixpath.normpath(posixpath.join(base, path)) if not path.startswith("/") else None
    if joined is None or joined.startswith("..") or not (repo / joined).exists():
        return None
    return joined


def _apply_targets(arguments: list[str]) -> list[tuple[str, str]]:
    """("k"|"f", path) of kubectl apply arguments."""
    targets: list[tuple[str, str]] = []
    index = 0
    while index < len(arguments):
        word = arguments[index]
        for flag, kind in (("--kustomize", "k"), ("-k", "k"), ("--filename", "f"), ("-f", "f")):
            if word == flag and index + 1 < len(arguments):
                targets.append((kind, arguments[index + 1]))
                index += 1
                break
            if word.startswith(flag + "="):
                targets.append((kind, word.split("=", 1)[1]))
                break
        index += 1
    return targets


def _yaml_under(repo: Path, relative: str) -> list[str]:
    target = repo / relative
    if target.is_file():
        return [relative]
    found: list[str] = []
    for folder, dirs, names in os.walk(target):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(folder, n).relative_to(repo).as_posix() for n in sorted(names) if n.endswith(YAML_SUFFIXES)
                     and not n.startswith("kustomization"))
    return found


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Maps merge key by key, anything else (arrays too) is replaced: how helmfile merges state values."""
    result = dict(base)
    for key, value in override.items():
        current = result.get(key)
        result[key] = _merged(current, value) if isinstance(current, dict) and isinstance(value, dict) else value
    return result


def _with_state_values(text: str, values: dict[str, Any]) -> str:
    """The helmfile text with `{{ .Environment.Name }}` and plain references to known scalar state values
    replaced; every other template stays (and reads as opaque)."""
    text = ENVIRONMENT_NAME.sub(ENVIRONMENT, text)

    def value(match: re.Match[str]) -> str:
        current: Any = values
        for key in match.group(1).split(".")[1:]:
            if not isinstance(current, dict) or key not in current:
                return match.group(0)
            current = current[key]
        if isinstance(current, bool):
            rendered = "true" if current else "false"
        elif isinstance(current, int | str):
            rendered = str(current)
        else:
            return match.group(0)
        return rendered if OPAQUE not in rendered and PLAIN_VALUE.fullmatch(rendered) else match.group(0)

    return STATE_REFERENCE.sub(value, text)


class _Scan:
    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.facts = BootstrapFacts()
        self.applied: set[str] = set()

    def run(self) -> BootstrapFacts:
        for relative, path in _files(self.repo):
            name = path.name
            if name.endswith(YAML_SUFFIXES) or name.endswith(".yaml.gotmpl"):
                text = _read(path)
                if not text:
                    continue
                if self._is_helmfile(relative, text):
                    self._helmfile(relative, text)
                if "inlineManifests" in text or "extraManifests" in text:
                    self._talos(relative, text)
                self._objects(relative, text)
                if SCRIPT_NAMES.search(name):
                    self._script(relative, text)
            elif SCRIPT_NAMES.search(name):
                self._script(relative, _read(path))
        self.facts.syncs.sort(key=lambda s: (s.file, s.line, s.key))
        return self.facts

    @staticmethod
    def _is_helmfile(relative: str, text: str) -> bool:
        name = posixpath.basename(relative)
        folder = posixpath.basename(posixpath.dirname(relative))
        return ("releases:" in text or "bases:" in text) and (
            name.startswith("helmfile") or folder in ("helmfile.d", "helmfile"))

    def _objects(self, relative: str, text: str) -> None:
        if "FluxInstance" in text or "flux-instance" in text:
            for line, document in _documents(text):
                if isinstance(document, dict):
                    self.facts.syncs.extend(syncs_in(document, relative, line))
        if re.search(r"^instance:\s*$", text, re.MULTILINE) and "sync:" in text:
            # the flux-instance chart's values in a file of their own (valuesFrom a generated ConfigMap, helmfile)
            for line, document in _documents(text):
                instance = document.get("instance") if isinstance(document, dict) else None
                if isinstance(instance, dict) and isinstance(instance.get("sync"), dict) and (
                        "distribution" in instance or "flux-instance" in relative):
                    found = sync_of_instance(instance, "", f"flux-instance chart values ({relative})", relative, line)
                    if found is not None and found not in self.facts.syncs:
                        self.facts.syncs.append(found)
        if re.search(r"^kind:\s*(ConfigMap|Secret)\s*$", text, re.MULTILINE):
            for line, document in _documents(text):
                if isinstance(document, dict) and document.get("kind") in ("ConfigMap", "Secret") \
                        and str(document.get("apiVersion", "")) == "v1":
                    name = str((document.get("metadata") or {}).get("name") or "")
                    if name:
                        self.facts.repository_sources.setdefault((str(document["kind"]), name), []).append(
                            (relative, line, document))

    def _talos(self, relative: str, text: str) -> None:
        """Talos machine config / talhelper patches: inlineManifests are applied by Talos at bootstrap, and the
        extraManifests URLs are CRD bundles of known projects."""
        for _, document in _documents(text):
            for cluster in _talos_clusters(document):
                for item in cluster.get("inlineManifests") or []:
                    contents = item.get("contents") if isinstance(item, dict) else None
                    if not isinstance(contents, str):
                        continue
                    how = f"an inlineManifest of the Talos config ({relative})"
                    for line, manifest in _documents(contents):
                        self._bootstrap_object(manifest, relative, line, how)
                for url in cluster.get("extraManifests") or []:
                    words = set(re.split(r"[/_.]", str(url)))
                    for project, groups in MANIFEST_GROUPS.items():
                        if project in words or project in str(url).split("/"):
                            self.facts.crd_groups.update(groups)

    def _bootstrap_object(self, document: Any, file: str, line: int, how: str) -> None:
        if isinstance(document, dict) and document.get("kind") and document.get("metadata"):
            self.facts.objects.append(document)
            self.facts.origins.append((file, line, how))
            if document.get("kind") == "CustomResourceDefinition":
                group = str((document.get("spec") or {}).get("group") or "")
                if group:
                    self.facts.crd_groups.add(group)

    def _helmfile(self, relative: str, text: str) -> None:
        base = posixpath.dirname(relative)
        crds_only = "crds" in posixpath.basename(relative) or "--include-crds" in text
        layers = self._layers(base, relative, text, {relative})
        values = self._state_values(base, [document for _, _, document in layers])
        releases: dict[str, list[Any]] = {}  # file -> its releases, with the state values it references
        for file, file_text in dict.fromkeys((file, file_text) for file, file_text, _ in layers):
            for _, document in _documents(_with_state_values(file_text, values)):
                if isinstance(document, dict) and isinstance(document.get("releases"), list):
                    releases.setdefault(file, []).extend(document["releases"])
        # a later layer's array replaces an earlier one's: the helmfile's own releases, else the last base's
        chosen = relative if relative in releases else next(reversed(releases), None)
        for release in releases.get(chosen or "", []):
            if isinstance(release, dict):
                self._release(chosen or relative, base, release, crds_only)

    def _layers(self, base: str, relative: str, text: str, seen: set[str]) -> list[tuple[str, str, Any]]:
        """(file, text, document) of a helmfile's layers in helmfile's order: each document's `bases:` (paths
        relative to the helmfile's folder, recursively) before the document itself."""
        layers: list[tuple[str, str, Any]] = []
        for _, document in _documents(text):
            if not isinstance(document, dict):
                continue
            for entry in document.get("bases") or []:
                if not isinstance(entry, str) or OPAQUE in entry:
                    continue
                target = _inside(self.repo, base, entry)
                if target is not None and target not in seen and (self.repo / target).is_file():
                    seen.add(target)
                    layers.extend(self._layers(base, target, _read(self.repo / target), seen))
            layers.append((relative, text, document))
        return layers

    def _state_values(self, base: str, documents: list[dict[str, Any]]) -> dict[str, Any]:
        """The root-level `values:` of every layer, then those of the default environment (its last definition)."""
        values: dict[str, Any] = {}
        environment: Any = None
        for document in documents:
            for entry in _list(document.get("values")):
                values = _merged(values, self._values_entry(base, entry))
            environments = document.get("environments")
            if isinstance(environments, dict) and ENVIRONMENT in environments:
                environment = environments[ENVIRONMENT]
        for entry in _list(environment.get("values")) if isinstance(environment, dict) else []:
            values = _merged(values, self._values_entry(base, entry))
        return values

    def _values_entry(self, base: str, entry: Any) -> dict[str, Any]:
        """A state values entry: an inline map, or a file of the repository (relative to the helmfile)."""
        if isinstance(entry, dict):
            return entry
        target = _inside(self.repo, base, entry) if isinstance(entry, str) and OPAQUE not in entry else None
        values: dict[str, Any] = {}
        readable = target is not None and (self.repo / target).is_file()
        for _, document in _documents(_read(self.repo / str(target))) if readable else []:
            if isinstance(document, dict):
                values = _merged(values, document)
        return values

    def _release(self, relative: str, base: str, release: dict[str, Any], crds_only: bool) -> None:
        name = str(release.get("name") or "")
        namespace = str(release.get("namespace") or "")
        chart = str(release.get("chart") or "")
        chart_name = posixpath.basename(chart.rstrip("/")) if chart and OPAQUE not in chart else name
        version = str(release.get("version") or "")
        self.facts.charts.append(f"{namespace}/{name} {chart_name} {version} ({relative})".replace("  ", " "))
        for group, charts in CRD_PROVIDERS.items():
            if chart_name in charts or name in charts:
                self.facts.crd_groups.add(group)
        if crds_only:
            stem = re.sub(r"-(operator|crds|controller|crd)$", "", chart_name)
            self.facts.crd_groups.update(g for g in CRD_PROVIDERS if stem and stem in g.split("."))
        if "flux-instance" in (chart_name, name):
            for values in release.get("values") or []:
                instance: Any = None
                origin = relative
                if isinstance(values, dict):
                    instance = values.get("instance")
                elif isinstance(values, str) and OPAQUE not in values and not values.endswith(".gotmpl"):
                    target = _inside(self.repo, base, values)
                    if target:
                        origin = target
                        for _, document in _documents(_read(self.repo / target)):
                            if isinstance(document, dict) and isinstance(document.get("instance"), dict):
                                instance = document["instance"]
                if isinstance(instance, dict):
                    found = sync_of_instance(instance, namespace, f"helmfile release {namespace}/{name} ({origin})",
                                             origin, 0)
                    if found:
                        self.facts.syncs.append(found)
        for hook in release.get("hooks") or []:
            if isinstance(hook, dict) and str(hook.get("command", "")) == "kubectl":
                arguments = [str(a) for a in hook.get("args") or []]
                if "apply" in arguments:
                    self._apply(base, arguments, f"helmfile hook of {namespace}/{name} ({relative})")

    def _script(self, relative: str, text: str) -> None:
        base = posixpath.dirname(relative)
        for match in APPLY.finditer(text):
            try:
                arguments = shlex.split(match.group(1), comments=True)
            except ValueError:
                continue
            self._apply(base, arguments, f"kubectl apply in {relative}", fallback_root=True)

    def _apply(self, base: str, arguments: list[str], how: str, fallback_root: bool = False) -> None:
        for _, path in _apply_targets(arguments):
            target = _inside(self.repo, base, path) or (_inside(self.repo, "", path) if fallback_root else None)
            if target is None:
                continue
            for file in _yaml_under(self.repo, target):
                if file in self.applied:
                    continue
                self.applied.add(file)
                for line, document in _documents(_read(self.repo / file)):
                    self._bootstrap_object(document, file, line, f"applied by the bootstrap ({how})")


def scan_bootstrap(repo: Path) -> BootstrapFacts:
    """Everything the repository's files say exists before Flux (see the module docstring)."""
    return _Scan(repo.resolve()).run()


__all__ = ["SyncSource", "scan_bootstrap"]
