"""Load and check the platform inventory."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from greenfield.adapters import safe_read, yamlio
from greenfield.adapters.yaml_keys import key_lines, line_of
from greenfield.core.inventory import Inventory, InventoryProblem, parse_inventory
from greenfield.errors import InputError

DEFAULT_INVENTORY = "platform.yaml"


@dataclass(frozen=True)
class InventoryCheck:
    source: str
    inventory: Inventory | None
    problems: list[InventoryProblem]

    @property
    def errors(self) -> list[InventoryProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        return self.inventory is not None and not self.errors

    def lines(self) -> list[str]:
        return [p.render(self.source) for p in self.problems]


def check_inventory_file(path: Path, display: str | None = None) -> InventoryCheck:
    """The inventory's problems, each with its line; duplicate keys are refused (InputError) before any check:
    YAML would keep only the second of two `apps:` clusters."""
    shown = display or path.name
    data = yamlio.load_file(path, shown)
    lines = key_lines(safe_read.read_text(path, shown), shown)
    inventory, problems = parse_inventory(data)
    return InventoryCheck(shown, inventory, [replace(p, line=line_of(lines, p.field)) for p in problems])


def load_inventory(path: Path, display: str | None = None) -> Inventory:
    """The inventory or an InputError naming every problem (one per line)."""
    check = check_inventory_file(path, display)
    if len(check.errors) == 1:  # the one problem as the one error line
        error = check.errors[0]
        where = f"{check.source}:{error.line}" if error.line else check.source
        raise InputError(f"{error.field}: {error.problem}" if error.field else error.problem, path=where,
                         hint=error.hint or "run `greenfield inventory check` for details")
    if not check.ok or check.inventory is None:
        raise InputError("invalid inventory:\n  " + "\n  ".join(p.render(check.source) for p in check.errors),
                         path=check.source, hint="run `greenfield inventory check` for details")
    return check.inventory
