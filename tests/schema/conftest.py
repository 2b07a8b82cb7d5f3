"""Validators of the schema tests (built once per session: compiling schemas is the expensive part)."""

from __future__ import annotations

from pathlib import Path

import pytest
from schema_helpers import KUBERNETES

from greenfield.adapters.schemas import build_schema_validator
from greenfield.core.schema_validation import SchemaValidator


@pytest.fixture(scope="session")
def builtin_only(tmp_path_factory: pytest.TempPathFactory) -> SchemaValidator:
    return build_schema_validator(KUBERNETES, [], tmp_path_factory.mktemp("cache"), [])


@pytest.fixture(scope="session")
def with_catalog(crd_schema_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SchemaValidator:
    return build_schema_validator(KUBERNETES, [str(crd_schema_dir)], tmp_path_factory.mktemp("cache"), [])
