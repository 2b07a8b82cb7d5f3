"""Batches of builds: one kustomize process builds several Kustomizations; its output split between them."""

from __future__ import annotations

import posixpath
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from greenfield.adapters.command import Command, CommandResult
from greenfield.adapters.kustomize.cache import BuildCache
from greenfield.adapters.kustomize.errors import KustomizeErrors
from greenfield.adapters.kustomize.farm import Farm
from greenfield.adapters.kustomize.files import line_index
from greenfield.adapters.kustomize.job import Job
from greenfield.adapters.kustomize.process import ANY_EXIT, OFFLINE_ENV, kustomize_timeout
from greenfield.core import goyaml
from greenfield.core.engine import Problem
from greenfield.errors import CommandError

ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
MAX_BATCH = 16  # Kustomizations per kustomize process


class BatchRunner(BuildCache, KustomizeErrors, Farm):
    """Runs jobs in batches, splits a failing batch, attributes the output by origin annotation."""

    def _batches(self, jobs: list[Job]) -> list[list[Job]]:
        solo = [[job] for job in jobs if job.solo]
        shared = [job for job in jobs if not job.solo]
        if not shared:
            return solo
        size = max(1, min(MAX_BATCH, -(-len(shared) // self.workers)))
        count = -(-len(shared) // size)
        batches: list[list[Job]] = [[] for _ in range(count)]
        # round-robin over jobs sorted by folder: builds of one folder (e.g. per cluster) land in different
        # batches, as they would collide on object ids inside one kustomize process
        for index, job in enumerate(sorted(shared, key=lambda j: str(j.folder))):
            batches[index % count].append(job)
        return solo + batches

    def _run_batch(self, jobs: list[Job], allow_split: bool = True) -> None:
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

    def _finish(self, jobs: list[Job]) -> None:
        for job in jobs:
            with self._lock:
                self.stats["builds"] += 1
            if self.use_cache:
                self._store(job.key, job.output)
            if job.future is not None and not job.future.done():
                job.future.set_result(job.output)

    def _kustomize(self, jobs: list[Job], full_farm: bool) -> CommandResult:
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
            (root / "kustomization.yaml").write_text(goyaml.dump(wrapper), encoding="utf-8")
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

    def _parse_batch(self, jobs: list[Job], text: str) -> bool:
        """Split kustomize's output between the jobs by the origin annotation (b<index>/...); False when an
        object cannot be attributed."""
        try:  # read as kustomize-controller reads it (sigs.k8s.io/yaml)
            documents = [d for d in goyaml.load_all(text, goyaml.K8S) if d is not None]
        except goyaml.GoYAMLError as error:
            if len(jobs) > 1:
                return False  # the members are built on their own: only the one whose output breaks fails
            [job] = jobs
            job.output.error = f"kustomize output is not valid YAML: {error}"
            job.output.problems.append(Problem("kustomize", job.output.error, self._kfile(job.output.request.path)))
            return True
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
            data = goyaml.load(str(raw), goyaml.K8S)
        except goyaml.GoYAMLError:
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

    def _restore_origin(self, document: dict[str, Any], data: dict[str, Any], job: Job) -> None:
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
        annotations[ORIGIN_ANNOTATION] = goyaml.dump(restored)

    def _origin_line(self, file: str, document: dict[str, Any]) -> int:
        path = self.repo / file
        index = self._line_cache.get(path)
        if index is None:
            index = line_index(path)
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
