"""Story gates of the reference platform, part 3 (stories 26, 29-39: network-policy baseline, apps storage,
CI/CD, registry, tenancy, backup, messaging).

Each test copies the repository's `kubernetes/` and `platform.yaml` into a temporary folder, breaks one gate
the way a real change would, runs the validator (`greenfield.app.validate`) and asserts that the rule
guarding the gate fires on the broken file. One test proves the unbroken tree has no error or warning
findings in the paths of part 3. Builds share one on-disk kustomize cache for the session.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from platform_gates import Edit, Gate, apply_edit, copy_platform, points_at, run_validation, serious

from greenfield.core.findings import Finding

WORK = "kubernetes/workloads"
COMPONENTS = "kubernetes/components"
HARBOR = "kubernetes/infrastructure/harbor"
APPS_INFRA_INCLUDE = "kubernetes/clusters/apps/infrastructure/kustomization.yaml"
PART3_PATHS = (f"{COMPONENTS}/network-policies/", f"{COMPONENTS}/tenant/", f"{COMPONENTS}/volsync/",
               f"{WORK}/", f"{HARBOR}/")
# Findings accepted on the unbroken tree (none: the ARC runners' privileged DinD carries a reviewed
# greenfield/privileged-reason annotation instead).
ACCEPTED: set[tuple[str, str]] = set()


def _in_part3(finding: Finding) -> bool:
    return bool(finding.file) and any(finding.file.startswith(p) for p in PART3_PATHS)


def _drop_setting(repo_root: Path, name: str, clusters: tuple[str, ...]) -> tuple[Edit, ...]:
    """Remove a shared setting from the inventory and from the generated ConfigMaps of `clusters`."""
    platform = (repo_root / "platform.yaml").read_text(encoding="utf-8")
    line = next(row for row in platform.splitlines(keepends=True) if row.strip().startswith(f"{name}: "))
    edits = [Edit("platform.yaml", line, "")]
    for cluster in clusters:
        generated_file = f"kubernetes/clusters/{cluster}/cluster-settings.yaml"
        generated = (repo_root / generated_file).read_text(encoding="utf-8")
        edits.append(Edit(generated_file, next(row for row in generated.splitlines(keepends=True)
                                               if row.startswith(f"  {name}: ")), ""))
    return tuple(edits)


@pytest.fixture(scope="session")
def part3_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("part3-kustomize-cache")


REPO = Path(__file__).resolve().parents[2]
NP = f"{COMPONENTS}/network-policies"

GATES = [
    # 26: every default-deny namespace reaches DNS pods whose labels really match CoreDNS
    Gate("STORY-SEC-NP-BASELINE", "policy/dns-unreachable", ("apps",),
         (Edit(f"{NP}/allow-dns/networkpolicy.yaml", "              k8s-app: kube-dns", "              k8s-app: dns"),),
         f"{NP}/"),
    # 26: a default-deny namespace running an operator still reaches the API server
    Gate("STORY-SEC-NP-BASELINE", "policy/api-unreachable", ("apps",),
         (Edit(f"{WORK}/messaging/network-policies/app/kustomization.yaml",
               "  - ../../../../components/network-policies/baseline\n",
               "  - ../../../../components/network-policies/deny-all\n"
               "  - ../../../../components/network-policies/allow-dns\n"
               "  - ../../../../components/network-policies/allow-internal\n"),),
         f"{NP}/"),
    # 26: a namespace that must reach the internet keeps its egress allowance
    Gate("STORY-SEC-NP-BASELINE", "policy/egress-missing", ("apps",),
         (Edit(f"{WORK}/gitlab/network-policies/app/kustomization.yaml",
               "  - ../../../../components/network-policies/allow-internet\n", ""),),
         f"{WORK}/gitlab/", {"egress_namespaces": ["flux-system", "external-secrets", "cert-manager", "gitlab"]}),
    # 26: the baseline's Cilium policies come after Cilium (CRD owner)
    Gate("STORY-SEC-NP-BASELINE", "graph/crd-order", ("apps",),
         (Edit(f"{WORK}/messaging/network-policies/ks.yaml", "  dependsOn:\n    - name: cilium\n", ""),),
         f"{NP}/"),
    # 29-31: the apps cluster runs the storage apps (the volumes of Kafka/GitLab/runners need them)
    Gate("STORY-STO-APPS-ROOK-CEPH-CLUSTER", "graph/depends-on-missing", ("apps",),
         (Edit(APPS_INFRA_INCLUDE, "  - ../../../infrastructure/rook-ceph\n", ""),
          Edit(APPS_INFRA_INCLUDE, "  - ../../../infrastructure/rook-ceph/rook-ceph-filesystem\n", "")),
         f"{WORK}/"),
    Gate("STORY-STO-APPS-OPENEBS-BASE", "graph/depends-on-missing", ("apps",),
         (Edit(APPS_INFRA_INCLUDE, "  - ../../../infrastructure/openebs-system\n", ""),),
         f"{WORK}/"),
    # 32: the GitHub App secret comes from External Secrets v1
    Gate("STORY-CICD-GITHUB-ARC", "secrets/api-version", ("apps",),
         (Edit(f"{WORK}/actions-runner-system/arc-runners/app/externalsecret.yaml",
               "apiVersion: external-secrets.io/v1\n", "apiVersion: external-secrets.io/v1beta1\n"),),
         f"{WORK}/actions-runner-system/arc-runners/app/externalsecret.yaml"),
    # 33: the cross-cluster PostgreSQL endpoint is defined through settings for apps
    Gate("STORY-CICD-GITLAB-APPS", "substitution/undefined-variable", ("apps",),
         _drop_setting(REPO, "POSTGRES_HOST", ("infra", "apps")),
         f"{WORK}/gitlab/gitlab/app/helmrelease.yaml"),
    # 34: Harbor's Redis endpoint is defined through settings for infra
    Gate("STORY-APP-HARBOR", "substitution/undefined-variable", ("infra",),
         _drop_setting(REPO, "DRAGONFLY_HOST", ("infra", "apps")),
         f"{HARBOR}/harbor/app/helmrelease.yaml"),
    # 35: the tenant namespace keeps its PSA label
    Gate("STORY-TENANCY-BASELINE", "policy/psa-label", ("apps",),
         (Edit(f"{COMPONENTS}/tenant/namespace.yaml", "    pod-security.kubernetes.io/enforce: restricted\n", ""),),
         f"{COMPONENTS}/tenant/namespace.yaml"),
    # 36: no literal credentials in the backup component
    Gate("STORY-BACKUP-VOLSYNC-APPS", "secrets/plaintext", ("apps",),
         (Edit(f"{COMPONENTS}/volsync/kustomization.yaml", "  - ./externalsecret.yaml\n",
               "  - ./externalsecret.yaml\n  - ./secret.yaml\n"),),
         f"{COMPONENTS}/volsync/secret.yaml"),
    # 37/38: Kafka custom resources come after the Strimzi operator (CRD owner)
    Gate("STORY-MSG-KAFKA-CLUSTER-APPS", "graph/crd-order", ("apps",),
         (Edit(f"{WORK}/messaging/kafka/ks.yaml", "  dependsOn:\n    - name: strimzi-operator\n", ""),),
         f"{WORK}/messaging/kafka/app/"),
    # 38: strict schema on the Kafka resource
    Gate("STORY-MSG-KAFKA-CLUSTER-APPS", "schema/", ("apps",),
         (Edit(f"{WORK}/messaging/kafka/app/kafka.yaml", "    version: 4.1.0\n",
               "    version: 4.1.0\n    replicationFactor: 3\n"),),
         f"{WORK}/messaging/kafka/app/kafka.yaml"),
    # 39: Service selectors match pod labels
    Gate("STORY-MSG-SCHEMA-REGISTRY", "policy/service-selector", ("apps",),
         (Edit(f"{WORK}/messaging/schema-registry/app/service.yaml",
               "  selector:\n    app.kubernetes.io/name: schema-registry\n",
               "  selector:\n    app.kubernetes.io/name: schema-registry-server\n"),),
         f"{WORK}/messaging/schema-registry/app/service.yaml"),
]

PLAINTEXT_SECRET = """---
apiVersion: v1
kind: Secret
metadata:
  name: ${APP}-restic-literal
