"""Reading and writing files of a repository without leaving it through a symbolic link.

A repository can hold `kubernetes/clusters/apps/cluster-settings.yaml -> /etc/passwd` (or a linked folder on
the way there): following it would print a host file as a diff or overwrite it. Reads follow a link only when it
stays inside the repository; writes never follow one (no link anywhere between the root and the file, and the
file is replaced by a rename, which replaces a link that appears in between instead of writing through it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

from greenfield.adapters import safe_read
from greenfield.errors import InputError


def _shown(repo: Path, path: Path) -> str:
    return path.relative_to(repo).as_posix() if path.is_relative_to(repo) else str(path)


def _links_on_the_way(repo: Path, path: Path) -> Path | None:
    """The first symbolic link among the components of `path` below `repo` (the file itself included)."""
    current = repo
    for part in path.relative_to(repo).parts:
        current = current / part
        try:
            if stat.S_ISLNK(os.lstat(current).st_mode):
                return current
        except FileNotFoundError:
            return None  # nothing further exists yet: no link further down either
    return None


def read_inside(repo: Path, path: Path) -> str | None:
    """The text of the repository file `path` (None when it does not exist); InputError when a link takes the
    read outside the repository, or the file is not a regular file (bounded read, see safe_read)."""
    root = repo.resolve()
    if not os.path.lexists(path):
        return None
    target = path.resolve()
    if not target.is_relative_to(root):
        raise InputError(f"is a symbolic link to {target}, outside the repository", path=_shown(repo, path),
                         hint="replace the link with the file itself; links out of the repository are not followed")
    return safe_read.read_text(target, _shown(repo, path))


def refuse_links(repo: Path, path: Path) -> None:
    """InputError when any component of `path` below `repo` (the file included) is a symbolic link."""
    link = _links_on_the_way(repo, path)
    if link is not None:
        raise InputError("is a symbolic link: not written through", path=_shown(repo, link),
                         hint="replace the link with a regular file or folder of the repository")


def write_inside(repo: Path, path: Path, text: str) -> None:
    """Write `text` to the repository file `path`, creating its folders; InputError when any component of the
    path (the file included) is a symbolic link."""
    refuse_links(repo, path)
    current = repo
    for part in path.relative_to(repo).parent.parts:  # mkdir step by step: a link made meanwhile is not followed
        current = current / part
        with contextlib.suppress(FileExistsError):
            current.mkdir()
        if not stat.S_ISDIR(os.lstat(current).st_mode):
            raise InputError("is not a folder", path=_shown(repo, current), hint="remove it or the link")
    try:  # keep the mode of the file replaced; a new one gets a repository file's usual 0644 (mkstemp's is 0600)
        mode = stat.S_IMODE(os.lstat(path).st_mode)
    except FileNotFoundError:
        mode = 0o644
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        Path(temporary).chmod(mode)
        Path(temporary).replace(path)  # replaces a link at `path` itself, never its target
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise


def write_output(path: Path, text: str) -> None:
    """Write a file the user named (`--out`): created with its folders, or replaced in place. Opened without
    blocking, so a FIFO nobody reads is an error instead of a hang (a pipe with a reader, like `>(cat)`, works);
    every failure is one line naming the path."""
    shown = str(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY, 0o644)
    except OSError as error:
        if error.errno == errno.ENXIO:
            raise InputError("is a FIFO (named pipe) nobody reads", path=shown,
                             hint="pass a regular file, or start the reader first") from error
        raise InputError(f"cannot write: {error.strerror or error}", path=shown,
                         hint="pass a writable file path") from error
    try:
        os.set_blocking(fd, True)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            fd = -1
            out.write(text)
    except OSError as error:
        raise InputError(f"cannot write: {error.strerror or error}", path=shown,
                         hint="pass a writable file path") from error
    finally:
        if fd >= 0:
            os.close(fd)
