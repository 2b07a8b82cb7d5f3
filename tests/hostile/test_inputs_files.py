"""Input files are read bounded: regular files only (a FIFO, a device, a socket or a directory is refused at once,
without waiting for a writer), at most 16 MiB, UTF-8; each problem is one line naming the file."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from inputs_helpers import greenfield, inventory_repo, one_line_error, small_repo

from greenfield.adapters import safe_read
from greenfield.adapters.safe_read import MAX_INPUT_BYTES, UnreadableFile


@pytest.fixture()
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    return path


@pytest.fixture()
def unix_socket(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "s.yaml"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    try:
        yield path
    finally:
        server.close()


@pytest.fixture()
def oversized(tmp_path: Path) -> Path:
    path = tmp_path / "big.yaml"
    with path.open("wb") as handle:  # sparse: no 17 MiB actually written
        handle.truncate(MAX_INPUT_BYTES + 1)
    return path


def _special(kind: str, fifo: Path, unix_socket: Path, tmp_path: Path) -> tuple[Path, str]:
    return {"fifo": (fifo, "not a regular file (a FIFO (named pipe))"),
            "device": (Path("/dev/zero"), "not a regular file (a character device)"),
            "socket": (unix_socket, "not a regular file (a socket)"),
            "directory": (tmp_path, "not a regular file (a directory)")}[kind]


KINDS = ["fifo", "device", "socket", "directory"]


@pytest.mark.parametrize("kind", KINDS)
def test_inventory_file_that_is_not_a_regular_file(kind: str, fifo: Path, unix_socket: Path, tmp_path: Path) -> None:
    path, problem = _special(kind, fifo, unix_socket, tmp_path)
    line = one_line_error(greenfield("inventory", "check", "--file", str(path), cwd=tmp_path))
    assert line.startswith(f"greenfield: {path}: {problem} (hint: ")


@pytest.mark.parametrize("kind", KINDS)
def test_substitute_from_that_is_not_a_regular_file(kind: str, fifo: Path, unix_socket: Path, tmp_path: Path) -> None:
    path, problem = _special(kind, fifo, unix_socket, tmp_path)
    repo = small_repo(tmp_path / "repo")
    line = one_line_error(greenfield("validate", "--repo", str(repo), "--no-cache", "--substitute-from", str(path),
                                     cwd=repo))
    assert line.startswith(f"greenfield: {path}: {problem}")


def test_oversized_files_are_refused_naming_the_limit(oversized: Path, tmp_path: Path) -> None:
    line = one_line_error(greenfield("inventory", "check", "--file", str(oversized), cwd=tmp_path))
    assert line.startswith(f"greenfield: {oversized}: too large: {MAX_INPUT_BYTES + 1} bytes, the limit is 16 MiB")
    repo = small_repo(tmp_path / "repo")
    line = one_line_error(greenfield("validate", "--repo", str(repo), "--no-cache", "--substitute-from",
                                     str(oversized), cwd=repo))
    assert "the limit is 16 MiB" in line


def test_a_file_that_is_not_utf8_is_one_line_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"platform:\n  domain: caf\xe9.example.com\n")
    line = one_line_error(greenfield("inventory", "check", "--file", str(path), cwd=tmp_path))
    assert line == (f"greenfield: {path}: line 2: not UTF-8 text (byte 0xe9 at offset 23) "
                    "(hint: save the file as UTF-8)")


def test_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text("platform: {}\n")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: the permission case cannot happen for it
        path.chmod(0o644)
        path = tmp_path / "missing" / "inventory.yaml"
        expected = "file not found"
    else:
        expected = "permission denied"
    line = one_line_error(greenfield("inventory", "check", "--file", str(path), cwd=tmp_path))
    assert line.startswith(f"greenfield: {path}: {expected}")


def test_a_fifo_platform_yaml_in_the_repository_is_refused(tmp_path: Path) -> None:
    repo = small_repo(tmp_path)
    os.mkfifo(repo / "platform.yaml")
    line = one_line_error(greenfield("validate", "--repo", str(repo), "--no-cache", cwd=repo))
    assert "platform.yaml: not a regular file (a FIFO (named pipe))" in line


def test_a_fifo_seed_schedule_in_the_repository_is_refused(tmp_path: Path, repo_root: Path) -> None:
    repo = inventory_repo(tmp_path, repo_root)
    (repo / "plan" / "schedules").mkdir(parents=True)
    for name in ("stories.yaml", "schedules/gitops-first.yaml"):
        (repo / "plan" / name).write_bytes((repo_root / "plan" / name).read_bytes())
    os.mkfifo(repo / "plan" / "schedules" / "v3.yaml")
    line = one_line_error(greenfield("schedule", "--check", "v3", "--repo", str(repo), cwd=repo))
    assert line.startswith("greenfield: plan/schedules/v3.yaml: not a regular file (a FIFO (named pipe))")


def test_fifos_in_the_repository_tree_do_not_block_a_validation(tmp_path: Path) -> None:
    repo = small_repo(tmp_path)
    os.mkfifo(repo / "kubernetes/clusters/main/pipe.yaml")  # a folder without kustomization.yaml lists it
    os.mkfifo(repo / ".sourceignore")
    result = greenfield("validate", "--repo", str(repo), "--no-cache", "--no-schema", cwd=repo)
    assert result.returncode in (0, 1)
    assert b"Traceback" not in result.stderr


# --- the reader itself -----------------------------------------------------------------------------------------
def test_read_text_returns_the_content_of_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("a: ü\n", encoding="utf-8")
    assert safe_read.read_text(path) == "a: ü\n"


def test_a_nul_byte_in_a_path_is_an_input_error() -> None:
    with pytest.raises(UnreadableFile, match="NUL byte"):
        safe_read.read_text(Path("a\0b.yaml"))


def test_a_limit_below_the_file_size_refuses_it(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("x" * 100)
    with pytest.raises(UnreadableFile, match="too large"):
        safe_read.read_bytes(path, limit=99)
    assert len(safe_read.read_bytes(path, limit=100)) == 100


def test_unreadable_file_is_also_an_os_error(fifo: Path) -> None:
    """Repository scanners that already skip unreadable files (`except OSError`) skip these too."""
    with pytest.raises(OSError, match="FIFO"):
        safe_read.read_text(fifo)


def test_a_fifo_in_a_schema_location_does_not_block(tmp_path: Path) -> None:
    repo = small_repo(tmp_path / "repo", {"kubernetes/clusters/main/ks.yaml": (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: a, namespace: flux-system}\n"
        "spec: {interval: 1m, path: ./kubernetes/clusters/main, prune: true, sourceRef: {kind: GitRepository, "
        "name: flux-system}}\n")})
    schemas = tmp_path / "schemas" / "kustomize.toolkit.fluxcd.io"
    schemas.mkdir(parents=True)
    os.mkfifo(schemas / "kustomization_v1.json")
    result = greenfield("validate", "--repo", str(repo), "--no-cache", "--schemas", str(schemas.parent), cwd=repo)
    assert result.returncode in (0, 1) and b"Traceback" not in result.stderr