stringData:
  RESTIC_PASSWORD: not-a-real-password
"""


def test_reference_platform_part3_has_no_findings(repo_root: Path, tmp_path: Path, part3_cache: Path,
                                                  crd_schema_dir: Path) -> None:
    repo = copy_platform(repo_root, tmp_path)
    findings = run_validation(repo, ("infra", "apps"), part3_cache, crd_schema_dir)
    ours = [f"{f.severity} {f.rule} {f.cluster} {f.file}: {f.message}" for f in serious(findings)
            if _in_part3(f) and (f.rule, f.file) not in ACCEPTED]
    assert ours == []
    not_found = [f"{f.cluster} {f.object}" for f in findings if f.rule == "schema/not-found" and _in_part3(f)]
    assert not_found == []


@pytest.mark.parametrize("gate", GATES, ids=str)
def test_broken_gate_fires(gate: Gate, repo_root: Path, tmp_path: Path, part3_cache: Path,
                           crd_schema_dir: Path) -> None:
    repo = copy_platform(repo_root, tmp_path)
    for edit in gate.edits:
        apply_edit(repo, edit)
    if gate.story == "STORY-BACKUP-VOLSYNC-APPS":
        (repo / COMPONENTS / "volsync" / "secret.yaml").write_text(PLAINTEXT_SECRET, encoding="utf-8")
    findings = serious(run_validation(repo, gate.clusters, part3_cache, crd_schema_dir,
                                      rule_options=gate.options))
    prefix = gate.rule.endswith("/")
    fired = [f for f in findings if (f.rule.startswith(gate.rule) if prefix else f.rule == gate.rule)]
    assert fired, f"{gate.rule} did not fire; findings: {[f'{f.rule} {f.file}' for f in findings]}"
    assert any(points_at(f, gate.file) for f in fired), [f"{f.rule} {f.file}" for f in fired]
