"""`greenfield validate`: the offline Flux emulation and every rule, for people (Rich) and machines."""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from greenfield.app.prefetch import Prefetch
from greenfield.cli.common import cell, console, line, progress, repo_option, say, styled
from greenfield.core.findings import Finding, Severity
from greenfield.core.model import chart_status
from greenfield.errors import InputError

if TYPE_CHECKING:
    from greenfield.app.validate import ValidationReport

app = typer.Typer(help="Render every cluster offline as Flux would and report what breaks reconciliation.")


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"
    JUNIT = "junit"
    GITHUB = "github"
    SARIF = "sarif"


_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def finding_line(item: Finding) -> str:
    where = item.location()
    obj = f" {item.object}" if item.object else ""
    hint = f" (hint: {item.hint})" if item.hint else ""
    return f"{item.severity} {item.rule} {where}{obj}: {item.message}{hint}"


def print_text(report: ValidationReport) -> None:
    table = Table(title="greenfield validate", show_lines=False,
                  caption="obj objects, ks Flux Kustomizations, hr HelmReleases, err/warn/info findings, ✗ not built")
    table.add_column("cluster / Kustomization", justify="left", no_wrap=True, overflow="ellipsis", max_width=38)
    for column in ("obj", "ks", "hr", "err", "warn", "info"):
        table.add_column(column, justify="right", no_wrap=True, min_width=len(column))
    by_place: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for item in report.findings:
        by_place[(item.cluster, item.kustomization)].append(item)
    for name, render in report.renders.items():
        counts = {s: sum(1 for f in report.findings if f.cluster == name and f.severity == s) for s in Severity}
        table.add_row(line(styled(name, "bold"), f" {render.entry}"), *map(cell, (
            len(render.objects), len(render.kustomizations), len(render.helm_releases), counts[Severity.ERROR],
            counts[Severity.WARNING], counts[Severity.INFO])))
        for node in render.ordered_kustomizations():
            label = "" if node.synthetic else str(node.key)
            found = by_place.get((name, label), [])
            if not found and node.built:
                continue
            releases = sum(1 for r in render.helm_releases.values() if r.kustomization == label)
            state = "  " if node.built else styled("✗ ", "red")
            table.add_row(line(state, label or "(entry)"), *map(cell, (
                len(node.objects), "", releases, sum(f.severity == Severity.ERROR for f in found),
                sum(f.severity == Severity.WARNING for f in found), sum(f.severity == Severity.INFO for f in found))))
    console.print(table)
    for (cluster, kustomization), items in sorted(by_place.items()):
        say(styled(cluster or "platform", "bold"), f" {kustomization or '(entry)'}")
        for item in items:
            say(f"  {finding_line(item)}", style=_STYLE[item.severity])
    counts = report.counts
    total = report.timings.get("total", 0.0)
    summary = (f"{counts[Severity.ERROR]} error(s), {counts[Severity.WARNING]} warning(s), "
               f"{counts[Severity.INFO]} info in {total:.2f}s "
               f"({int(report.timings.get('builds', 0))} kustomize builds, "
               f"{int(report.timings.get('cached_builds', 0))} cached)")
    charts = chart_status(report.renders)
    if charts.rendered or charts.failed:
        summary += f"; {charts.line()}"
    if report.changed_files is not None:
        summary += f"; --changed-since: {len(report.changed_files)} changed file(s)"
    for note in report.notes:
        say(f"note: {note}", style="yellow")
    say(summary, style="red" if counts[Severity.ERROR] else "green")


def print_junit(report: ValidationReport) -> None:
    from xml.sax.saxutils import escape, quoteattr  # only JUnit output needs it: not loaded on every start

    cases: list[str] = []
    failures = 0
    for name, render in report.renders.items():
        for node in render.ordered_kustomizations():
            label = "" if node.synthetic else str(node.key)
            found = [f for f in report.findings if f.cluster == name and f.kustomization == label]
            errors = [f for f in found if f.severity == Severity.ERROR]
            body = ""
            if errors:
                failures += 1
                text = "\n".join(finding_line(f) for f in found)
                body = f"<failure message={quoteattr(errors[0].message)}>{escape(text)}</failure>"
            cases.append(f'    <testcase classname={quoteattr("greenfield." + name)} '
                         f'name={quoteattr(label or "(entry)")}>{body}</testcase>')
    typer.echo('<?xml version="1.0" encoding="UTF-8"?>')
    typer.echo(f'<testsuites name="greenfield validate" tests="{len(cases)}" failures="{failures}">')
    typer.echo(f'  <testsuite name="greenfield validate" tests="{len(cases)}" failures="{failures}">')
    for case in cases:
        typer.echo(case)
    typer.echo("  </testsuite>")
    typer.echo("</testsuites>")


