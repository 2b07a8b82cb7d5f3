"""Plan fixtures: the real catalog and seed schedules of the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenfield.app.plan import load_catalog, load_seeds
from greenfield.core.plan.catalog import Catalog
from greenfield.core.plan.schedule import SeedSchedule


@pytest.fixture(scope="session")
def catalog(repo_root: Path) -> Catalog:
    return load_catalog(repo_root)


@pytest.fixture(scope="session")
def seeds(repo_root: Path) -> dict[str, SeedSchedule]:
    return load_seeds(repo_root)
