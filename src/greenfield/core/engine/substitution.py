"""postBuild substitution: the variables of substitute/substituteFrom (sources the cluster renders, its
bootstrap applies or external-secrets creates; opaque SOPS/ExternalSecret values), and substituting them."""

from __future__ import annotations

import difflib
import hashlib
import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from greenfield.core import substitution as subst
from greenfield.core.engine.bodies import as_dict, object_label
from greenfield.core.engine.requests import BuildOutput
from greenfield.core.engine.sources import source_data
from greenfield.core.engine.state import ClusterRunState
from greenfield.core.model import EngineNote, KustomizationNode, api_group

ANY_KEY = "*"  # in KustomizationNode.opaque_variables: a substituteFrom source whose keys are unknown offline
SUBSTITUTION_FAILURES = frozenset({"substitution-syntax", "substitution-invalid-yaml", "undefined-variable"})
RUNTIME_NAMES = frozenset({
    "HOME", "PATH", "PWD", "USER", "HOSTNAME", "SHELL", "TMPDIR", "IFS", "RANDOM", "LANG", "TERM",
    "POD_IP", "POD_NAME", "POD_NAMESPACE", "NODE_NAME", "HOST_IP",
})


class PostBuildSubstitution(ClusterRunState):
    """spec.postBuild: resolve the variables, substitute the build's documents, note what Flux would do."""

    def _post_build_variables(self, node: KustomizationNode, final: bool
                              ) -> tuple[dict[str, str], str] | str | None:
        """spec.postBuild's variables and why Flux fails the Kustomization ("" when it does not); "wait" while a
        substituteFrom source may still be rendered, None when the variables are invalid."""
        spec = node.spec
        variables: dict[str, str] = {}
        post_build = spec.get("postBuild")
        failed = ""
        if isinstance(post_build, dict):
            node.opaque_variables = []
            sources: list[dict[str, str]] = []
            for reference in post_build.get("substituteFrom") or []:
                if not isinstance(reference, dict):
                    continue
                kind, name = str(reference.get("kind", "")), str(reference.get("name", ""))
                body = self.sources.get((kind, node.key.namespace, name))
                if body is None:
                    if reference.get("optional"):
                        continue
                    if not final:
                        return "wait"
                    body = self._bootstrap_source(node, kind, name)
                if body is None:
                    node.notes.append(EngineNote(
                        "substitute-from-missing",
                        f"postBuild.substituteFrom {kind}/{name} not found in namespace {node.key.namespace} "
                        f"of cluster {self.cluster}: Flux fails this Kustomization",
                        node.file, node.line,
                        hint="render it in this cluster, mark it `optional: true`, declare it under `in_cluster:` "
                             "in .greenfield.yaml, or pass --substitute-from FILE"))
                    failed = f"postBuild.substituteFrom {kind}/{name} does not exist"
                    continue
                data, encrypted = source_data(body)
                if encrypted:
                    node.opaque_variables.extend(sorted(data))
                sources.append(data)
            variables = subst.resolve_variables(sources, as_dict(post_build.get("substitute")))
            invalid = subst.invalid_names(variables)
            if invalid:
                node.notes.append(EngineNote(
                    "invalid-variable-name",
                    f"'{invalid[0]}' var name is invalid, must match '{subst.VARIABLE_NAME_PATTERN}': "
                    "Flux fails this Kustomization", node.file, node.line,
                    hint="rename the key in substitute/substituteFrom (letters, digits, underscores)"))
                return None
        return variables, failed

    def _selects_namespace(self, spec: Mapping[str, Any], namespace: str) -> bool:
        """A ClusterExternalSecret's namespaces / namespaceSelectors (matchLabels against the rendered Namespace;
        matchExpressions count as matching: conservative)."""
        if namespace in [str(n) for n in spec.get("namespaces") or []]:
            return True
        selectors = [as_dict(s) for s in spec.get("namespaceSelectors") or []]
        if isinstance(spec.get("namespaceSelector"), dict):
            selectors.append(spec["namespaceSelector"])
        labels: dict[str, Any] = {}
        for obj in self.render.objects:
            if obj.kind == "Namespace" and obj.name == namespace:
                labels = as_dict(as_dict(obj.body.get("metadata")).get("labels"))
        return any(all(str(labels.get(k)) == str(v) for k, v in as_dict(s.get("matchLabels")).items())
                   for s in selectors)

    def _external_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Secret an ExternalSecret rendered in the cluster makes external-secrets create at runtime: its keys
        (spec.data[].secretKey, template data; unknown with dataFrom), values opaque like SOPS ones."""
        for obj in self.render.objects:
            if api_group(obj.api_version) != "external-secrets.io":
                continue
            if obj.kind == "ExternalSecret" and obj.namespace == namespace:
                spec, default_name = obj.spec, obj.name
            elif obj.kind == "ClusterExternalSecret" and self._selects_namespace(obj.spec, namespace):
                spec = as_dict(obj.spec.get("externalSecretSpec"))
                default_name = str(obj.spec.get("externalSecretName") or obj.name)
            else:
                continue
            target = as_dict(spec.get("target"))
            if str(target.get("name") or default_name) != name:
                continue
            keys = {str(as_dict(item).get("secretKey")) for item in spec.get("data") or []
                    if as_dict(item).get("secretKey")}
            keys |= {str(key) for key in as_dict(as_dict(target.get("template")).get("data"))}
            if spec.get("dataFrom"):
                keys.add(ANY_KEY)
            self.render.notes.append(EngineNote(
                "secret-from-external-secret", f"Secret {namespace}/{name} is created at runtime by ExternalSecret "
                f"{namespace}/{obj.name}: its values are known only in the cluster", obj.file, obj.line))
            body: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret",
                                    "metadata": {"name": name, "namespace": namespace},
                                    "stringData": dict.fromkeys(sorted(keys), ""), "sops": {"origin": "ExternalSecret"}}
            self.sources[("Secret", namespace, name)] = body
            self._provide(body, f"created by external-secrets from ExternalSecret {namespace}/{obj.name}", obj.file,
                          obj.line)
            return body
        return None

    def _bootstrap_source(self, node: KustomizationNode, kind: str, name: str) -> dict[str, Any] | None:
        """A substituteFrom ConfigMap/Secret no Kustomization of the cluster renders, but that a file of the
        repository holds (its bootstrap applies it: scripts, Taskfiles, helmfile hooks): the data of the file
        nearest to the cluster's entry folder, with an info note saying so."""
        applied = self.bootstrap_sources.get((kind, node.key.namespace, name))
        if applied is not None:
            body, file, line, how = applied
            self._provide(body, how, file, line)
            node.notes.append(EngineNote(
                "substitute-from-bootstrap", f"postBuild.substituteFrom {kind}/{name} is not applied by a Kustomization "
                f"of cluster {self.cluster} before this one: {how} from {file}", node.file, node.line,
                hint="declare it under `in_cluster:` in .greenfield.yaml (or --substitute-from) to make this explicit"))
            return body
        if kind == "Secret":
            created = self._external_secret(node.key.namespace, name)
            if created is not None:
                return created
        candidates = [(file, line, body) for file, line, body in
                      self.bootstrap.repository_sources.get((kind, name), [])
                      if str(as_dict(body.get("metadata")).get("namespace") or node.key.namespace)
                      == node.key.namespace]
        if not candidates:
            return None

        def affinity(candidate: tuple[str, int, dict[str, Any]]) -> tuple[int, str, int]:
            shared = posixpath.commonpath([candidate[0], self.entry]) if self.entry else ""
            return (-len(shared.split("/")) if shared else 0, candidate[0], candidate[1])

        file, line, body = sorted(candidates, key=affinity)[0]
        node.notes.append(EngineNote(
            "substitute-from-bootstrap",
            f"postBuild.substituteFrom {kind}/{name} is not applied by a Kustomization of cluster {self.cluster} "
            f"before this one; {file} holds it and the repository's bootstrap is expected to apply it (Flux fails "
            "this Kustomization if it is not in the cluster): its data is used", node.file, node.line,
            hint="declare it under `in_cluster:` in .greenfield.yaml (or --substitute-from) to make this explicit"))
        self._provide(body, f"expected from the bootstrap ({file})", file, line)
        return body

    def _substituted(self, node: KustomizationNode, output: BuildOutput, variables: dict[str, str]
                     ) -> list[dict[str, Any] | None]:
        """The build's documents after postBuild substitution (None where it failed), notes on the node; from
        the memo when this very build was substituted with the same variables before."""
        key = ""
        if self.memo is not None:
            digest = hashlib.sha256(json.dumps(
                [self.cluster, str(node.key), self.options.strict, sorted(variables.items()),
                 sorted(node.opaque_variables), output.origins, output.documents], sort_keys=True, default=str
            ).encode())
            key = digest.hexdigest()
            hit = self.memo.get(key)
            if hit is not None:
                stored = json.loads(hit)
                node.notes.extend(EngineNote(**note) for note in stored["notes"])
                return list(stored["bodies"])
        first_note = len(node.notes)
        bodies: list[dict[str, Any] | None] = []
        for body, (file, line) in zip(output.documents, output.origins, strict=False):
            body = json.loads(json.dumps(body))  # private copy: the builder may share cached documents
            bodies.append(body if subst.is_disabled(body) else self._substitute(node, body, variables, file, line))
        if self.memo is not None:
            notes = [asdict(note) for note in node.notes[first_note:]]
            self.memo[key] = json.dumps({"bodies": bodies, "notes": notes}, separators=(",", ":"), default=str)
        return bodies

    def _substitute(self, node: KustomizationNode, body: dict[str, Any], variables: dict[str, str],
                    file: str, line: int) -> dict[str, Any] | None:
        label = object_label(body)
        outcome = subst.substitute_object(body, variables, strict=self.options.strict)
        if outcome.body is None:
            kind = {"yaml": "substitution-invalid-yaml", "syntax": "substitution-syntax",
                    "strict": "undefined-variable"}.get(outcome.error_kind, "substitution-syntax")
            node.notes.append(EngineNote(kind, f"{outcome.error} (Flux fails this Kustomization)", file, line,
                                         object=label))
            return None
        expansion = outcome.expansion
        if expansion is None or not expansion.references:
            return outcome.body
        opaque = set(node.opaque_variables)
        # "*": a source whose keys are only known in the cluster (an ExternalSecret with dataFrom)
        undefined = set() if ANY_KEY in opaque else {ref.name for ref in expansion.undefined}
        reported: set[tuple[str, str]] = set()
        if undefined:
            for path, text in subst.walk_strings(body):
                if "${" not in text:
                    continue
                for name in sorted(undefined):
                    if not re.search(r"(?<!\$)\$\{#?" + re.escape(name) + r"(?![A-Za-z0-9_])", text):
                        continue
                    if (name, path) in reported:
                        continue
                    reported.add((name, path))
                    close = difflib.get_close_matches(name, list(variables), n=1, cutoff=0.8)
                    runtime = not close and ("\n" in text or name in RUNTIME_NAMES or not name.isupper())
                    kind = "runtime-placeholder" if runtime else "undefined-variable"
                    suggestion = f" (did you mean ${{{close[0]}}}?)" if close else ""
                    node.notes.append(EngineNote(
                        kind, f"${{{name}}} at {path} is not defined for cluster {self.cluster}: Flux replaces it "
                        f"with an empty string{suggestion}", file, line, object=label,
                        detail={"variable": name, "path": path}))
            if not reported:
                for name in sorted(undefined):
                    node.notes.append(EngineNote(
                        "undefined-variable", f"${{{name}}} is not defined for cluster {self.cluster}: Flux "
                        "replaces it with an empty string", file, line, object=label, detail={"variable": name}))
        result = outcome.body
        if not undefined:
            for path in subst.emptied_fields(body, result):
                node.notes.append(EngineNote(
                    "emptied-value", f"{path} became empty after substitution", file, line, object=label,
                    detail={"path": path}))
        if any(ref.name in opaque for ref in expansion.references):
            return result
        before = dict(subst.walk_strings(body))
        for path, text in subst.walk_strings(result):
            if "${" in text and text.count("${") > before.get(path, "").count("$${"):
                node.notes.append(EngineNote(
                    "leftover", f"{path} still holds `${{` after substitution: a variable value contains an "
                    "unexpanded reference (values are not expanded recursively)", file, line, object=label,
                    detail={"path": path}))
        return result