def _github_escape(value: str, property_value: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


def print_github(report: ValidationReport) -> None:
    level = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
    for item in report.findings:
        properties = [f"title={_github_escape(item.rule, True)}"]
        if item.file:
            properties.insert(0, f"file={_github_escape(item.file, True)}")
            if item.line:
                properties.insert(1, f"line={item.line}")
        message = f"{item.cluster}: {item.object + ': ' if item.object else ''}{item.message}"
        if item.hint:
            message += f" (hint: {item.hint})"
        typer.echo(f"::{level[item.severity]} {','.join(properties)}::{_github_escape(message)}")


def command(
    cluster: list[str] = typer.Option([], "--cluster", "-c", help="Cluster to validate (repeatable; default: all)."),
    repo: Path | None = typer.Option(None, "--repo", help="Repository root (default: found from the current folder)."),
    cluster_path: list[str] = typer.Option([], "--cluster-path",
                                           help="Entry folder of a cluster: NAME=PATH, or PATH (named after its last "
                                                "folder); repeatable."),
    config: Path | None = typer.Option(None, "--config",
                                       help="Repository config file (default: .greenfield.yaml at the root)."),
    substitute_from: list[Path] = typer.Option([], "--substitute-from",
                                               help="YAML file of ConfigMaps/Secrets that exist only in the cluster."),
    schemas: list[str] = typer.Option([], "--schemas", help="CRD schema location: folder or URL template (repeatable)."),
    kubernetes_version: str = typer.Option("", "--kubernetes-version", help="Kubernetes version of built-in schemas."),
    output: Format = typer.Option(Format.TEXT, "--format", "-o", help="text, json, junit, github or sarif."),
    changed_since: str = typer.Option("", "--changed-since", help="Only Kustomizations whose inputs changed since REV."),
    no_schema: bool = typer.Option(False, "--no-schema", help="Skip schema validation."),
    strict: bool = typer.Option(False, "--strict", help="Fail on warnings too."),
    strict_substitution: bool = typer.Option(False, "--strict-substitution",
                                             help="Emulate Flux's StrictPostBuildSubstitutions feature gate: an "
                                                  "undefined variable fails its whole Kustomization."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not use the kustomize build cache."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir",
                                          help="Cache base folder (default $XDG_CACHE_HOME/greenfield, else "
                                               "~/.cache/greenfield); one private folder per repository below it, "
                                               "never inside the repository."),
    chart_dir: list[Path] = typer.Option([], "--chart-dir",
                                         help="Folder of Helm charts (<name>-<version>/, <name>-<version>.tgz or "
                                              "<name>/) to render HelmReleases with (repeatable)."),
    no_charts: bool = typer.Option(False, "--no-charts",
                                   help="Render no chart of the configured chart folders (platform.yaml charts:)."),
    require_charts: bool = typer.Option(False, "--require-charts",
                                        help="Warn about every HelmRelease whose chart is not available locally."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display (there is none in CI or off a tty)."),
    strict_schemas: bool = typer.Option(False, "--strict-schemas",
                                        help="A kind without a schema is an error (default: info; on with house "
                                             "rules)."),
    house_rules: bool | None = typer.Option(None, "--house-rules/--no-house-rules",
                                            help="Run the house rules (PSA labels, privileged pods, story/*) "
                                                 "(default: when platform.yaml is at the repository root)."),
    rule: list[str] = typer.Option([], "--rule", help="RULE=error|warning|info|off: a rule's (or a prefix/'s) "
                                                      "severity (repeatable)."),
) -> None:
    """Render every cluster offline as Flux would and report what breaks reconciliation."""
    root = repo_option(repo)
    for folder in chart_dir:
        if not folder.is_dir():
            raise InputError("not a directory", path=str(folder), hint="--chart-dir takes a folder of charts")
    prefetch = None
    if not no_cache:
        prefetch = _early.pop() if _early and _early[-1].matches(root, cache_dir) else Prefetch(root, cache_dir)
    from greenfield.app.validate import ValidateOptions, validate_repository

    options = ValidateOptions(cluster_paths=cluster_path, substitute_from=substitute_from, schemas=schemas,
                              kubernetes_version=kubernetes_version, schema=not no_schema,
                              changed_since=changed_since, cache_dir=cache_dir, use_cache=not no_cache,
                              strict_substitution=strict_substitution, chart_dirs=chart_dir,
                              require_charts=require_charts, prefetch=prefetch, config_file=config,
                              strict_schemas=True if strict_schemas else None, house_rules=house_rules,
                              rules=_rule_overrides(rule), configured_charts=not no_charts)
    try:
        with progress("greenfield validate: rendering and checking", quiet):
            report = validate_repository(root, cluster, options)
    finally:
        for started in ([prefetch] if prefetch is not None else []) + _early:
            started.close()
        _early.clear()
    if output == Format.JSON:
        from greenfield.app.validate import cluster_summary

        typer.echo(json.dumps({"findings": [f.to_dict() for f in report.findings],
                               "clusters": cluster_summary(report)}, indent=2))
    elif output == Format.JUNIT:
        print_junit(report)
    elif output == Format.GITHUB:
        print_github(report)
    elif output == Format.SARIF:
        from greenfield.cli.sarif import sarif_log

        typer.echo(json.dumps(sarif_log(report), indent=2))
    else:
        print_text(report)
    if report.failed(strict):
        raise typer.Exit(1)


_early: list[Prefetch] = []


def _rule_overrides(values: list[str]) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for value in values:
        name, sep, level = value.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--rule {value}: expected RULE=error|warning|info|off",
                             hint="e.g. --rule policy/psa-label=off or --rule graph/=warning")
        overrides[name.strip()] = level.strip()
    return overrides


def _option(argv: Sequence[str], name: str) -> str | None:
    for index, word in enumerate(argv):
        if word == name and index + 1 < len(argv):
            return argv[index + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def prepare(argv: Sequence[str]) -> None:
    """Before the command line is parsed (parsing loads most of the CLI): start the builds whose inputs
    changed since the last run, so kustomize runs while Python loads. A guess from a quick look at argv; the
    command uses it only if it names the repository and cache it resolves itself."""
    if "--no-cache" in argv or "--help" in argv:
        return
    with contextlib.suppress(Exception):  # a wrong guess costs nothing: the command starts its own
        repo, cache = _option(argv, "--repo"), _option(argv, "--cache-dir")
        _early.append(Prefetch(repo_option(Path(repo) if repo else None), Path(cache) if cache else None))


def register(root: typer.Typer) -> None:
    root.command("validate")(command)
