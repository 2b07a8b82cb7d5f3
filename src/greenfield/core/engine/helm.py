"""HelmReleases: chart sources, values (valuesFrom, targetPath, inline), the chart requests the renderer
templates (api versions, post renderers, lookups) and the rendered objects."""

from __future__ import annotations

import base64
import json
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from greenfield.core import goyaml
from greenfield.core.engine.bodies import as_dict, normalise_path
from greenfield.core.engine.requests import ChartRenderer, ChartRequest
from greenfield.core.engine.sources import SourceResolution, source_data
from greenfield.core.model import HELM_RELEASE, HelmReleaseInfo, NamespacedName, RenderedObject, api_group


def merge_values(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's MergeMaps: nested maps merge, everything else is replaced."""
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_values(result[key], value)
        else:
            result[key] = value
    return result


def _typed(value: str) -> Any:
    lowered = value.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered == "null":
        return None
    if re.fullmatch(r"-?[0-9]+", value) and not (len(value) > 1 and value.lstrip("-").startswith("0")):
        return int(value)
    return value


def set_path(values: dict[str, Any], path: str, raw: str) -> dict[str, Any]:
    """helm-controller's targetPath: strvals-style dotted path; quoted values stay strings."""
    quoted = len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\""
    value: Any = raw.strip("'\"") if quoted else _typed(raw)
    parts = [p.replace("\\.", ".") for p in re.split(r"(?<!\\)\.", path)]
    current = values
    for part in parts[:-1]:
        child = current.get(part)
        if not isinstance(child, dict):
            child = {}
            current[part] = child
        current = child
    current[parts[-1]] = value
    return values


class HelmReleases(SourceResolution):
    """HelmReleases of the render: their chart sources and values, and the charts templated into them."""

    def _helm_releases(self) -> None:
        index: dict[tuple[str, str, str], RenderedObject] = {}
        for obj in self.render.objects:
            index.setdefault((obj.kind, obj.namespace, obj.name), obj)
        for obj in self.render.objects:
            if not obj.is_kind(*HELM_RELEASE):
                continue
            key = NamespacedName(obj.namespace, obj.name)
            info = HelmReleaseInfo(key=key, cluster=self.cluster, kustomization=obj.kustomization, body=obj.body,
                                   file=obj.file)
            spec = obj.spec
            chart_ref = as_dict(spec.get("chartRef"))
            chart_spec = as_dict(as_dict(spec.get("chart")).get("spec"))
            if chart_ref:
                kind = str(chart_ref.get("kind", ""))
                source = NamespacedName(str(chart_ref.get("namespace") or obj.namespace), str(chart_ref.get("name", "")))
                info.source_kind, info.source = kind, source
                found = index.get((kind, source.namespace, source.name))
                if found is not None and kind == "OCIRepository":
                    info.source_url = str(found.spec.get("url", ""))
                    info.chart = info.source_url.rstrip("/").rsplit("/", 1)[-1] if info.source_url else ""
                    ref = as_dict(found.spec.get("ref"))
                    info.version = str(ref.get("digest") or ref.get("tag") or ref.get("semver") or "")
                elif found is not None and kind == "HelmChart":
                    info.values_files = [str(v) for v in found.spec.get("valuesFiles") or [] if isinstance(v, str)]
                    info.ignore_missing_values_files = bool(found.spec.get("ignoreMissingValuesFiles"))
                    info.chart = str(found.spec.get("chart", ""))
                    info.version = str(found.spec.get("version", ""))
                    inner = as_dict(found.spec.get("sourceRef"))
                    repo = index.get((str(inner.get("kind", "")), found.namespace, str(inner.get("name", ""))))
                    info.source_url = str(repo.spec.get("url", "")) if repo is not None else ""
                    inner_namespace = str(inner.get("namespace") or found.namespace)
                    if str(inner.get("kind", "")) == "GitRepository" and self._is_local_source(
                            "GitRepository", inner_namespace, str(inner.get("name", ""))):
                        info.chart_path = normalise_path(info.chart) or ""
            elif chart_spec:
                reference = as_dict(chart_spec.get("sourceRef"))
                kind = str(reference.get("kind", ""))
                source = NamespacedName(str(reference.get("namespace") or obj.namespace), str(reference.get("name", "")))
                info.source_kind, info.source = kind, source
                info.chart = str(chart_spec.get("chart", ""))
                info.version = str(chart_spec.get("version") or "")
                info.values_files = [str(v) for v in chart_spec.get("valuesFiles") or [] if isinstance(v, str)]
                info.ignore_missing_values_files = bool(chart_spec.get("ignoreMissingValuesFiles"))
                found = index.get((kind, source.namespace, source.name))
                if found is not None:
                    info.source_url = str(found.spec.get("url", ""))
                if kind == "GitRepository" and self._is_local_source(kind, source.namespace, source.name):
                    info.chart_path = normalise_path(info.chart) or ""
            target_namespace = str(spec.get("targetNamespace") or "")
            info.release_namespace = target_namespace or obj.namespace
            info.release_name = str(spec.get("releaseName") or (
                f"{target_namespace}-{obj.name}" if target_namespace else obj.name))
            values: dict[str, Any] = {}
            for reference in spec.get("valuesFrom") or []:
                if not isinstance(reference, dict):
                    continue
                found = index.get((str(reference.get("kind", "")), obj.namespace, str(reference.get("name", ""))))
                if found is None or found.encrypted:
                    continue
                data, _ = source_data(found.body)
                raw = data.get(str(reference.get("valuesKey") or "values.yaml"))
                if raw is None:
                    continue
                target = reference.get("targetPath")
                if target:
                    values = set_path(values, str(target), raw)
                    continue
                try:
                    parsed = goyaml.load(str(raw), goyaml.K8S)  # helm-controller reads it with sigs.k8s.io/yaml
                except goyaml.GoYAMLError:
                    continue
                if isinstance(parsed, dict):
                    values = merge_values(values, parsed)
            inline = spec.get("values")
            if isinstance(inline, dict):
                values = merge_values(values, inline)
            info.values = values
            self.render.helm_releases.setdefault(key, info)
        if self.options.charts is not None:
            self._render_charts(self.options.charts)

    def _render_charts(self, charts: ChartRenderer) -> None:
        """Template every chart the renderer can find; their objects join the HelmRelease's Kustomization.

        helm gets the API versions the cluster would serve: built-in ones and those of every CRD of the tree;
        when the charts render CRDs of their own, the charts that ask .Capabilities are templated again with
        those too (in the cluster every CRD exists once its release is installed)."""
        releases = [info for info in self.render.helm_releases.values() if info.chart or info.chart_path]
        if not releases:
            return
        served = api_versions(self.options.api_versions, (obj.body for obj in self.render.objects))
        requests = [self._chart_request(info, served) for info in releases]
        outputs = charts.render_many(requests)
        rendered_crds = [d for output in outputs for d in output.documents if _is_crd_body(d)]
        more = api_versions(served, rendered_crds)
        if len(more) > len(served):
            added = set(more) - set(served)
            again = [index for index, output in enumerate(outputs) if output.uses_capabilities and (
                output.asked_api_versions is None or added & set(output.asked_api_versions))]
            if again:
                redone = charts.render_many([replace(requests[index], api_versions=more) for index in again])
                for index, output in zip(again, redone, strict=True):
                    outputs[index] = output
        nodes = {("" if node.synthetic else str(node.key)): node for node in self.render.kustomizations.values()}
        scopes = self._scopes(body for output in outputs for body in output.documents)
        for info, output in zip(releases, outputs, strict=True):
            node = nodes.get(info.kustomization)
            if node is not None:
                node.inputs.extend(name for name in output.inputs if name not in node.inputs)
            if not output.found:
                continue
            info.chart_file = output.file
            info.chart_approximate = output.approximate
            if output.skipped:
                info.chart_skipped = output.skipped
                continue
            if output.error:
                info.chart_error = output.error
                continue
            info.rendered = True
            info.unknown_values = list(output.unknown_values)
            if node is None:
                continue
            origin = posixpath.basename(info.chart_path) if info.chart_path else info.chart
            origin += f"-{info.version}" if info.version else ""
            origin += f" (HelmRelease {info.key})"
            sources = output.sources + [output.file] * (len(output.documents) - len(output.sources))
            crds = output.crds + [False] * (len(output.documents) - len(output.crds))
            generated = output.generated + [False] * (len(output.documents) - len(output.generated))
            for body, source, crd, made in zip(output.documents, sources, crds, generated, strict=False):
                body = json.loads(json.dumps(body))
                metadata = body.setdefault("metadata", {})
                if isinstance(metadata, dict) and not metadata.get("namespace") and scopes.cluster_scoped(
                        api_group(str(body.get("apiVersion", ""))), str(body.get("kind", ""))) is not True:
                    metadata["namespace"] = info.release_namespace
                node.objects.append(RenderedObject(body=body, cluster=self.cluster, kustomization=info.kustomization,
                                                   file=source or output.file, chart=origin, release=str(info.key),
                                                   chart_crd=crd, install_generated=made))

    def _chart_request(self, info: HelmReleaseInfo, served: tuple[str, ...]) -> ChartRequest:
        spec = as_dict(info.body.get("spec"))
        install = as_dict(spec.get("install"))
        return ChartRequest(
            release=info.release_name, namespace=info.release_namespace,
            chart=info.chart.rstrip("/").rsplit("/", 1)[-1], version=info.version, local_path=info.chart_path,
            values_json=json.dumps(info.values, sort_keys=True, default=str),
            include_crds=str(install.get("crds") or "Create") != "Skip", kube_version=self.options.kube_version,
            values_files=tuple(info.values_files), ignore_missing_values_files=info.ignore_missing_values_files,
            post_renderers_json=json.dumps(_kustomize_post_renderers(spec), sort_keys=True),
            common_metadata_json=json.dumps(as_dict(spec.get("commonMetadata")), sort_keys=True),
            origin=(info.key.namespace, info.key.name), api_versions=served,
            lookup_json=json.dumps(self._existing_before(info.kustomization), sort_keys=True),
            include_tests=as_dict(spec.get("test")).get("enable") is True)

    def _existing_before(self, kustomization: str) -> dict[str, Any]:
        """Secrets and ConfigMaps that exist once the Kustomizations applied before `kustomization` are ready
        (its dependsOn, transitively, and its ancestors): what a lookup at install time finds. Secrets an
        ExternalSecret creates have its keys (values unknown offline); SOPS-encrypted data is opaque."""
        nodes = {("" if node.synthetic else str(node.key)): node for node in self.render.kustomizations.values()}
        start = nodes.get(kustomization)
        if start is None:
            return {}
        seen: set[NamespacedName] = set()
        pending = [*start.depends_on, *([start.parent] if start.parent is not None else [])]
        while pending:
            key = pending.pop()
            if key in seen or key not in self.render.kustomizations:
                continue
            seen.add(key)
            node = self.render.kustomizations[key]
            pending.extend(node.depends_on)
            if node.parent is not None:
                pending.append(node.parent)
        found: dict[str, Any] = {}
        for key in sorted(seen):
            for obj in self.render.kustomizations[key].objects:
                for body in _lookup_bodies(obj):
                    metadata = as_dict(body.get("metadata"))
                    found[f"{body['apiVersion']}/{body['kind']}/{metadata.get('namespace', '')}/"
                          f"{metadata.get('name', '')}"] = body
        return found


OFFLINE_VALUE = base64.b64encode(b"greenfield-offline-placeholder").decode()


def _lookup_bodies(obj: RenderedObject) -> list[dict[str, Any]]:
    """The Secret/ConfigMap an object is or makes in the cluster, as a lookup returns it."""
    metadata = {"name": obj.name, "namespace": obj.namespace}
    if obj.kind in ("Secret", "ConfigMap") and api_group(obj.api_version) == "":
        data = as_dict(obj.body.get("data"))
        if obj.kind == "Secret":
            data = {key: OFFLINE_VALUE if obj.encrypted else value for key, value in data.items()}
            data.update({key: OFFLINE_VALUE if obj.encrypted else base64.b64encode(str(value).encode()).decode()
                         for key, value in as_dict(obj.body.get("stringData")).items()})
        return [{"apiVersion": "v1", "kind": obj.kind, "metadata": metadata, "data": data}]
    if obj.kind == "ExternalSecret" and api_group(obj.api_version) == "external-secrets.io":
        target = as_dict(obj.spec.get("target"))
        keys = [str(item.get("secretKey")) for item in obj.spec.get("data") or []
                if isinstance(item, dict) and item.get("secretKey")]
        keys += [str(key) for key in as_dict(as_dict(target.get("template")).get("data"))]
        return [{"apiVersion": "v1", "kind": "Secret",
                 "metadata": {**metadata, "name": str(target.get("name") or obj.name)},
                 "data": {key: OFFLINE_VALUE for key in keys}}]
    return []


def _is_crd_body(body: Mapping[str, Any]) -> bool:
    return str(body.get("kind", "")) == "CustomResourceDefinition" and \
        api_group(str(body.get("apiVersion", ""))) == "apiextensions.k8s.io"


def api_versions(base: Iterable[str], bodies: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """`base` plus "group/version" and "group/version/Kind" of every served version of the CRDs among
    `bodies`: what discovery lists once they are installed (sorted, no duplicates)."""
    served = set(base)
    for body in bodies:
        if not _is_crd_body(body):
            continue
        spec = as_dict(body.get("spec"))
        group, kind = str(spec.get("group") or ""), str(as_dict(spec.get("names")).get("kind") or "")
        for version in spec.get("versions") or []:
            if isinstance(version, dict) and version.get("name") and version.get("served") is not False and group:
                served.add(f"{group}/{version['name']}")
                if kind:
                    served.add(f"{group}/{version['name']}/{kind}")
    return tuple(sorted(served))


def _kustomize_post_renderers(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    renderers = []
    for entry in spec.get("postRenderers") or []:
        kustomize = as_dict(as_dict(entry).get("kustomize"))
        if kustomize:
            renderers.append({"patches": [p for p in kustomize.get("patches") or [] if isinstance(p, dict)],
                              "images": [i for i in kustomize.get("images") or [] if isinstance(i, dict)]})
    return renderers
