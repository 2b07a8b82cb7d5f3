"""Shared fixtures. Area-specific fixtures live in the conftest.py of each test folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def copy_platform_yaml(source_root: Path, target_root: Path) -> Path:
    """platform.yaml copied to another folder, its relative chart folders made absolute (they name reference
    data next to the repository, not files inside it)."""
    import yaml

    text = (source_root / "platform.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    for entry in data.get("charts") or []:
        path = entry if isinstance(entry, str) else entry.get("path", "")
        if path and not Path(path).is_absolute():
            absolute = os.path.normpath(source_root / path)
            text = text.replace(f"- {path}\n", f"- {absolute}\n").replace(f"path: {path}\n", f"path: {absolute}\n")
    target = target_root / "platform.yaml"
    target.write_text(text, encoding="utf-8")
    return target


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


# --- upstream tools and the local control plane (integration tests) ----------------------------------------
@pytest.fixture(scope="session")
def upstream_tools():  # type: ignore[no-untyped-def]
    """The pinned tools module; `upstream_tools.ensure([...])` builds what is missing (Go build cache)."""
    from greenfield.adapters.command import which
    from greenfield.adapters.gotools import GoTools

    tools = GoTools(REPO_ROOT / "tools")
    if which("go") is None and not Path("/usr/local/go/bin/go").is_file():
        pytest.skip("the Go toolchain is not installed: the upstream tools cannot be built on this machine")
    return tools


@pytest.fixture(scope="session")
def local_control_plane(upstream_tools, tmp_path_factory):  # type: ignore[no-untyped-def]
    """One local cluster `itest` (etcd + kube-apiserver + kube-controller-manager on 127.0.0.1) for the
    session; tools are built on first use. Yields the LocalControlPlane; `.api("itest")` is its client."""
    from greenfield.adapters.gotools import CONTROL_PLANE_TOOLS
    from greenfield.adapters.local_cluster import ClusterSpec, LocalControlPlane

    upstream_tools.ensure(list(CONTROL_PLANE_TOOLS))
    plane = LocalControlPlane(tmp_path_factory.mktemp("local-control-plane"), upstream_tools)
    plane.up([ClusterSpec("itest", service_cidr="10.96.0.0/16")])
    try:
        yield plane
    finally:
        plane.down(wipe=True)


@pytest.fixture(autouse=True)
def _fresh_secret_registry() -> Iterator[None]:
    """The cache's registry of Secret values lives for one CLI run; in-process tests each start a run of their own
    (otherwise a value registered by an earlier test keeps a later test's entries out of the cache)."""
    from greenfield.adapters import cache

    with cache._SECRETS_LOCK:
        cache._SECRETS.clear()
    yield
