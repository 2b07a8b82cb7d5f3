"""The Kustomization build: walk the tree level by level, build each Flux Kustomization with its spec and
apply its objects (commonMetadata, substitution), its child Kustomizations found in what it applies."""

from __future__ import annotations

import json
from dataclasses import replace

from greenfield.core.engine.bodies import as_dict, is_flux_kustomization, key_of, normalise_path
from greenfield.core.engine.requests import BuildOutput, BuildRequest
from greenfield.core.engine.sources import SourceResolution
from greenfield.core.engine.substitution import SUBSTITUTION_FAILURES, PostBuildSubstitution
from greenfield.core.model import SOURCE_GROUP, EngineNote, KustomizationNode, NamespacedName, RenderedObject, api_group

SYNTHETIC_ROOT = NamespacedName("", "")
MAX_DEPTH = 40


class KustomizationBuild(SourceResolution, PostBuildSubstitution):
    """The walk over the Kustomization tree: prepare each build request, build a level at once, apply."""

    def _walk(self, start: list[KustomizationNode], prebuilt: dict[BuildRequest, BuildOutput]) -> None:
        pending = list(start)
        depth = 0
        while pending and depth < MAX_DEPTH:
            depth += 1
            ready: list[tuple[KustomizationNode, BuildRequest, dict[str, str]]] = []
            waiting: list[KustomizationNode] = []
            for node in pending:
                prepared = self._prepare(node, final=False)
                if prepared == "wait":
                    waiting.append(node)
                elif isinstance(prepared, tuple):
                    ready.append((node, *prepared))
            if not ready and waiting:
                # nothing else can produce the missing sources any more: report them now
                for node in waiting:
                    prepared = self._prepare(node, final=True)
                    if isinstance(prepared, tuple):
                        ready.append((node, *prepared))
                waiting = []
            requests = [r for _, r, _ in ready if r not in prebuilt]
            outputs = dict(prebuilt)
            if requests:
                unique = list(dict.fromkeys(requests))
                outputs.update(zip(unique, self.builder.build_many(unique), strict=True))
            children: list[KustomizationNode] = []
            for node, request, variables in ready:
                children.extend(self._apply(node, outputs[request], variables))
            pending = children + waiting

    def _prepare(self, node: KustomizationNode, final: bool) -> tuple[BuildRequest, dict[str, str]] | str | None:
        spec = node.spec
        copy = None if node.synthetic or self._is_local(node) else self._copy_of(node)
        if copy is not None:
            path = normalise_path(spec.get("path"))
            if path is None:
                node.notes.append(EngineNote("path-missing", f"spec.path {spec.get('path')} leaves the repository",
                                             node.file, node.line, hint="use a path inside the source"))
                return None
            node.path = path
            return replace(BuildRequest.from_spec(path, spec), root=copy.root), {}
        if not node.synthetic and not self._is_local(node):
            reference = as_dict(spec.get("sourceRef"))
            kind, name = str(reference.get("kind", "")), str(reference.get("name", ""))
            namespace = str(reference.get("namespace") or node.key.namespace)
            if not self._source_known(kind, namespace, name):
                if not final:
                    return "wait"  # a sibling may still render it (or the FluxInstance/generator creating it)
                # not rendered at all: graph/reference-missing reports it; Flux cannot fetch anything
                node.error = f"source {kind}/{namespace}/{name} not found"
                node.notes.append(EngineNote(
                    "not-built", f"Kustomization {node.key} is not built: its source {kind}/{namespace}/{name} "
                    "is neither rendered nor created by the bootstrap", node.file, node.line))
                return None
            node.error = f"source {kind}/{namespace}/{name} is not this repository"
            node.notes.append(EngineNote(
                "external-source", f"source {kind}/{namespace}/{name} is not this repository: not rendered "
                "offline", node.file, node.line,
                hint="configure a local copy under `sources:` in .greenfield.yaml, or validate that repository "
                     "separately"))
            return None
        path = node.path if node.synthetic else self._source_path(node)
        if path is None:
            node.notes.append(EngineNote("path-missing", f"spec.path {spec.get('path')} leaves the repository "
                                         "(or the artifact has no copy operation for it)",
                                         node.file, node.line, hint="use a path inside the source"))
            return None
        node.path = path
        resolved = self._post_build_variables(node, final)
        if not isinstance(resolved, tuple):
            return resolved
        variables, failed = resolved
        node.substitutions = variables
        if failed:
            # Flux fails this Kustomization (it applies nothing); it is still built here to name its children
            self.failed[node.key] = failed
        return replace(BuildRequest.from_spec(path, spec), source_ignore=self.source_ignore), variables

    def _apply(self, node: KustomizationNode, output: BuildOutput, variables: dict[str, str]
               ) -> list[KustomizationNode]:
        node.inputs = list(output.inputs)
        node.generated = output.generated
        for problem in output.problems:
            file, line = (problem.file, problem.line) if problem.file else (node.file, node.line)
            node.notes.append(EngineNote(problem.kind, problem.message, file, line))
        if not output.ok:
            node.error = output.error
            return []
        if node.key in self.failed:
            node.error = self.failed[node.key]
            self._children_of_failed(node, output)
            return []
        node.built = True
        spec = node.spec
        common = as_dict(spec.get("commonMetadata"))
        label = "" if node.synthetic else str(node.key)
        children: list[KustomizationNode] = []
        entry_repositories: list[RenderedObject] = []
        substituting = isinstance(spec.get("postBuild"), dict) and bool(variables)
        bodies = self._substituted(node, output, variables) if substituting else \
            json.loads(json.dumps(output.documents))  # private copies: the builder may share cached documents
        if any(body is None for body in bodies):
            # kustomize-controller substitutes the whole build before applying anything: one object that
            # fails fails the Kustomization, which then applies nothing (and creates none of its children)
            node.built = False
            node.error = next((note.message for note in node.notes if note.kind in SUBSTITUTION_FAILURES
                               and "Flux fails this Kustomization" in note.message), "postBuild substitution failed")
            return []
        for body, (file, line) in zip(bodies, output.origins, strict=False):
            if body is None:
                continue
            encrypted = "sops" in body
            if common:
                metadata = body.setdefault("metadata", {})
                for section in ("labels", "annotations"):
                    extra = as_dict(common.get(section))
                    if extra and isinstance(metadata, dict):
                        metadata[section] = {**as_dict(metadata.get(section)), **extra}
            obj = RenderedObject(body=body, cluster=self.cluster, kustomization=label, file=file, line=line,
                                 encrypted=encrypted)
            node.objects.append(obj)
            self._index_source(body)
            if obj.kind == "GitRepository" and self.root_source is not None \
                    and (obj.kind, obj.namespace, obj.name) == self.root_source:
                self.local_urls.add(str(obj.spec.get("url", "")))
            if node.synthetic and obj.kind == "GitRepository" and api_group(obj.api_version) == SOURCE_GROUP:
                entry_repositories.append(obj)
            if obj.kind == "GitRepository" and api_group(obj.api_version) == SOURCE_GROUP and (
                    (obj.kind, obj.namespace, obj.name) == self.root_source
                    or (self.root_source is None and obj.name == "flux-system")):
                # the repository's own GitRepository (as _is_local_source sees it): its spec.ignore shapes the artifact
                ignore = obj.spec.get("ignore")
                self.source_ignore = ignore if isinstance(ignore, str) else None
            self._register_sources(body, file, line)
            if is_flux_kustomization(body):
                key = key_of(body)
                if key == node.key or key in self.render.kustomizations:
                    continue  # the root applying itself, or a duplicate (reported by build/duplicate-object)
                child = KustomizationNode(key=key, cluster=self.cluster, path="", body=body, parent=node.key,
                                          file=file, line=line)
                child.depends_on = [
                    NamespacedName(str(d.get("namespace") or key.namespace), str(d.get("name", "")))
                    for d in as_dict(body.get("spec")).get("dependsOn") or [] if isinstance(d, dict)]
                self.render.kustomizations[key] = child
                children.append(child)
        if len(entry_repositories) == 1 and entry_repositories[0].name != "flux-system":
            # no sync in git nor a FluxInstance: the bootstrap applies the entry folder itself (kubectl apply -k);
            # the one GitRepository it holds is the cluster's sync of this repository when a Kustomization reads
            # a folder of this very cluster entry from it
            sync = entry_repositories[0]
            under = f"{self.entry}/" if self.entry else ""
            if any(as_dict(child.spec.get("sourceRef")).get("name") == sync.name
                   and str(as_dict(child.spec.get("sourceRef")).get("kind") or "") == "GitRepository"
                   and (normalise_path(child.spec.get("path")) or "").startswith(under) for child in children):
                self.local_sources.add((sync.kind, sync.namespace, sync.name))
                self.local_urls.add(str(sync.spec.get("url", "")))
        return children

    def _children_of_failed(self, node: KustomizationNode, output: BuildOutput) -> None:
        """The Kustomizations a failed one would create: known, not built, each saying why."""
        for body, (file, line) in zip(output.documents, output.origins, strict=False):
            if not is_flux_kustomization(body):
                continue
            key = key_of(body)
            if key == node.key or key in self.render.kustomizations:
                continue
            child = KustomizationNode(key=key, cluster=self.cluster, path="", body=json.loads(json.dumps(body)),
                                      parent=node.key, file=file, line=line, error=f"parent {node.key} fails")
            child.depends_on = [
                NamespacedName(str(d.get("namespace") or key.namespace), str(d.get("name", "")))
                for d in as_dict(body.get("spec")).get("dependsOn") or [] if isinstance(d, dict)]
            child.notes.append(EngineNote(
                "parent-failed", f"Kustomization {key} is not built: its parent {node.key} fails "
                f"({self.failed[node.key]}), so Flux never creates it", file, line))
            self.render.kustomizations[key] = child
