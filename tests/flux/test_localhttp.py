"""The 127.0.0.1 server of the local GitOps loop: git over smart HTTP (git http-backend) and a chart folder."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from greenfield.adapters.command import Command, which
from greenfield.adapters.local_cluster import free_port
from greenfield.adapters.localhttp import CHARTS_PATH, REPO_PATH, LocalHttpServer, parse_cgi
from greenfield.app.bootstrap import with_git_url

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def git(*args: str) -> str:
    return Command([which("git") or "git", *args], env=GIT_ENV, timeout=60).run().stdout.strip()


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    if which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", "-b", "main", str(repo))
    (repo / "a.yaml").write_text("a: 1\n", encoding="utf-8")
    git("-C", str(repo), "add", "a.yaml")
    git("-C", str(repo), "commit", "-q", "-m", "one")
    charts = tmp_path / "charts"
    charts.mkdir()
    (charts / "index.yaml").write_text("apiVersion: v1\nentries: {}\n", encoding="utf-8")
    (charts / "demo-0.1.0.tgz").write_bytes(b"\x1f\x8b not really")
    port = free_port()
    server = LocalHttpServer(port, repo, charts)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", repo
    finally:
        server.shutdown()
        server.server_close()


def test_clone_and_fetch_a_new_commit_over_http(served: tuple[str, Path], tmp_path: Path) -> None:
    base, repo = served
    clone = tmp_path / "clone"
    git("clone", "-q", base + REPO_PATH, str(clone))
    assert (clone / "a.yaml").read_text(encoding="utf-8") == "a: 1\n"
    (repo / "a.yaml").write_text("a: 2\n", encoding="utf-8")
    git("-C", str(repo), "commit", "-q", "-am", "two")
    git("-C", str(clone), "pull", "-q")
    assert git("-C", str(clone), "rev-parse", "HEAD") == git("-C", str(repo), "rev-parse", "HEAD")


def test_pushes_are_refused(served: tuple[str, Path]) -> None:
    base, _repo = served
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(base + REPO_PATH + "/info/refs?service=git-receive-pack", timeout=10)
    assert error.value.code == 403


def test_charts_are_served_and_nothing_outside_the_folder(served: tuple[str, Path]) -> None:
    base, _repo = served
    with urllib.request.urlopen(base + CHARTS_PATH + "index.yaml", timeout=10) as response:
        assert b"entries" in response.read()
    with urllib.request.urlopen(base + CHARTS_PATH + "demo-0.1.0.tgz", timeout=10) as response:
        assert response.read().startswith(b"\x1f\x8b")
    for path in (CHARTS_PATH + "../repo/a.yaml", CHARTS_PATH + "missing.tgz", "/other"):
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(base + path, timeout=10)
        assert error.value.code == 404


def test_parse_cgi_status_and_headers() -> None:
    status, headers, body = parse_cgi(b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope")
    assert (status, headers, body) == (404, [("Content-Type", "text/plain")], b"nope")
    assert parse_cgi(b"Content-Type: x\n\nbody")[0] == 200
    assert parse_cgi(b"no header end")[0] == 502


def test_git_url_override_touches_only_the_git_repository() -> None:
    repository = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                  "metadata": {"name": "flux-system"},
                  "spec": {"url": "https://github.com/x/y.git", "secretRef": {"name": "s"}, "ref": {"branch": "main"}}}
    changed = with_git_url(repository, "http://127.0.0.1:1/platform.git")
    assert changed["spec"] == {"url": "http://127.0.0.1:1/platform.git", "ref": {"branch": "main"}}
    assert repository["spec"]["url"] == "https://github.com/x/y.git"  # not mutated
    assert with_git_url(repository, None) is repository
    kustomization = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "spec": {}}
    assert with_git_url(kustomization, "http://x") is kustomization


def test_root_kustomization_patches_the_url_into_what_it_reapplies_from_git() -> None:
    import yaml

    from greenfield.app.bootstrap import point_sync_at

    repository = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                  "metadata": {"name": "flux-system", "namespace": "flux-system"},
                  "spec": {"url": "https://github.com/x/y.git", "secretRef": {"name": "s"}}}
    root = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "flux-system", "namespace": "flux-system"},
            "spec": {"path": "./c", "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}
    assert point_sync_at([repository, root], None) == [repository, root]
    patched_repository, patched_root = point_sync_at([repository, root], "http://127.0.0.1:5/platform.git")
    assert patched_repository["spec"] == {"url": "http://127.0.0.1:5/platform.git"}
    [patch] = patched_root["spec"]["patches"]
    assert patch["target"] == {"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"}
    assert yaml.safe_load(patch["patch"])["spec"] == {"url": "http://127.0.0.1:5/platform.git", "secretRef": None}
    assert "patches" not in root["spec"]
