"""Read revisions of a git repository safely: resolve names, find merge bases, export a tree to a folder.

The repository may be untrusted, so git runs with its repository-controlled hooks and helpers switched off
(`core.fsmonitor` and `core.hooksPath` overridden, no pager, no prompts) and every user-supplied revision
comes after `--end-of-options`, so that a name like `--output=x` is never read as an option. A tree is
exported by reading its blobs (`ls-tree` + `cat-file --batch`), never by checking it out: no smudge/clean
filters, no `.gitattributes` export rules, no working tree or index touched. Symlinks and submodules are
left out, as they are never part of a Flux source artifact.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from greenfield.adapters.command import Command
from greenfield.errors import CommandError, InputError

SAFE_OPTIONS = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "protocol.allow=never",
                "--no-pager")
_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
DEFAULT_BRANCH_CANDIDATES = ("origin/HEAD", "origin/main", "origin/master", "main", "master")


def git(repo: Path, *args: str, timeout: float = 120.0, allowed: frozenset[int] = frozenset({0})) -> str:
    command = Command(["git", *SAFE_OPTIONS, *args], cwd=repo, env=_ENV, timeout=timeout, allowed_exit_codes=allowed)
    return command.run().stdout


def toplevel(path: Path) -> tuple[Path, str]:
    """The work tree's root and `path`'s prefix inside it ("" at the root, else "sub/dir")."""
    try:
        root = git(path, "rev-parse", "--show-toplevel").strip()
        prefix = git(path, "rev-parse", "--show-prefix").strip().rstrip("/")
    except CommandError as error:
        raise InputError("not inside a git work tree", path=str(path),
                         hint="greenfield diff compares git revisions: run it in a clone") from error
    return Path(root), prefix


def resolve(repo: Path, revision: str) -> str:
    """The commit a revision names (full hash); a one-line error when git does not know it."""
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}").strip()
    except CommandError as error:
        raise InputError(f"unknown revision {revision!r}", path=str(repo),
                         hint="pass a commit, branch or tag git knows (git fetch first in a shallow CI clone)"
                         ) from error


def default_branch(repo: Path) -> str | None:
    """The default branch to compare with: the remote's HEAD, else the first of origin/main, main, ..."""
    for name in DEFAULT_BRANCH_CANDIDATES:
        try:
            git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{name}^{{commit}}")
        except CommandError:
            continue
        return name
    return None


def merge_base(repo: Path, first: str, second: str) -> str:
    try:
        return git(repo, "merge-base", "--end-of-options", first, second).strip()
    except CommandError as error:
        raise InputError(f"no merge base of {first} and {second}", path=str(repo),
                         hint="pass --base REV (a shallow clone needs fetch-depth: 0)") from error


def _entries(repo: Path, commit: str, prefix: str) -> list[tuple[str, str]]:
    """(blob id, path relative to prefix) of every regular file of the commit's tree under prefix."""
    # after --end-of-options a "--" would be read as a path: the prefix (from git itself) follows directly
    listing = git(repo, "ls-tree", "-r", "-z", "--full-tree", "--end-of-options", commit,
                  *([prefix] if prefix else []), timeout=300.0)
    entries: list[tuple[str, str]] = []
    for record in listing.split("\0"):
        if not record:
            continue
        meta, _, path = record.partition("\t")
        mode, kind, oid = meta.split(" ")
        if kind != "blob" or mode not in ("100644", "100755"):
            continue  # symlinks (120000) and submodules (commit) are not in a source artifact
        relative = PurePosixPath(path)
        if prefix:
            relative = relative.relative_to(prefix)
        if relative.is_absolute() or ".." in relative.parts or ".git" in relative.parts:
            continue  # git never stores these; a crafted tree must not write outside the folder
        entries.append((oid, relative.as_posix()))
    return entries


def export_tree(repo: Path, commit: str, destination: Path, prefix: str = "") -> int:
    """Write the commit's files under prefix into destination (an empty folder); returns the file count."""
    entries = _entries(repo, commit, prefix)
    if not entries:
        return 0
    batch = Command(["git", *SAFE_OPTIONS, "cat-file", "--batch"], cwd=repo, env=_ENV, timeout=600.0)
    code, out, err = batch.run_bytes("".join(f"{oid}\n" for oid, _ in entries).encode())
    if code != 0:
        raise CommandError(f"git cat-file --batch exited {code}: {err.decode(errors='replace').strip()}")
    offset = 0
    for oid, path in entries:
        end = out.index(b"\n", offset)
        header = out[offset:end].decode().split(" ")
        if header[0] != oid or len(header) != 3:
            raise CommandError(f"git cat-file --batch: unexpected answer for {path}: {' '.join(header)}")
        size = int(header[2])
        data = out[end + 1:end + 1 + size]
        offset = end + 1 + size + 1  # the content is followed by a newline
        target = destination / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return len(entries)
