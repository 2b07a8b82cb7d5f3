"""Every `task NAME` the README and docs mention exists in Taskfile.yaml, and the file is valid for Task."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAN_TASKS = {"cluster:create-infra", "cluster:create-apps", "cluster:health", "cluster:destroy-infra",
              "cluster:dry-run", "bootstrap:dry-run"}


def _tasks() -> set[str]:
    return set(yaml.safe_load((ROOT / "Taskfile.yaml").read_text())["tasks"])


def _mentioned() -> set[str]:
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "plan" / "stories.yaml",
             *sorted((ROOT / "plan").rglob("*.md"))]
    found: set[str] = set()
    for path in texts:
        if path.exists():
            found |= set(re.findall(r"\btask\s+([a-z][a-z0-9-]*:[a-z0-9:-]+|[a-z][a-z0-9-]+)(?=[\s`'\"]|$)",
                                    path.read_text(encoding="utf-8"), flags=re.MULTILINE))
    return found


def test_the_plan_task_names_exist() -> None:
    assert _tasks() >= PLAN_TASKS


def test_every_task_named_in_docs_exists() -> None:
    missing = sorted(name for name in _mentioned() if name not in _tasks())
    assert missing == []


def test_task_accepts_the_taskfile() -> None:
    task = Path(sys.executable).parent / "task"
    result = subprocess.run([str(task), "--list-all"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    for name in PLAN_TASKS:
        assert name in result.stdout


def test_bootstrap_dry_run_task_prints_the_plan() -> None:
    task = Path(sys.executable).parent / "task"
    result = subprocess.run([str(task), "bootstrap:dry-run", "CLUSTER=apps"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    import json

    plan = json.loads(result.stdout)
    phases = [phase["phase"] for phase in plan["plan"]]
    assert phases == ["preflight", "talos", "api", "crds", "core", "sync"]
    crds = next(p for p in plan["plan"] if p["phase"] == "crds")
    assert crds["summary"]["total"] > 0 and "cert-manager.io" in crds["summary"]["crds_per_group"]
    core = next(p for p in plan["plan"] if p["phase"] == "core")
    assert [r["release"] for r in core["summary"]["releases"]] == [
        "cilium", "coredns", "cert-manager", "external-secrets", "flux-operator"]
