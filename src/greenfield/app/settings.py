"""Render `kubernetes/clusters/<cluster>/cluster-settings.yaml` from the inventory, or check for drift."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from greenfield.adapters import yamlio
from greenfield.adapters.safe_write import read_inside, refuse_links, write_inside
from greenfield.core.inventory import Inventory
from greenfield.core.settings import (
    GENERATED_HEADER,
    SPIRE_INCLUDE,
    SettingsConflict,
    settings_configmap,
    sync_include_entry,
)
from greenfield.errors import InputError

SETTINGS_FILE = "cluster-settings.yaml"


@dataclass(frozen=True)
class SettingsFile:
    cluster: str
    path: Path
    expected: str
    current: str | None
    repo: Path | None = None  # the repository root: written only inside it, never through a link

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


def include_path(repo: Path, cluster: str) -> Path:
    return repo / "kubernetes" / "clusters" / cluster / "infrastructure" / "kustomization.yaml"


def plan_settings(repo: Path, inventory: Inventory) -> list[SettingsFile]:
    files = []
    for cluster in inventory.enabled_clusters():
        path = settings_path(repo, cluster)
        current = read_inside(repo, path)
        files.append(SettingsFile(cluster, path, render_text(inventory, cluster), current, repo))
    files.extend(_feature_includes(repo, inventory))
    return files


def _feature_includes(repo: Path, inventory: Inventory) -> list[SettingsFile]:
    """The SPIRE switch: its area is listed by the cluster includes exactly when `features.spire` is on.

    Only for repositories that have the area and the include files; an include that already agrees is
    not reported.
    """
    if not (repo / "kubernetes" / "infrastructure" / "spire").is_dir():
        return []
    files = []
    for cluster in inventory.enabled_clusters():
        path = include_path(repo, cluster)
        current = read_inside(repo, path) if path.is_file() else None
        if current is None:
            continue
        try:
            expected = sync_include_entry(current, SPIRE_INCLUDE, inventory.platform.features.spire)
        except ValueError as error:
            raise InputError(f"{error}", path=str(path.relative_to(repo)),
                             hint="list the cluster's areas under resources:") from error
        if expected != current:
            files.append(SettingsFile(cluster, path, expected, current, repo))
    return files


def write_settings(files: list[SettingsFile]) -> list[SettingsFile]:
    changed = [f for f in files if f.drifted]
    for item in changed:  # every target checked before the first write: all or nothing on a planted link
        refuse_links(item.repo or item.path.parent, item.path)
    for item in changed:
        write_inside(item.repo or item.path.parent, item.path, item.expected)
    return changed
