"""Does a setting look like secret material? By its name and by the shape of its value.

Settings end up in the `cluster-settings` ConfigMap: plaintext in git and in the cluster. A TSIG secret, a
password or a token there is a leak; it belongs in the secret store, delivered by an ExternalSecret.
"""

from __future__ import annotations

import math
import re
from collections import Counter

# the last word(s) of a setting name whose value is the secret itself; `..._KEYNAME`, `..._SECRET_NAME`,
# `..._TOKEN_REF`, `..._KEY_ID` name or point at a secret and stay allowed
SECRET_NAME = re.compile(r"(?:^|_)(?:SECRET|SECRET_KEY|PASSWORD|PASSWD|PASSPHRASE|PASS|TOKEN|API_?KEY|"
                         r"ACCESS_KEY|PRIVATE_KEY|TSIG_KEY|KEY|CREDENTIALS?|PSK|PIN|COOKIE|SALT)$")

# vendor tokens found anywhere in a text (shared with the plaintext-secret rule)
VENDOR_TOKENS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an AWS access key id", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")),
    ("a GitHub token", re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})")),
    ("a GitLab token", re.compile(r"(?<![A-Za-z0-9_])glpat-[A-Za-z0-9_-]{20,}")),
    ("a Slack token", re.compile(r"(?<![A-Za-z0-9_])xox[abprs]-[A-Za-z0-9-]{10,}")),
)
VALUE_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a PEM private key or certificate block", re.compile(r"-----BEGIN [A-Z0-9 ]+-----")),
    ("an OpenSSH private key", re.compile(r"openssh-key-v1|^ssh-(?:rsa|ed25519) AAAA")),
    *VENDOR_TOKENS,
    ("a JSON web token", re.compile(r"^eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}$")),
    ("an age secret key", re.compile(r"^AGE-SECRET-KEY-1[0-9A-Z]{50,}$")),
)
# base64 of 16 bytes or more (a TSIG/HMAC secret is base64 of 32 or 64 random bytes)
BASE64 = re.compile(r"^(?:[A-Za-z0-9+/]{4}){5,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$")
HEX_KEY = re.compile(r"^[0-9a-fA-F]{64,}$")  # 256-bit or longer keys written in hex


def secret_key(name: str) -> bool:
    """The setting's name says its value is a secret (a password, token, key ...), not the name of one."""
    return SECRET_NAME.search(name.upper()) is not None


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def secret_value(value: str) -> str | None:
    """What the value looks like when it looks like key material or a token, else None."""
    for label, pattern in VALUE_SHAPES:
        if pattern.search(value):
            return label
    # random base64 has upper- and lower-case letters and digits and ~4.5+ bits per character; words,
    # paths and version strings do not
    if BASE64.match(value) and all(any(test(c) for c in value) for test in (str.isupper, str.islower, str.isdigit)) \
            and _entropy(value) > 4.0:
        return "base64 key material"
    if HEX_KEY.match(value):
        return "a hex-encoded key"
    return None
