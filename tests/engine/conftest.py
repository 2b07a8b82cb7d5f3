"""Engine test helpers: fixture repositories (basic + one overlay per scenario) and a shared build cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from greenfield.app.validate import ValidateOptions, ValidationReport, validate_repository

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "engine"
BASIC = FIXTURES / "basic"


def scenario_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.iterdir() if (p / "scenario.yaml").is_file())


def scenario(name: str) -> dict:
    return yaml.safe_load((FIXTURES / name / "scenario.yaml").read_text(encoding="utf-8")) or {}


def make_repo(tmp: Path, name: str | None = None, base: Path = BASIC) -> Path:
    """A copy of `base` with the scenario's overlay applied (files replaced/added, `delete:` removed)."""
    repo = tmp / (name or base.name)
    shutil.copytree(base, repo)
    if name:
        overlay = FIXTURES / name / "repo"
        if overlay.is_dir():
            shutil.copytree(overlay, repo, dirs_exist_ok=True)
        for path in scenario(name).get("delete") or []:
            target = repo / path
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()
    return repo


@pytest.fixture(scope="session")
def build_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One build cache for the session: entries are keyed and checked by content, so sharing is safe."""
    return tmp_path_factory.mktemp("engine-cache")


def run(repo: Path, cache: Path, **options: object) -> ValidationReport:
    settings = {"schema": False, "cache_dir": cache, **options}
    return validate_repository(repo, None, ValidateOptions(**settings))  # type: ignore[arg-type]


def own_rules(report: ValidationReport) -> list[str]:
    return sorted({f.rule for f in report.findings if f.rule.startswith(("build/", "substitution/"))})
