"""`greenfield cluster create|health|destroy|soft-destroy`, `greenfield reproduce`, `greenfield talos gen`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from greenfield.adapters.age import default_key_file
from greenfield.app.bootstrap import Bootstrap, CreateOptions, CreateReport
from greenfield.app.health import check_health
from greenfield.app.inventory import load_inventory
from greenfield.app.reproduce import destroy, reproduce, soft_destroy
from greenfield.app.talos import find_talosctl, generate, summary
from greenfield.cli.common import OutputFormat, RepoOption, cell, console, print_json, repo_option, say, styled
from greenfield.core.health import Status
from greenfield.core.health_catalog import Layer

app = typer.Typer(help="Create, check and destroy clusters (local control plane or Talos nodes).",
                  no_args_is_help=True)
talos_app = typer.Typer(help="Talos machine configs from the inventory.", no_args_is_help=True)


class TargetChoice(StrEnum):
    LOCAL = "local"
    TALOS = "talos"


class CrdSourceChoice(StrEnum):
    SCHEMAS = "schemas"
    CHARTS = "charts"


TargetOption = typer.Option(TargetChoice.LOCAL, "--target", help="local: the local control plane; talos: real nodes.")
STATUS_STYLE = {"done": "green", "unchanged": "cyan", "planned": "blue", "skipped": "yellow", "failed": "red"}
CHECK_STYLE = {Status.PASS: "green", Status.FAIL: "red", Status.MISSING: "red", Status.PENDING: "yellow",
               Status.NOT_APPLICABLE: "dim"}


def _progress(phase: str, message: str) -> None:
    say(styled(f"{phase:>10}", "dim"), f" {message}", err=True)


def _options(target: TargetChoice, dry_run: bool = False, from_phase: str | None = None,
             crd_source: CrdSourceChoice | None = None, chart_dir: Path | None = None,
             skip_validate: bool = False, timeout: float = 300.0, git_url: str | None = None) -> CreateOptions:
    return CreateOptions(target=target.value, dry_run=dry_run, from_phase=from_phase,
                         crd_source=crd_source.value if crd_source else None,
                         chart_dir=chart_dir, skip_validate=skip_validate, timeout_s=timeout, git_url=git_url)


def _print_create(report: CreateReport) -> None:
    if report.plan:
        for phase in report.plan:
            say(styled(phase.name, "bold"), f" ({phase.story})")
            for action in phase.actions:
                say(f"  - {action.description}")
                if action.command:
                    say(f"      $ {' '.join(action.command)}", style="dim")
                for obj in action.objects[:20]:
                    say(f"      {obj}", style="dim")
                if len(action.objects) > 20:
                    say(f"      ... {len(action.objects) - 20} more", style="dim")
            for key, value in phase.summary.items():
                say(f"  {key}: {value}", style="dim")
        return
    table = Table(title=cell(f"cluster create {report.cluster} ({report.target})"))
    for column in ("phase", "story", "status", "seconds", "detail"):
        table.add_column(column)
    for result in report.phases:
        style = STATUS_STYLE.get(result.status, "")
        table.add_row(cell(result.name), cell(result.story), cell(result.status, style), cell(f"{result.seconds:.1f}"),
                      cell(result.detail[:200]))
    console.print(table)
    for rejection in report.rejected:
        say(styled("rejected", "red"), f" {rejection}")
    if report.ok:
        say(styled("no changes" if not report.changed else "cluster converged", "green"))


@app.command("create")
def create(
    cluster: str = typer.Argument(..., help="Cluster of platform.yaml."),
    target: TargetChoice = TargetOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the phases, commands and objects; change nothing."),
    from_phase: str | None = typer.Option(None, "--from", help="Resume at this phase (earlier ones must be done)."),
    crd_source: CrdSourceChoice | None = typer.Option(None, "--crd-source",
                                                      help="schemas (catalog; default on local) or charts."),
    chart_dir: Path | None = typer.Option(None, "--chart-dir", help="Charts as <name>-<version>/ or .tgz."),
    skip_validate: bool = typer.Option(False, "--skip-validate", help="Do not require a clean validation."),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds to wait for the API."),
    git_url: str | None = typer.Option(None, "--git-url", help="URL for the flux-system GitRepository (default: "
                                       "git's; after `local up --with-flux`: the local git http-backend server)."),
    repo: Path | None = RepoOption,
    output: OutputFormat = typer.Option(OutputFormat.TEXT, "--format"),
) -> None:
    """Talos → API → CRDs (phase 0) → core (phase 2) → Flux sync; idempotent and resumable."""
    root = repo_option(repo)
    options = _options(target, dry_run, from_phase, crd_source, chart_dir, skip_validate, timeout, git_url)
    bootstrap = Bootstrap(root, cluster, options, None if output == OutputFormat.JSON else _progress)
    report = bootstrap.run()
    if output == OutputFormat.JSON:
        print_json({"cluster": cluster, "target": target.value, "ok": report.ok, "changed": report.changed,
                    "phases": [p.to_dict() for p in report.phases], "rejected": report.rejected,
                    "plan": [{"phase": p.name, "story": p.story, "summary": p.summary,
                              "actions": [{"description": a.description, "command": a.command, "objects": a.objects}
                                          for a in p.actions]} for p in report.plan]})
    else:
        _print_create(report)
    raise typer.Exit(0 if report.ok else 1)


@app.command("health")
def health(
    cluster: str = typer.Argument(..., help="Cluster of platform.yaml."),
    layer: list[Layer] = typer.Option([], "--layer", help="Layer(s) to check (default: all)."),
    target: TargetChoice = TargetOption,
    repo: Path | None = RepoOption,
    output: OutputFormat = typer.Option(OutputFormat.TEXT, "--format"),
) -> None:
    """Layered health against the cluster's API; writes evidence for the story board."""
    root = repo_option(repo)
    bootstrap = Bootstrap(root, cluster, _options(target))
    report = check_health(bootstrap.api(), bootstrap.render(), target.value, list(layer) or None, root)
    if output == OutputFormat.JSON:
        print_json(report.to_dict())
    else:
        table = Table(title=cell(f"health of {cluster} ({target.value}: {report.target.nodes} nodes, Flux controllers "
                                 f"{'yes' if report.target.flux_controllers else 'no'})"))
        for column in ("layer", "story", "check", "status", "reason"):
            table.add_column(column)
        for result in report.results:
            style = CHECK_STYLE[result.status]
            table.add_row(cell(result.layer), cell(result.story), cell(result.check), cell(result.status, style),
                          cell(result.reason[:120]))
        console.print(table)
        counts = ", ".join(f"{v} {k}" for k, v in report.to_dict()["summary"].items() if v)
        say(styled("healthy", "green") if report.ok else styled("not healthy", "red"), f" {counts}")
    raise typer.Exit(0 if report.ok else 1)


