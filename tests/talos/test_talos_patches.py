"""Talos patches from the inventory, and secrets encrypted with age through the pinned sops."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenfield.adapters import age, sops
from greenfield.app.inventory import load_inventory
from greenfield.core.inventory import Inventory
from greenfield.core.talos import (
    SPEGEL_CONTAINERD_PATH,
    cluster_patch,
    node_order,
    node_patch,
    talos_contract,
)


@pytest.fixture(scope="module")
def inventory(repo_root: Path) -> Inventory:
    return load_inventory(repo_root / "platform.yaml")


def test_cluster_patch_hands_networking_to_gitops(inventory: Inventory) -> None:
    patch = cluster_patch(inventory, "apps")
    cluster = patch["cluster"]
    assert cluster["network"]["cni"] == {"name": "none"}
    assert cluster["proxy"] == {"disabled": True}
    assert cluster["coreDNS"] == {"disabled": True}
    assert cluster["network"]["podSubnets"] == ["10.246.0.0/16"]
    assert cluster["network"]["serviceSubnets"] == ["10.247.0.0/16"]
    assert patch["machine"]["kubelet"]["clusterDNS"] == ["10.247.0.10"]
    assert patch["machine"]["features"]["kubePrism"] == {"enabled": True, "port": 7445}
    assert "apps-k8s.example.com" in cluster["apiServer"]["certSANs"]


def test_spegel_needs_unpacked_layers(inventory: Inventory) -> None:
    files = cluster_patch(inventory, "infra")["machine"]["files"]
    assert files[0]["path"] == SPEGEL_CONTAINERD_PATH
    assert "discard_unpacked_layers = false" in files[0]["content"]


def test_node_patch_places_each_node(inventory: Inventory) -> None:
    nodes = node_order(inventory, "infra")
    assert [n.name for n in nodes] == ["infra-01", "infra-02", "infra-03"]
    patch = node_patch(inventory, "infra", nodes[1])["machine"]
    assert patch["network"]["hostname"] == "infra-02"
    assert patch["network"]["interfaces"][0]["addresses"] == ["10.25.11.12/24"]
    assert patch["network"]["interfaces"][0]["routes"][0]["gateway"] == "10.25.11.1"
    assert patch["install"]["disk"] == "/dev/sda"
    assert patch["certSANs"] == ["infra-k8s.example.com", "10.25.11.12"]


def test_talos_contract_is_the_minor() -> None:
    assert talos_contract("1.11.3") == "v1.11"


def test_age_identity_round_trips_through_sops(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.txt"
    recipients, created = age.ensure_key_file(key_file)
    assert created and recipients[0].startswith("age1")
    assert age.ensure_key_file(key_file) == (recipients, False)
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    plain = tmp_path / "secrets.yaml"
    plain.write_text("cluster:\n  secret: s3cr3t-value\n")
    encrypted = tmp_path / "talos" / "secrets.sops.yaml"
    sops.encrypt(plain, encrypted, recipients, key_file)
    text = encrypted.read_text()
    assert "s3cr3t-value" not in text and sops.is_encrypted(text)
    assert "s3cr3t-value" in sops.decrypt(encrypted, key_file)


def test_decrypt_with_the_wrong_key_is_a_clear_error(tmp_path: Path) -> None:
    from greenfield.errors import InputError

    key_a, key_b = tmp_path / "a.txt", tmp_path / "b.txt"
    recipients, _ = age.ensure_key_file(key_a)
    age.ensure_key_file(key_b)
    plain = tmp_path / "p.yaml"
    plain.write_text("a: b\n")
    sops.encrypt(plain, tmp_path / "e.yaml", recipients, key_a)
    with pytest.raises(InputError, match="cannot decrypt"):
        sops.decrypt(tmp_path / "e.yaml", key_b)


def test_bech32_vector() -> None:
    assert age.bech32_encode("a", b"") == "a12uel5l"
