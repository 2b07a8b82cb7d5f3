"""The corpus harness: validate every repository of ../shared/corpus in-process, compare with the allow-list.

The corpus (`corpus.yaml`: 20 real repositories, 39 cluster entries) reconciles in real life, so an error finding
on it is a false positive until proven real. `tests/corpus/known_errors.yaml` lists the error findings accepted
for now, each with a `proof:` link into docs/corpus.md: a section proving the finding real (file, line, what Flux
does, a link to Flux's source or docs) or a `pending-...` section naming a known false-positive class that is
being fixed. `scripts/corpus-baseline --update` rewrites the list from a fresh run, keeping the proofs of the
entries that are still found; new entries get an empty proof (the test fails until one is written).

Run it: `scripts/corpus-baseline` (summary per repository and rule), `scripts/corpus-baseline --update`.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from greenfield.app.render import select_clusters
from greenfield.app.validate import ValidateOptions, ValidationReport, validate_repository
from greenfield.core.findings import Finding, Severity
from greenfield.errors import GreenfieldError

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("GREENFIELD_CORPUS", REPO_ROOT.parent / "shared" / "corpus"))
SCHEMAS = Path(os.environ.get("GREENFIELD_SCHEMAS", REPO_ROOT.parent / "shared" / "schemas" / "crds"))
KNOWN_ERRORS = Path(__file__).with_name("known_errors.yaml")
DOC = REPO_ROOT / "docs" / "corpus.md"
KEY_FIELDS = ("repo", "cluster", "rule", "file", "object", "message")


@dataclass(frozen=True)
class Entry:
    """One corpus repository: the folder Flux reads and its clusters (name -> entry folder)."""

    repo: str
    clusters: dict[str, str]

    @property
    def root(self) -> Path:
        return CORPUS / "repos" / self.repo


@dataclass
class CorpusRun:
    reports: dict[str, ValidationReport] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def findings(self) -> list[tuple[str, Finding]]:
        return [(repo, item) for repo, report in self.reports.items() for item in report.findings]


def load_corpus() -> list[Entry]:
    document = yaml.safe_load((CORPUS / "corpus.yaml").read_text(encoding="utf-8"))
    return [Entry(str(item["repo"]), {str(k): str(v) for k, v in item["clusters"].items()})
            for item in document["repositories"]]


def run_corpus(cache_dir: Path, entries: list[Entry] | None = None) -> CorpusRun:
    """Validate every corpus repository in this process, each with its own cache folder under `cache_dir`."""
    result = CorpusRun()
    for entry in entries or load_corpus():
        started = time.perf_counter()
        options = ValidateOptions(cluster_paths=cluster_arguments(entry), schemas=[str(SCHEMAS)],
                                  cache_dir=cache_dir / entry.repo.replace("/", "__"))
        result.reports[entry.repo] = validate_repository(entry.root, None, options)
        result.seconds[entry.repo] = time.perf_counter() - started
    return result


def named_cluster_paths() -> bool:
    """--cluster-path takes NAME=PATH (issue 15 item 7): then clusters keep the corpus' names."""
    try:
        targets = select_clusters(REPO_ROOT, None, [], ["probe=kubernetes"])
    except GreenfieldError:
        return False
    return [target.name for target in targets] == ["probe"]


def cluster_arguments(entry: Entry) -> list[str]:
    """The entry folders as --cluster-path takes them: NAME=PATH where supported, else PATH (clusters are then
    named after the folder, and two entries ending in the same folder name collide)."""
    if named_cluster_paths():
        return [f"{name}={path}" for name, path in entry.clusters.items()]
    return list(entry.clusters.values())


def key(repo: str, item: Finding) -> tuple[str, ...]:
    return (repo, item.cluster, item.rule, item.file, item.object, item.message)


def errors(run: CorpusRun) -> list[tuple[str, Finding]]:
    return [(repo, item) for repo, item in run.findings() if item.severity is Severity.ERROR]


def load_known() -> list[dict[str, Any]]:
    if not KNOWN_ERRORS.is_file():
        return []
    document = yaml.safe_load(KNOWN_ERRORS.read_text(encoding="utf-8")) or {}
    return list(document.get("errors") or [])


def known_key(entry: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(entry.get(name) or "") for name in KEY_FIELDS)


def doc_anchors() -> set[str]:
    """GitHub-style anchors of docs/corpus.md's headings."""
    anchors = set()
    for line in DOC.read_text(encoding="utf-8").splitlines() if DOC.is_file() else []:
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return anchors


