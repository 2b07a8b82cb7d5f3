"""Pod Security admission, as kube-apiserver's PodSecurity plugin enforces it on the rendered pod templates.

A workload whose pods violate the `pod-security.kubernetes.io/enforce` level of their namespace is an error:
the API server rejects a Pod outright, and a controller's pods are rejected (the Deployment is applied but
never becomes ready, which fails the Kustomization's health checks).

The checks follow the Pod Security Standards as k8s.io/pod-security-admission implements them
(policy/check_*.go), every control of baseline and restricted, with the version at which each one applies
(`enforce-version`, default latest = the cluster's Kubernetes version). The level of a namespace comes from its
rendered Namespace object; without a label, the cluster's admission defaults apply (rule options
`psa_default_level`, default "privileged" as kube-apiserver; `psa_exempt_namespaces`, default none; the
repository's platform states them, e.g. Talos: baseline, kube-system exempt).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from greenfield.core.findings import Finding, Severity
from greenfield.core.model import ClusterRender, RenderedObject
from greenfield.core.rules._helpers import as_dict, as_list, dig, finding, group_of, text
from greenfield.core.rules.base import RuleContext, rule

E = Severity.ERROR
LEVELS = ("privileged", "baseline", "restricted")
ENFORCE = "pod-security.kubernetes.io/enforce"
ENFORCE_VERSION = "pod-security.kubernetes.io/enforce-version"
LATEST = (99, 99)

BASELINE_CAPABILITIES = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                   "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
# safe sysctls and the version that allows them (check_sysctls.go)
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced": (1, 0), "net.ipv4.ip_local_port_range": (1, 0), "net.ipv4.tcp_syncookies": (1, 0),
    "net.ipv4.ping_group_range": (1, 0), "net.ipv4.ip_unprivileged_port_start": (1, 0),
    "net.ipv4.ip_local_reserved_ports": (1, 27), "net.ipv4.tcp_keepalive_time": (1, 29),
    "net.ipv4.tcp_fin_timeout": (1, 29), "net.ipv4.tcp_keepalive_intvl": (1, 29),
    "net.ipv4.tcp_keepalive_probes": (1, 29), "net.ipv4.tcp_rmem": (1, 32), "net.ipv4.tcp_wmem": (1, 32),
}
SELINUX_TYPES = {"": (1, 0), "container_t": (1, 0), "container_init_t": (1, 0), "container_kvm_t": (1, 0),
                 "container_engine_t": (1, 31)}
RESTRICTED_VOLUMES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                                "projected", "secret"})
# volume sources of a pod spec (anything else a volume names is one of these or unknown)
VOLUME_SOURCES = frozenset({
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi",
    "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI", "fc",
    "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "projected",
    "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


def parse_version(value: str) -> tuple[int, int]:
    """"v1.29" / "1.34.1" -> (1, 29); "latest" or anything unreadable -> LATEST."""
    match = re.match(r"^v?(\d+)\.(\d+)", value.strip())
    return (int(match.group(1)), int(match.group(2))) if match else LATEST


@dataclass(frozen=True)
class Violation:
    control: str  # the Pod Security Standards control ("host namespaces", "privileged", ...)
    detail: str

    def __str__(self) -> str:
        return f"{self.control} ({self.detail})"


def _containers(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for field_name in ("initContainers", "containers", "ephemeralContainers"):
        for container in as_list(spec.get(field_name)):
            if isinstance(container, dict):
                found.append((text(container.get("name")) or "?", container))
    return found


def _context(container: dict[str, Any]) -> dict[str, Any]:
    return as_dict(container.get("securityContext"))


# -- baseline -------------------------------------------------------------------------------------------

def _host_process(meta: dict[str, Any], spec: dict[str, Any], version: tuple[int, int]) -> list[Violation]:
    bad = ["pod"] if dig(spec, "securityContext", "windowsOptions", "hostProcess") is True else []
    bad += [name for name, c in _containers(spec) if dig(_context(c), "windowsOptions", "hostProcess") is True]
    return [Violation("hostProcess", f"{', '.join(bad)} set windowsOptions.hostProcess=true")] if bad else []


def _host_namespaces(meta: dict[str, Any], spec: dict[str, Any], version: tuple[int, int]) -> list[Violation]:
    bad = [f"{field}=true" for field in ("hostNetwork", "hostPID", "hostIPC") if spec.get(field) is True]
    return [Violation("host namespaces", ", ".join(bad))] if bad else []


def _privileged(meta: dict[str, Any], spec: dict[str, Any], version: tuple[int, int]) -> list[Violation]:
    bad = [name for name, c in _containers(spec) if _context(c).get("privileged") is True]
    return [Violation("privileged", f"container {', '.join(bad)} privileged=true")] if bad else []


def _capabilities(container: dict[str, Any]) -> tuple[list[str], list[str]]:
    capabilities = as_dict(_context(container).get("capabilities"))
    return ([text(c) for c in as_list(capabilities.get("add"))], [text(c) for c in as_list(capabilities.get("drop"))])


def _baseline_capabilities(meta: dict[str, Any], spec: dict[str, Any], version: tuple[int, int]) -> list[Violation]:
    bad = sorted({cap for _, c in _containers(spec) for cap in _capabilities(c)[0] if cap not in BASELINE_CAPABILITIES})
    return [Violation("capabilities", f"adds {', '.join(bad)}")] if bad else []


def _volumes(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(volume name, source type) of every volume of the pod."""
    found = []
    for volume in as_list(spec.get("volumes")):
        volume = as_dict(volume)
        source = next((key for key in volume if key != "name"), "")
        found.append((text(volume.get("name")) or "?", source))
    return found


