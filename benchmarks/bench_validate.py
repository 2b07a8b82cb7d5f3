"""Benchmark `greenfield validate` on the reference platform (both clusters), cold and warm, against the
bare cost of running `kubectl kustomize` over the same paths, measured in the same run.

    .venv/bin/python benchmarks/bench_validate.py [--repo DIR] [--rounds N]

Targets (issue 3): warm <= 2 s; cold <= 3x bare kustomize. The machine is shared, so every figure is the
best of N rounds and the ratios compare numbers taken side by side.
"""

from __future__ import annotations

import argparse
import os
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-schema", action="store_true")
    args = parser.parse_args()
    repo = args.repo.resolve()
    os.environ.setdefault("GREENFIELD_SCHEMAS", str(repo.parent / "shared" / "schemas" / "crds"))

    colds, warms, bares = [], [], []
    report = None
    for _ in range(max(1, args.rounds)):
        with tempfile.TemporaryDirectory(prefix="greenfield-bench-") as cache:
            options = ValidateOptions(cache_dir=Path(cache), schema=not args.no_schema)
            started = time.perf_counter()
            report = validate_repository(repo, None, options)
            colds.append(time.perf_counter() - started)
            paths = sorted({node.path for render in report.renders.values()
                            for node in render.kustomizations.values() if node.built or node.error})
            bares.append(_bare(repo, paths))
            started = time.perf_counter()
            validate_repository(repo, None, options)
            warms.append(time.perf_counter() - started)
    assert report is not None
    objects = sum(len(r.objects) for r in report.renders.values())
    kustomizations = sum(len(r.kustomizations) for r in report.renders.values())
    paths = {node.path for r in report.renders.values() for node in r.kustomizations.values()}
    cold, warm, bare = min(colds), min(warms), min(bares)
    print(f"clusters: {', '.join(report.renders)}; {kustomizations} Kustomizations ({len(paths)} distinct paths), "
          f"{objects} objects, {len(report.findings)} findings")
    print(f"bare kubectl kustomize over the same paths (2 workers): {bare:.2f} s")
    print(f"validate cold (empty cache):  {cold:.2f} s  = {cold / bare:.2f}x bare kustomize  (target <= 3x)")
    print(f"validate warm (cached):       {warm:.2f} s  (target <= 2 s)")
    print(f"rounds: {len(colds)}; cold {', '.join(f'{c:.2f}' for c in colds)}; "
          f"warm {', '.join(f'{w:.2f}' for w in warms)}; bare {', '.join(f'{b:.2f}' for b in bares)}")
    ok = cold <= 3 * bare and warm <= 2.0
    print("targets met" if ok else "targets NOT met (on a loaded machine, re-run when it is idle)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
