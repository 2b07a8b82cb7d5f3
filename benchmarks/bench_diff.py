"""Benchmark `greenfield diff` of a one-file change on the largest corpus repository, cold and warm, against a
warm `greenfield validate` of the same repository measured in the same run (CLI processes, as a user runs them).

    .venv/bin/python benchmarks/bench_diff.py [--rounds N] [--repo-name NAME]

The corpus repository is copied to a scratch git repository, committed, and one HelmRelease's image tag
changed and committed; `greenfield diff --base HEAD~1 --head HEAD` then renders both revisions. Cold = an empty
cache (both revisions built from scratch, the base exported from git); warm = the same diff again (the base
tree, the builds and both substitution memos cached). Target (issue 19): warm diff <= 2x a warm validate.
Every figure is the best of N rounds (the machine is shared).

Measured 2026-12-04 on the shared 2-core machine (load 12-15 from six other sessions), haraldkoch__kochhaus-home,
cluster main, best of 2 (`--rounds 2`):

| run | seconds |
|---|---|
| diff, cold (empty cache) | 48.6 |
| diff, warm | 6.17 |
| validate, warm (with schemas) | 3.27 |
| warm diff / warm validate | 1.89x (target <= 2x) |

In-process on the same machine a warm diff takes 1.1 s (base render 0.5 s, head render 0.4 s, compare 0.06 s);
the rest of a CLI run is start-up and git.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from greenfield.adapters.command import Command

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "repos"
DEFAULT_REPO = "haraldkoch__kochhaus-home"  # the most YAML files of the corpus
ENTRY = "kubernetes/main/flux/cluster"
CHANGED = "kubernetes/main/apps/observability/gatus/app/helmrelease.yaml"
IN_CLUSTER = ROOT / "tests" / "fixtures" / "corpus" / "haraldkoch-in-cluster.yaml"  # what its bootstrap applies
GIT = ["git", "-c", "user.email=bench@example.com", "-c", "user.name=bench"]


def _scratch(name: str, into: Path) -> Path:
    repo = into / "repo"
    shutil.copytree(CORPUS / name, repo, symlinks=True)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        Command([*GIT, *args], cwd=repo, timeout=300).run()
    path = repo / CHANGED
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("tag: v", "tag: 9", 1), encoding="utf-8")  # one image tag
    Command([*GIT, "commit", "-q", "-am", "one image tag"], cwd=repo, timeout=120).run()
    return repo


def _timed(argv: list[str], repo: Path, allowed: frozenset[int]) -> float:
    started = time.perf_counter()
    Command([sys.executable, "-m", "greenfield", *argv], cwd=repo, timeout=1800, allowed_exit_codes=allowed,
            env={"CI": "true"}).run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repo-name", default=DEFAULT_REPO)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-diff-") as scratch:
        work = Path(scratch)
        repo = _scratch(args.repo_name, work)
        common = ["--cluster-path", ENTRY, "--substitute-from", str(IN_CLUSTER)]
        cold: list[float] = []
        for index in range(args.rounds):
            cache = work / f"cold-{index}"
            cold.append(_timed(["diff", "--base", "HEAD~1", "--head", "HEAD", *common, "--cache-dir", str(cache),
                                "--format", "json"], repo, frozenset({1})))
        cache = work / "cold-0"
        warm = [_timed(["diff", "--base", "HEAD~1", "--head", "HEAD", *common, "--cache-dir", str(cache),
                        "--format", "json"], repo, frozenset({1})) for _ in range(args.rounds)]
        schemas = os.environ.get("GREENFIELD_SCHEMAS") or str(ROOT.parent / "shared" / "schemas" / "crds")
        validate = [_timed(["validate", *common, "--cache-dir", str(cache), "--schemas", schemas, "--format",
                            "json"], repo, frozenset({0, 1})) for _ in range(args.rounds + 1)][1:]
    best_cold, best_warm, best_validate = min(cold), min(warm), min(validate)
    print(f"{args.repo_name}, cluster {ENTRY}, one-file change ({CHANGED}), best of {args.rounds}:")
    print("| run | seconds |\n|---|---|")
    print(f"| diff, cold (empty cache) | {best_cold:.1f} |")
    print(f"| diff, warm | {best_warm:.2f} |")
    print(f"| validate, warm (with schemas) | {best_validate:.2f} |")
    ratio = best_warm / best_validate
    print(f"| warm diff / warm validate | {ratio:.2f}x (target <= 2x) |")


if __name__ == "__main__":
    main()
