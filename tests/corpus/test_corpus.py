"""The whole shared corpus, in CI: no error finding outside the proven allow-list, every Kustomization that is not
built carries a finding, and a warm run (same cache) answers exactly like the cold one.

Regenerate the allow-list with `scripts/corpus-baseline --update` (see tests/corpus/harness.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.corpus.harness import (
    CORPUS,
    KNOWN_ERRORS,
    CorpusRun,
    doc_anchors,
    errors,
    key,
    known_key,
    load_known,
    proof_problem,
    run_corpus,
    unbuilt_without_finding,
)

pytestmark = pytest.mark.corpus
REGENERATE = "regenerate with scripts/corpus-baseline --update (and write a proof in docs/corpus.md)"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[CorpusRun, CorpusRun]:
    assert (CORPUS / "corpus.yaml").is_file(), f"the shared corpus is missing at {CORPUS} (GREENFIELD_CORPUS)"
    cache = tmp_path_factory.mktemp("corpus-cache")
    return run_corpus(cache), run_corpus(cache)


def _shown(run: CorpusRun, wanted: set[tuple[str, ...]]) -> list[str]:
    return [f"{repo} {item.cluster} {item.severity} {item.rule} {item.file}:{item.line} {item.object}: {item.message}"
            for repo, item in errors(run) if key(repo, item) in wanted]


def test_no_error_finding_outside_the_allow_list(runs: tuple[CorpusRun, CorpusRun]) -> None:
    cold, _ = runs
    allowed = {known_key(entry) for entry in load_known()}
    new = {key(repo, item) for repo, item in errors(cold)} - allowed
    assert not new, f"{len(new)} new error finding(s) on the corpus ({REGENERATE}):\n" + "\n".join(
        sorted(_shown(cold, new))[:60])


def test_the_allow_list_holds_only_findings_that_still_occur(runs: tuple[CorpusRun, CorpusRun]) -> None:
    cold, _ = runs
    found = {key(repo, item) for repo, item in errors(cold)}
    stale = [entry for entry in load_known() if known_key(entry) not in found]
    assert not stale, f"{len(stale)} allow-list entries no longer occur: shrink {KNOWN_ERRORS.name} ({REGENERATE})"


def test_every_allowed_error_has_a_proof() -> None:
    anchors = doc_anchors()
    problems = [f"{entry.get('repo')} {entry.get('rule')} {entry.get('file')}: {problem}"
                for entry in load_known() if (problem := proof_problem(entry, anchors))]
    assert not problems, "\n".join(problems[:40])


def test_every_kustomization_not_built_carries_a_finding(runs: tuple[CorpusRun, CorpusRun]) -> None:
    cold, _ = runs
    missing = unbuilt_without_finding(cold)
    assert not missing, "\n".join(missing)


def test_a_warm_run_answers_like_the_cold_one(runs: tuple[CorpusRun, CorpusRun]) -> None:
    cold, warm = runs
    for repo, report in cold.reports.items():
        again = warm.reports[repo]
        assert [f.to_dict() for f in again.findings] == [f.to_dict() for f in report.findings], repo
        for cluster, render in report.renders.items():
            objects = sorted(str(obj.id) for obj in render.objects)
            assert objects == sorted(str(obj.id) for obj in again.renders[cluster].objects), (repo, cluster)
    assert sum(r.timings.get("cached_builds", 0) for r in warm.reports.values()) > 0


def test_the_doc_lists_the_corpus() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "corpus.md").read_text(encoding="utf-8")
    assert "## Warnings and infos" in text and "## Proven errors" in text
