"""`greenfield diff`: what a change does to the rendered clusters, for a terminal or a pull request.

Exit codes (like `git diff --exit-code` and `flux diff`): 0 no change in what Flux applies, 1 changes,
2 usage error, 3 the diff could not be made (unknown revision, not a git work tree, ...).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from greenfield.cli.common import progress, repo_option, say
from greenfield.errors import GreenfieldError

EXIT_NO_CHANGE = 0
EXIT_CHANGES = 1
EXIT_FAILED = 3


class DiffFormat(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    JSON = "json"
    HTML = "html"


def command(
    base: str = typer.Option("", "--base", help="Base revision (default: merge base of HEAD with the default branch)."),
    head: str = typer.Option("", "--head", help="Head revision (default: the work tree, uncommitted changes too)."),
    cluster: list[str] = typer.Option([], "--cluster", "-c", help="Cluster to compare (repeatable; default: all)."),
    repo: Path | None = typer.Option(None, "--repo", help="Repository root (default: found from the current folder)."),
    cluster_path: list[str] = typer.Option([], "--cluster-path", help="Entry folder of a cluster (repeatable)."),
    substitute_from: list[Path] = typer.Option([], "--substitute-from",
                                               help="YAML file of ConfigMaps/Secrets that exist only in the cluster."),
    kubernetes_version: str = typer.Option("", "--kubernetes-version", help="Kubernetes version for helm template."),
    output: DiffFormat = typer.Option(DiffFormat.TEXT, "--format", "-o", help="text, markdown, json or html."),
    out_file: Path | None = typer.Option(None, "--output-file", help="Write the diff to FILE instead of stdout."),
    max_size: int = typer.Option(0, "--max-size", help="Markdown: at most this many characters (default 60000)."),
    chart_dir: list[Path] = typer.Option([], "--chart-dir", help="Folder of Helm charts to render (repeatable)."),
    strict_substitution: bool = typer.Option(False, "--strict-substitution",
                                             help="Emulate Flux's StrictPostBuildSubstitutions feature gate."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not use the build caches."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Cache folder (default: validate's)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
) -> None:
    """Render two revisions and show what changes per cluster, Kustomization and object (exit 1 on changes)."""
    from greenfield.app.diff import DiffOptions, diff_repository, write_output
    from greenfield.core import diff_format as diff_output

    try:
        root = repo_option(repo)
        with progress("greenfield diff", quiet) as tell:
            options = DiffOptions(base=base, head=head, cluster_paths=cluster_path, substitute_from=substitute_from,
                                  kubernetes_version=kubernetes_version, cache_dir=cache_dir, use_cache=not no_cache,
                                  strict_substitution=strict_substitution, chart_dirs=chart_dir, progress=tell)
            result = diff_repository(root, cluster, options)
    except GreenfieldError as error:
        from greenfield.cli.main import debug_enabled

        if debug_enabled():
            raise
        say(f"greenfield: {error.render()}", err=True)
        raise typer.Exit(EXIT_FAILED) from error
    diff = result.diff
    if output == DiffFormat.TEXT and out_file is None:
        for text_line, style in diff_output.text_lines(diff):
            say(text_line, style=style)  # names and values from the repository print as text, escaped
    else:
        if output == DiffFormat.MARKDOWN:
            text = diff_output.markdown(diff, max_size or diff_output.DEFAULT_MARKDOWN_LIMIT)
        elif output == DiffFormat.JSON:
            text = diff_output.as_json(diff) + "\n"
        elif output == DiffFormat.HTML:
            text = diff_output.as_html(diff)
        else:
            text = "\n".join(line for line, _ in diff_output.text_lines(diff)) + "\n"
        if out_file is not None:
            write_output(out_file, text)
        else:
            typer.echo(text, nl=False)
    raise typer.Exit(EXIT_NO_CHANGE if diff.empty else EXIT_CHANGES)


def register(root: typer.Typer) -> None:
    root.command("diff")(command)
