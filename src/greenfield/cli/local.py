"""`greenfield local up|status|down|kubeconfig`: a local control plane per cluster of the inventory."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from greenfield.adapters.gotools import ToolStatus
from greenfield.adapters.local_flux import LocalFlux
from greenfield.app.local import default_control_plane, local_down, local_status, local_up
from greenfield.cli.common import OutputFormat, RepoOption, err_console, plain, print_json, repo_option, say, styled

app = typer.Typer(help="Local Kubernetes control planes (etcd + kube-apiserver + kube-controller-manager) "
                       "per cluster, on 127.0.0.1.", no_args_is_help=True)

ClusterOption = typer.Option([], "--cluster", "-c", help="Cluster of platform.yaml (repeatable; default: all enabled).")


@app.command("up")
def up(
    cluster: list[str] = ClusterOption,
    repo: Path | None = RepoOption,
    no_build: bool = typer.Option(False, "--no-build", help="Fail instead of building missing tools."),
    with_flux: bool = typer.Option(False, "--with-flux", help="Also run source-, kustomize- and helm-controller "
                                   "against each cluster and serve this repository over git http-backend."),
    charts: Path | None = typer.Option(None, "--charts", help="With --with-flux: a folder of packaged charts "
                                       "(+ index.yaml) served as a Helm repository at http://127.0.0.1:PORT/charts/."),
    mirror: list[Path] = typer.Option([], "--mirror", help="With --with-flux: a folder of packaged charts "
                                      "(<name>-<version>.tgz, repeatable) pushed to the local OCI registry; the "
                                      "clusters' chart sources are pointed at it (greenfield mirror's patch)."),
    output: OutputFormat = typer.Option(OutputFormat.TEXT, "--format"),
) -> None:
    """Start (or keep) a control plane per cluster; builds missing tools first. Idempotent. With --with-flux also
    the Flux controllers, kube-scheduler and kwok with the inventory's nodes; without it, a Flux loop left by an
    earlier --with-flux is stopped (state is explicit)."""
    root = repo_option(repo)
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), TimeElapsedColumn(),
                        console=err_console, disable=output == OutputFormat.JSON)
    builds: dict[str, TaskID] = {}

    def on_build(name: str, status: ToolStatus | None) -> None:
        if status is None:
            builds[name] = progress.add_task(plain(f"go build {name}"), total=1)
        elif name in builds:
            progress.update(builds[name], completed=1, description=plain(f"built {name} {status.version}"))

    task = progress.add_task("starting", total=None)

    def on_step(name: str, step: str) -> None:
        progress.update(task, description=plain(f"{name}: {step}"))

    with progress:
        plane, states = local_up(root, cluster, build=not no_build, on_build=on_build, on_step=on_step,
                                 with_flux=with_flux, charts=charts, mirror_dirs=mirror)
        progress.update(task, description="ready", total=1, completed=1)
    flux = LocalFlux(plane)
    loops = {state.name: flux.info(state.name) for state in states if with_flux}
    if output == OutputFormat.JSON:
        print_json({"kubeconfig": str(plane.kubeconfig), "clusters": [s.to_json() for s in states],
                    "flux": {name: info.to_json() for name, info in loops.items() if info}})
        return
    for state in states:
        took = f"ready in {state.ready_s:.1f}s" if state.ready_s is not None else "ready"
        say(styled("up", "green"), f" {state.name}: {state.server} ({took}; context {state.name})")
        info = loops.get(state.name)
        if info:
            say(f"   flux: source/kustomize/helm-controller running; git {info.git_url}"
                + (f"; charts {info.charts_url}" if info.charts_url else ""))
            registry = (flux.wanted(state.name) or {}).get("registry")
            say("   fleet: kube-scheduler and kwok with the inventory's nodes"
                + (f"; chart mirror oci://{registry}/charts" if registry else ""))
    say(f"kubeconfig: {plane.kubeconfig}")
    say(f"try: kubectl --kubeconfig {plane.kubeconfig} --context {states[0].name} get ns" if states else "")


@app.command("status")
def status(
    cluster: list[str] = ClusterOption,
    repo: Path | None = RepoOption,
    output: OutputFormat = typer.Option(OutputFormat.TEXT, "--format"),
) -> None:
    """Per cluster: the recorded processes (running or not) and whether the API answers /readyz."""
    root = repo_option(repo)
    statuses = local_status(root, cluster)
    flux = LocalFlux(default_control_plane(root))
    loops = {s.name: flux.info(s.name) for s in statuses}
    if output == OutputFormat.JSON:
        print_json([{"name": s.name, "server": s.server, "running": s.running, "api_ready": s.api_ready,
                     "detail": s.detail,
                     "processes": [{"name": p.name, "pid": p.pid, "running": p.running} for p in s.processes],
                     "flux": info.to_json() if (info := loops.get(s.name)) else None}
                    for s in statuses])
    else:
        if not statuses:
            say("no local clusters (start them with: greenfield local up)")
        for s in statuses:
            state = styled("ready", "green") if s.api_ready else (styled("starting/unhealthy", "yellow") if s.running
                                                                  else styled("stopped", "red"))
            procs = ", ".join(f"{p.name} {p.pid}{'' if p.running else ' (gone)'}" for p in s.processes) or "-"
            say(f"{s.name}: ", state, f" {s.server} [{procs}]")
            info = loops.get(s.name)
            if info and any(p.name == "source-controller" for p in s.processes):
                say(f"   flux: git {info.git_url}" + (f"; charts {info.charts_url}" if info.charts_url else ""))
    raise typer.Exit(0 if statuses and all(s.api_ready for s in statuses) else 1)


@app.command("down")
def down(
    cluster: list[str] = ClusterOption,
    repo: Path | None = RepoOption,
    wipe: bool = typer.Option(False, "--wipe", help="Also delete the state (etcd data, PKI, kubeconfig)."),
) -> None:
    """Stop the processes this tool started (by recorded pid); --wipe removes the state too."""
    stopped = local_down(repo_option(repo), cluster, wipe=wipe)
    say(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    if wipe:
        say("state wiped")


@app.command("kubeconfig")
def kubeconfig(repo: Path | None = RepoOption) -> None:
    """Print the path of the kubeconfig (one context per local cluster, named after it)."""
    typer.echo(str(default_control_plane(repo_option(repo)).kubeconfig))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="local")