def _host_path(meta: dict[str, Any], spec: dict[str, Any], version: tuple[int, int]) -> list[Violation]:
    bad = [name for name, source in _volumes(spec) if source == "hostPath"]
    return [Violation("hostPath volumes", f"volume {', '.join(bad)}")] if bad else []


def _host_ports(meta: dict[str, Any], spec: dict[str, Any], version: tuple[int, int]) -> list[Violation]:
    bad = sorted({str(port.get("hostPort")) for _, c in _containers(spec) for port in as_list(c.get("ports"))
                  if isinstance(port, dict) and port.get("hostPort") not in (None, 0, "0")})
    return [Violation("host ports", f"hostPort {', '.join(bad)}")] if bad else []


def _app_armor(meta: dict[str, Any], spec: dict[str, Any], version: tuple[int, int]) -> list[Violation]:
    bad = []
    for key, value in as_dict(meta.get("annotations")).items():
        profile = text(value)
        if str(key).startswith(APPARMOR_ANNOTATION) and profile and profile != "runtime/default" \
                and not profile.startswith("localhost/"):
            bad.append(f"{key}={profile}")
    if version >= (1, 30):
        contexts = [("pod", as_dict(spec.get("securityContext")))] + [(n, _context(c)) for n, c in _containers(spec)]
        for name, context in contexts:
            kind = text(dig(context, "appArmorProfile", "type"))
            if kind and kind not in ("RuntimeDefault", "Localhost"):
                bad.append(f"{name} appArmorProfile.type={kind}")
    return [Violation("AppArmor", ", ".join(bad))] if bad else []


def _selinux(meta: dict[str, Any], spec: dict[str, Any], version: tuple[int, int]) -> list[Violation]:
    bad = []
    contexts = [("pod", as_dict(spec.get("securityContext")))] + [(n, _context(c)) for n, c in _containers(spec)]
    for name, context in contexts:
        options = as_dict(context.get("seLinuxOptions"))
        kind = text(options.get("type"))
        if kind not in SELINUX_TYPES or SELINUX_TYPES[kind] > version:
            bad.append(f"{name} seLinuxOptions.type={kind}")
        for field_name in ("user", "role"):
            if text(options.get(field_name)):
                bad.append(f"{name} seLinuxOptions.{field_name}={text(options.get(field_name))}")
    return [Violation("SELinux", ", ".join(bad))] if bad else []


def _proc_mount(meta: dict[str, Any], spec: dict[str, Any], version: tuple[int, int]) -> list[Violation]:
    bad = [f"{name} procMount={text(_context(c).get('procMount'))}" for name, c in _containers(spec)
           if text(_context(c).get("procMount")) not in ("", "Default")]
    return [Violation("/proc mount type", ", ".join(bad))] if bad else []


def _baseline_seccomp(meta: dict[str, Any], spec: dict[str, Any], version: tuple[int, int]) -> list[Violation]:
    bad = []
    if version < (1, 19):  # before seccompProfile fields: the alpha annotations
        for key, value in as_dict(meta.get("annotations")).items():
            if str(key).startswith(("seccomp.security.alpha.kubernetes.io/",
                                    "container.seccomp.security.alpha.kubernetes.io/")) and text(value) == "unconfined":
                bad.append(f"{key}=unconfined")
    contexts = [("pod", as_dict(spec.get("securityContext")))] + [(n, _context(c)) for n, c in _containers(spec)]
    bad += [f"{name} seccompProfile.type=Unconfined" for name, context in contexts
            if text(dig(context, "seccompProfile", "type")) == "Unconfined"]
    return [Violation("seccomp", ", ".join(bad))] if bad else []


