"""Preparing a build: checks, the input scan, the kustomization as kustomize-controller edits it, the cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from greenfield.adapters import safe_read
from greenfield.adapters.kustomize.cache import BuildCache
from greenfield.adapters.kustomize.errors import KustomizeErrors
from greenfield.adapters.kustomize.files import kustomization_file
from greenfield.adapters.kustomize.generated import generated_resources
from greenfield.adapters.kustomize.inputs import InputScanner
from greenfield.adapters.kustomize.job import Job
from greenfield.adapters.kustomize.remote import without_remote
from greenfield.core import goyaml
from greenfield.core.engine import BuildOutput, BuildRequest, Problem


class BuildPreparation(BuildCache, KustomizeErrors):
    """A BuildRequest as a finished output (checks failed, cached) or a job for kustomize."""

    def _prepare(self, request: BuildRequest) -> tuple[BuildOutput, Job | None]:
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
        scanner = InputScanner(self.repo, self._memo)
        kfile = kustomization_file(folder)
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
                loaded = goyaml.load(original_text)
            except (OSError, goyaml.GoYAMLError) as error:
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
            original = without_remote(original, scanner.remote[kfile])
        rewrites = {path: goyaml.dump(without_remote(self._memo[path][1], entries))
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
        return output, Job(output, folder, edited, scanner.files | scanner.visited, key, solo, keep_origin,
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