@app.command("destroy")
def destroy_command(
    cluster: str = typer.Argument(...),
    target: TargetChoice = TargetOption,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    repo: Path | None = RepoOption,
) -> None:
    """Destroy the cluster completely (local: stop and wipe; Talos: reset every node)."""
    root = repo_option(repo)
    if not yes and not typer.confirm(f"Destroy cluster {cluster} ({target.value})? Everything on it is lost"):
        raise typer.Exit(1)
    say(destroy(root, cluster, _options(target), _progress))


@app.command("soft-destroy")
def soft_destroy_command(
    cluster: str = typer.Argument(...),
    target: TargetChoice = TargetOption,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    repo: Path | None = RepoOption,
) -> None:
    """Remove every Flux-managed object, keep the nodes, CRDs and bootstrap core."""
    root = repo_option(repo)
    if not yes and not typer.confirm(f"Delete every Flux-managed object of {cluster}?"):
        raise typer.Exit(1)
    deleted = soft_destroy(root, cluster, _options(target), _progress)
    say(f"deleted {len(deleted)} objects")


def reproduce_command(
    cluster: str = typer.Argument(...),
    target: TargetChoice = TargetOption,
    health_timeout: float = typer.Option(600.0, "--health-timeout", help="Seconds to wait for health."),
    repo: Path | None = RepoOption,
    output: OutputFormat = typer.Option(OutputFormat.TEXT, "--format"),
) -> None:
    """Snapshot → destroy → create → wait healthy → snapshot → compare (story 50)."""
    root = repo_option(repo)
    report = reproduce(root, cluster, _options(target), None if output == OutputFormat.JSON else _progress,
                       health_timeout)
    if output == OutputFormat.JSON:
        print_json(report.to_dict())
    else:
        for name, seconds in report.timings.items():
            say(f"{name:>16} {seconds:7.1f}s")
        for difference in report.differences:
            say(styled("difference", "red"), f" {difference}")
        if report.problem:
            say(styled("problem", "red"), f" {report.problem}")
        verdict = styled("reproducible", "green") if report.ok else styled("not reproducible", "red")
        say(verdict, f": {len(report.before)} objects before, {len(report.after)} after, "
            f"{len(report.differences)} differences")
    raise typer.Exit(0 if report.ok else 1)


@talos_app.command("gen")
def talos_gen(
    cluster: str = typer.Argument(...),
    key_file: Path | None = typer.Option(None, "--age-key-file", help="age identity (default: SOPS_AGE_KEY_FILE "
                                                                        "or ~/.config/sops/age/keys.txt)."),
    repo: Path | None = RepoOption,
    output: OutputFormat = typer.Option(OutputFormat.TEXT, "--format"),
) -> None:
    """Cluster secrets (once, SOPS+age) and per-node machine configs validated with talosctl."""
    root = repo_option(repo)
    inventory = load_inventory(root / "platform.yaml", "platform.yaml")
    result = generate(root, inventory, cluster, talosctl=find_talosctl(root), key_file=key_file or default_key_file(),
                      progress=(lambda _m: None) if output == OutputFormat.JSON else lambda m: _progress("talos", m))
    data = summary(result, root)
    if output == OutputFormat.JSON:
        print_json(data)
        return
    if result.key_created:
        say(styled("created an age identity", "yellow"), f" in {key_file or default_key_file()}: back it up")
    say(f"secrets: {data['secrets']} ({'created' if result.secrets_created else 'reused'}, encrypted)")
    for node, path in result.configs.items():
        say(styled("valid", "green"), f" {node}: {path.relative_to(root)} (gitignored)")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="cluster")
    root.add_typer(talos_app, name="talos")
    root.command("reproduce")(reproduce_command)