def _sysctls(meta: dict[str, Any], spec: dict[str, Any], version: tuple[int, int]) -> list[Violation]:
    bad = [text(item.get("name")) for item in as_list(dig(spec, "securityContext", "sysctls"))
           if isinstance(item, dict) and (text(item.get("name")) not in SAFE_SYSCTLS
                                          or SAFE_SYSCTLS[text(item.get("name"))] > version)]
    return [Violation("sysctls", f"unsafe {', '.join(bad)}")] if bad else []


def _host_probes(meta: dict[str, Any], spec: dict[str, Any], version: tuple[int, int]) -> list[Violation]:
    """v1.34+: probes and lifecycle handlers may not target another host."""
    if version < (1, 34):
        return []
    bad = []
    for name, container in _containers(spec):
        handlers = [(probe, as_dict(container.get(probe))) for probe in ("livenessProbe", "readinessProbe",
                                                                          "startupProbe")]
        handlers += [(f"lifecycle.{hook}", as_dict(dig(container, "lifecycle", hook))) for hook in
                     ("postStart", "preStop")]
        for where, handler in handlers:
            for action in ("httpGet", "tcpSocket"):
                host = text(dig(handler, action, "host"))
                if host:
                    bad.append(f"{name} {where}.{action}.host={host}")
    return [Violation("host probes / lifecycle hooks", ", ".join(bad))] if bad else []


# -- restricted ---------------------------------------------------------------------------------------------

def _windows(spec: dict[str, Any]) -> bool:
    return text(dig(spec, "os", "name")) == "windows"


def _volume_types(meta: dict[str, Any], spec: dict[str, Any], version: tuple[int, int]) -> list[Violation]:
    bad = [f"{name} ({source or 'no source'})" for name, source in _volumes(spec) if source not in RESTRICTED_VOLUMES]
    return [Violation("volume types", f"volume {', '.join(bad)}")] if bad else []


def _privilege_escalation(meta: dict[str, Any], spec: dict[str, Any], version: tuple[int, int]) -> list[Violation]:
    if version < (1, 8) or (version >= (1, 25) and _windows(spec)):
        return []
    bad = [name for name, c in _containers(spec) if _context(c).get("allowPrivilegeEscalation") is not False]
    return [Violation("privilege escalation", f"container {', '.join(bad)} without allowPrivilegeEscalation=false")
            ] if bad else []


def _run_as_non_root(meta: dict[str, Any], spec: dict[str, Any], version: tuple[int, int]) -> list[Violation]:
    pod = as_dict(spec.get("securityContext")).get("runAsNonRoot")
    explicit_false = [name for name, c in _containers(spec) if _context(c).get("runAsNonRoot") is False]
    unset = [name for name, c in _containers(spec) if _context(c).get("runAsNonRoot") is None]
    bad = []
    if pod is False:
        bad.append("pod runAsNonRoot=false")
    if explicit_false:
        bad.append(f"container {', '.join(explicit_false)} runAsNonRoot=false")
    if pod is not True and unset:
        bad.append(f"container {', '.join(unset)} without runAsNonRoot=true (pod or container)")
    return [Violation("running as non-root", "; ".join(bad))] if bad else []


def _run_as_user(meta: dict[str, Any], spec: dict[str, Any], version: tuple[int, int]) -> list[Violation]:
    if version < (1, 23):
        return []
    bad = ["pod"] if as_dict(spec.get("securityContext")).get("runAsUser") == 0 else []
    bad += [name for name, c in _containers(spec) if _context(c).get("runAsUser") == 0]
    return [Violation("running as non-root user", f"{', '.join(bad)} runAsUser=0")] if bad else []


def _restricted_seccomp(meta: dict[str, Any], spec: dict[str, Any], version: tuple[int, int]) -> list[Violation]:
    if version < (1, 19) or (version >= (1, 25) and _windows(spec)):
        return []
    allowed = ("RuntimeDefault", "Localhost")
    pod = text(dig(spec, "securityContext", "seccompProfile", "type"))
    bad = []
    if pod and pod not in allowed:
        bad.append(f"pod seccompProfile.type={pod}")
    for name, container in _containers(spec):
        own = text(dig(_context(container), "seccompProfile", "type"))
        if own and own not in allowed:
            bad.append(f"container {name} seccompProfile.type={own}")
        elif not own and pod not in allowed:
            bad.append(f"container {name} without seccompProfile.type RuntimeDefault/Localhost (pod or container)")
    return [Violation("seccomp", "; ".join(bad))] if bad else []


