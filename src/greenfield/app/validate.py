"""`greenfield validate`: render every cluster offline as Flux would, then run every rule and schema check.

`validate_repository(repo, clusters, options)` is the entry other use cases (the story board) call.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from greenfield.adapters import yamlio
from greenfield.adapters.git import Git
from greenfield.adapters.repo_config import LoadedConfig, load_repo_config
from greenfield.app.inventory import load_inventory
from greenfield.app.prefetch import Prefetch, default_cache_dir
from greenfield.app.render import ClusterTarget, RenderOptions, render_repository, select_clusters
from greenfield.core.engine import affected_kustomizations, changed_objects_scope
from greenfield.core.findings import Finding, Severity, count_by_severity
from greenfield.core.inventory import Inventory
from greenfield.core.model import ClusterRender, NamespacedName
from greenfield.core.repo_config import CONFIG_FILE as CONFIG
from greenfield.core.repo_config import rule_severity
from greenfield.core.rules.base import RuleContext, apply_rule_overrides, parse_rule_overrides, run_rules
from greenfield.core.rules.graph import bootstrap_groups
from greenfield.core.settings import cluster_settings
from greenfield.errors import CommandError, GreenfieldError, InputError

DEFAULT_KUBERNETES_VERSION = "1.34.1"


@dataclass
class ValidateOptions:
    cluster_paths: list[str] = field(default_factory=list)
    substitute_from: list[Path] = field(default_factory=list)
    schemas: list[str] = field(default_factory=list)  # CRD schema locations (dirs / URL templates)
    kubernetes_version: str = ""  # default: platform.yaml versions.kubernetes, else DEFAULT_KUBERNETES_VERSION
    schema: bool = True
    changed_since: str = ""
    cache_dir: Path | None = None
    use_cache: bool = True
    strict_substitution: bool = False  # emulate Flux's StrictPostBuildSubstitutions feature gate
    rule_options: dict[str, Any] = field(default_factory=dict)
    only_rules: list[str] = field(default_factory=list)  # rule id prefixes (default: all)
    chart_dirs: list[Path] = field(default_factory=list)  # --chart-dir: folders of <name>-<version>[.tgz] charts
    # chart folders whose charts are not built from the pinned release (results labelled approximate)
    approximate_chart_dirs: list[Path] = field(default_factory=list)
    configured_charts: bool = True  # without chart_dirs: the folders platform.yaml names (`charts:`)
    require_charts: bool = False  # a chart that is not available locally is a warning
    prefetch: Prefetch | None = None  # builds the CLI started before importing the rest (see app/prefetch.py)
    config_file: Path | None = None  # --config: the repository config file (default <repo>/.greenfield.yaml)
    house_rules: bool | None = None  # None: the repository decides (platform.yaml, .greenfield.yaml house_rules)
    strict_schemas: bool | None = None  # a missing schema is an error (None: .greenfield.yaml, else house rules)
    rules: dict[str, str] = field(default_factory=dict)  # per rule id / prefix: error|warning|info|off (wins)


@dataclass
class ValidationReport:
    repo: Path
    targets: list[ClusterTarget]
    renders: dict[str, ClusterRender]
    findings: list[Finding]
    timings: dict[str, float]
    changed_files: list[str] | None = None  # with --changed-since: the files that changed
    affected: dict[str, list[str]] = field(default_factory=dict)  # cluster -> affected Kustomizations
    notes: list[str] = field(default_factory=list)
    config: LoadedConfig | None = None

    @property
    def counts(self) -> dict[Severity, int]:
        return count_by_severity(self.findings)

    def failed(self, strict: bool = False) -> bool:
        counts = self.counts
        return counts[Severity.ERROR] > 0 or (strict and counts[Severity.WARNING] > 0)

    def for_files(self, prefixes: list[str]) -> list[Finding]:
        """Findings whose file starts with one of the prefixes (e.g. a story's paths)."""
        wanted = tuple(p.rstrip("/") for p in prefixes)
        return [f for f in self.findings if f.file and any(f.file == p or f.file.startswith(p + "/") for p in wanted)]

    def for_kustomizations(self, names: list[str]) -> list[Finding]:
        """Findings of the named Kustomizations ("namespace/name" or just "name")."""
        wanted = set(names)
        return [f for f in self.findings
                if f.kustomization and (f.kustomization in wanted or f.kustomization.split("/")[-1] in wanted)]


def _inventory(repo: Path) -> Inventory | None:
    path = repo / "platform.yaml"
    # present but not a regular file (a FIFO, a device, a dangling link): refused by the reader, not taken as absent
    return load_inventory(path, "platform.yaml") if os.path.lexists(path) else None


def changed_files(repo: Path, revision: str) -> list[str]:
    git = Git(repo)
    commit = git.commit(revision)  # a revision, never an option (`--output=FILE`)
    try:
        diff = git.run("diff", "--name-only", "--no-ext-diff", "--no-textconv", "--no-renames", commit, "--")
        untracked = git.run("ls-files", "--others", "--exclude-standard")
    except CommandError as error:
        raise InputError(f"cannot compare with {revision}: {error.problem}", path=str(repo),
                         hint="pass a revision git knows (e.g. origin/main, HEAD~1)") from error
    return sorted({line.strip() for line in (diff.stdout + untracked.stdout).splitlines() if line.strip()})


def _schema_findings(renders: dict[str, ClusterRender], version: str, locations: list[str], cache_dir: Path,
                     only: dict[str, set[str]] | None = None, repository_locations: frozenset[str] = frozenset()
                     ) -> tuple[list[Finding], list[str]]:
    try:
        from greenfield.adapters.schemas import build_schema_validator, default_schema_locations
        from greenfield.core.schema_validation import derived_crds
    except ImportError:  # pragma: no cover - the schema store is delivered separately
        return [], ["schema validation unavailable (greenfield.adapters.schemas missing)"]
    findings: list[Finding] = []
    # CRDs of the tree (and its charts) first, then the configured locations, then the catalog ($GREENFIELD_SCHEMAS)
    configured = list(dict.fromkeys([*locations, *default_schema_locations()]))
    for name, render in renders.items():
        if only is not None and not only.get(name):
            continue  # --changed-since: nothing of this cluster to validate, no validator to build
        objects = render.objects
        validator = build_schema_validator(version, configured, cache_dir, derived_crds(objects),
                                           repository_locations=repository_locations)
        if only is not None:  # --changed-since: only the affected Kustomizations' objects
            objects = [obj for obj in objects if obj.kustomization in only.get(name, set())]
        for item in validator.validate(objects):
            findings.append(item if item.cluster else replace(item, cluster=name))
    return findings, []


BOOTSTRAP_DEFINITIONS = "bootstrap/bootstrap.yaml"
REPOSITORY_CONFIG = ".greenfield.yaml"
TALOS_FILES = ("talconfig.yaml", "talenv.yaml")  # talhelper: `kubernetesVersion: v1.x.y`


def repository_config(repo: Path) -> dict[str, Any]:
    """The fields of the repository config file (`.greenfield.yaml`) the rules read: house_rules, rules,
    strict_schemas, kubernetes_version. (The config file's full model and its errors are core/repo_config.py's.)"""
    path = repo / REPOSITORY_CONFIG
    if not path.is_file():
        return {}
    document = yamlio.load_file(path, REPOSITORY_CONFIG)
    if not isinstance(document, dict):
        return {}
    wanted = ("house_rules", "rules", "strict_schemas", "kubernetes_version", "schemas")
    return {key: document[key] for key in wanted if key in document}


def talos_kubernetes_version(repo: Path) -> tuple[str, str] | None:
    """(version, file) of the newest `kubernetesVersion` the repository's Talos configuration pins (talhelper's
    talconfig.yaml / talenv.yaml), or None."""
    found: list[tuple[tuple[int, ...], str, str]] = []
    for name in TALOS_FILES:
        for path in sorted(repo.rglob(name)):
            if any(part.startswith(".") for part in path.relative_to(repo).parts):
                continue
            with contextlib.suppress(GreenfieldError, OSError):
                document = yamlio.load_file(path)
                value = str(document.get("kubernetesVersion") or "") if isinstance(document, dict) else ""
                numbers = re.match(r"^v?(\d+)\.(\d+)", value)
                if numbers:
                    found.append(((int(numbers[1]), int(numbers[2])), value.lstrip("v"),
                                  path.relative_to(repo).as_posix()))
    return (max(found)[1], max(found)[2]) if found else None


def repository_rule_options(repo: Path, inventory: Inventory | None, given: dict[str, Any]) -> dict[str, Any]:
    """Rule options the repository itself states: house rules (platform.yaml at the root, or `house_rules` in
    .greenfield.yaml), per-rule overrides, the bootstrap's CRD groups, the SPIRE flag; given ones win."""
    config = repository_config(repo)
    derived: dict[str, Any] = {"house_rules": bool(config.get("house_rules", (repo / "platform.yaml").is_file()))}
    if "rules" in config:
        derived["rules"] = config["rules"]
    definitions = repo / BOOTSTRAP_DEFINITIONS
    if definitions.is_file():
        # a broken definitions file is the bootstrap's to report; the rules then fall back to their defaults
        with contextlib.suppress(GreenfieldError):
            derived["bootstrap_crd_groups"] = sorted(bootstrap_groups([yamlio.load_file(definitions)]))
    if inventory is not None:
        derived["spire_enabled"] = inventory.platform.features.spire
        # Talos' default admission configuration (the platform runs Talos): PodSecurity enforces baseline where a
        # namespace has no label, and exempts kube-system
        derived["psa_default_level"] = "baseline"
        derived["psa_exempt_namespaces"] = ["kube-system"]
    return {**derived, **given}


def chart_folders(repo: Path, inventory: Inventory | None, options: ValidateOptions) -> tuple[list[Path], list[Path]]:
    """The chart folders to render with, and which of them are approximate: --chart-dir when given (it wins),
    else the `charts:` of platform.yaml (relative to it)."""
    if options.chart_dirs or not options.configured_charts or inventory is None:
        return list(options.chart_dirs), list(options.approximate_chart_dirs)
    folders = inventory.chart_folders()
    return ([Path(os.path.normpath(repo / folder.path)) for folder in folders],
            [Path(os.path.normpath(repo / folder.path)) for folder in folders if folder.approximate])


def _not_built_reason(node: Any) -> str:
    for note in node.notes:
        if note.kind in ("not-built", "parent-failed", "external-source", "substitute-from-missing", "path-missing",
                         "path-not-directory", "path-ignored", "kustomize", "invalid-yaml"):
            return str(note.message)
    return str(node.error or "not built")


def cluster_summary(report: ValidationReport) -> dict[str, dict[str, Any]]:
    """Per cluster, what was covered: Kustomizations found/built/not built (why), objects, HelmReleases, charts."""
    summary: dict[str, dict[str, Any]] = {}
    for name in sorted(report.renders):
        render = report.renders[name]
        nodes = [node for node in render.ordered_kustomizations() if not node.synthetic]
        not_built = [{"kustomization": str(node.key), "file": node.file, "reason": _not_built_reason(node)}
                     for node in nodes if not node.built]
        releases = sorted(render.helm_releases.values(), key=lambda info: info.key)
        not_rendered = [{"helm_release": str(info.key), "chart": info.chart_path or info.chart,
                         "version": info.version,
                         "reason": info.chart_error or info.chart_skipped or "chart not available locally"}
                        for info in releases if not info.rendered]
        counts = {severity.value: 0 for severity in Severity}
        for item in report.findings:
            if item.cluster == name:
                counts[item.severity.value] += 1
        summary[name] = {
            "entry": render.entry,
            "kustomizations": {"found": len(nodes), "built": sum(1 for node in nodes if node.built),
                               "not_built": not_built},
            "objects": len(render.objects),
            "provided_in_cluster": len(render.provided),
            "helm_releases": len(releases),
            "charts": {"rendered": sum(1 for info in releases if info.rendered), "not_rendered": not_rendered},
            "findings": counts,
        }
    return summary


def _source_copies(loaded: LoadedConfig) -> dict[str, Path]:
    copies = {}
    for key, folder in loaded.config.sources.items():
        path = loaded.path(folder)
        if not path.is_dir():
            raise InputError(f"sources: {key}: folder {folder} does not exist", path=str(loaded.file or CONFIG),
                             hint="point it at a local clone of that repository")
        copies[key] = path
    return copies


def configured_severities(findings: list[Finding], overrides: dict[str, str]) -> list[Finding]:
    """The config file's `rules:`: a rule (or prefix ending in "/") set to off drops its findings, another
    severity replaces theirs."""
    if not overrides:
        return findings
    kept = []
    for item in findings:
        wanted = rule_severity(overrides, item.rule)
        if wanted == "off":
            continue
        kept.append(replace(item, severity=Severity(wanted)) if wanted else item)
    return kept


def _kubernetes_versions(repo: Path, inventory: Inventory | None, options: ValidateOptions, config: dict[str, Any]
                         ) -> tuple[str, str, Finding | None]:
    """(the version charts are templated for, the version of the built-in schemas, an info finding when they
    differ). A version the user names (flag, .greenfield.yaml, platform.yaml) is used as is: without schemas for
    it, validation stops with an error. A version read from the Talos configuration is the repository's own
    claim: when no schemas exist for it the newest ones are used, and an info finding says so."""
    named = options.kubernetes_version or str(config.get("kubernetes_version") or "") or (
        inventory.platform.versions.kubernetes if inventory is not None else "")
    if named:
        return named, named, None
    talos = talos_kubernetes_version(repo)
    if talos is None:
        return DEFAULT_KUBERNETES_VERSION, DEFAULT_KUBERNETES_VERSION, None
    version, file = talos
    supported = builtin_schema_versions()
    if not supported or ".".join(version.split(".")[:2]) in supported:
        return version, version, None
    newest = supported[-1]
    note = Finding("schema/kubernetes-version", Severity.INFO,
                   f"{file} pins Kubernetes {version}; built-in schemas exist for {', '.join(supported)}: built-in "
                   f"kinds are validated with the {newest} schemas", file=file,
                   hint="set kubernetes_version in .greenfield.yaml (or --kubernetes-version) to choose the schemas")
    return version, newest, note


def builtin_schema_versions() -> list[str]:
    try:
        from greenfield.adapters.schemas import builtin_versions
    except ImportError:  # pragma: no cover - the schema store is delivered separately
        return []
    return builtin_versions()


def _check_schema_version(version: str) -> None:
    try:
        from greenfield.adapters.schemas import builtin_schemas
    except ImportError:  # pragma: no cover
        return
    builtin_schemas(version)


def _graded_schema_findings(findings: list[Finding], strict: bool) -> list[Finding]:
    """A missing schema is info (the live cluster knows whether the kind is served), an error with strict schemas."""
    wanted = Severity.ERROR if strict else Severity.INFO
    return [replace(f, severity=wanted) if f.rule == "schema/not-found" else f for f in findings]


def _label(render: ClusterRender, key: NamespacedName) -> str:
    return "" if render.kustomizations[key].synthetic else str(key)


def validate_repository(repo: Path, clusters: list[str] | None = None, options: ValidateOptions | None = None
                        ) -> ValidationReport:
    """Render the clusters (all by default), run every rule and the schema check; never raises for findings."""
    options = options or ValidateOptions()
    repo = repo.resolve()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    inventory = _inventory(repo)
    loaded = load_repo_config(repo, options.config_file)
    config = loaded.config
    targets = select_clusters(repo, inventory, list(clusters or []), options.cluster_paths, config.clusters)
    cache_dir = options.cache_dir  # the base (--cache-dir), None for the user's cache; never in the repository
    version, schema_version, version_note = _kubernetes_versions(
        repo, inventory, options, {"kubernetes_version": config.kubernetes_version or ""})
    if version.count(".") == 1:
        version += ".0"
    from_config = [item if "://" in item or "{" in item else str(loaded.path(item)) for item in config.schemas]
    schemas = [*options.schemas, *from_config]
    # the repository's own URL templates are untrusted input (a pull request can change them); the user's are not
    repository_urls = frozenset(item for item in from_config if "://" in item and item not in options.schemas)
    house_rules = options.house_rules if options.house_rules is not None else (
        config.house_rules if config.house_rules is not None else (repo / "platform.yaml").is_file())
    rules = {**dict(config.rules), **options.rules}
    try:
        overrides = parse_rule_overrides(rules)
    except ValueError as error:
        raise InputError(str(error), path=str(loaded.file or CONFIG),
                         hint="map a rule id (or a prefix ending in '/') to error, warning, info or off") from error
    strict_schemas = options.strict_schemas if options.strict_schemas is not None else bool(
        config.strict_schemas or house_rules)
    if options.schema:
        _check_schema_version(schema_version)  # an unsupported version fails before anything is rendered
    chart_dirs, approximate = chart_folders(repo, inventory, options)
    render_options = RenderOptions(cluster_paths=options.cluster_paths, substitute_from=options.substitute_from,
                                   cache_dir=cache_dir, use_cache=options.use_cache,
                                   strict=options.strict_substitution,
                                   chart_dirs=[*chart_dirs, *(loaded.path(c) for c in config.charts
                                                              if options.configured_charts)],
                                   approximate_chart_dirs=approximate,
                                   kube_version=version, prefetch=options.prefetch,
                                   in_cluster=[loaded.path(f) for f in config.in_cluster],
                                   sources=_source_copies(loaded))
    rendered = render_repository(repo, targets, render_options)
    timings["render"] = rendered.seconds
    renders = rendered.renders

    settings: dict[str, dict[str, str]] = {}
    if inventory is not None:
        for name in renders:
            if name in inventory.clusters:
                try:
                    settings[name] = cluster_settings(inventory, name)
                except (GreenfieldError, ValueError):
                    settings[name] = {}
    changed: list[str] | None = None
    affected: dict[str, set[str]] | None = None
    schema_scope: dict[str, set[str]] | None = None
    rule_clusters: list[str] | None = None
    if options.changed_since:
        changed = changed_files(repo, options.changed_since)
        affected, schema_scope = {}, {}
        for name, render in renders.items():
            keys = affected_kustomizations(render, changed)
            affected[name] = {_label(render, k) for k in keys}
            schema_scope[name] = {_label(render, k) for k in changed_objects_scope(render, changed, keys)}
        explained = {file for render in renders.values() for node in render.kustomizations.values()
                     for file in (*node.inputs, node.file)}
        if all(file in explained or not file.endswith((".yaml", ".yml")) for file in changed):
            # every change is a Kustomization input: clusters where nothing is affected keep no finding
            rule_clusters = [name for name in renders if affected[name]]

    step = time.perf_counter()
    given = {"require_charts": options.require_charts, "house_rules": house_rules, "rules": rules,
             "kubernetes_version": version, "rule_severity": dict(config.rules), "strict_schemas": strict_schemas,
             **options.rule_options}
    context = RuleContext(renders=renders, inventory=inventory, settings=settings,
                          options=repository_rule_options(repo, inventory, given))
    findings = run_rules(context, options.only_rules or None, rule_clusters)
    timings["rules"] = time.perf_counter() - step

    notes: list[str] = []
    if options.schema:
        step = time.perf_counter()
        schema_cache = default_cache_dir(repo, cache_dir) / "schemas"
        schema_findings, schema_notes = _schema_findings(renders, schema_version, schemas, schema_cache,
                                                         schema_scope, repository_urls)
        if version_note is not None:
            schema_findings.append(version_note)
        findings.extend(_graded_schema_findings(schema_findings, strict_schemas))
        notes.extend(schema_notes)
        timings["schema"] = time.perf_counter() - step

    findings = apply_rule_overrides(findings, overrides)  # the config file's and --rule's, also on schema findings
    report = ValidationReport(repo, targets, renders, [], timings, notes=notes, config=loaded)
    if changed is not None and affected is not None:
        report.changed_files = changed
        keep: list[Finding] = []
        for name in renders:
            labels = affected[name]
            report.affected[name] = sorted(label for label in labels if label)
            keep.extend(f for f in findings if f.cluster == name and (
                f.kustomization in labels or (f.file and f.file in changed)))
        keep.extend(f for f in findings if not f.cluster)
        findings = keep
    # every field in the key: findings equal in the first ones must not keep the set's (hash-seeded) order
    report.findings = sorted(set(findings), key=lambda f: (f.cluster, f.kustomization, f.file, f.line, f.rule,
                                                           f.message, f.object, f.severity, f.hint))
    timings["total"] = time.perf_counter() - started
    timings["builds"] = float(rendered.builds)
    timings["cached_builds"] = float(rendered.cached)
    return report