def proof_problem(entry: dict[str, Any], anchors: set[str]) -> str:
    """Why an allow-list entry's proof does not hold ("" when it does)."""
    proof = str(entry.get("proof") or "")
    if not proof:
        return "no proof"
    page, _, anchor = proof.partition("#")
    if page != "docs/corpus.md" or not anchor:
        return f"proof {proof!r} is not a docs/corpus.md#section link"
    if anchor not in anchors:
        return f"proof {proof!r}: docs/corpus.md has no such section"
    return ""


def unbuilt_without_finding(run: CorpusRun) -> list[str]:
    """Kustomizations the engine did not build that no finding explains."""
    missing = []
    for repo, report in run.reports.items():
        for cluster, render in report.renders.items():
            explained = {(f.kustomization, f.object) for f in report.findings if f.cluster == cluster}
            labels = {label for pair in explained for label in pair}
            for node in render.kustomizations.values():
                if node.built or node.synthetic:
                    continue
                label = str(node.key)
                if label not in labels and f"Kustomization/{label}" not in labels:
                    missing.append(f"{repo} {cluster} {label}: not built ({node.error or 'no reason recorded'})")
    return missing


def write_known(run: CorpusRun) -> tuple[int, int]:
    """Rewrite known_errors.yaml from the run, keeping the proofs of entries still found; (kept, new)."""
    proofs: dict[tuple[str, ...], str] = {}
    for entry in load_known():
        if entry.get("proof"):
            exact = known_key(entry)
            # also by what survives a renamed cluster or a reworded message (repo, rule, file, object)
            proofs.setdefault(exact, str(entry["proof"]))
            proofs.setdefault((exact[0], *exact[2:5]), str(entry["proof"]))
    entries, kept, new = [], 0, 0
    for repo, item in sorted(errors(run), key=lambda pair: key(*pair)):
        found = key(repo, item)
        proof = proofs.get(found) or proofs.get((found[0], *found[2:5]), "")
        kept, new = (kept + 1, new) if proof else (kept, new + 1)
        entries.append({**dict(zip(KEY_FIELDS, found, strict=True)), "line": item.line, "proof": proof})
    unique = list({known_key(e): e for e in entries}.values())
    header = ("# Error findings on the corpus accepted for now (tests/corpus/test_corpus.py). Each needs a proof:\n"
              "# a docs/corpus.md#section link. Regenerate with scripts/corpus-baseline --update.\n")
    KNOWN_ERRORS.write_text(header + yaml.safe_dump({"errors": unique}, sort_keys=False, width=120,
                                                    allow_unicode=True), encoding="utf-8")
    return kept, new


def summary(run: CorpusRun) -> str:
    lines = []
    total: collections.Counter[str] = collections.Counter()
    by_rule: collections.Counter[tuple[str, str]] = collections.Counter()
    for repo, report in run.reports.items():
        counts = collections.Counter(str(f.severity) for f in report.findings)
        total.update(counts)
        by_rule.update((str(f.severity), f.rule) for f in report.findings)
        lines.append(f"{repo:58s} {run.seconds.get(repo, 0):6.1f}s  error={counts['error']} "
                     f"warning={counts['warning']} info={counts['info']}")
    lines.append(f"total: error={total['error']} warning={total['warning']} info={total['info']}")
    for (severity, rule_id), count in sorted(by_rule.items(), key=lambda item: (item[0][0], -item[1])):
        lines.append(f"  {severity:8s} {count:5d} {rule_id}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/corpus-baseline", description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite tests/corpus/known_errors.yaml")
    parser.add_argument("--cache-dir", type=Path, help="cache folder (default: a fresh temporary one)")
    parser.add_argument("repos", nargs="*", help="only these corpus repositories (substring match)")
    args = parser.parse_args(argv)
    entries = [e for e in load_corpus() if not args.repos or any(r in e.repo for r in args.repos)]
    with tempfile.TemporaryDirectory(prefix="greenfield-corpus-") as scratch:
        run = run_corpus(args.cache_dir or Path(scratch), entries)
    print(summary(run))
    if args.update:
        if args.repos:
            print("--update needs the whole corpus", file=sys.stderr)
            return 2
        kept, new = write_known(run)
        print(f"{KNOWN_ERRORS.relative_to(REPO_ROOT)}: {kept} entries with a proof, {new} without (write one)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