def _restricted_capabilities(meta: dict[str, Any], spec: dict[str, Any], version: tuple[int, int]
                             ) -> list[Violation]:
    if version < (1, 22) or (version >= (1, 25) and _windows(spec)):
        return []
    bad = []
    for name, container in _containers(spec):
        added, dropped = _capabilities(container)
        if "ALL" not in dropped:
            bad.append(f"container {name} does not drop ALL")
        extra = [cap for cap in added if cap != "NET_BIND_SERVICE"]
        if extra:
            bad.append(f"container {name} adds {', '.join(extra)}")
    return [Violation("capabilities", "; ".join(bad))] if bad else []


Check = Callable[[dict[str, Any], dict[str, Any], tuple[int, int]], list[Violation]]
BASELINE: tuple[Check, ...] = (_host_process, _host_namespaces, _privileged, _baseline_capabilities, _host_path,
                               _host_ports, _app_armor, _selinux, _proc_mount, _baseline_seccomp, _sysctls,
                               _host_probes)
RESTRICTED: tuple[Check, ...] = (*BASELINE, _volume_types, _privilege_escalation, _run_as_non_root, _run_as_user,
                                 _restricted_seccomp, _restricted_capabilities)


def violations(template: dict[str, Any], level: str, version: tuple[int, int] = LATEST) -> list[Violation]:
    """What the Pod Security Standards `level` (at `version`) forbids in a pod (metadata + spec)."""
    checks = {"baseline": BASELINE, "restricted": RESTRICTED}.get(level, ())
    meta, spec = as_dict(template.get("metadata")), as_dict(template.get("spec"))
    return [found for check in checks for found in check(meta, spec, version)]


# -- the rule ---------------------------------------------------------------------------------------------

def pod_template(obj: RenderedObject) -> dict[str, Any] | None:
    """The pods a built-in workload makes (its template; a Pod is its own)."""
    group = group_of(obj)
    if (group, obj.kind) == ("", "Pod"):
        return {"metadata": as_dict(obj.body.get("metadata")), "spec": obj.spec}
    if (group, obj.kind) == ("batch", "CronJob"):
        template = dig(obj.body, "spec", "jobTemplate", "spec", "template")
    elif (group, obj.kind) in (("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet"),
                               ("apps", "ReplicaSet"), ("batch", "Job"), ("", "ReplicationController")):
        template = dig(obj.body, "spec", "template")
    else:
        return None
    return template if isinstance(template, dict) else None


def namespace_levels(render: ClusterRender) -> dict[str, tuple[str, tuple[int, int]]]:
    """Namespace -> (enforce level, enforce version) from the rendered Namespace objects' labels."""
    levels: dict[str, tuple[str, tuple[int, int]]] = {}
    for obj in render.objects:
        if obj.kind != "Namespace" or group_of(obj) != "":
            continue
        labels = as_dict(dig(obj.body, "metadata", "labels"))
        level = text(labels.get(ENFORCE))
        if level in LEVELS:
            levels[obj.name] = (level, parse_version(text(labels.get(ENFORCE_VERSION)) or "latest"))
    return levels


@rule("admission/pod-security", E,
      "a workload's pods violate the Pod Security level its namespace enforces (the API server rejects them)")
def pod_security(render: ClusterRender, context: RuleContext) -> Iterator[Finding]:
    cluster_version = parse_version(str(context.options.get("kubernetes_version") or "latest"))
    default = str(context.options.get("psa_default_level") or "privileged")
    exempt = {str(n) for n in as_list(context.options.get("psa_exempt_namespaces"))}
    levels = namespace_levels(render)
    for obj in render.objects:
        template = pod_template(obj)
        namespace = obj.namespace or "default"
        if template is None or namespace in exempt:
            continue
        level, version = levels.get(namespace, (default, LATEST))
        if level == "privileged":
            continue
        found = violations(template, level, min(version, cluster_version))
        if not found:
            continue
        what = "the API server rejects it" if obj.kind == "Pod" else \
            "the API server rejects its pods: it never becomes ready"
        yield finding("admission/pod-security", E, obj,
                      f"{obj.kind} {namespace}/{obj.name} violates Pod Security \"{level}\" enforced on namespace "
                      f"{namespace} ({what}): {'; '.join(map(str, found))}",
                      f"fix the pod's securityContext (values of its chart), or label the namespace "
                      f"{ENFORCE}: <the level it needs> with a reviewed reason")
