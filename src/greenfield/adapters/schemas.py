"""The schema store: built-in Kubernetes kinds, CRD schema locations (directories, URL templates with an
on-disk cache) and schemas derived from CRDs in the rendered tree, compiled once with jsonschema-rs.

Built-in kinds come from the `kubernetes-validate` package's *strict* schema files, read directly: the
`_definitions.json` of the chosen Kubernetes version is loaded once into a jsonschema-rs `Registry` (the
kind files reference it by URI) and each kind is compiled on first use. Loading and registering the
definitions takes ~20 ms, so no preprocessed form is cached on disk. Compiled validators are shared per
process (module-level caches keyed by Kubernetes version and location), so validating both clusters
compiles each schema once.

Lookup order for an (apiVersion, kind): built-in kinds, then CRDs found in the cluster's rendered tree (what
the cluster will really serve), then each configured location in order. A location is a directory laid out
`<group>/<kind>_<version>.json` (the shared catalog), a path template, or an http(s) URL template in
kubeconform's syntax; fetched documents are cached as `<cache_dir>/http/<sha256 of the URL>.json` and
never fetched again (misses are not cached on disk).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs

from greenfield.adapters import safe_read
from greenfield.adapters.cache import CacheStore
from greenfield.core.schema_validation import (
    DEFINITIONS_URI,
    CompiledSchema,
    SchemaMiss,
    SchemaValidator,
    crd_schemas,
    normalize_crd_schema,
)
from greenfield.errors import InputError, quoted

SCHEMAS_ENV = "GREENFIELD_SCHEMAS"
URL_TIMEOUT_SECONDS = 15.0
MISSING_TTL_SECONDS = 24 * 3600  # how long a 404 of a schema URL is believed

# Enumerations the Kubernetes API server enforces but the OpenAPI v2 documents behind kubernetes-validate
# do not carry (they come from `+enum` markers that only reach OpenAPI v3). "" is accepted where the
# API server defaults an empty value. Definition -> property -> allowed values (for arrays: of the items).
BUILTIN_ENUMS: dict[str, dict[str, list[str]]] = {
    "io.k8s.api.core.v1.ServiceSpec": {
        "type": ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"],
        "externalTrafficPolicy": ["Cluster", "Local"],
        "internalTrafficPolicy": ["Cluster", "Local"],
        "sessionAffinity": ["ClientIP", "None"],
        "ipFamilyPolicy": ["SingleStack", "PreferDualStack", "RequireDualStack"],
        "ipFamilies": ["IPv4", "IPv6"],
    },
    "io.k8s.api.core.v1.ServicePort": {"protocol": ["TCP", "UDP", "SCTP"]},
    "io.k8s.api.core.v1.ContainerPort": {"protocol": ["TCP", "UDP", "SCTP"]},
    "io.k8s.api.networking.v1.NetworkPolicyPort": {"protocol": ["TCP", "UDP", "SCTP"]},
    "io.k8s.api.networking.v1.NetworkPolicySpec": {"policyTypes": ["Ingress", "Egress"]},
    "io.k8s.api.core.v1.Container": {
        "imagePullPolicy": ["Always", "Never", "IfNotPresent"],
        "terminationMessagePolicy": ["File", "FallbackToLogsOnError"],
    },
    "io.k8s.api.core.v1.EphemeralContainer": {
        "imagePullPolicy": ["Always", "Never", "IfNotPresent"],
        "terminationMessagePolicy": ["File", "FallbackToLogsOnError"],
    },
    "io.k8s.api.core.v1.PodSpec": {
        "restartPolicy": ["Always", "OnFailure", "Never"],
        "dnsPolicy": ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        "preemptionPolicy": ["PreemptLowerPriority", "Never"],
    },
    "io.k8s.api.core.v1.PodSecurityContext": {"fsGroupChangePolicy": ["OnRootMismatch", "Always"]},
    "io.k8s.api.core.v1.SeccompProfile": {"type": ["Localhost", "RuntimeDefault", "Unconfined"]},
    "io.k8s.api.core.v1.AppArmorProfile": {"type": ["Localhost", "RuntimeDefault", "Unconfined"]},
    "io.k8s.api.core.v1.HTTPGetAction": {"scheme": ["HTTP", "HTTPS"]},
    "io.k8s.api.core.v1.Toleration": {
        "operator": ["Exists", "Equal"],
        "effect": ["NoSchedule", "PreferNoSchedule", "NoExecute"],
    },
    "io.k8s.api.core.v1.NodeSelectorRequirement": {"operator": ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]},
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement": {
        "operator": ["In", "NotIn", "Exists", "DoesNotExist"],
    },
    "io.k8s.api.core.v1.TopologySpreadConstraint": {
        "whenUnsatisfiable": ["DoNotSchedule", "ScheduleAnyway"],
        "nodeAffinityPolicy": ["Honor", "Ignore"],
        "nodeTaintsPolicy": ["Honor", "Ignore"],
    },
    "io.k8s.api.core.v1.PersistentVolumeClaimSpec": {
        "volumeMode": ["Block", "Filesystem"],
        "accessModes": ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"],
    },
    "io.k8s.api.apps.v1.DeploymentStrategy": {"type": ["Recreate", "RollingUpdate"]},
    "io.k8s.api.apps.v1.DaemonSetUpdateStrategy": {"type": ["RollingUpdate", "OnDelete"]},
    "io.k8s.api.apps.v1.StatefulSetUpdateStrategy": {"type": ["RollingUpdate", "OnDelete"]},
    "io.k8s.api.apps.v1.StatefulSetSpec": {"podManagementPolicy": ["OrderedReady", "Parallel"]},
    "io.k8s.api.batch.v1.CronJobSpec": {"concurrencyPolicy": ["Allow", "Forbid", "Replace"]},
    "io.k8s.api.batch.v1.JobSpec": {
        "completionMode": ["NonIndexed", "Indexed"],
        "podReplacementPolicy": ["TerminatingOrFailed", "Failed"],
    },
    "io.k8s.api.networking.v1.HTTPIngressPath": {"pathType": ["Exact", "Prefix", "ImplementationSpecific"]},
    "io.k8s.api.policy.v1.PodDisruptionBudgetSpec": {"unhealthyPodEvictionPolicy": ["IfHealthyBudget", "AlwaysAllow"]},
    "io.k8s.api.rbac.v1.Subject": {"kind": ["User", "Group", "ServiceAccount"]},
}


# --------------------------------------------------------------------------------------------------
# Built-in kinds (kubernetes-validate)


def _kubernetes_validate_root() -> Path:
    spec = importlib.util.find_spec("kubernetes_validate")  # located without importing it (slow import)
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the kubernetes-validate package is not installed",
                         hint="run ./scripts/setup (it is a pinned dependency)")
    return Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"


def _minor(version: str) -> tuple[int, int]:
    match = re.match(r"^v?(\d+)\.(\d+)", version.strip())
    if not match:
        raise InputError(f"not a Kubernetes version: {quoted(version)}", hint="use MAJOR.MINOR[.PATCH], e.g. 1.34.1")
    return int(match.group(1)), int(match.group(2))


def builtin_versions() -> list[str]:
    """Kubernetes MAJOR.MINOR versions with strict built-in schemas, oldest first."""
    found = []
    root = _kubernetes_validate_root()
    for entry in root.iterdir() if root.is_dir() else []:
        match = re.match(r"^v(\d+)\.(\d+)\.\d+-local-strict$", entry.name)
        if match:
            found.append((int(match.group(1)), int(match.group(2))))
    return [f"{major}.{minor}" for major, minor in sorted(found)]


def _builtin_directory(kubernetes_version: str) -> tuple[Path, str]:
    """The strict schema folder of a version's MAJOR.MINOR (patch ignored). A version without its own schemas is
    an error naming the supported ones: validating a newer cluster with older schemas would silently accept
    fields it does not serve, and reject the ones it added."""
    wanted = _minor(kubernetes_version)
    supported = builtin_versions()
    if not supported:
        raise InputError("kubernetes-validate ships no strict schemas", hint="reinstall it with ./scripts/setup")
    if wanted not in [_minor(v) for v in supported]:
        raise InputError(f"no built-in schemas for Kubernetes {kubernetes_version}",
                         hint=f"supported: {', '.join(supported)}; pass --kubernetes-version (or set "
                              "kubernetes_version in .greenfield.yaml) to one of them, or --no-schema")
    major, minor = wanted
    return _kubernetes_validate_root() / f"v{major}.{minor}.0-local-strict", f"{major}.{minor}"


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


NOT_RESOURCES = frozenset({"DeleteOptions", "WatchEvent", "Status", "APIGroup", "APIVersions", "APIResourceList",
                           "APIGroupList"})


class BuiltinSchemas:
    """Strict schemas of the built-in kinds of one Kubernetes version, compiled on first use."""

    def __init__(self, kubernetes_version: str) -> None:
        self.directory, self.version = _builtin_directory(kubernetes_version)
        self._files = {entry.name for entry in self.directory.iterdir()}
        self._registry: Any = None
        self._definitions: dict[str, Any] | None = None
        self._compiled: dict[tuple[str, str], CompiledSchema | None] = {}

    @property
    def source(self) -> str:
        return f"kubernetes {self.version} (built-in)"

    def definitions(self) -> dict[str, Any]:
        if self._definitions is None:
            document = json.loads((self.directory / "_definitions.json").read_text(encoding="utf-8"))
            _add_enums(document.get("$defs") or {})
            self._definitions = document
        return self._definitions

    @property
    def registry(self) -> Any:
        """A jsonschema-rs Registry holding the definitions (ObjectMeta and friends) under DEFINITIONS_URI."""
        if self._registry is None:
            self._registry = jsonschema_rs.Registry([(DEFINITIONS_URI, self.definitions())])
        return self._registry

    @staticmethod
    def file_name(api_version: str, kind: str) -> str:
        group, version = _split_api_version(api_version)
        prefix = f"-{group.split('.')[0]}" if group else ""
        return f"{kind.lower()}{prefix}-{version}.json"

    def lookup(self, api_version: str, kind: str) -> CompiledSchema | None:
        key = (api_version, kind)
        if key in self._compiled:
            return self._compiled[key]
        compiled = None
        name = self.file_name(api_version, kind)
        if name in self._files and not name.startswith("_"):
            document = json.loads((self.directory / name).read_text(encoding="utf-8"))
            group, version = _split_api_version(api_version)
            gvks = document.get("x-kubernetes-group-version-kind") or []
            if any(g.get("group") == group and g.get("version") == version and g.get("kind") == kind for g in gvks):
                compiled = CompiledSchema(
                    jsonschema_rs.validator_for(document, registry=self.registry, offline=True),
                    self.source, {str(document.get("$id", "")): document, DEFINITIONS_URI: self.definitions()})
        self._compiled[key] = compiled
        return compiled

    def served_api_versions(self) -> tuple[str, ...]:
        """What this version's discovery lists for built-in kinds: "group/version" and "group/version/Kind"
        (helm's capabilities as helm-controller sees them from a live API server)."""
        served: set[str] = set()
        for document in (self.definitions().get("$defs") or {}).values():
            for gvk in document.get("x-kubernetes-group-version-kind") or []:
                kind = str(gvk.get("kind") or "")
                if not kind or kind in NOT_RESOURCES or kind.endswith("List"):
                    continue
                group_version = f"{gvk['group']}/{gvk['version']}" if gvk.get("group") else str(gvk["version"])
                served.update((group_version, f"{group_version}/{kind}"))
        return tuple(sorted(served))

    def known_versions(self, kind: str) -> tuple[str, ...]:
        """apiVersions that have a built-in schema for this kind (for "did you mean" hints)."""
        found = []
        prefix = kind.lower() + "-"
        for name in sorted(self._files):
            if not name.startswith(prefix):
                continue
            document = json.loads((self.directory / name).read_text(encoding="utf-8"))
            for gvk in document.get("x-kubernetes-group-version-kind") or []:
                if gvk.get("kind") == kind:
                    group = gvk.get("group") or ""
                    found.append(f"{group}/{gvk['version']}" if group else str(gvk["version"]))
        return tuple(dict.fromkeys(found))


def _add_enums(definitions: dict[str, Any]) -> None:
    for name, properties in BUILTIN_ENUMS.items():
        definition = definitions.get(name)
        if not isinstance(definition, dict):
            continue
        for prop, values in properties.items():
            target = (definition.get("properties") or {}).get(prop)
            if isinstance(target, dict) and "array" in _types(target) and isinstance(target.get("items"), dict):
                target = target["items"]
            if isinstance(target, dict) and "enum" not in target and "string" in _types(target):
                target["enum"] = [*values, "", None]


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type")
    return [kind] if isinstance(kind, str) else list(kind) if isinstance(kind, list) else []


def export_standalone(builtin: BuiltinSchemas, directory: Path) -> int:
    """Write kubeconform-readable copies of the built-in kind schemas (same data, enum overlay included):
    `<kind>-<group prefix>-<version>.json` with the definitions each uses inlined as `$defs`, for
    `kubeconform -schema-location '<directory>/{{ .ResourceKind }}{{ .KindSuffix }}.json'`. Returns the count."""
    definitions = builtin.definitions()["$defs"]

    def collect(node: Any, found: set[str]) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and "#/$defs/" in ref:
                name = ref.split("#/$defs/", 1)[1]
                if name not in found and name in definitions:
                    found.add(name)
                    collect(definitions[name], found)
            for value in node.values():
                collect(value, found)
        elif isinstance(node, list):
            for value in node:
                collect(value, found)

    directory.mkdir(parents=True, exist_ok=True)
    written = 0
    for path in sorted(builtin.directory.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        if not document.get("x-kubernetes-group-version-kind"):
            continue
        used: set[str] = set()
        collect(document, used)
        document.pop("$id", None)
        document["$defs"] = {name: definitions[name] for name in sorted(used)}
        text = json.dumps(document).replace('"/api/_definitions.json#/$defs/', '"#/$defs/')
        (directory / path.name).write_text(text, encoding="utf-8")
        written += 1
    return written


# --------------------------------------------------------------------------------------------------
# CRD schema locations: directories, path templates, URL templates


_TEMPLATE_VARIABLE = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")
_TEMPLATE_NAMES = {"Group", "ResourceKind", "ResourceAPIVersion", "KindSuffix", "NormalizedKubernetesVersion",
                   "StrictSuffix"}


def render_template(template: str, api_version: str, kind: str, kubernetes_version: str) -> str:
    """kubeconform's location templates: {{.Group}}, {{.ResourceKind}} (lower case), {{.ResourceAPIVersion}},
    {{.KindSuffix}}, {{.NormalizedKubernetesVersion}} (vX.Y.Z) and {{.StrictSuffix}} ("-strict")."""
    group, version = _split_api_version(api_version)
    values = {
        "Group": group,
        "ResourceKind": kind.lower(),
        "ResourceAPIVersion": version,
        "KindSuffix": f"-{group.split('.')[0]}-{version}".lower() if group else f"-{version}".lower(),
        "NormalizedKubernetesVersion": "v" + kubernetes_version.lstrip("v"),
        "StrictSuffix": "-strict",
    }
    return _TEMPLATE_VARIABLE.sub(lambda match: values[match.group(1)], template)


@dataclass
class _Location:
    """One configured CRD schema location; compiled schemas are cached per (apiVersion, kind)."""

    spec: str
    builtin: BuiltinSchemas
    cache_dir: Path
    fetch: Callable[[str], bytes | None]
    public_only: bool = False  # a URL template the repository configured: https to public addresses only
    _compiled: dict[tuple[str, str], CompiledSchema | str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(_TEMPLATE_VARIABLE.findall(self.spec)) - _TEMPLATE_NAMES
        if unknown:
            raise InputError(f"unknown template variable {{{{.{sorted(unknown)[0]}}}}} in schema location",
                             path=self.spec, hint=f"known: {', '.join(sorted(_TEMPLATE_NAMES))}")
        self.is_url = self.spec.startswith(("http://", "https://"))
        if not self.is_url and "{{" not in self.spec and not Path(self.spec).is_dir():
            raise InputError("schema location is not a directory", path=self.spec,
                             hint="give a directory laid out <group>/<kind>_<version>.json, a path template "
                                  "or an http(s) URL template")

    def address(self, api_version: str, kind: str) -> str:
        if self.is_url or "{{" in self.spec:
            return render_template(self.spec, api_version, kind, self.builtin.version)
        group, version = _split_api_version(api_version)
        return str(Path(self.spec) / (group or "core") / f"{kind.lower()}_{version}.json")

    def lookup(self, api_version: str, kind: str) -> CompiledSchema | str | None:
        """The compiled schema, None when this location has none, or a problem description."""
        key = (api_version, kind)
        if key not in self._compiled:
            self._compiled[key] = self._load(api_version, kind)
        return self._compiled[key]

    def _load(self, api_version: str, kind: str) -> CompiledSchema | str | None:
        address = self.address(api_version, kind)
        try:
            raw = self._read_url(address) if self.is_url else _read_file(Path(address))
        except OSError as error:
            return f"{address}: {error}"
        if raw is None:
            return None
        try:
            document = json.loads(raw)
        except ValueError as error:
            return f"{address}: not JSON ({error})"
        if not isinstance(document, dict):
            return f"{address}: not a JSON schema object"
        base_uri = address if self.is_url else Path(address).resolve().as_uri()
        return _compile_crd_schema(normalize_crd_schema(document), base_uri, address, self.builtin)

    def _read_url(self, url: str) -> bytes | None:
        store = CacheStore(self.cache_dir)
        name = "http/" + hashlib.sha256(url.encode()).hexdigest()[:40] + ".json"
        cached = store.read(name)  # verified (sealed) entries only
        if cached is not None:
            return cached.encode("utf-8", "surrogateescape")
        absent = name[:-len(".json")] + ".missing"  # a 404 is remembered for a day: fetched once, not every run
        seen = store.read(absent)
        with contextlib.suppress(ValueError):
            if seen is not None and time.time() - float(seen) < MISSING_TTL_SECONDS:
                return None
        if self.public_only:
            refusal = non_public_url(url)
            if refusal:
                raise OSError(f"not fetched: {refusal} (a schema URL from the repository's config must be https to a "
                              "public address; pass it with --schemas to fetch it anyway)")
        data = self.fetch(url)
        if data is None:
            store.write(absent, str(time.time()))
        if data is not None:
            try:
                json.loads(data)  # only valid JSON goes into the cache; the caller reports the rest
            except ValueError:
                return data
            store.write(name, data.decode("utf-8", "surrogateescape"))
        return data


def _read_file(path: Path) -> bytes | None:
    """A schema file of a user's schema location: None when absent; bounded, regular files only (safe_read)."""
    if not os.path.lexists(path):
        return None
    return safe_read.read_bytes(path)


def non_public_url(url: str) -> str:
    """Why a URL a repository (not the user) configured must not be fetched, or "": an untrusted repository's
    config could otherwise make a CI runner request its own network (cloud metadata, internal services).
    Names are resolved here and every address must be global; a name that re-resolves later is not covered."""
    import ipaddress
    import socket
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return f"{parts.scheme or 'no'} scheme"
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as error:
        return f"cannot resolve {parts.hostname} ({error})"
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            return f"{parts.hostname} resolves to the non-public address {address}"
    return ""


def fetch_url(url: str) -> bytes | None:
    """GET a schema; None on 404 (no schema there), OSError for anything else."""
    import urllib.error  # only schema URLs need it: not loaded on every start
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "greenfield-schema-store"})
    try:
        with urllib.request.urlopen(request, timeout=URL_TIMEOUT_SECONDS) as response:
            data: bytes = response.read()
            return data
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise OSError(f"HTTP {error.code}") from error
    except urllib.error.URLError as error:
        raise OSError(f"cannot fetch: {error.reason}") from error


def _compile_crd_schema(schema: dict[str, Any], base_uri: str, source: str,
                        builtin: BuiltinSchemas) -> CompiledSchema | str:
    try:
        validator = jsonschema_rs.validator_for(schema, registry=builtin.registry, base_uri=base_uri, offline=True)
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as error:
        return f"{source}: not a usable JSON schema ({str(error).splitlines()[0]})"
    return CompiledSchema(validator, source, {base_uri: schema, DEFINITIONS_URI: builtin.definitions()})


# --------------------------------------------------------------------------------------------------
# Schemas derived from CRDs in the rendered tree


class DerivedSchemas:
    """Strict schemas of the CustomResourceDefinitions found in a rendered tree (one cluster)."""

    def __init__(self, crds: list[dict[str, Any]], builtin: BuiltinSchemas) -> None:
        self.builtin = builtin
        self._crds: dict[tuple[str, str], dict[str, Any]] = {}
        for crd in crds:
            spec = crd.get("spec") if isinstance(crd, dict) else None
            if not isinstance(spec, dict):
                continue
            group, names = spec.get("group"), spec.get("names")
            kind = names.get("kind") if isinstance(names, dict) else None
            for version in spec.get("versions") or []:
                if isinstance(version, dict) and isinstance(group, str) and isinstance(kind, str):
                    self._crds.setdefault((f"{group}/{version.get('name')}", kind), crd)
        self._compiled: dict[tuple[str, str], CompiledSchema | str | None] = {}

    def __len__(self) -> int:
        return len({id(crd) for crd in self._crds.values()})

    def lookup(self, api_version: str, kind: str) -> CompiledSchema | str | None:
        key = (api_version, kind)
        if key not in self._compiled:
            crd = self._crds.get(key)
            schema = crd_schemas(crd).get(key) if crd is not None else None
            name = str((crd or {}).get("metadata", {}).get("name", ""))
            self._compiled[key] = None if schema is None else _compile_crd_schema(
                schema, f"https://greenfield.invalid/crds/{name}/{key[0]}", f"CRD {name} (rendered tree)", self.builtin)
        return self._compiled[key]


# --------------------------------------------------------------------------------------------------
# The store


_BUILTINS: dict[str, BuiltinSchemas] = {}
_LOCATIONS: dict[tuple[str, str, str, bool], _Location] = {}


def builtin_schemas(kubernetes_version: str) -> BuiltinSchemas:
    """Per-process cache: one BuiltinSchemas per effective Kubernetes version."""
    _, effective = _builtin_directory(kubernetes_version)
    if effective not in _BUILTINS:
        _BUILTINS[effective] = BuiltinSchemas(effective)
    return _BUILTINS[effective]


def default_schema_locations() -> list[str]:
    """The CRD schema locations when none are configured: $GREENFIELD_SCHEMAS if it is set."""
    configured = os.environ.get(SCHEMAS_ENV, "")
    return [configured] if configured else []


def _location(spec: str, builtin: BuiltinSchemas, cache_dir: Path,
              fetch: Callable[[str], bytes | None], public_only: bool) -> _Location:
    key = (spec, builtin.version, str(cache_dir), public_only)
    if key not in _LOCATIONS or _LOCATIONS[key].fetch is not fetch:
        _LOCATIONS[key] = _Location(spec, builtin, cache_dir, fetch, public_only)
    return _LOCATIONS[key]


class SchemaStore:
    """Looks an (apiVersion, kind) up: built-in kinds, then CRDs of the rendered tree, then each location."""

    def __init__(self, kubernetes_version: str, crd_locations: list[str], cache_dir: Path,
                 derived_crds: list[dict[str, Any]], fetch: Callable[[str], bytes | None] = fetch_url,
                 repository_locations: frozenset[str] = frozenset()) -> None:
        self.builtin = builtin_schemas(kubernetes_version)
        self.locations = [_location(spec, self.builtin, cache_dir, fetch, spec in repository_locations)
                          for spec in crd_locations if spec not in ("default", "builtin")]
        self.derived = DerivedSchemas(derived_crds, self.builtin)

    def describe(self) -> str:
        return (f"kubernetes {self.builtin.version} built-in schemas, {len(self.locations)} schema location(s), "
                f"{len(self.derived)} CRD(s) from the rendered tree")

    def lookup(self, api_version: str, kind: str) -> CompiledSchema | SchemaMiss:
        tried = [self.builtin.source]
        problems: list[str] = []
        found = self.builtin.lookup(api_version, kind)
        if found is not None:
            return found
        derived = self.derived.lookup(api_version, kind)
        if isinstance(derived, CompiledSchema):
            return derived
        if isinstance(derived, str):
            problems.append(derived)
        tried.append("CRDs in the rendered tree")
        for location in self.locations:
            result = location.lookup(api_version, kind)
            if isinstance(result, CompiledSchema):
                return result
            tried.append(location.address(api_version, kind))
            if isinstance(result, str):
                problems.append(result)
        group = _split_api_version(api_version)[0]
        builtin_group = "." not in group or group.endswith(".k8s.io")  # a CRD's kind may share a built-in name
        known = self.builtin.known_versions(kind) if builtin_group else ()
        return SchemaMiss(tuple(tried), tuple(problems), known)


def build_schema_validator(kubernetes_version: str, crd_locations: list[str], cache_dir: Path,
                           derived_crds: list[dict[str, Any]],
                           fetch: Callable[[str], bytes | None] = fetch_url,
                           repository_locations: frozenset[str] = frozenset()) -> SchemaValidator:
    """A validator for one cluster. Built-in and location schemas are compiled once per process and shared
    between validators; `derived_crds` are the CustomResourceDefinition bodies of this cluster's tree
    (`greenfield.core.schema_validation.derived_crds(objects)`). URL templates in `repository_locations` come
    from the repository's own config and are fetched only from public https addresses (`non_public_url`)."""
    store = SchemaStore(kubernetes_version, crd_locations, cache_dir, derived_crds, fetch, repository_locations)
    return SchemaValidator(store.lookup, description=store.describe())
