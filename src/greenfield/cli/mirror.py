"""`greenfield mirror`: push the charts to an OCI registry mirror and write the cluster-root patches that
point the repository's chart sources at it (air-gapped clusters; git stays unchanged)."""

from __future__ import annotations

from pathlib import Path

import typer

from greenfield.app.mirror import DEFAULT_PATH, mirror
from greenfield.cli.common import OutputFormat, RepoOption, print_json, repo_option, say, styled


def mirror_command(
    registry: str = typer.Option(..., "--registry", help="The mirror, HOST:PORT (e.g. 127.0.0.1:5000 or "
                                 "harbor.example.internal)."),
    chart_dir: list[Path] = typer.Option([], "--chart-dir", help="Folder of packaged charts (<name>-<version>.tgz) "
                                         "to push (repeatable)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Folder for the patch files (<cluster>.yaml); "
                                       "default: only report."),
    cluster: list[str] = typer.Option([], "--cluster", "-c", help="Cluster of platform.yaml (default: all)."),
    cluster_path: list[str] = typer.Option([], "--cluster-path", help="Entry folder of a cluster (named after the folder) "
                                           "(repeatable), for repositories without platform.yaml."),
    path: str = typer.Option(DEFAULT_PATH, "--path", help="Repository path in the registry for the charts."),
    push: bool = typer.Option(True, "--push/--no-push", help="Push the charts (--no-push: the mirror has them)."),
    plain_http: bool = typer.Option(True, "--plain-http/--tls", help="Talk plain HTTP to the registry (a mirror on "
                                    "127.0.0.1) or TLS."),
    repo: Path | None = RepoOption,
    format_: OutputFormat = typer.Option(OutputFormat.TEXT, "--format"),
) -> None:
    """Mirror the charts into REGISTRY and write, per cluster, the root Kustomization patch that points every
    OCIRepository/HelmRepository whose chart is mirrored at oci://REGISTRY/PATH."""
    root = repo_option(repo)
    quiet = format_ == OutputFormat.JSON
    report = mirror(root, registry, chart_dir, clusters=cluster, cluster_paths=cluster_path, output=output,
                    path=path, push=push, plain_http=plain_http,
                    progress=None if quiet else (lambda message: say(message, err=True)))
    if quiet:
        print_json(report.to_json())
        return
    say(f"mirror oci://{report.registry}: {len(report.charts)} charts" + (" pushed" if push else ""))
    for name, plan in report.plans.items():
        written = report.files.get(name)
        say(f"{name}: {len(plan.rewrites)} sources rewritten, {len(plan.unmirrored)} left as is"
            + (f" -> {written}" if written else ""))
        for entry in plan.unmirrored:
            say("   ", styled("left as is", "yellow"), f" {entry}")


def register(app: typer.Typer) -> None:
    app.command("mirror")(mirror_command)
