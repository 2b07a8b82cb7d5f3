"""Benchmark `greenfield validate` on the reference platform (both clusters), cold and warm, against the
bare cost of running `kubectl kustomize` over the same paths, measured in the same run.

    .venv/bin/python benchmarks/bench_validate.py [--repo DIR] [--rounds N]

Targets (issue 3): warm <= 2 s; cold <= 3x bare kustomize. The machine is shared, so every figure is the
best of N rounds and the ratios compare numbers taken side by side.
With the real charts (platform.yaml `charts:`, issue 17): cold with every chart <= 3x the no-chart cold, warm
<= 2 s as a CLI. CPU seconds (user + sys of the CLI process) are printed too: on a loaded machine the wall time
mostly measures the other processes.
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from greenfield.adapters.command import Command
from greenfield.adapters.kustomize import kubectl_binary
from greenfield.app.validate import ValidateOptions, validate_repository

ROOT = Path(__file__).resolve().parents[1]


def _bare(repo: Path, paths: list[str], workers: int = 2) -> float:
    kubectl = str(kubectl_binary())

    def one(path: str) -> None:
        Command([kubectl, "kustomize", "--load-restrictor=LoadRestrictionsNone", str(repo / path)],
                timeout=120, allowed_exit_codes=frozenset(range(256))).run()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, paths))
    return time.perf_counter() - started


def _copy(repo: Path, into: Path) -> Path:
    """The platform (platform.yaml + kubernetes/) in a scratch git repository: the benchmark edits a file."""
    target = into / "repo"
    target.mkdir()
    if (repo / "platform.yaml").is_file():
        # its chart folders are relative to it (reference data next to the repository): made absolute
        text = (repo / "platform.yaml").read_text(encoding="utf-8")
        text = re.sub(r"(^\s*(?:- |path: |- path: ))(\.\.?/\S+)$",
                      lambda m: m.group(1) + os.path.normpath(repo / m.group(2)), text, flags=re.MULTILINE)
        (target / "platform.yaml").write_text(text, encoding="utf-8")
    shutil.copytree(repo / "kubernetes", target / "kubernetes", symlinks=True)
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "base"]):
        Command(["git", "-c", "user.email=bench@example.com", "-c", "user.name=bench", *args], cwd=target,
                timeout=120).run()
    return target


CPU: list[float] = []  # CPU seconds of the last CLI run


def _cli(repo: Path, cache: Path, *extra: str, schema: bool = True) -> float:
    argv = [sys.executable, "-m", "greenfield", "validate", "--repo", str(repo), "--cache-dir", str(cache),
            "--format", "json", *extra]
    if not schema:
        argv.append("--no-schema")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    Command(argv, timeout=600, allowed_exit_codes=frozenset({0, 1})).run()
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return elapsed


def _one_file_change(repo: Path, round_number: int) -> str:
    """Append a comment to one HelmRelease file: its Kustomization's build misses the cache (kustomize runs)."""
    paths = sorted((repo / "kubernetes").rglob("helmrelease.yaml")) or sorted((repo / "kubernetes").rglob("*.yaml"))
    path = paths[0]
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"# benchmark edit {round_number}\n")
    return path.relative_to(repo).as_posix()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-schema", action="store_true")
    args = parser.parse_args()
    source = args.repo.resolve()
    os.environ.setdefault("GREENFIELD_SCHEMAS", str(ROOT.parent / "shared" / "schemas" / "crds"))
    schema = not args.no_schema
    # an installed tool has its bytecode compiled (pip does it; ./run lets Python keep it): so does the CLI here
    compileall.compile_dir(str(ROOT / "src" / "greenfield"), quiet=1)

    colds, warms, clis, bares = [], [], [], []
    bare_colds, bare_clis, cpu, bare_cpu = [], [], [], []
    report = None
    with tempfile.TemporaryDirectory(prefix="greenfield-bench-") as scratch:
        repo = _copy(source, Path(scratch))
        for round_number in range(max(1, args.rounds)):
            plain = Path(scratch) / f"cache-plain-{round_number}"
            started = time.perf_counter()
            validate_repository(repo, None, ValidateOptions(cache_dir=plain, schema=schema, configured_charts=False))
            bare_colds.append(time.perf_counter() - started)
            cache = Path(scratch) / f"cache-{round_number}"
            options = ValidateOptions(cache_dir=cache, schema=schema)
            started = time.perf_counter()
            report = validate_repository(repo, None, options)
            colds.append(time.perf_counter() - started)
            paths = sorted({node.path for render in report.renders.values()
                            for node in render.kustomizations.values() if node.built or node.error})
            bares.append(_bare(repo, paths))
            started = time.perf_counter()
            validate_repository(repo, None, options)
            warms.append(time.perf_counter() - started)
            clis.append(_cli(repo, cache, schema=schema))
            cpu.append(CPU[-1])
            bare_clis.append(_cli(repo, plain, "--no-charts", schema=schema))
            bare_cpu.append(CPU[-1])
        # each measurement is the first run after a new edit: the edited Kustomization is built by kustomize
        changes = []
        for round_number in range(max(2, args.rounds)):
            changed_file = _one_file_change(repo, round_number)
            changes.append(_cli(repo, cache, "--changed-since", "HEAD", schema=schema))
        changed = min(changes)
        _one_file_change(repo, len(changes))
        started = time.perf_counter()
        Command([sys.executable, "-c", "import greenfield.cli.main, greenfield.app.validate"], timeout=120).run()
        imports = time.perf_counter() - started
        partial = validate_repository(repo, None, ValidateOptions(cache_dir=cache, schema=schema,
                                                                  changed_since="HEAD"))
    assert report is not None
    objects = sum(len(r.objects) for r in report.renders.values())
    kustomizations = sum(len(r.kustomizations) for r in report.renders.values())
    distinct = {node.path for r in report.renders.values() for node in r.kustomizations.values()}
    cold, warm, cli, bare = min(colds), min(warms), min(clis), min(bares)
    from greenfield.core.model import chart_status

    charts = chart_status(report.renders)
    plain_cold, plain_cli = min(bare_colds), min(bare_clis)
    print(f"clusters: {', '.join(report.renders)}; {kustomizations} Kustomizations ({len(distinct)} distinct "
          f"paths), {objects} objects, {len(report.findings)} findings; schema {'on' if schema else 'off'}")
    print(f"bare kubectl kustomize over the same paths (2 workers): {bare:.2f} s")
    print(f"validate cold (empty cache, in-process):  {cold:.2f} s  = {cold / bare:.2f}x bare kustomize  "
          "(target <= 3x)")
    print(f"validate warm (in-process):               {warm:.2f} s")
    print(f"validate warm (`greenfield validate` CLI, new process): {cli:.2f} s, {min(cpu):.2f} CPU s  "
          "(target <= 2 s)")
    print(f"charts: {charts.line()}")
    print(f"without charts (--no-charts): cold {plain_cold:.2f} s, warm CLI {plain_cli:.2f} s, "
          f"{min(bare_cpu):.2f} CPU s; with every chart: cold {cold:.2f} s = {cold / plain_cold:.2f}x the no-chart "
          "cold (target <= 3x)")
    print(f"--changed-since, first run after a one-file change ({changed_file}), CLI: {changed:.2f} s  "
          f"(target <= 0.5 s; runs {', '.join(f'{c:.2f}' for c in changes)})")
    affected = sum(len(names) for names in partial.affected.values())
    print(f"  of which: interpreter + imports (new process) {imports:.2f} s; in-process render "
          f"{partial.timings.get('render', 0):.2f} s, rules {partial.timings.get('rules', 0):.2f} s, schema "
          f"{partial.timings.get('schema', 0):.2f} s (second run in this process: schemas already compiled); "
          f"{affected} affected Kustomizations")
    print(f"rounds: {len(colds)}; no-chart cold {', '.join(f'{c:.2f}' for c in bare_colds)}; "
          f"cold {', '.join(f'{c:.2f}' for c in colds)}; "
          f"warm {', '.join(f'{w:.2f}' for w in warms)}; cli {', '.join(f'{c:.2f}' for c in clis)}; "
          f"bare {', '.join(f'{b:.2f}' for b in bares)}")
    met = {"cold <= 3x bare": cold <= 3 * bare, "warm CLI <= 2 s": cli <= 2.0, "changed-since <= 0.5 s": changed <= 0.5,
           "cold with charts <= 3x no-chart cold": cold <= 3 * plain_cold}
    for name, ok in met.items():
        print(f"{'met' if ok else 'NOT met'}: {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
