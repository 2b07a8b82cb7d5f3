"""Bounded reads of files named by the user or found in a validated repository.

A path can be anything: `--file /dev/zero` would grow without end, a FIFO would block the open until a
writer comes, a socket or a directory fails with an errno the user has to decode. Every input file is
therefore opened without blocking (O_NONBLOCK: a FIFO opens at once), checked to be a regular file on the
open descriptor (no race between a check and the open), and read up to a size limit.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from greenfield.errors import InputError

MiB = 1024 * 1024
MAX_INPUT_BYTES = 16 * MiB
"""The largest input file read (inventory, --substitute-from, plan files, repository YAML): far above any real
one (the largest file of the 20-repository corpus is well under 1 MiB), far below what hurts."""

_CHUNK = 1024 * 1024
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class UnreadableFile(InputError, OSError):
    """An input file that is not a readable regular file, too large, or not UTF-8. Also an OSError, so code that
    already treats an unreadable repository file as "kustomize reports it" keeps doing so."""


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _open_problem(error: OSError) -> tuple[str, str]:
    if error.errno == errno.ENOENT:
        return "file not found", ""
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied", "check the file's permissions"
    if error.errno == errno.ENXIO:  # opening a socket
        return "not a regular file (a socket)", "pass a YAML file"
    if error.errno == errno.ENAMETOOLONG:
        return "file name too long", "check the path"
    if error.errno == errno.ELOOP:
        return "too many levels of symbolic links", "check the path"
    return f"cannot read: {error.strerror or error}", "check the path and its permissions"


def read_bytes(path: Path, display: str | None = None, *, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The content of the regular file `path`, at most `limit` bytes; UnreadableFile (one line) otherwise."""
    shown = display or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except ValueError as error:  # a NUL byte in the path
        raise UnreadableFile("the path contains a NUL byte", path=shown.replace("\0", "\\0"),
                             hint="check the path") from error
    except OSError as error:
        problem, hint = _open_problem(error)
        raise UnreadableFile(problem, path=shown, hint=hint or None) from error
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile(f"not a regular file ({_kind(info.st_mode)})", path=shown,
                                 hint="pass a regular file; FIFOs, devices, sockets and directories are refused")
        if info.st_size > limit:
            raise UnreadableFile(f"too large: {info.st_size} bytes, the limit is {limit // MiB} MiB", path=shown,
                                 hint="input files are YAML a person can review; split or trim the file")
        os.set_blocking(fd, True)  # a regular file: reads are ordinary from here on
        chunks: list[bytes] = []
        size = 0
        while size <= limit:  # the file may grow while it is read: stop one byte past the limit
            chunk = os.read(fd, min(_CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise UnreadableFile(f"too large: more than {limit // MiB} MiB", path=shown,
                                 hint="input files are YAML a person can review; split or trim the file")
        return b"".join(chunks)
    except UnreadableFile:
        raise
    except OSError as error:
        raise UnreadableFile(f"cannot read: {error.strerror or error}", path=shown,
                             hint="check the path and its permissions") from error
    finally:
        os.close(fd)


def read_text(path: Path, display: str | None = None, *, limit: int = MAX_INPUT_BYTES) -> str:
    """The UTF-8 text of the regular file `path` (bounded, see read_bytes); one-line UnreadableFile otherwise."""
    data = read_bytes(path, display, limit=limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise UnreadableFile(f"line {line}: not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start})",
                             path=display or str(path), hint="save the file as UTF-8") from error
