"""Schema validation throughput: objects/s for a typical mix of built-in kinds and custom resources.

    .venv/bin/python benchmarks/bench_schema.py [--objects 20000] [--schemas DIR]

Prints cold (schema compilation included) and warm throughput of `SchemaValidator.validate`, and, measured
in the same run, as ratios: the same objects through kubernetes-validate's own API (a small sample, it is
slow) and, when `greenfield tools` has built it, kubeconform over the same objects written as one YAML file
(compared with our YAML parse + validate of that file). Target (issue 3): >= 20,000 objects/s.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from greenfield.adapters import yamlio
from greenfield.adapters.command import Command
from greenfield.adapters.gotools import GoTools, tool
from greenfield.adapters.schemas import build_schema_validator, builtin_schemas, export_standalone
from greenfield.core.model import RenderedObject

TARGET = 20_000
KUBERNETES = "1.34.1"

MIX: list[dict[str, Any]] = [
    {"apiVersion": "v1", "kind": "Namespace",
     "metadata": {"name": "apps", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "apps"},
     "data": {"LOG_LEVEL": "info", "CLUSTER": "apps"}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "apps"},
     "spec": {"type": "ClusterIP", "selector": {"app": "web"},
              "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}},
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web", "namespace": "apps"}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "apps"},
     "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
              "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                  "serviceAccountName": "web",
                  "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                  "containers": [{"name": "web", "image": "ghcr.io/example/web:1.2.3",
                                  "ports": [{"name": "http", "containerPort": 8080}],
                                  "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {
                                      "secretKeyRef": {"name": "s", "key": "k"}}}],
                                  "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}},
                                  "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}}}]}}}},
    {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
     "metadata": {"name": "default-deny", "namespace": "apps"},
     "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "r", "namespace": "apps"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
     "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": "apps"}]},
    {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
     "metadata": {"name": "web", "namespace": "flux-system"},
     "spec": {"interval": "1h", "path": "./kubernetes/apps/web/app", "prune": True, "wait": False,
              "sourceRef": {"kind": "GitRepository", "name": "flux-system"}, "targetNamespace": "apps",
              "dependsOn": [{"name": "cilium"}], "postBuild": {"substituteFrom": [
                  {"kind": "ConfigMap", "name": "cluster-settings"}]}}},
    {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": "web", "namespace": "apps"},
     "spec": {"interval": "1h", "chartRef": {"kind": "OCIRepository", "name": "web"},
              "install": {"remediation": {"retries": 3}}, "upgrade": {"remediation": {"retries": 3}},
              "values": {"replicaCount": 2, "image": {"tag": "1.2.3"}}}},
    {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository", "metadata": {"name": "web", "namespace": "apps"},
     "spec": {"interval": "1h", "url": "oci://ghcr.io/example/charts/web", "ref": {"tag": "1.2.3"},
              "layerSelector": {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                                "operation": "copy"}}},
    {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": {"name": "dns", "namespace": "apps"},
     "spec": {"endpointSelector": {}, "egress": [{"toEndpoints": [{"matchLabels": {
         "k8s:io.kubernetes.pod.namespace": "kube-system", "k8s-app": "kube-dns"}}],
         "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}]}]}]}},
    {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "web", "namespace": "apps"},
     "spec": {"secretName": "web-tls", "dnsNames": ["web.example.com"],
              "issuerRef": {"kind": "ClusterIssuer", "name": "letsencrypt"}}},
    {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "web", "namespace": "apps"},
     "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "ClusterSecretStore", "name": "onepassword"},
              "target": {"name": "web"}, "dataFrom": [{"extract": {"key": "web"}}]}},
    {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "web", "namespace": "apps"},
     "spec": {"groups": [{"name": "web", "rules": [{"alert": "WebDown", "expr": "up == 0", "for": "5m",
                                                     "labels": {"severity": "critical"}}]}]}},
]


def corpus(count: int, invalid_every: int = 100) -> list[RenderedObject]:
    """`count` objects cycling through MIX with distinct names; one in `invalid_every` carries a typo."""
    objects = []
    for index in range(count):
        body = copy.deepcopy(MIX[index % len(MIX)])
        body["metadata"]["name"] = f"{body['metadata']['name']}-{index}"
        if index % invalid_every == invalid_every - 1:
            body["metadata"]["lables"] = {"typo": "yes"}
        objects.append(RenderedObject(body, "apps", "flux-system/apps", f"apps/{index}.yaml"))
    return objects


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=20_000)
    parser.add_argument("--schemas", default=os.environ.get(
        "GREENFIELD_SCHEMAS", str(Path(__file__).resolve().parents[2] / "shared" / "schemas" / "crds")))
    parser.add_argument("--reference-sample", type=int, default=100, help="objects through kubernetes-validate")
    args = parser.parse_args()

    objects = corpus(args.objects)
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        validator = build_schema_validator(KUBERNETES, [args.schemas], Path(cache), [])
        findings = validator.validate(objects)
        cold = time.perf_counter() - start
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            validator.validate(objects)
            runs.append(time.perf_counter() - start)
    warm = min(runs)
    not_found = [f for f in findings if f.rule == "schema/not-found"]
    print(f"objects: {len(objects)} ({len(MIX)} kinds), findings: {len(findings)} "
          f"(expected {len(objects) // 100} typos, {len(not_found)} not found)")
    print(f"cold (compile + validate): {cold:.3f} s = {len(objects) / cold:,.0f} objects/s")
    print(f"warm: {warm:.3f} s = {len(objects) / warm:,.0f} objects/s (target {TARGET:,})")

    builtin = [o.body for o in objects[: args.reference_sample] if _is_builtin(o.api_version)]
    reference = _kubernetes_validate_rate(builtin)
    if reference:
        print(f"kubernetes-validate API (built-in kinds only): {reference:,.0f} objects/s; "
              f"ratio warm/reference = {len(objects) / warm / reference:,.0f}x")
    _kubeconform_ratio(objects, args.schemas)
    ok = len(objects) / warm >= TARGET and not not_found
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def _kubeconform_ratio(objects: list[RenderedObject], catalog: str) -> None:
    status = GoTools(Path(__file__).resolve().parents[1] / "tools").status(tool("kubeconform"))
    if not status.built:
        print(f"kubeconform: not built ({status.state.value}); run `greenfield tools --build kubeconform`")
        return
    with tempfile.TemporaryDirectory() as work:
        builtin_dir = Path(work) / "builtin"
        export_standalone(builtin_schemas(KUBERNETES), builtin_dir)
        stream = Path(work) / "objects.yaml"
        stream.write_text(yamlio.dump_documents([o.body for o in objects]), encoding="utf-8")
        start = time.perf_counter()
        Command([str(status.path), "-strict", "-kubernetes-version", KUBERNETES, "-summary",
                 "-schema-location", str(builtin_dir) + "/{{ .ResourceKind }}{{ .KindSuffix }}.json",
                 "-schema-location", catalog + "/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json",
                 str(stream)], timeout=600, allowed_exit_codes=frozenset({0, 1})).run()
        theirs = time.perf_counter() - start
        start = time.perf_counter()
        bodies = yamlio.load_documents(stream.read_text(encoding="utf-8"))
        parsed = time.perf_counter() - start
        validator = build_schema_validator(KUBERNETES, [catalog], Path(work) / "cache", [])
        validator.validate([RenderedObject(body, "apps", "flux-system/apps") for body in bodies])
        ours = time.perf_counter() - start
    print(f"kubeconform {status.version} (one YAML file, built-in + catalog schemas): {len(objects) / theirs:,.0f} "
          f"objects/s; ours on the same file: {len(objects) / ours:,.0f} objects/s "
          f"(YAML parse {parsed:.2f} s of {ours:.2f} s); ratio {theirs / ours:.1f}x; "
          f"schema step alone {theirs / (ours - parsed):.0f}x faster")


def _is_builtin(api_version: str) -> bool:
    group = api_version.rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def _kubernetes_validate_rate(bodies: list[dict[str, Any]]) -> float:
    try:
        import kubernetes_validate
    except ImportError:  # pragma: no cover
        return 0.0
    start = time.perf_counter()
    for body in bodies:
        with contextlib.suppress(Exception):  # verdicts are not compared here, only the time
            kubernetes_validate.validate(body, KUBERNETES, strict=True)
    elapsed = time.perf_counter() - start
    return len(bodies) / elapsed if elapsed else 0.0


if __name__ == "__main__":
    sys.exit(main())
