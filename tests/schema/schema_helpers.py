"""Helpers of the schema tests: rendered objects from YAML fixtures."""

from __future__ import annotations

from pathlib import Path

from greenfield.adapters.yamlio import load_documents
from greenfield.core.findings import Finding
from greenfield.core.model import RenderedObject

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "schema"
KUBERNETES = "1.34.1"


def rendered(name: str, cluster: str = "infra") -> list[RenderedObject]:
    """The documents of a fixture file as rendered objects of one Kustomization."""
    path = FIXTURES / name
    return [RenderedObject(body, cluster, "flux-system/demo", f"tests/fixtures/schema/{name}")
            for body in load_documents(path.read_text(encoding="utf-8"), str(path))]


def from_yaml(text: str) -> list[RenderedObject]:
    return [RenderedObject(body, "infra", "flux-system/demo", "inline.yaml") for body in load_documents(text)]


def messages(findings: list[Finding]) -> list[str]:
    """`<object> <message>` per finding, in report order."""
    return [f"{f.object} {f.message}" for f in findings]
