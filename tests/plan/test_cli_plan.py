"""The plan commands as a user meets them: output formats, exit codes, one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def greenfield(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "greenfield", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.fixture()
def bare(tmp_path: Path, repo_root: Path) -> Path:
    """A repository with the plan but no platform yet: the board must still run."""
    shutil.copytree(repo_root / "plan", tmp_path / "plan")
    (tmp_path / "kubernetes").mkdir()
    return tmp_path


def test_schedule_json_has_the_seed_dates(repo_root: Path) -> None:
    result = greenfield("schedule", "--strategy", "manifests-first", "--start", "2025-10-27", "--sprint-length", "2w",
                        "--sprint-length", "6=3w", "--sprint-length", "7=3w", "--freeze", "2025-12-22..2026-01-02",
                        "--format", "json", cwd=repo_root)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [(s["start"], s["end"]) for s in data["sprints"]] == [
        ("2025-10-27", "2025-11-07"), ("2025-11-10", "2025-11-21"), ("2025-11-24", "2025-12-05"),
        ("2025-12-08", "2025-12-19"), ("2026-01-05", "2026-01-16"), ("2026-01-19", "2026-02-06"),
        ("2026-02-09", "2026-02-27")]
    assert data["critical_path"][-1] == "STORY-BOOT-AUTOMATION-ALIGN"


def test_schedule_markdown_has_the_seed_documents_shape(repo_root: Path) -> None:
    result = greenfield("schedule", "--format", "markdown", cwd=repo_root)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "## Assumptions" in text and "## Sprint Schedule" in text and "## ✅ Go/No-Go Gates" in text
    assert "### Sprint 1 — " in text and "**Oct 27 \u2013 Nov 7, 2025** | 2 weeks" in text
    assert "**Jan 19 \u2013 Feb 6, 2026** | 3 weeks" in text
    assert "###  Change Freeze" in text
    assert "1. `STORY-NET-CILIUM-CORE-GITOPS`" in text


def test_schedule_check_exit_codes(repo_root: Path) -> None:
    v3 = greenfield("schedule", "--check", "v3", cwd=repo_root)
    assert v3.returncode == 0, v3.stdout + v3.stderr
    assert "0 violation(s), 17 contradiction(s)" in " ".join(v3.stdout.split())
    po = greenfield("schedule", "--check", "gitops-first", "--format", "json", cwd=repo_root)
    assert po.returncode == 1
    assert any(i["severity"] == "violation" for i in json.loads(po.stdout)["items"])


def test_schedule_usage_errors_are_one_line(repo_root: Path) -> None:
    result = greenfield("schedule", "--freeze", "2025-12-22", cwd=repo_root)
    assert result.returncode == 1
    assert result.stderr.strip() == ("greenfield: --freeze '2025-12-22': expected FROM..TO "
                                     "(hint: e.g. 2025-12-22..2026-01-02)")
    missing = greenfield("schedule", "--check", "v9", cwd=repo_root)
    assert missing.returncode == 1 and "greenfield: plan/schedules: no seed schedule 'v9'" in missing.stderr


def test_stories_runs_while_the_platform_is_missing(bare: Path) -> None:
    result = greenfield("stories", "--format", "json", cwd=bare)
    assert result.returncode == 0, result.stderr
    board = json.loads(result.stdout)
    assert len(board["stories"]) == 50
    statuses = {s["number"]: s["status"] for s in board["stories"]}
    assert statuses[1] == "not-started" and statuses[42] == "not-run"
    assert all(not s["go"] for s in board["sprints"])
    text = greenfield("stories", "--cluster", "apps", "--format", "markdown", cwd=bare)
    assert text.returncode == 0 and "| 29 | `STORY-STO-APPS-OPENEBS-BASE` |" in text.stdout
    assert "STORY-STO-OPENEBS-BASE`" not in text.stdout  # infra-only
    po = greenfield("stories", "--schedule", "gitops-first", "--format", "json", cwd=bare)
    sprints = json.loads(po.stdout)["sprints"]
    assert sprints[0]["number"] == 0 and "STORY-BOOT-CRDS" in sprints[0]["stories"]
    planned = greenfield("stories", "--schedule", "manifests-first", "--format", "json", cwd=bare)
    assert [s["number"] for s in json.loads(planned.stdout)["sprints"]] == [1, 2, 3, 4, 5, 6, 7]


def test_stories_rejects_an_unknown_cluster(bare: Path) -> None:
    result = greenfield("stories", "--cluster", "nope", cwd=bare)
    assert result.returncode == 1
    assert result.stderr.startswith("greenfield: unknown cluster 'nope'") and "Traceback" not in result.stderr


def test_broken_catalog_is_a_load_error(bare: Path) -> None:
    path = bare / "plan" / "stories.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("runtime: [STORY-BOOT-CRDS]}", "runtime: [STORY-X]}", 1),
                    encoding="utf-8")
    result = greenfield("stories", cwd=bare)
    assert result.returncode == 1
    assert "plan/stories.yaml: invalid story catalog:" in result.stderr
    assert "unknown story ID STORY-X" in result.stderr


def test_stories_on_the_reference_platform(repo_root: Path, crd_schema_dir: Path) -> None:
    """./run's second step: the board over one validation run of the real repository."""
    result = greenfield("stories", "--format", "json", cwd=repo_root)
    assert result.returncode == 0, result.stderr
    board = json.loads(result.stdout)
    statuses = {s["number"]: s["status"] for s in board["stories"]}
    assert len(statuses) == 50
    assert all(status != "not-started" for number, status in statuses.items() if number <= 41)
    assert not any("validation" in note for note in board["notes"]), board["notes"]
