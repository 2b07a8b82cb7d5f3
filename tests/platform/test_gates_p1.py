"""Story gates of the reference platform, part 1 (stories 1-13 and 41: networking, DNS, secrets, TLS, Flux).

Each test copies the repository's `kubernetes/` and `platform.yaml` into a temporary folder, breaks one
gate the way a real change would, runs the validator (`greenfield.app.validate`) and asserts that the
rule guarding that gate fires on the broken file. One test proves the unbroken tree has no error or
warning findings in the paths of part 1. Builds share one on-disk kustomize cache for the session, so a
broken copy only rebuilds the Kustomization whose files changed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from platform_gates import Edit, Gate, apply_edit, copy_platform, run_validation, serious

from greenfield.core.findings import Finding

INFRA = "kubernetes/infrastructure"
PART1_PATHS = (
    f"{INFRA}/kube-system/",
    f"{INFRA}/flux-system/",
    f"{INFRA}/external-secrets/",
    f"{INFRA}/cert-manager/",
    f"{INFRA}/network/",
    "kubernetes/clusters/",
)

BGP_PEERING_POLICY = """---
apiVersion: cilium.io/v2alpha1
kind: CiliumBGPPeeringPolicy
metadata:
  name: legacy
spec:
  nodeSelector:
    matchLabels:
      kubernetes.io/os: linux
  virtualRouters:
    - localASN: 64512
      neighbors:
        - peerASN: 64501
          peerAddress: 10.25.11.1/32
