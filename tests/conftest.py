"""Shared fixtures. Area-specific fixtures live in the conftest.py of each test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def crd_schema_dir() -> Path:
    """The shared CRD schema catalog (reference data, never copied into the repository)."""
    configured = os.environ.get("GREENFIELD_SCHEMAS")
    path = Path(configured) if configured else REPO_ROOT.parent / "shared" / "schemas" / "crds"
    if not path.is_dir():
        pytest.fail(f"CRD schema catalog not found at {path} (set GREENFIELD_SCHEMAS)")
    return path.resolve()
