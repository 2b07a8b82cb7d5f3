"""Installable anywhere: the built wheel in a fresh virtual environment outside the checkout is a working
`greenfield` with a stranger's defaults. Run in a temporary folder on a copy of a corpus repository, it exits
as documented, writes nothing into the repository, finds what the in-checkout run finds, and fetches the
configured schema URL template (served on 127.0.0.1) once into the user's cache directory."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tests.companion.conftest import CORPUS

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS_REPO = "fluxcd__flux2-kustomize-helm-example"
CLUSTERS = ["clusters/staging", "clusters/production"]


def tree_digest(root: Path) -> dict[str, str]:
    """Every file and folder under root (hidden ones too) with the hash of its content."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[name] = "link:" + str(path.readlink())
        elif path.is_dir():
            found[name] = "dir"
        else:
            found[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """greenfield's console script in a fresh venv, installed from a wheel built from a copy of the sources."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    shutil.copy2(REPO_ROOT / "pyproject.toml", source / "pyproject.toml")
    shutil.copytree(REPO_ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    dist = work / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist),
                    str(source)], check=True, timeout=600, capture_output=True, text=True)
    [wheel] = dist.glob("greenfield-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    str(wheel)], check=True, timeout=900, capture_output=True, text=True)
    script = venv / "bin" / "greenfield"
    assert script.is_file()
    return script


class _CountingHandler(SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, format: str, *args: object) -> None:
        self.requests.append(self.path)


@pytest.fixture()
def schema_server(crd_schema_dir: Path) -> Iterator[tuple[str, list[str]]]:
    """The CRD schema catalog over HTTP on 127.0.0.1, as a kubeconform-style URL template."""
    _CountingHandler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_CountingHandler, directory=str(crd_schema_dir)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        template = (f"http://127.0.0.1:{server.server_address[1]}/"
                    "{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json")
        yield template, _CountingHandler.requests
    finally:
        server.shutdown()
        server.server_close()


def run(program: list[str], repo: Path, cwd: Path, home: Path, schemas: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items()
           if key not in {"GREENFIELD_SCHEMAS", "GREENFIELD_REPO", "VIRTUAL_ENV", "PYTHONPATH"}}
    env.update({"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"), "CI": "true"})
    args = [arg for path in CLUSTERS for arg in ("--cluster-path", path)]
    return subprocess.run([*program, "validate", "--repo", str(repo), *args, "--schemas", schemas,
                           "--format", "json"], cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
                          check=False)


def test_installed_wheel_validates_a_corpus_copy_like_the_checkout(installed: Path, tmp_path: Path,
                                                                  schema_server: tuple[str, list[str]]) -> None:
    template, requests = schema_server
    repo = tmp_path / "fleet"
    shutil.copytree(CORPUS / "repos" / CORPUS_REPO, repo, symlinks=True)
    before = tree_digest(repo)
    elsewhere = tmp_path / "somewhere-else"
    elsewhere.mkdir()

    first = run([str(installed)], repo, elsewhere, tmp_path / "home", template)
    findings = json.loads(first.stdout)
    listed = findings if isinstance(findings, list) else findings["findings"]  # today's shape, or the report's
    errors = [f for f in listed if f["severity"] == "error"]
    assert first.returncode == (1 if errors else 0), first.stderr  # README: 1 when an error finding
    assert tree_digest(repo) == before, "the installed greenfield wrote into the validated repository"
    assert requests, "the configured schema URL template was never fetched"
    cached = list((tmp_path / "home" / ".cache" / "greenfield").rglob("*.json"))
    assert cached, "nothing cached in the user's cache directory"

    fetched = len(requests)
    second = run([str(installed)], repo, elsewhere, tmp_path / "home", template)
    assert json.loads(second.stdout) == findings and second.returncode == first.returncode
    assert len(requests) == fetched, "schemas fetched again although they are cached"

    checkout = run([sys.executable, "-m", "greenfield"], repo, REPO_ROOT, tmp_path / "checkout-home", template)
    assert json.loads(checkout.stdout) == findings, "the installed wheel and the checkout disagree"
    assert tree_digest(repo) == before
    assert not any(name.startswith(".greenfield") for name in tree_digest(repo))
