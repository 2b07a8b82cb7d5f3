"""Shared machinery of the story-gate tests: copy the platform, break a gate, validate, look for the rule."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import copy_platform_yaml

from greenfield.app.validate import ValidateOptions, validate_repository
from greenfield.core.findings import Finding, Severity


@dataclass(frozen=True)
class Edit:
    file: str  # repository-relative
    old: str  # exact text to replace (must occur once); "" creates the file; with `whole` every occurrence
    new: str
    whole: bool = False


@dataclass(frozen=True)
class Gate:
    story: str
    rule: str  # rule id (or a prefix ending with "/")
    clusters: tuple[str, ...]
    edits: tuple[Edit, ...]
    file: str  # the file (or folder, ending with "/") the finding must point at
    options: dict[str, Any] = field(default_factory=dict)  # rule options for the run
    also: tuple[str, ...] = ()  # other acceptable files

    def __str__(self) -> str:
        return f"{self.story}:{self.rule}"


def copy_platform(repo_root: Path, target: Path) -> Path:
    shutil.copytree(repo_root / "kubernetes", target / "kubernetes")
    copy_platform_yaml(repo_root, target)
    return target


def apply_edit(repo: Path, edit: Edit) -> None:
    path = repo / edit.file
    if not edit.old and not edit.whole:
        path.write_text(edit.new, encoding="utf-8")
        return
    text = path.read_text(encoding="utf-8")
    if edit.whole:
        assert edit.old in text, f"{edit.file}: nothing to break ({edit.old!r})"
    else:
        assert text.count(edit.old) == 1, f"{edit.file}: expected exactly one {edit.old!r} to break"
    path.write_text(text.replace(edit.old, edit.new), encoding="utf-8")


def run_validation(repo: Path, clusters: tuple[str, ...], cache: Path, schemas: Path, schema: bool = True,
                   rule_options: dict[str, Any] | None = None) -> list[Finding]:
    options = ValidateOptions(cache_dir=cache, schemas=[str(schemas)], schema=schema,
                              rule_options=dict(rule_options or {}))
    return validate_repository(repo, list(clusters), options).findings


def serious(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity in (Severity.ERROR, Severity.WARNING)]


def points_at(finding: Finding, target: str) -> bool:
    return finding.file.startswith(target) if target.endswith("/") else finding.file == target
