"""The upstream pipeline the engine is measured against: `flux build kustomization --dry-run` per
Kustomization and kubeconform over the result (both built from tools/go.mod).

Used by the differential tests and benchmarks/bench_upstream.py. `flux build` writes a generated
kustomization.yaml into the folder it builds (and restores it afterwards), so callers point it at a
copy of the repository, never at a tree other processes read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenfield.adapters.command import Command
from greenfield.core import goyaml
from greenfield.errors import CommandError

OWNER_LABELS = ("kustomize.toolkit.fluxcd.io/name", "kustomize.toolkit.fluxcd.io/namespace")
SOPS_MASK = "KipTT1BTKio="  # base64 of "**SOPS**": flux build masks the data of SOPS-encrypted Secrets


@dataclass(frozen=True)
class FluxBuild:
    flux: Path
    timeout: float = 300.0

    def kustomization_file(self, body: dict[str, Any], variables: dict[str, str], folder: Path) -> Path:
        """The Kustomization as flux build reads it. `--dry-run` never reads substituteFrom ConfigMaps/Secrets
        from a cluster, so the variables the engine resolved are given inline as postBuild.substitute."""
        document = json.loads(json.dumps(body))
        spec = document.setdefault("spec", {})
        post_build = spec.get("postBuild")
        if isinstance(post_build, dict):
            post_build.pop("substituteFrom", None)
            if variables:
                post_build["substitute"] = dict(sorted(variables.items()))
        metadata = document.get("metadata") or {}
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{metadata.get('namespace', 'flux-system')}--{metadata.get('name', 'ks')}.yaml"
        path.write_text(goyaml.dump(document), encoding="utf-8")
        return path

    def command(self, name: str, namespace: str, path: Path, kustomization_file: Path) -> Command:
        argv = [str(self.flux), "build", "kustomization", name, f"--namespace={namespace}", f"--path={path}",
                f"--kustomization-file={kustomization_file}", "--dry-run"]
        # no kubeconfig is needed with --dry-run; an empty one keeps flux away from the user's
        return Command(argv, timeout=self.timeout, env={"KUBECONFIG": "/dev/null"})

    def build(self, body: dict[str, Any], variables: dict[str, str], path: Path, scratch: Path) -> list[dict[str, Any]]:
        metadata = body.get("metadata") or {}
        file = self.kustomization_file(body, variables, scratch)
        result = self.command(str(metadata.get("name")), str(metadata.get("namespace") or "flux-system"),
                              path, file).run()
        return [doc for doc in goyaml.load_all(result.stdout, goyaml.K8S) if isinstance(doc, dict)]


def normalise(body: dict[str, Any]) -> dict[str, Any]:
    """An object modulo what flux build adds (owner labels) and masks (SOPS data), for comparison."""
    document = json.loads(json.dumps(body, default=str))
    metadata = document.get("metadata")
    if isinstance(metadata, dict):
        labels = metadata.get("labels")
        if isinstance(labels, dict):
            for label in OWNER_LABELS:
                labels.pop(label, None)
            if not labels:
                metadata.pop("labels")
    masked = document.get("kind") == "Secret" and any(
        value == "**SOPS**" for field in ("data", "stringData") if isinstance(document.get(field), dict)
        for value in document[field].values())
    if document.get("kind") == "Secret" and ("sops" in document or masked):
        # flux build drops the sops metadata and masks the values (**SOPS**); the engine keeps them opaque
        document.pop("sops", None)
        for field in ("data", "stringData"):
            if isinstance(document.get(field), dict):
                document[field] = dict.fromkeys(document[field], "<sops>")
    return document


def object_key(body: dict[str, Any]) -> tuple[str, str, str, str]:
    metadata = body.get("metadata") or {}
    return (str(body.get("apiVersion", "")).split("/")[0] if "/" in str(body.get("apiVersion", "")) else "",
            str(body.get("kind", "")), str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))


@dataclass(frozen=True)
class Verdict:
    """kubeconform's word on one object: valid, invalid (with messages), skipped (no schema) or error."""

    key: tuple[str, str, str, str]
    status: str
    messages: tuple[str, ...] = ()


_STATUS = {"statusValid": "valid", "statusInvalid": "invalid", "statusError": "error", "statusSkipped": "skipped",
           "statusEmpty": "empty"}


@dataclass(frozen=True)
class Kubeconform:
    kubeconform: Path
    timeout: float = 300.0

    def command(self, files: Sequence[Path], kubernetes_version: str, locations: Sequence[str],
                cache: Path | None = None) -> Command:
        argv = [str(self.kubeconform), "-output", "json", "-verbose", "-strict",
                "-kubernetes-version", kubernetes_version.lstrip("v"), "-n", "2"]
        for location in locations:
            argv += ["-schema-location", location]
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
            argv += ["-cache", str(cache)]
        return Command([*argv, *map(str, files)], timeout=self.timeout, allowed_exit_codes=frozenset({0, 1}))

    def validate(self, objects: Sequence[dict[str, Any]], kubernetes_version: str, locations: Sequence[str],
                 scratch: Path) -> list[Verdict]:
        """One verdict per object, in the order given (objects are written one file each)."""
        scratch.mkdir(parents=True, exist_ok=True)
        files = []
        for index, body in enumerate(objects):
            file = scratch / f"{index:05d}.yaml"
            file.write_text(goyaml.dump(body), encoding="utf-8")
            files.append(file)
        if not files:
            return []
        result = self.command(files, kubernetes_version, locations).run()
        try:
            report = json.loads(result.stdout)
        except ValueError as error:
            raise CommandError(f"kubeconform printed no JSON: {result.stderr.strip()[-200:]}") from error
        by_file: dict[str, list[dict[str, Any]]] = {}
        for entry in report.get("resources", []):
            by_file.setdefault(str(entry.get("filename")), []).append(entry)
        verdicts = []
        for file, body in zip(files, objects, strict=True):
            entries = by_file.get(str(file), [])
            status = _STATUS.get(str(entries[0].get("status")), "valid") if entries else "valid"
            messages = tuple(_messages(entries[0])) if entries else ()
            verdicts.append(Verdict(object_key(body), status, messages))
        return verdicts


def _messages(entry: dict[str, Any]) -> list[str]:
    errors = entry.get("validationErrors") or []
    if errors:
        return [f"{e.get('path', '')}: {e.get('msg', '')}" for e in errors]
    message = str(entry.get("msg") or "")
    return [re.sub(r"\s+", " ", message)] if message else []
