"""Story gates of the reference platform, part 2 (stories 14-25, 27, 28, 40: storage, observability,
databases, identity, SPIRE).

Each test copies the repository's `kubernetes/` and `platform.yaml` into a temporary folder, breaks one
gate the way a real change would, runs the validator (`greenfield.app.validate`) and asserts that the
rule guarding that gate fires on the broken file. One test proves the unbroken tree has no error or
warning findings in the paths of part 2. Builds share one on-disk kustomize cache for the session, so a
broken copy only rebuilds the Kustomizations whose files changed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from platform_gates import Edit, Gate, apply_edit, copy_platform, points_at, run_validation, serious

from greenfield.app.validate import ValidateOptions, validate_repository
from greenfield.core.findings import Finding

INFRA = "kubernetes/infrastructure"
PART2_PATHS = tuple(f"{INFRA}/{area}/" for area in (
    "openebs-system", "rook-ceph", "observability", "cnpg-system", "databases", "identity", "spire"))

OBS = f"{INFRA}/observability"
ROOK = f"{INFRA}/rook-ceph"
PG = f"{INFRA}/databases/shared-postgres"
DASHBOARDS = f"{OBS}/grafana/app/dashboards"
INFRA_INCLUDE = "kubernetes/clusters/infra/infrastructure/kustomization.yaml"
APPS_INCLUDE = "kubernetes/clusters/apps/infrastructure/kustomization.yaml"
APPS_SETTINGS = "kubernetes/clusters/apps/cluster-settings.yaml"


def _in_part2(finding: Finding) -> bool:
    return any(finding.file.startswith(p) for p in PART2_PATHS)


def _drop_setting(name: str, platform_line: str) -> tuple[Edit, ...]:
    """Remove an apps-cluster setting from the inventory and from the generated ConfigMap."""
    generated = (Path(__file__).resolve().parents[2] / APPS_SETTINGS).read_text(encoding="utf-8")
    line = next(row for row in generated.splitlines(keepends=True) if row.startswith(f"  {name}: "))
    return (Edit("platform.yaml", platform_line, ""), Edit(APPS_SETTINGS, line, ""))


@pytest.fixture(scope="session")
def part2_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("part2-kustomize-cache")


GATES = [
    # 14: STD-OFFLINE strict schema on the StorageClass
    Gate("STORY-STO-OPENEBS-BASE", "schema/", ("infra",),
         (Edit(f"{INFRA}/openebs-system/openebs/app/storageclass.yaml", "volumeBindingMode: WaitForFirstConsumer",
               "volumeBindingMode: WaitForFirstConsumer\nbasePath: /var/openebs/local"),),
         f"{INFRA}/openebs-system/openebs/app/storageclass.yaml"),
    # 15: the cluster's custom resources need the operator (CRD owner) first
    Gate("STORY-STO-ROOK-CEPH-OPERATOR", "graph/crd-order", ("infra",),
         (Edit(f"{ROOK}/rook-ceph-cluster/ks.yaml", "  dependsOn:\n    - name: rook-ceph-operator\n", ""),),
         f"{ROOK}/rook-ceph-cluster/app/"),
    # 16: OSD node names belong to this cluster's inventory
    Gate("STORY-STO-ROOK-CEPH-CLUSTER", "cluster/foreign-value", ("infra",),
         (Edit(f"{ROOK}/rook-ceph-cluster/app/cephcluster.yaml", "- name: ${NODE_2_NAME}", "- name: apps-02"),),
         f"{ROOK}/rook-ceph-cluster/app/cephcluster.yaml"),
    # 17 / 40: the remote-write endpoint is defined on the cluster that uses it (apps)
    Gate("STORY-OBS-VM-STACK", "substitution/undefined-variable", ("apps",),
         _drop_setting("METRICS_WRITE_URL", "      METRICS_WRITE_URL: http://metrics-gateway.observability.svc."
                       "cluster.local:8427/insert/0/prometheus/api/v1/write\n"),
         f"{OBS}/vmagent/app/vmagent.yaml"),
    # 18: retention from settings must stay a VictoriaLogs duration (strict CRD schema)
    Gate("STORY-OBS-VICTORIA-LOGS", "schema/", ("infra",),
         (Edit(f"{OBS}/victoria-logs/app/vlcluster.yaml", "retentionPeriod: ${VICTORIA_LOGS_RETENTION}",
               "retentionPeriod: 30 days"),),
         f"{OBS}/victoria-logs/app/vlcluster.yaml"),
    # 19 / 40: the Fluent Bit output endpoint is defined per cluster (inside the config text an undefined
    # `${VAR}` is reported as an unescaped runtime placeholder: either substitution rule guards the gate)
    Gate("STORY-OBS-FLUENT-BIT", "substitution/", ("apps",),
         _drop_setting("LOGS_INSERT_HOST", "      LOGS_INSERT_HOST: logs-gateway.observability.svc.cluster.local\n"),
         f"{OBS}/fluent-bit/app/helmrelease.yaml"),
    # 20: Grafana variables must be escaped from Flux substitution ...
    Gate("STORY-OBS-VM-STACK-IMPLEMENT", "story/grafana-dashboard", ("infra",),
         (Edit(f"{DASHBOARDS}/cluster-overview.json", "$${", "${", whole=True),),
         f"{DASHBOARDS}/"),
    # ... and the dashboard JSON must parse
    Gate("STORY-OBS-VM-STACK-IMPLEMENT", "story/grafana-dashboard", ("infra",),
         (Edit(f"{DASHBOARDS}/logs-overview.json", '"uid": "platform-logs-overview",',
               '"uid": "platform-logs-overview"'),),
         f"{DASHBOARDS}/"),
    # 23: the shared cluster's CRs need the operator (and its plugin) first
    Gate("STORY-DB-CNPG-OPERATOR", "graph/crd-order", ("infra",),
         (Edit(f"{PG}/ks.yaml", "    - name: cloudnative-pg-barman-cloud\n", ""),),
         f"{PG}/app/"),
    # 24: CloudNativePG cron has six fields
    Gate("STORY-DB-CNPG-SHARED-CLUSTER", "story/cnpg-cron", ("infra",),
         (Edit(f"{PG}/app/scheduledbackup.yaml", 'schedule: "0 0 3 * * *"', 'schedule: "0 3 * * *"'),),
         f"{PG}/app/scheduledbackup.yaml"),
    # 24: rendered only on clusters that define its variables (apps does not)
    Gate("STORY-DB-CNPG-SHARED-CLUSTER", "substitution/undefined-variable", ("apps",),
         (Edit(APPS_INCLUDE, "  - ../../../infrastructure/kube-system\n",
               "  - ../../../infrastructure/databases/shared-postgres\n  - ../../../infrastructure/kube-system\n"),),
         f"{PG}/app/"),
    # 25: STD-OFFLINE strict schema on the Dragonfly resource
    Gate("STORY-DB-DRAGONFLY-OPERATOR-CLUSTER", "schema/", ("infra",),
         (Edit(f"{INFRA}/databases/dragonfly/app/dragonfly.yaml", "  replicas: 3\n", "  replicas: 3\n  sentinel: true\n"),),
         f"{INFRA}/databases/dragonfly/app/dragonfly.yaml"),
    # 27: secrets through External Secrets v1 only
    Gate("STORY-IDP-KEYCLOAK-OPERATOR", "secrets/api-version", ("infra",),
         (Edit(f"{INFRA}/identity/keycloak/app/externalsecret.yaml", "apiVersion: external-secrets.io/v1\n",
               "apiVersion: external-secrets.io/v1beta1\n", whole=True),),
         f"{INFRA}/identity/keycloak/app/externalsecret.yaml"),
    # 28: with SPIRE off, listing the spire area renders SPIRE objects
    Gate("STORY-SEC-SPIRE-CILIUM-AUTH", "story/spire-flag", ("infra",),
         (Edit(INFRA_INCLUDE, "  - ../../../infrastructure/rook-ceph\n",
               "  - ../../../infrastructure/rook-ceph\n  - ../../../infrastructure/spire\n"),),
         f"{INFRA}/spire/"),
]


def test_reference_platform_part2_has_no_findings(repo_root: Path, tmp_path: Path, part2_cache: Path,
                                                  crd_schema_dir: Path) -> None:
    repo = copy_platform(repo_root, tmp_path)
    findings = run_validation(repo, ("infra", "apps"), part2_cache, crd_schema_dir)
    ours = [f"{f.severity} {f.rule} {f.cluster} {f.file}: {f.message}" for f in serious(findings) if _in_part2(f)]
    assert ours == []
    not_found = [f"{f.cluster} {f.object}" for f in findings if f.rule == "schema/not-found" and _in_part2(f)]
    assert not_found == []


def test_spire_is_not_rendered_while_off(repo_root: Path, tmp_path: Path, part2_cache: Path,
                                         crd_schema_dir: Path) -> None:
    repo = copy_platform(repo_root, tmp_path)
    options = ValidateOptions(cache_dir=part2_cache, schemas=[str(crd_schema_dir)])
    report = validate_repository(repo, ["infra", "apps"], options)
    for cluster, render in report.renders.items():
        assert report.renders[cluster].cluster == cluster
        names = {key.name for key in render.kustomizations}
        assert not {n for n in names if n == "spire" or n.startswith("spire-")}, cluster
        spire_objects = [obj for node in render.kustomizations.values() for obj in node.objects
                         if obj.namespace == "spire" or obj.id.group == "spire.spiffe.io"]
        assert spire_objects == [], cluster


@pytest.mark.parametrize("gate", GATES, ids=str)
def test_broken_gate_fires(gate: Gate, repo_root: Path, tmp_path: Path, part2_cache: Path,
                           crd_schema_dir: Path) -> None:
    repo = copy_platform(repo_root, tmp_path)
    for edit in gate.edits:
        apply_edit(repo, edit)
    findings = serious(run_validation(repo, gate.clusters, part2_cache, crd_schema_dir))
    prefix = gate.rule.endswith("/")
    fired = [f for f in findings if (f.rule.startswith(gate.rule) if prefix else f.rule == gate.rule)]
    assert fired, f"{gate.rule} did not fire; findings: {[f'{f.rule} {f.file}' for f in findings]}"
    assert any(points_at(f, gate.file) for f in fired), [f"{f.rule} {f.file}" for f in fired]
