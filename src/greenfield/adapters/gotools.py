"""Upstream tools built from their Go modules (tools/go.mod and the separate modules tools/talos,
tools/flux-controllers, tools/kwok, tools/registry) into tools/bin/.

Every tool is pinned by the `require` lines of its Go module; this adapter reads the pins, knows
whether a binary is built for the current pins (a stamp file next to it), and runs `go build`
through the one `Command` type. Builds are reproducible (`-trimpath`, no VCS stamping, CGO off,
`-mod=readonly` against the committed go.sum) and cached by Go's build cache, so a rebuild of an
unchanged tool is instant.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from greenfield.adapters.command import Command, which
from greenfield.errors import CommandError, InputError

# A cold `go build` of kube-apiserver takes minutes on two cores: never let the generic timeout hit it.
BUILD_TIMEOUT_S = 3600.0
_REQUIRE = re.compile(r"^\s*(?:require\s+)?([A-Za-z0-9_.~/-]+)\s+(v[0-9][^\s/]*)")


@dataclass(frozen=True)
class GoTool:
    """One binary: where its main package is, which module pins it, how its version is stamped."""

    name: str
    package: str  # Go import path of the main package
    module: str  # the module whose version is the tool's version
    module_dir: str  # folder of the go.mod holding the tool directive, relative to the tools root
    purpose: str
    stamps: tuple[tuple[str, str], ...] = ()  # (Go variable, template) for -X; {version} {major} {minor}
    # Files that upstream generates at release time and that the module zip lacks: (path in module, file
    # under tools/). Such a tool is built from a writable copy of its module with these files added.
    generated: tuple[tuple[str, str], ...] = ()

    def ldflags(self, version: str) -> str:
        numbers = version.lstrip("v").split(".")
        fields = {"version": version, "bare": version.lstrip("v"),
                  "major": numbers[0], "minor": numbers[1] if len(numbers) > 1 else "0"}
        parts = ["-s", "-w"] + [f"-X={var}={template.format(**fields)}" for var, template in self.stamps]
        return " ".join(parts)


_KUBE_STAMPS = (
    ("k8s.io/component-base/version.gitVersion", "{version}"),
    ("k8s.io/component-base/version.gitMajor", "{major}"),
    ("k8s.io/component-base/version.gitMinor", "{minor}"),
    ("k8s.io/component-base/version.gitTreeState", "clean"),
    ("k8s.io/client-go/pkg/version.gitVersion", "{version}"),
    ("k8s.io/client-go/pkg/version.gitMajor", "{major}"),
    ("k8s.io/client-go/pkg/version.gitMinor", "{minor}"),
    ("k8s.io/client-go/pkg/version.gitTreeState", "clean"),
)

TOOLS: tuple[GoTool, ...] = (
    GoTool("kubeconform", "github.com/yannh/kubeconform/cmd/kubeconform", "github.com/yannh/kubeconform", ".",
           "schema verdicts to compare with the engine's", (("main.version", "{version}"),)),
    GoTool("flux", "github.com/fluxcd/flux2/v2/cmd/flux", "github.com/fluxcd/flux2/v2", ".",
           "`flux build kustomization` for the differential tests", (("main.VERSION", "{bare}"),),
           generated=(("cmd/flux/manifests/greenfield-placeholder.yaml", "overlay/flux-manifests.yaml"),)),
    GoTool("helm", "helm.sh/helm/v3/cmd/helm", "helm.sh/helm/v3", ".", "chart rendering",
           (("helm.sh/helm/v3/internal/version.version", "{version}"),)),
    GoTool("talosctl", "github.com/siderolabs/talos/cmd/talosctl", "github.com/siderolabs/talos", "talos",
           "Talos machine-config generation and validation"),
    GoTool("etcd", "go.etcd.io/etcd/server/v3", "go.etcd.io/etcd/server/v3", ".",
           "storage of the local control plane"),
    GoTool("kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes", ".",
           "API server of the local control plane", _KUBE_STAMPS),
    GoTool("kube-controller-manager", "k8s.io/kubernetes/cmd/kube-controller-manager", "k8s.io/kubernetes", ".",
           "namespaces, garbage collection and service accounts on the local control plane", _KUBE_STAMPS),
    GoTool("kube-scheduler", "k8s.io/kubernetes/cmd/kube-scheduler", "k8s.io/kubernetes", ".",
           "binds pods to the simulated nodes of the local fleet (--with-flux)", _KUBE_STAMPS),
    GoTool("kwok", "sigs.k8s.io/kwok/cmd/kwok", "sigs.k8s.io/kwok", "kwok",
           "simulated nodes and kubelets (pods reported Running/Ready) of the local fleet (--with-flux)"),
    GoTool("registry", "github.com/google/go-containerregistry/cmd/registry", "github.com/google/go-containerregistry",
           "registry", "the OCI registry on 127.0.0.1 that `greenfield mirror` and the local fleet push charts to"),
    GoTool("source-controller", "github.com/fluxcd/source-controller", "github.com/fluxcd/source-controller",
           "flux-controllers", "Flux sources (git, Helm repositories) on the local control plane (--with-flux)"),
    GoTool("kustomize-controller", "github.com/fluxcd/kustomize-controller", "github.com/fluxcd/kustomize-controller",
           "flux-controllers", "Flux Kustomizations on the local control plane (--with-flux)"),
    GoTool("helm-controller", "github.com/fluxcd/helm-controller", "github.com/fluxcd/helm-controller",
           "flux-controllers", "Flux HelmReleases on the local control plane (--with-flux)"),
)

# kube-apiserver 1.34 needs the kube-controller-manager's helpers and etcd next to it.
CONTROL_PLANE_TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager")
# `greenfield local up --with-flux`: the Flux controllers, from their own module (tools/flux-controllers).
FLUX_CONTROLLER_TOOLS = ("source-controller", "kustomize-controller", "helm-controller")
# ... and the simulated fleet around them: a scheduler, kwok's nodes, the chart registry (plus helm to push).
FLEET_TOOLS = ("kube-scheduler", "kwok", "registry", "helm")


def tool(name: str) -> GoTool:
    for candidate in TOOLS:
        if candidate.name == name:
            return candidate
    known = ", ".join(t.name for t in TOOLS)
    raise InputError(f"unknown tool {name!r}", hint=f"one of: {known}")


class ToolState(StrEnum):
    BUILT = "built"
    MISSING = "missing"
    STALE = "stale"  # a binary is there but was built for other pins


@dataclass(frozen=True)
class ToolStatus:
    tool: GoTool
    version: str
    state: ToolState
    path: Path

    @property
    def built(self) -> bool:
        return self.state == ToolState.BUILT


def default_tools_root() -> Path:
    """tools/ of the greenfield checkout (GREENFIELD_TOOLS overrides it)."""
    configured = os.environ.get("GREENFIELD_TOOLS")
    if configured:
        return Path(configured).resolve()
    return Path(__file__).resolve().parents[3] / "tools"


_TOOL_BLOCK = re.compile(r"^tool\s*\(.*?^\)\s*$|^tool\s+\S+\s*$", re.MULTILINE | re.DOTALL)


def _without_tool_directives(text: str) -> str:
    return _TOOL_BLOCK.sub("", text)


def read_pins(go_mod: Path) -> dict[str, str]:
    """module path -> version, from the require lines of a go.mod (replace lines are ignored)."""
    try:
        text = go_mod.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror}", path=str(go_mod),
                         hint="the tools module is part of the greenfield checkout (set GREENFIELD_TOOLS)") from error
    pins: dict[str, str] = {}
    in_replace = False
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].rstrip()
        stripped = line.strip()
        if stripped.startswith("replace"):
            in_replace = stripped.endswith("(")
            continue
        if in_replace:
            if stripped == ")":
                in_replace = False
            continue
        match = _REQUIRE.match(line)
        if match and "=>" not in line:
            pins[match.group(1)] = match.group(2)
    return pins


class GoTools:
    """The tools module on disk: pins, built binaries, builds."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or default_tools_root()).resolve()
        self.bin = self.root / "bin"
        self._pins: dict[str, dict[str, str]] = {}

    def module_dir(self, spec: GoTool) -> Path:
        return (self.root / spec.module_dir).resolve()

    def version(self, spec: GoTool) -> str:
        folder = spec.module_dir
        if folder not in self._pins:
            self._pins[folder] = read_pins(self.module_dir(spec) / "go.mod")
        version = self._pins[folder].get(spec.module)
        if version is None:
            raise InputError(f"{spec.module} is not pinned", path=str(self.module_dir(spec) / "go.mod"),
                             hint=f"add it: go get -tool {spec.package}@VERSION")
        return version

    def path(self, spec: GoTool) -> Path:
        return self.bin / spec.name

    def _stamp_path(self, spec: GoTool) -> Path:
        return self.bin / f".{spec.name}.stamp"

    def fingerprint(self, spec: GoTool) -> str:
        """What a binary was built from: the module's go.mod (without its `tool` directives, which list the
        binaries but change none of them: adding a tool leaves the others built), go.sum, the package and
        the link flags."""
        digest = hashlib.sha256()
        folder = self.module_dir(spec)
        go_mod = folder / "go.mod"
        digest.update(_without_tool_directives(go_mod.read_text(encoding="utf-8")).encode() if go_mod.is_file()
                      else b"")
        files = [folder / "go.sum"] + [self.root / ours for _inside, ours in spec.generated]
        for file in files:
            digest.update(file.read_bytes() if file.is_file() else b"")
        digest.update(spec.package.encode())
        digest.update(spec.ldflags(self.version(spec)).encode())
        return digest.hexdigest()

    def status(self, spec: GoTool) -> ToolStatus:
        version = self.version(spec)
        path = self.path(spec)
        if not path.is_file():
            state = ToolState.MISSING
        else:
            stamp = self._stamp_path(spec)
            recorded = stamp.read_text(encoding="utf-8").strip() if stamp.is_file() else ""
            state = ToolState.BUILT if recorded == self.fingerprint(spec) else ToolState.STALE
        return ToolStatus(spec, version, state, path)

    def statuses(self, names: Sequence[str] | None = None) -> list[ToolStatus]:
        specs = [tool(n) for n in names] if names else list(TOOLS)
        return [self.status(spec) for spec in specs]

    def binary(self, name: str) -> Path:
        """The built binary of a tool, or a CommandError telling how to build it."""
        status = self.status(tool(name))
        if not status.built:
            raise CommandError(f"{name} is {status.state.value} in {self.bin}",
                               hint=f"run `greenfield tools --build {name}` (or ./run tools --all)")
        return status.path

    def go(self) -> str:
        found = which("go") or next((str(p) for p in (Path("/usr/local/go/bin/go"),) if p.is_file()), None)
        if found is None:
            raise CommandError("the Go toolchain is not installed",
                               hint="install Go >= 1.25 (the tools are built from the Go module proxy)")
        return found

    def _env(self) -> dict[str, str]:
        return {"CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "", "GO111MODULE": "on"}

    def build_command(self, spec: GoTool, output: Path, source: Path | None = None) -> Command:
        """go build of the tool's package in its tools module, or of `./<pkg>` in a prepared module copy."""
        version = self.version(spec)
        target = spec.package if source is None else "./" + spec.package.removeprefix(spec.module).strip("/")
        argv = [self.go(), "build", "-trimpath", "-buildvcs=false", "-mod=readonly",
                f"-ldflags={spec.ldflags(version)}", "-o", str(output), target]
        return Command(argv, cwd=source or self.module_dir(spec), env=self._env(), timeout=BUILD_TIMEOUT_S)

    def prepare_source(self, spec: GoTool) -> Path:
        """A writable copy of the pinned module (downloaded through the module proxy) plus the generated
        files upstream's release build adds; built as its own main module, i.e. with upstream's go.mod/go.sum."""
        version = self.version(spec)
        download = Command([self.go(), "mod", "download", "-json", f"{spec.module}@{version}"],
                           cwd=self.module_dir(spec), env=self._env(), timeout=BUILD_TIMEOUT_S).run()
        module_dir = Path(json.loads(download.stdout)["Dir"])
        source = self.bin / ".src" / f"{spec.name}@{version}"
        if source.is_dir():
            shutil.rmtree(source)
        shutil.copytree(module_dir, source)
        for folder, _dirs, files in os.walk(source):
            Path(folder).chmod(0o755)
            for name in files:
                (Path(folder) / name).chmod(0o644)
        for inside, ours in spec.generated:
            target = source / inside
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.root / ours, target)
        return source

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """One builder at a time (parallel test workers, a CLI run next to the tests)."""
        self.bin.mkdir(parents=True, exist_ok=True)
        with (self.bin / ".build.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def build(self, spec: GoTool) -> ToolStatus:
        """Build one tool (no-op when already built for the current pins)."""
        with self._lock():
            current = self.status(spec)
            if current.built:
                return current
            partial = self.bin / f".{spec.name}.partial"
            try:
                source = self.prepare_source(spec) if spec.generated else None
                self.build_command(spec, partial, source).run()
            except CommandError as error:
                partial.unlink(missing_ok=True)
                raise CommandError(f"building {spec.name} {current.version} failed: {error.problem}",
                                   path=str(self.module_dir(spec) / "go.mod"),
                                   hint="see the go build output above; the pins live in this go.mod") from error
            partial.replace(self.path(spec))
            self._stamp_path(spec).write_text(self.fingerprint(spec) + "\n", encoding="utf-8")
            return self.status(spec)

    def ensure(self, names: Sequence[str], on_event: Callable[[str, ToolStatus | None], None] | None = None
               ) -> list[ToolStatus]:
        """Build whatever of `names` is not built; on_event(name, None) before, (name, status) after."""
        results = []
        for name in names:
            spec = tool(name)
            status = self.status(spec)
            if not status.built:
                if on_event:
                    on_event(name, None)
                status = self.build(spec)
            if on_event:
                on_event(name, status)
            results.append(status)
        return results


def status_json(status: ToolStatus) -> dict[str, object]:
    return {"name": status.tool.name, "version": status.version, "state": status.state.value,
            "built": status.built, "path": str(status.path), "package": status.tool.package,
            "module": status.tool.module, "purpose": status.tool.purpose}
