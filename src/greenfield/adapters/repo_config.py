"""Read the repository config file (`.greenfield.yaml`, or the file `--config` names)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from greenfield.adapters import safe_read, yamlio
from greenfield.core.repo_config import CONFIG_FILE, RepoConfig, parse_repo_config
from greenfield.errors import InputError


@dataclass(frozen=True)
class LoadedConfig:
    config: RepoConfig
    base: Path  # the folder the config file's relative paths are relative to
    file: Path | None  # None when the repository has no config file

    def path(self, relative: str) -> Path:
        candidate = Path(relative).expanduser()
        return candidate if candidate.is_absolute() else (self.base / candidate)


def load_repo_config(repo: Path, explicit: Path | None = None) -> LoadedConfig:
    """The config at `explicit` (must exist), else `<repo>/.greenfield.yaml` when present, else defaults."""
    file = explicit if explicit is not None else repo / CONFIG_FILE
    if explicit is None and not file.is_file():
        return LoadedConfig(RepoConfig(), repo, None)
    shown = str(explicit) if explicit is not None else CONFIG_FILE
    if not file.exists():
        raise InputError("config file not found", path=shown, hint="pass an existing file to --config")
    text = safe_read.read_text(file, shown)  # a regular file, bounded: one-line errors otherwise
    documents = yamlio.load_documents(text, shown)
    if len(documents) > 1:
        raise InputError(f"expected one YAML document, found {len(documents)}", path=shown)
    config, problems = parse_repo_config(documents[0] if documents else None)
    if config is None:
        raise InputError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                         path=shown, hint="see the README's `.greenfield.yaml` section for every setting")
    return LoadedConfig(config, file.resolve().parent, file)
