"""`settings render` never follows a symbolic link out of the repository: nothing outside is printed (as a diff) or
overwritten; writes never go through any link; a link that stays inside the repository may be read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from inputs_helpers import clean, greenfield, one_line_error

from greenfield.adapters.safe_write import read_inside, write_inside
from greenfield.errors import InputError

HOST_CONTENT = "root:x:0:0:host file that must stay untouched\n"


@pytest.fixture()
def repo(tmp_path: Path, repo_root: Path) -> Path:
    root = tmp_path / "repo"
    for cluster in ("infra", "apps"):
        (root / "kubernetes" / "clusters" / cluster).mkdir(parents=True)
    shutil.copy(repo_root / "platform.yaml", root / "platform.yaml")
    return root


@pytest.fixture()
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "host-file"
    path.write_text(HOST_CONTENT)
    return path


def test_check_does_not_print_a_file_outside_through_a_link(repo: Path, outside: Path) -> None:
    (repo / "kubernetes/clusters/infra/cluster-settings.yaml").symlink_to(outside)
    result = greenfield("settings", "render", "--check", "--repo", str(repo), cwd=repo)
    line = one_line_error(result)
    assert line.startswith(f"greenfield: kubernetes/clusters/infra/cluster-settings.yaml: is a symbolic link to "
                           f"{outside}, outside the repository")
    assert b"host file" not in result.stdout


def test_render_does_not_overwrite_a_file_outside_through_a_link(repo: Path, outside: Path) -> None:
    (repo / "kubernetes/clusters/infra/cluster-settings.yaml").symlink_to(outside)
    one_line_error(greenfield("settings", "render", "--repo", str(repo), cwd=repo))
    assert outside.read_text() == HOST_CONTENT


def test_render_does_not_write_into_a_linked_folder_and_writes_nothing(repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(repo / "kubernetes/clusters/apps")
    (repo / "kubernetes/clusters/apps").symlink_to(elsewhere, target_is_directory=True)
    line = one_line_error(greenfield("settings", "render", "--repo", str(repo), cwd=repo))
    assert line.startswith("greenfield: kubernetes/clusters/apps: is a symbolic link: not written through")
    assert list(elsewhere.iterdir()) == []
    assert not (repo / "kubernetes/clusters/infra/cluster-settings.yaml").exists()  # all or nothing


def test_a_dangling_link_is_not_created_through(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "created-outside.yaml"
    (repo / "kubernetes/clusters/infra/cluster-settings.yaml").symlink_to(target)
    one_line_error(greenfield("settings", "render", "--repo", str(repo), cwd=repo))
    assert not target.exists()


def test_a_link_inside_the_repository_is_read(repo: Path) -> None:
    clean(greenfield("settings", "render", "--repo", str(repo), cwd=repo))
    infra = repo / "kubernetes/clusters/infra/cluster-settings.yaml"
    kept = repo / "kept.yaml"
    infra.rename(kept)
    infra.symlink_to(kept)
    clean(greenfield("settings", "render", "--check", "--repo", str(repo), cwd=repo))  # read through it: no drift


def test_a_settings_file_that_is_a_fifo_is_refused(repo: Path) -> None:
    import os

    os.mkfifo(repo / "kubernetes/clusters/infra/cluster-settings.yaml")
    line = one_line_error(greenfield("settings", "render", "--check", "--repo", str(repo), cwd=repo))
    assert "not a regular file (a FIFO (named pipe))" in line


def test_write_inside_replaces_the_file_and_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b.yaml"
    write_inside(tmp_path, path, "one\n")
    assert path.read_text() == "one\n" and (path.stat().st_mode & 0o777) == 0o644
    path.chmod(0o640)
    write_inside(tmp_path, path, "two\n")
    assert path.read_text() == "two\n" and (path.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in path.parent.iterdir()) == ["b.yaml"]  # no temporary file left


def test_read_inside_refuses_a_link_out(tmp_path: Path, outside: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    (repo / "x.yaml").symlink_to(outside)
    with pytest.raises(InputError, match="outside the repository"):
        read_inside(repo, repo / "x.yaml")
    assert read_inside(repo, repo / "absent.yaml") is None
