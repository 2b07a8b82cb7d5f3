"""age X25519 identities, generated in-process (no age binary needed; sops speaks age natively)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from greenfield.errors import InputError

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _polymod(values: list[int]) -> int:
    generator = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            checksum ^= generator[i] if (top >> i) & 1 else 0
    return checksum


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: bytes, from_bits: int, to_bits: int) -> list[int]:
    accumulator, bits, result, maximum = 0, 0, [], (1 << to_bits) - 1
    for value in data:
        accumulator = (accumulator << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            result.append((accumulator >> bits) & maximum)
    if bits:
        result.append((accumulator << (to_bits - bits)) & maximum)
    return result


def bech32_encode(hrp: str, data: bytes) -> str:
    """BIP-173 bech32 (the encoding age uses for keys)."""
    words = _convert_bits(data, 8, 5)
    polymod = _polymod([*_hrp_expand(hrp), *words, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[w] for w in words + checksum)


@dataclass(frozen=True)
class AgeIdentity:
    secret: str  # AGE-SECRET-KEY-1...
    recipient: str  # age1...


def generate_identity() -> AgeIdentity:
    key = X25519PrivateKey.generate()
    private = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return AgeIdentity(bech32_encode("age-secret-key-", private).upper(), bech32_encode("age", public))


def default_key_file() -> Path:
    configured = os.environ.get("SOPS_AGE_KEY_FILE")
    if configured:
        return Path(configured)
    return Path.home() / ".config" / "sops" / "age" / "keys.txt"


def read_recipients(key_file: Path) -> list[str]:
    """The public keys recorded in an age key file (`# public key: age1...` lines)."""
    try:
        lines = key_file.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise InputError(f"cannot read age key file: {error}", path=str(key_file)) from error
    return [line.split(":", 1)[1].strip() for line in lines if line.startswith("# public key:")]


def ensure_key_file(key_file: Path) -> tuple[list[str], bool]:
    """Recipients of the key file, creating one identity (mode 0600) when the file does not exist."""
    if key_file.exists():
        recipients = read_recipients(key_file)
        if not recipients:
            raise InputError("no `# public key:` line in the age key file", path=str(key_file),
                             hint="add the recipient comment age-keygen writes")
        return recipients, False
    identity = generate_identity()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(f"# created by greenfield\n# public key: {identity.recipient}\n{identity.secret}\n",
                        encoding="utf-8")
    key_file.chmod(0o600)
    return [identity.recipient], True
