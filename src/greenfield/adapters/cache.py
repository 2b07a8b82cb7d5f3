"""The on-disk cache: outside the validated repository, private, verified, and never holding Secret values.

Where: `$XDG_CACHE_HOME/greenfield` (else `~/.cache/greenfield`) or `--cache-dir`, then one folder per
repository keyed by the hash of its real path (`repos/<hash>/`), so that one repository's entries are never
another's. Nothing is ever written into the validated repository.

How: folders are created 0700 and every component below the cache base is checked not to be a symlink
(a planted link cannot redirect a write); files are written 0600 through a temporary file opened with
O_EXCL|O_NOFOLLOW and renamed into place (rename replaces a link, it never follows one). Every entry is
sealed with an HMAC (a random key, 0600, in the repository's cache folder) over its name and content: an
entry that was edited, copied from elsewhere or truncated does not verify and is ignored (rebuilt), never
trusted.

Secrets: Secret values supplied with `--substitute-from` and the data of Secrets the builds render are
registered here; an entry whose text contains one is not written, and a build output holding a plaintext
(not SOPS-encrypted) Secret is never stored (`holds_plaintext_secret`), so neither ever reaches the disk.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import secrets
import stat
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MAGIC = "greenfield-cache-1"
MIN_SECRET_LENGTH = 4  # shorter values ("a", "yes") would match everywhere; they are not secret-grade
_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()


def user_cache_base() -> Path:
    """The user's cache folder for greenfield (XDG base directory rules)."""
    configured = os.environ.get("XDG_CACHE_HOME")
    base = Path(configured) if configured and Path(configured).is_absolute() else Path.home() / ".cache"
    return base / "greenfield"


def cache_folder(repo: Path, base: Path | None = None) -> Path:
    """The cache folder of one repository: `<base>/repos/<hash of its real path>`."""
    real = os.path.realpath(repo)
    key = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return (base or user_cache_base()).absolute() / "repos" / key


# -- secrets ------------------------------------------------------------------------------------------------
def _secret_values(document: dict[str, Any]) -> Iterable[str]:
    for field_name in ("data", "stringData"):
        values = document.get(field_name)
        if not isinstance(values, dict):
            continue
        for value in values.values():
            if not isinstance(value, str) or value.startswith("ENC["):
                continue
            yield value
            if field_name == "data":
                with contextlib.suppress(binascii.Error, ValueError):
                    yield base64.b64decode(value, validate=True).decode("utf-8", "ignore")


def register_secrets(documents: Iterable[Any]) -> None:
    """Remember the values of these Secrets: no cache entry will contain them."""
    found = {value for document in documents if _is_secret(document) for value in _secret_values(document)
             if len(value) >= MIN_SECRET_LENGTH}
    if found:
        with _SECRETS_LOCK:
            _SECRETS.update(found)


def _is_secret(document: Any) -> bool:
    return isinstance(document, dict) and document.get("kind") == "Secret"


def holds_plaintext_secret(documents: Iterable[Any]) -> bool:
    """A Secret with data that is not SOPS-encrypted (such outputs are never stored)."""
    return any(_is_secret(document) and "sops" not in document and any(True for _ in _secret_values(document))
               for document in documents)


def contains_secret(text: str) -> bool:
    with _SECRETS_LOCK:
        known = list(_SECRETS)
    return any(value in text for value in known)


# -- the store ----------------------------------------------------------------------------------------------
class CacheStore:
    """Sealed text entries below one (repository's) cache folder, by relative name."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.absolute()
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def path(self, name: str) -> Path:
        return self.folder / name

    def private_dir(self, name: str = "") -> Path:
        """The folder `name` below the cache folder, created 0700; OSError when a component is a symlink."""
        _makedirs_private(self.folder)
        _check_dir(self.folder)
        current = self.folder
        for part in Path(name).parts if name else ():
            if part in ("..", "/"):
                raise OSError(f"{name}: not a cache entry name")
            current = current / part
            with contextlib.suppress(FileExistsError):
                current.mkdir(0o700)
            _check_dir(current)
        return current

    def _mac(self, name: str, text: str) -> str:
        return hmac.new(self._secret(), f"{name}\0{text}".encode("utf-8", "surrogateescape"),
                        hashlib.sha256).hexdigest()

    def _secret(self) -> bytes:
        with self._lock:
            if self._key is None:
                self._key = self._load_key()
            return self._key

    def _load_key(self) -> bytes:
        path = self.private_dir() / "key"
        with contextlib.suppress(OSError):
            data = _read_nofollow(path)
            if len(data) == 32:
                return data
        key = secrets.token_bytes(32)
        _write_private(path, key)
        return key

    def read(self, name: str) -> str | None:
        """The entry's text when it exists and verifies; None otherwise (missing, forged or corrupt)."""
        try:
            raw = _read_nofollow(self.folder / name).decode("utf-8", "surrogateescape")
            header, text = raw.split("\n", 1)
            magic, mac = header.split(" ", 1)
        except (OSError, ValueError):
            return None
        if magic != MAGIC or not hmac.compare_digest(mac, self._mac(name, text)):
            return None
        return text

    def write(self, name: str, text: str) -> bool:
        """Store the entry; False when it was not written (it holds a secret value, or the disk refused)."""
        if contains_secret(text):
            return False
        try:
            parent = self.private_dir(str(Path(name).parent) if Path(name).parent != Path() else "")
            data = f"{MAGIC} {self._mac(name, text)}\n{text}".encode("utf-8", "surrogateescape")
            _write_private(parent / Path(name).name, data)
        except OSError:
            return False  # a cache that cannot be written only makes the next run slower
        return True


def _makedirs_private(path: Path) -> None:
    """Create the missing folders of `path`, each 0700 (Path.mkdir(parents=True) gives parents 0755)."""
    if os.path.lexists(path):
        return
    _makedirs_private(path.parent)
    with contextlib.suppress(FileExistsError):
        path.mkdir(0o700)


def _check_dir(path: Path) -> None:
    status = os.lstat(path)
    if stat.S_ISLNK(status.st_mode) or not stat.S_ISDIR(status.st_mode):
        raise OSError(f"{path}: not a real folder (a symlink is never followed for cache writes)")
    if status.st_uid == os.getuid() and stat.S_IMODE(status.st_mode) != 0o700:
        path.chmod(0o700)


def _read_nofollow(path: Path) -> bytes:
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(descriptor, "rb") as handle:
        return handle.read()


def _write_private(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(temporary, flags, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        temporary.replace(path)  # replaces a planted link itself, never writes through it
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
