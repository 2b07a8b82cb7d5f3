"""Render `kubernetes/clusters/<cluster>/cluster-settings.yaml` from the inventory, or check for drift."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from greenfield.adapters import yamlio
from greenfield.core.inventory import Inventory
from greenfield.core.settings import GENERATED_HEADER, SettingsConflict, settings_configmap
from greenfield.errors import InputError

SETTINGS_FILE = "cluster-settings.yaml"


@dataclass(frozen=True)
class SettingsFile:
    cluster: str
    path: Path
    expected: str
    current: str | None

    @property
    def drifted(self) -> bool:
        return self.expected != self.current

    def diff(self, root: Path) -> str:
        shown = str(self.path.relative_to(root)) if self.path.is_relative_to(root) else str(self.path)
        lines = difflib.unified_diff(
            (self.current or "").splitlines(keepends=True), self.expected.splitlines(keepends=True),
            fromfile=f"{shown} (committed)", tofile=f"{shown} (from inventory)")
        return "".join(lines)


def settings_path(repo: Path, cluster: str) -> Path:
    return repo / "kubernetes" / "clusters" / cluster / SETTINGS_FILE


def render_text(inventory: Inventory, cluster: str) -> str:
    try:
        document = settings_configmap(inventory, cluster)
    except SettingsConflict as error:
        raise InputError(str(error), path="platform.yaml", hint="rename the extra setting") from error
    schema = "# yaml-language-server: $schema=https://kubernetesjsonschema.dev/v1.34.0/configmap-v1.json\n"
    return GENERATED_HEADER + schema + yamlio.dump_documents([document])


def plan_settings(repo: Path, inventory: Inventory) -> list[SettingsFile]:
    files = []
    for cluster in inventory.enabled_clusters():
        path = settings_path(repo, cluster)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        files.append(SettingsFile(cluster, path, render_text(inventory, cluster), current))
    return files


def write_settings(files: list[SettingsFile]) -> list[SettingsFile]:
    changed = [f for f in files if f.drifted]
    for item in changed:
        item.path.parent.mkdir(parents=True, exist_ok=True)
        item.path.write_text(item.expected, encoding="utf-8")
    return changed
