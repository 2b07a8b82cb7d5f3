"""The architecture rules of DESIGN.md §2, checked on the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "greenfield"
LAYERS = {"cli": 3, "app": 2, "adapters": 1, "core": 0}
IO_MODULES = {"subprocess", "socket", "urllib.request", "http.client", "shutil", "requests", "httpx"}


def _modules(layer: str) -> list[Path]:
    return sorted((SRC / layer).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layers_import_only_downwards(layer: str) -> None:
    problems = []
    for path in _modules(layer):
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] != "greenfield" or len(parts) < 2 or parts[1] not in LAYERS:
                continue
            other = parts[1]
            allowed = other == layer or LAYERS[other] < LAYERS[layer]
            if layer == "adapters" and other == "core":
                allowed = True  # adapters implement what core describes
            if layer == "core" and other == "adapters":
                allowed = False
            if not allowed:
                problems.append(f"{path.relative_to(SRC)} imports {name}")
    assert problems == []


def test_core_does_no_io() -> None:
    problems = []
    for path in _modules("core"):
        imports = _imports(path)
        problems += [f"{path.relative_to(SRC)} imports {name}" for name in imports if name in IO_MODULES]
        text = path.read_text(encoding="utf-8")
        for call in ("open(", ".read_text(", ".write_text(", "os.system", "Popen"):
            if call in text:
                problems.append(f"{path.relative_to(SRC)} uses {call}")
    assert problems == []


def test_only_the_command_type_starts_processes() -> None:
    users = [str(path.relative_to(SRC)) for path in SRC.rglob("*.py") if "subprocess" in _imports(path)]
    assert users == ["adapters/command.py"]


def test_cli_modules_hold_no_subprocess_or_file_logic() -> None:
    problems = []
    for path in _modules("cli"):
        text = path.read_text(encoding="utf-8")
        for call in (".write_text(", "os.system", "subprocess"):
            if call in text:
                problems.append(f"{path.relative_to(SRC)} uses {call}")
    assert problems == []
