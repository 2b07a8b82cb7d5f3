"""Pod Security admission: every control of the baseline and restricted standards, their versions, the
namespace level and the cluster's admission defaults (exemptions)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from rules_fixtures import make_context, renders_from_text

from greenfield.core.rules import run_rules
from greenfield.core.rules.psa import LATEST, parse_version, violations

RESTRICTED_POD: dict[str, Any] = {
    "metadata": {"annotations": {}},
    "spec": {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "app", "image": "app:1", "ports": [{"containerPort": 8080}],
                        "securityContext": {"allowPrivilegeEscalation": False,
                                            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}},
                        "livenessProbe": {"httpGet": {"path": "/", "port": 8080}}}],
        "initContainers": [{"name": "init", "image": "app:1",
                            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}, {"name": "tmp", "emptyDir": {}}],
    },
}


def pod(change: Any) -> dict[str, Any]:
    body = copy.deepcopy(RESTRICTED_POD)
    change(body)
    return body


def container(body: dict[str, Any]) -> dict[str, Any]:
    return body["spec"]["containers"][0]


def controls(template: dict[str, Any], level: str, version: tuple[int, int] = LATEST) -> list[str]:
    return [v.control for v in violations(template, level, version)]


BASELINE_CASES = {
    "hostProcess": lambda b: b["spec"]["securityContext"].update(windowsOptions={"hostProcess": True}),
    "host namespaces": lambda b: b["spec"].update(hostPID=True),
    "privileged": lambda b: container(b)["securityContext"].update(privileged=True),
    "capabilities": lambda b: container(b)["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
    "hostPath volumes": lambda b: b["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
    "host ports": lambda b: container(b)["ports"][0].update(hostPort=8080),
    "AppArmor": lambda b: b["metadata"]["annotations"].update(
        {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}),
    "SELinux": lambda b: container(b)["securityContext"].update(seLinuxOptions={"type": "spc_t"}),
    "/proc mount type": lambda b: container(b)["securityContext"].update(procMount="Unmasked"),
    "seccomp": lambda b: container(b)["securityContext"].update(seccompProfile={"type": "Unconfined"}),
    "sysctls": lambda b: b["spec"]["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
    "host probes / lifecycle hooks": lambda b: container(b)["livenessProbe"]["httpGet"].update(host="10.0.0.1"),
}
RESTRICTED_CASES = {
    "volume types": lambda b: b["spec"]["volumes"].append({"name": "n", "nfs": {"server": "x", "path": "/"}}),
    "privilege escalation": lambda b: container(b)["securityContext"].pop("allowPrivilegeEscalation"),
    "running as non-root": lambda b: b["spec"]["securityContext"].pop("runAsNonRoot"),
    "running as non-root user": lambda b: container(b)["securityContext"].update(runAsUser=0),
    "seccomp": lambda b: b["spec"]["securityContext"].pop("seccompProfile"),
    "capabilities": lambda b: b["spec"]["initContainers"][0]["securityContext"]["capabilities"].pop("drop"),
}


def test_a_restricted_pod_passes_every_level() -> None:
    assert violations(RESTRICTED_POD, "restricted") == []
    assert violations(RESTRICTED_POD, "baseline") == []


@pytest.mark.parametrize("control", sorted(BASELINE_CASES))
def test_baseline_controls(control: str) -> None:
    template = pod(BASELINE_CASES[control])
    assert control in controls(template, "baseline")
    assert control in controls(template, "restricted")  # restricted includes baseline
    assert violations(template, "privileged") == []


@pytest.mark.parametrize("control", sorted(RESTRICTED_CASES))
def test_restricted_controls(control: str) -> None:
    template = pod(RESTRICTED_CASES[control])
    assert controls(template, "restricted") == [control]
    assert violations(template, "baseline") == []


def test_controls_follow_the_enforce_version() -> None:
    sysctl = pod(lambda b: b["spec"]["securityContext"].update(
        sysctls=[{"name": "net.ipv4.tcp_keepalive_time", "value": "600"}]))
    assert controls(sysctl, "baseline", (1, 28)) == ["sysctls"] and controls(sysctl, "baseline", (1, 29)) == []
    root = pod(RESTRICTED_CASES["running as non-root user"])
    assert controls(root, "restricted", (1, 22)) == [] and controls(root, "restricted", (1, 23))
    caps = pod(RESTRICTED_CASES["capabilities"])
    assert controls(caps, "restricted", (1, 21)) == []
    probe = pod(BASELINE_CASES["host probes / lifecycle hooks"])
    assert controls(probe, "baseline", (1, 33)) == []
    engine = pod(lambda b: container(b)["securityContext"].update(seLinuxOptions={"type": "container_engine_t"}))
    assert controls(engine, "baseline", (1, 30)) == ["SELinux"] and controls(engine, "baseline", (1, 31)) == []
    assert parse_version("v1.29") == (1, 29) and parse_version("latest") == LATEST


def test_windows_pods_are_exempt_from_linux_only_restricted_controls() -> None:
    windows = pod(lambda b: (b["spec"].update(os={"name": "windows"}), b["spec"]["securityContext"].pop(
        "seccompProfile"), container(b)["securityContext"].pop("allowPrivilegeEscalation")))
    assert controls(windows, "restricted") == []


NAMESPACED = """
apiVersion: v1
kind: Namespace
metadata:
  name: {namespace}
  labels: {labels}
---
apiVersion: batch/v1
kind: CronJob
metadata: {{name: job, namespace: {namespace}}}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec:
          hostNetwork: true
          containers: [{{name: job, image: job:1}}]
"""


def findings(text: str, options: dict[str, Any] | None = None) -> list[str]:
    context = make_context(renders_from_text(text), None, options)
    return [f.message for f in run_rules(context, only=["admission/pod-security"])]


def test_namespace_level_and_cluster_defaults() -> None:
    labelled = NAMESPACED.format(namespace="jobs", labels="{pod-security.kubernetes.io/enforce: baseline}")
    [message] = findings(labelled)
    assert message.startswith('CronJob jobs/job violates Pod Security "baseline" enforced on namespace jobs')
    assert "host namespaces (hostNetwork=true)" in message and "never becomes ready" in message
    unlabelled = NAMESPACED.format(namespace="jobs", labels="{}")
    assert findings(unlabelled) == []  # kube-apiserver's own default: privileged
    assert findings(unlabelled, {"psa_default_level": "baseline"})  # Talos' default admission configuration
    system = NAMESPACED.format(namespace="kube-system", labels="{pod-security.kubernetes.io/enforce: restricted}")
    assert findings(system, {"psa_exempt_namespaces": ["kube-system"]}) == []
    old = NAMESPACED.format(namespace="jobs", labels="{pod-security.kubernetes.io/enforce: baseline, "
                                                     "pod-security.kubernetes.io/enforce-version: v1.20}")
    assert findings(old)  # host namespaces are forbidden at every version