"""


def _in_part1(finding: Finding) -> bool:
    return any(finding.file.startswith(p) for p in PART1_PATHS)


@pytest.fixture(scope="session")
def part1_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("part1-kustomize-cache")


KS = f"{INFRA}/kube-system"
NET = f"{INFRA}/network"
GATES = [
    Gate("STORY-NET-CILIUM-CORE-GITOPS", "cluster/cilium-values", ("infra",),
         (Edit(f"{KS}/cilium/app/helmrelease.yaml", "k8sServiceHost: ${API_HOST}",
               "k8sServiceHost: kubernetes.default.svc"),),
         f"{KS}/cilium/app/helmrelease.yaml"),
    Gate("STORY-NET-CILIUM-IPAM", "cluster/lb-pool", ("infra",),
         (Edit(f"{KS}/cilium/config/ciliumloadbalancerippool.yaml", "stop: ${LB_POOL_STOP}",
               "stop: 10.25.11.130"),),
         f"{KS}/cilium/config/ciliumloadbalancerippool.yaml"),
    Gate("STORY-NET-CILIUM-GATEWAY", "cluster/lb-ip", ("infra",),
         (Edit(f"{NET}/gateway-api/app/gateway.yaml", "value: ${GATEWAY_INTERNAL_IP}", "value: 10.25.11.200"),),
         f"{NET}/gateway-api/app/gateway.yaml"),
    Gate("STORY-DNS-COREDNS-BASE", "cluster/coredns-ip", ("apps",),
         (Edit(f"{KS}/coredns/app/helmrelease.yaml", "clusterIP: ${COREDNS_IP}", "clusterIP: 10.96.0.10"),),
         f"{KS}/coredns/app/helmrelease.yaml"),
    Gate("STORY-SEC-EXTERNAL-SECRETS-BASE", "secrets/api-version", ("infra",),
         (Edit(f"{NET}/cloudflared/app/externalsecret.yaml", "apiVersion: external-secrets.io/v1\n",
               "apiVersion: external-secrets.io/v1beta1\n"),),
         f"{NET}/cloudflared/app/externalsecret.yaml"),
    Gate("STORY-SEC-CERT-MANAGER-ISSUERS", "story/crd-single-owner", ("infra",),
         (Edit(f"{INFRA}/cert-manager/cert-manager/app/helmrelease.yaml", "crds:\n      enabled: true",
               "crds:\n      enabled: false"),),
         f"{INFRA}/cert-manager/cert-manager/app/helmrelease.yaml"),
    Gate("STORY-SEC-CERT-MANAGER-ISSUERS", "graph/depends-on-missing", ("apps",),
         (Edit(f"{INFRA}/cert-manager/cert-manager/ks.yaml", "    - name: cert-manager\n",
               "    - name: cert-manager-controller\n"),),
         f"{INFRA}/cert-manager/cert-manager/ks.yaml"),
    Gate("STORY-DNS-EXTERNALDNS-CF-BIND-TUNNEL", "story/externaldns-owner", ("infra", "apps"),
         (Edit(f"{NET}/external-dns/rfc2136/helmrelease.yaml", "txtOwnerId: ${CLUSTER_NAME}-rfc2136",
               "txtOwnerId: platform"),),
         f"{NET}/external-dns/rfc2136/helmrelease.yaml"),
    Gate("STORY-NET-CILIUM-BGP", "cluster/bgp", ("infra",),
         (Edit(f"{KS}/cilium/config/ciliumbgpclusterconfig.yaml", "localASN: ${BGP_LOCAL_ASN}",
               "localASN: 64513"),),
         f"{KS}/cilium/config/ciliumbgpclusterconfig.yaml"),
    Gate("STORY-NET-CILIUM-BGP-CP-IMPLEMENT", "cluster/bgp-legacy", ("apps",),
         (Edit(f"{KS}/cilium/config/ciliumbgppeeringpolicy.yaml", "", BGP_PEERING_POLICY),
          Edit(f"{KS}/cilium/config/kustomization.yaml", "  - ./ciliumbgpclusterconfig.yaml\n",
               "  - ./ciliumbgpclusterconfig.yaml\n  - ./ciliumbgppeeringpolicy.yaml\n")),
         f"{KS}/cilium/config/ciliumbgppeeringpolicy.yaml"),
    Gate("STORY-NET-SPEGEL-REGISTRY-MIRROR", "story/spegel-talos", ("infra",),
         (Edit(f"{KS}/spegel/app/helmrelease.yaml", "containerdRegistryConfigPath: /etc/cri/conf.d/hosts",
               "containerdRegistryConfigPath: /etc/containerd/certs.d"),),
         f"{KS}/spegel/app/helmrelease.yaml"),
    Gate("STORY-NET-CILIUM-CLUSTERMESH", "story/clustermesh-ids", ("infra", "apps"),
         (Edit(f"{KS}/cilium/app/helmrelease.yaml", "id: ${CLUSTER_ID}", "id: 1"),),
         f"{KS}/cilium/app/helmrelease.yaml"),
    Gate("STORY-NET-CILIUM-CLUSTERMESH", "cluster/lb-ip", ("infra",),
         (Edit(f"{KS}/cilium/app/helmrelease.yaml", "lbipam.cilium.io/ips: ${CLUSTERMESH_IP}",
               "lbipam.cilium.io/ips: 10.25.11.120"),),
         f"{KS}/cilium/app/helmrelease.yaml"),
    Gate("STORY-NET-CILIUM-CLUSTERMESH", "graph/reference-missing", ("apps",),
         (Edit(f"{KS}/cilium/clustermesh/externalsecret.yaml", "name: ${SECRET_STORE_NAME}", "name: vault"),),
         f"{KS}/cilium/clustermesh/externalsecret.yaml"),
    Gate("STORY-NET-CLUSTERMESH-DNS", "cluster/foreign-value", ("infra",),
         (Edit(f"{NET}/clustermesh-dns/app/dnsendpoint.yaml", "dnsName: ${CLUSTERMESH_FQDN}",
               "dnsName: apps-mesh.example.com"),),
         f"{NET}/clustermesh-dns/app/dnsendpoint.yaml"),
    Gate("STORY-GITOPS-SELF-MGMT-FLUX", "flux/duplicate-install", ("infra",),
         (Edit(f"{INFRA}/flux-system/flux-instance/app/fluxinstance.yaml", "  kustomize:\n",
               "  sync:\n    kind: GitRepository\n    path: kubernetes/clusters/infra\n    ref: refs/heads/main\n"
               "    url: https://github.com/greenfield-platform/greenfield.git\n  kustomize:\n"),),
         f"{INFRA}/flux-system/flux-instance/app/fluxinstance.yaml",
         also=("kubernetes/clusters/infra/flux-system/sync.yaml",)),
    # STD-OFFLINE on part-1 files: strict schemas and complete substitution
    Gate("STORY-NET-CILIUM-BGP", "schema/", ("infra",),
         (Edit(f"{KS}/cilium/config/ciliumbgppeerconfig.yaml", "  gracefulRestart:\n",
               "  gracefulRestartTime: 120\n  gracefulRestart:\n"),),
         f"{KS}/cilium/config/ciliumbgppeerconfig.yaml"),
    Gate("STORY-NET-CILIUM-CORE-GITOPS", "substitution/undefined-variable", ("apps",),
         (Edit(f"{KS}/cilium/app/helmrelease.yaml", "ipv4NativeRoutingCIDR: ${POD_CIDR}",
               "ipv4NativeRoutingCIDR: ${POD_NETWORK}"),),
         f"{KS}/cilium/app/helmrelease.yaml"),
]


def test_reference_platform_part1_has_no_findings(repo_root: Path, tmp_path: Path, part1_cache: Path,
                                                  crd_schema_dir: Path) -> None:
    repo = copy_platform(repo_root, tmp_path)
    findings = run_validation(repo, ("infra", "apps"), part1_cache, crd_schema_dir)
    ours = [f"{f.severity} {f.rule} {f.cluster} {f.file}: {f.message}" for f in serious(findings) if _in_part1(f)]
    assert ours == []
    not_found = [f"{f.cluster} {f.object}" for f in findings if f.rule == "schema/not-found" and _in_part1(f)]
    assert not_found == []


@pytest.mark.parametrize("gate", GATES, ids=str)
def test_broken_gate_fires(gate: Gate, repo_root: Path, tmp_path: Path, part1_cache: Path,
                           crd_schema_dir: Path) -> None:
    repo = copy_platform(repo_root, tmp_path)
    for edit in gate.edits:
        apply_edit(repo, edit)
    findings = serious(run_validation(repo, gate.clusters, part1_cache, crd_schema_dir,
                                  schema=gate.rule.startswith("schema/")))
    prefix = gate.rule.endswith("/")
    fired = [f for f in findings if (f.rule.startswith(gate.rule) if prefix else f.rule == gate.rule)]
    assert fired, f"{gate.rule} did not fire; findings: {[f'{f.rule} {f.file}' for f in findings]}"
    assert any(f.file in (gate.file, *gate.also) for f in fired), [f"{f.rule} {f.file}" for f in fired]
