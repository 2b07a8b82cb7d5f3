"""`greenfield talos gen`: cluster secrets (once, SOPS-encrypted with age) and per-node machine configs.

Plaintext secrets and configs only ever live in `talos/generated/` (gitignored) or a temp folder;
what is committed is `talos/<cluster>/secrets.sops.yaml`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from greenfield.adapters import age, sops
from greenfield.adapters.command import Command
from greenfield.adapters.yamlio import dump_documents
from greenfield.core.inventory import Inventory
from greenfield.core.talos import cluster_patch, endpoint, node_order, node_patch, talos_contract
from greenfield.errors import InputError

Progress = Callable[[str], None]


@dataclass
class TalosOutput:
    cluster: str
    secrets_file: Path
    secrets_created: bool
    configs: dict[str, Path] = field(default_factory=dict)  # node -> machine config (plaintext, gitignored)
    talosconfig: Path | None = None
    validated: list[str] = field(default_factory=list)
    key_created: bool = False


def find_talosctl(repo: Path) -> str:
    """The pinned talosctl built from tools/ (see `greenfield tools`)."""
    from greenfield.adapters.gotools import GoTools

    del repo  # the tools module belongs to the greenfield checkout, not to the validated repository
    return str(GoTools().binary("talosctl"))


def secrets_path(repo: Path, cluster: str) -> Path:
    return repo / "talos" / cluster / "secrets.sops.yaml"


def generated_dir(repo: Path, cluster: str) -> Path:
    return repo / "talos" / "generated" / cluster


def _write_patch(folder: Path, name: str, document: dict[str, object]) -> Path:
    path = folder / name
    path.write_text(dump_documents([document]), encoding="utf-8")
    return path


def generate(repo: Path, inventory: Inventory, cluster: str, *, talosctl: str, key_file: Path,
             progress: Progress = lambda _: None) -> TalosOutput:
    if cluster not in inventory.clusters:
        raise InputError(f"unknown cluster {cluster!r}", path="platform.yaml",
                         hint="one of: " + ", ".join(inventory.clusters))
    spec = inventory.clusters[cluster]
    recipients, key_created = age.ensure_key_file(key_file)
    encrypted = secrets_path(repo, cluster)
    out_dir = generated_dir(repo, cluster)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ".gitignore").write_text("*\n", encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="greenfield-talos-") as scratch:
        work = Path(scratch)
        plain_secrets = work / "secrets.yaml"
        created = not encrypted.exists()
        if created:
            progress(f"{cluster}: generating cluster secrets (once)")
            Command([talosctl, "gen", "secrets", "--output-file", str(plain_secrets)], timeout=120).run()
            sops.encrypt(plain_secrets, encrypted, recipients, key_file)
        else:
            progress(f"{cluster}: reusing {encrypted.relative_to(repo)}")
            plain_secrets.write_text(sops.decrypt(encrypted, key_file), encoding="utf-8")
        common = _write_patch(work, "cluster.yaml", cluster_patch(inventory, cluster))
        progress(f"{cluster}: talosctl gen config {endpoint(spec)}")
        Command([talosctl, "gen", "config", cluster, endpoint(spec), "--with-secrets", str(plain_secrets),
                 "--kubernetes-version", inventory.platform.versions.kubernetes,
                 "--talos-version", talos_contract(inventory.platform.versions.talos),
                 "--config-patch", f"@{common}", "--output-types", "controlplane,worker,talosconfig",
                 "--output", str(work / "base"), "--force", "--with-docs=false", "--with-examples=false"],
                timeout=120).run()
        result = TalosOutput(cluster, encrypted, created, key_created=key_created)
        for node in node_order(inventory, cluster):
            patch = _write_patch(work, f"{node.name}.yaml", node_patch(inventory, cluster, node))
            base = work / "base" / ("controlplane.yaml" if node.role == "controlplane" else "worker.yaml")
            target = out_dir / f"{node.name}.yaml"
            Command([talosctl, "machineconfig", "patch", str(base), "--patch", f"@{patch}", "--output",
                     str(target)], timeout=60).run()
            target.chmod(0o600)
            Command([talosctl, "validate", "--config", str(target), "--mode", "metal", "--strict"],
                    timeout=60).run()
            result.configs[node.name] = target
            result.validated.append(node.name)
            progress(f"{cluster}: {node.name} config valid for metal")
        talosconfig = out_dir / "talosconfig"
        shutil.copy(work / "base" / "talosconfig", talosconfig)
        talosconfig.chmod(0o600)
        result.talosconfig = talosconfig
    return result


def summary(output: TalosOutput, repo: Path) -> dict[str, object]:
    return {
        "cluster": output.cluster,
        "secrets": str(output.secrets_file.relative_to(repo)),
        "secrets_created": output.secrets_created,
        "age_key_created": output.key_created,
        "configs": {node: str(path.relative_to(repo)) for node, path in output.configs.items()},
        "validated": output.validated,
        "talosconfig": str(output.talosconfig.relative_to(repo)) if output.talosconfig else None,
    }
