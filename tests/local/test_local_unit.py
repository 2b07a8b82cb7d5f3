"""The local control plane's pure-ish parts: PKI, inventory → specs, pid ownership, state files."""

from __future__ import annotations

import ipaddress
import stat
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from greenfield.adapters.command import Command
from greenfield.adapters.gotools import GoTools
from greenfield.adapters.local_cluster import (
    ClusterSpec,
    ClusterState,
    LocalControlPlane,
    ProcessRecord,
    free_port,
    owns,
)
from greenfield.adapters.localpki import CLIENTS, ensure_pki
from greenfield.app.inventory import load_inventory
from greenfield.app.local import cluster_specs, state_dir
from greenfield.errors import CommandError, InputError

REPO = Path(__file__).resolve().parents[2]


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_pki_serving_and_client_certificates(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path / "pki", "infra", service_ip="10.245.0.1", cluster_domain="cluster.local")
    ca = _cert(pki.ca_cert)
    serving = _cert(pki.serving_cert)
    serving.verify_directly_issued_by(ca)
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("10.245.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert "kubernetes.default.svc.cluster.local" in sans.get_values_for_type(x509.DNSName)
    usage = serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage
    admin = _cert(pki.client_cert("admin"))
    admin.verify_directly_issued_by(ca)
    assert admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    kcm = _cert(pki.client_cert("kube-controller-manager"))
    assert kcm.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:kube-controller-manager"
    for key in [pki.ca_key, pki.serving_key, pki.sa_key, *(pki.client_key(u) for u in CLIENTS)]:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


def test_pki_is_kept_once_complete(tmp_path: Path) -> None:
    first = ensure_pki(tmp_path, "apps", service_ip="10.247.0.1", cluster_domain="cluster.local")
    before = first.ca_cert.read_bytes()
    again = ensure_pki(tmp_path, "apps", service_ip="10.247.0.1", cluster_domain="cluster.local")
    assert again.ca_cert.read_bytes() == before


def test_specs_from_the_reference_inventory() -> None:
    inventory = load_inventory(REPO / "platform.yaml")
    specs = {s.name: s for s in cluster_specs(inventory)}
    assert set(specs) == set(inventory.enabled_clusters())
    assert specs["infra"].service_cidr == str(inventory.clusters["infra"].service_cidr)
    assert specs["infra"].service_ip == str(next(inventory.clusters["infra"].service_cidr.hosts()))
    assert [s.name for s in cluster_specs(inventory, ["apps"])] == ["apps"]
    with pytest.raises(InputError, match="unknown cluster"):
        cluster_specs(inventory, ["nope"])


def test_state_folder_is_under_the_repository(tmp_path: Path) -> None:
    assert state_dir(tmp_path) == tmp_path / ".greenfield" / "local"


def test_owns_only_a_live_process_with_our_binary_and_marker(tmp_path: Path) -> None:
    marker = str(tmp_path / "cluster")
    process = Command([sys.executable, "-c", "import time; time.sleep(30)", marker]).start(tmp_path / "log")
    try:
        record = ProcessRecord("sleeper", process.pid, sys.executable, str(tmp_path / "log"))
        deadline = time.monotonic() + 10  # a loaded machine may show the child mid-exec for a moment
        while not owns(record, marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert owns(record, marker), Path(f"/proc/{process.pid}/cmdline").read_bytes()
        assert not owns(record, str(tmp_path / "other-cluster"))
        assert not owns(ProcessRecord("x", process.pid, "/usr/bin/other", ""), marker)
    finally:
        process.kill()
        process.wait()
    assert not owns(record, marker)


def test_down_leaves_a_foreign_pid_alone(tmp_path: Path) -> None:
    """A recorded pid now running something else (pid reuse) is not signalled."""
    stranger = Command([sys.executable, "-c", "import time; time.sleep(30)"]).start(tmp_path / "log")
    try:
        plane = LocalControlPlane(tmp_path / "state", GoTools(REPO / "tools"))
        state = ClusterState("c1", "https://127.0.0.1:1", {"apiserver": 1},
                             [ProcessRecord("etcd", stranger.pid, "/nonexistent/etcd", "log")])
        plane._save_state(state)
        assert plane.down() == ["c1"]
        assert stranger.poll() is None
        statuses = plane.status()
        assert [s.name for s in statuses] == ["c1"] and not statuses[0].running
        plane.down(wipe=True)
        assert plane.known_clusters() == [] and not plane.kubeconfig.exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_up_refuses_without_built_tools(tmp_path: Path) -> None:
    tools_root = tmp_path / "tools"
    tools_root.mkdir()
    (tools_root / "go.mod").write_text((REPO / "tools" / "go.mod").read_text(encoding="utf-8"), encoding="utf-8")
    plane = LocalControlPlane(tmp_path / "state", GoTools(tools_root))
    with pytest.raises(CommandError, match="etcd is missing"):
        plane.up([ClusterSpec("c1")])


def test_free_port_is_bindable() -> None:
    assert 0 < free_port() < 65536
