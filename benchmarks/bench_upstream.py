"""`greenfield validate` against the upstream pipeline, timed in the same run on the reference platform:
`flux build kustomization NAME --dry-run` for every Kustomization of every cluster, then kubeconform over
all the output with the same schemas (built-in kinds exported from kubernetes-validate + the CRD catalog).

    .venv/bin/python benchmarks/bench_upstream.py [--repo DIR] [--workers 2] [--rounds 1]

The Kustomization list and each one's resolved variables come from the engine (not timed): flux build
--dry-run cannot read substituteFrom from a cluster, so they are passed inline, as in the differential
tests. Both sides get the same parallelism (--workers). Target (issue 4): greenfield >= 5x faster.
flux and kubeconform are built first when missing (`greenfield tools`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from greenfield.adapters.gotools import GoTools
from greenfield.adapters.schemas import BuiltinSchemas, export_standalone
from greenfield.adapters.upstream import FluxBuild, Kubeconform
from greenfield.app.validate import ValidateOptions, validate_repository

ROOT = Path(__file__).resolve().parents[1]
TARGET = 5.0


def _copy_platform(source: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    if (source / "platform.yaml").is_file():
        shutil.copy(source / "platform.yaml", target / "platform.yaml")
    shutil.copytree(source / "kubernetes", target / "kubernetes")
    return target


def _greenfield(repo: Path, cache: Path, *, use_cache: bool) -> tuple[float, int, int]:
    started = time.perf_counter()
    report = validate_repository(repo, None, ValidateOptions(cache_dir=cache, use_cache=use_cache))
    seconds = time.perf_counter() - started
    objects = sum(len(r.objects) for r in report.renders.values())
    return seconds, objects, len(report.findings)


def _jobs(repo: Path, cache: Path) -> list[tuple[str, Any]]:
    report = validate_repository(repo, None, ValidateOptions(cache_dir=cache, schema=False))
    return [(cluster, node) for cluster, render in sorted(report.renders.items())
            for node in render.ordered_kustomizations() if node.built and not node.synthetic]


def _upstream(jobs: list[tuple[str, Any]], repo: Path, work: Path, flux: FluxBuild, kubeconform: Kubeconform,
              locations: list[str], workers: int) -> tuple[float, float, int, int]:
    copies = {}
    for cluster in sorted({c for c, _n in jobs}):  # flux build writes into folders: one copy per cluster
        copies[cluster] = work / "trees" / cluster
        shutil.copytree(repo, copies[cluster])

    def build(job: tuple[str, Any]) -> list[dict[str, Any]]:
        cluster, node = job
        return flux.build(node.body, node.substitutions, copies[cluster] / node.path,
                          work / "ks" / cluster / f"{node.key.namespace}-{node.key.name}")

    # the clusters' trees are separate, but one cluster's Kustomizations may share a folder: serialise per path
    started = time.perf_counter()
    by_path: dict[tuple[str, str], list[tuple[str, Any]]] = {}
    for job in jobs:
        by_path.setdefault((job[0], job[1].path), []).append(job)

    def build_group(group: list[tuple[str, Any]]) -> list[dict[str, Any]]:
        return [obj for job in group for obj in build(job)]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        outputs = [obj for chunk in pool.map(build_group, by_path.values()) for obj in chunk]
    flux_seconds = time.perf_counter() - started
    started = time.perf_counter()
    objects = [o for o in outputs if "sops" not in o]
    verdicts = kubeconform.validate(objects, "1.34.1", locations, work / "kubeconform")
    kubeconform_seconds = time.perf_counter() - started
    invalid = sum(1 for v in verdicts if v.status == "invalid")
    return flux_seconds, kubeconform_seconds, len(outputs), invalid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    schemas = os.environ.get("GREENFIELD_SCHEMAS") or str(ROOT.parent / "shared" / "schemas" / "crds")
    os.environ["GREENFIELD_SCHEMAS"] = schemas
    tools = GoTools()
    tools.ensure(["flux", "kubeconform"])
    flux = FluxBuild(tools.binary("flux"))
    kubeconform = Kubeconform(tools.binary("kubeconform"))
    with tempfile.TemporaryDirectory(prefix="bench-upstream-") as scratch:
        work = Path(scratch)
        repo = _copy_platform(args.repo.resolve(), work / "repo")
        exported = work / "builtin"
        export_standalone(BuiltinSchemas("1.34.1"), exported)
        locations = [f"{exported}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
                     f"{schemas}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json"]
        jobs = _jobs(repo, work / "enumerate-cache")
        best: dict[str, float] = {}
        for round_number in range(args.rounds):
            cold, objects, findings = _greenfield(repo, work / f"cache-{round_number}", use_cache=True)  # empty cache
            warm, _o, _f = _greenfield(repo, work / f"cache-{round_number}", use_cache=True)
            flux_s, kubeconform_s, upstream_objects, invalid = _upstream(
                jobs, repo, work / f"upstream-{round_number}", flux, kubeconform, locations, args.workers)
            for key, value in (("cold", cold), ("warm", warm), ("flux", flux_s), ("kubeconform", kubeconform_s)):
                best[key] = min(best.get(key, value), value)
        upstream = best["flux"] + best["kubeconform"]
        print(f"reference platform: {len(jobs)} Kustomizations, {objects} objects (flux: {upstream_objects})")
        print(f"greenfield validate   cold {best['cold']:7.2f} s   warm {best['warm']:7.2f} s   ({findings} findings)")
        print(f"upstream pipeline          {upstream:7.2f} s   = flux build x{len(jobs)} {best['flux']:.2f} s"
              f" + kubeconform {best['kubeconform']:.2f} s ({invalid} invalid)")
        cold_ratio, warm_ratio = upstream / best["cold"], upstream / best["warm"]
        print(f"ratio (upstream / greenfield): cold {cold_ratio:.1f}x   warm {warm_ratio:.1f}x   target >= {TARGET:.0f}x")
        return 0 if warm_ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
