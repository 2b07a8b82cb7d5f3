"""`greenfield talos gen` for all six reference nodes, validated by the real talosctl (story 42)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from greenfield.adapters import sops
from greenfield.app.inventory import load_inventory
from greenfield.app.talos import find_talosctl, generate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def talos_repo(repo_root: Path, tmp_path_factory: pytest.TempPathFactory, upstream_tools) -> Path:  # type: ignore[no-untyped-def]
    upstream_tools.ensure(["talosctl"])
    repo = tmp_path_factory.mktemp("talos-repo")
    shutil.copy(repo_root / "platform.yaml", repo / "platform.yaml")
    return repo


@pytest.mark.parametrize("cluster", ["infra", "apps"])
def test_every_node_config_generates_and_validates(talos_repo: Path, cluster: str) -> None:
    key_file = talos_repo / "age.txt"
    inventory = load_inventory(talos_repo / "platform.yaml")
    first = generate(talos_repo, inventory, cluster, talosctl=find_talosctl(talos_repo), key_file=key_file)
    nodes = [n.name for n in inventory.clusters[cluster].nodes]
    assert first.validated == nodes and first.secrets_created
    secrets = first.secrets_file.read_text()
    assert sops.is_encrypted(secrets) and "ENC[AES256_GCM" in secrets
    config = yaml.safe_load(first.configs[nodes[1]].read_text().split("\n---\n")[0])
    assert config["machine"]["network"]["hostname"] == nodes[1]
    assert config["machine"]["install"]["disk"] == "/dev/sda"
    assert config["cluster"]["network"]["cni"]["name"] == "none"
    assert config["cluster"]["proxy"]["disabled"] is True
    assert config["cluster"]["coreDNS"]["disabled"] is True
    assert config["cluster"]["clusterName"] == cluster
    assert str(inventory.clusters[cluster].pod_cidr) in config["cluster"]["network"]["podSubnets"]
    # plaintext only in the gitignored output folder
    assert (talos_repo / "talos" / "generated" / cluster / ".gitignore").read_text() == "*\n"
    again = generate(talos_repo, inventory, cluster, talosctl=find_talosctl(talos_repo), key_file=key_file)
    assert not again.secrets_created and again.validated == nodes
    assert first.secrets_file.read_text() == secrets  # generated once, reused


def test_generated_configs_are_gitignored(repo_root: Path) -> None:
    ignored = (repo_root / ".gitignore").read_text()
    assert "/talos/generated/" in ignored
