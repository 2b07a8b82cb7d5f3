"""The pinned tools module: pins read from go.mod, build state by stamp, the CLI listing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from greenfield.adapters.gotools import TOOLS, GoTools, ToolState, read_pins, tool
from greenfield.cli.main import app
from greenfield.cli.registry import register
from greenfield.errors import CommandError, InputError

REPO = Path(__file__).resolve().parents[2]
GO_MOD = """module example.local/tools

go 1.25.0

replace (
\tk8s.io/api => k8s.io/api v0.34.1 // pinned staging module
)

replace gopkg.in/yaml.v3 => github.com/example/yaml v0.0.0-1

tool (
\tgithub.com/yannh/kubeconform/cmd/kubeconform
)

require github.com/yannh/kubeconform v0.7.0

require (
\tgithub.com/fluxcd/flux2/v2 v2.7.2
\thelm.sh/helm/v3 v3.19.0 // indirect
\tgo.etcd.io/etcd/server/v3 v3.6.4
\tk8s.io/kubernetes v1.34.1
)
"""


@pytest.fixture
def tools_root(tmp_path: Path) -> Path:
    (tmp_path / "go.mod").write_text(GO_MOD, encoding="utf-8")
    (tmp_path / "go.sum").write_text("", encoding="utf-8")
    (tmp_path / "talos").mkdir()
    (tmp_path / "talos" / "go.mod").write_text("module x\n\nrequire github.com/siderolabs/talos v1.11.3\n",
                                               encoding="utf-8")
    (tmp_path / "flux-controllers").mkdir()
    (tmp_path / "flux-controllers" / "go.mod").write_text(
        "module y\n\nrequire (\n\tgithub.com/fluxcd/source-controller v1.7.2\n"
        "\tgithub.com/fluxcd/kustomize-controller v1.7.2\n\tgithub.com/fluxcd/helm-controller v1.4.3\n)\n",
        encoding="utf-8")
    for folder, module in (("kwok", "sigs.k8s.io/kwok v0.8.0"), ("registry", "github.com/google/go-containerregistry v0.22.1")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "go.mod").write_text(f"module z\n\nrequire {module}\n", encoding="utf-8")
    (tmp_path / "overlay").mkdir()
    (tmp_path / "overlay" / "flux-manifests.yaml").write_text("# placeholder\n", encoding="utf-8")
    return tmp_path


def test_read_pins_takes_require_lines_not_replacements(tools_root: Path) -> None:
    pins = read_pins(tools_root / "go.mod")
    assert pins["k8s.io/kubernetes"] == "v1.34.1"
    assert pins["helm.sh/helm/v3"] == "v3.19.0"
    assert pins["github.com/yannh/kubeconform"] == "v0.7.0"
    assert "k8s.io/api" not in pins  # only a replace line names it
    assert "gopkg.in/yaml.v3" not in pins


def test_every_tool_is_pinned_in_the_committed_modules() -> None:
    tools = GoTools(REPO / "tools")
    versions = {t.name: tools.version(t) for t in TOOLS}
    assert versions["kube-apiserver"].startswith("v1.34.")
    assert versions["kube-controller-manager"] == versions["kube-apiserver"]
    assert versions["flux"].startswith("v2.7.")
    assert versions["talosctl"].startswith("v1.11.")
    assert versions["helm"].startswith("v3.")
    assert versions["etcd"].startswith("v3.6.")
    assert versions["kube-scheduler"] == versions["kube-apiserver"]  # same k8s.io/kubernetes pin
    assert versions["kwok"] == "v0.8.0"
    assert versions["registry"] == "v0.22.1"


def test_the_fleet_tools_live_in_their_own_modules_and_leave_the_kubernetes_pins_alone() -> None:
    tools = GoTools(REPO / "tools")
    assert tools.module_dir(tool("kube-scheduler")) == tools.module_dir(tool("kube-apiserver"))
    kwok_pins = read_pins(REPO / "tools" / "kwok" / "go.mod")
    main_pins = read_pins(REPO / "tools" / "go.mod")
    # kwok builds against newer k8s.io libraries than the platform's Kubernetes release: never in ../go.mod
    assert kwok_pins["k8s.io/client-go"] != main_pins["k8s.io/client-go"]
    assert "sigs.k8s.io/kwok" not in main_pins
    # flux/helm use an older go-containerregistry: the registry's own pin would move theirs
    registry = read_pins(REPO / "tools" / "registry" / "go.mod")["github.com/google/go-containerregistry"]
    assert main_pins["github.com/google/go-containerregistry"] != registry


def test_committed_pins_match_the_inventory_versions() -> None:
    import yaml

    inventory = yaml.safe_load((REPO / "platform.yaml").read_text(encoding="utf-8"))["platform"]["versions"]
    tools = GoTools(REPO / "tools")
    assert tools.version(tool("kube-apiserver")).lstrip("v") == inventory["kubernetes"]
    assert tools.version(tool("talosctl")).lstrip("v") == inventory["talos"]
    assert tools.version(tool("flux")).lstrip("v") == inventory["flux"]


def test_every_kubernetes_staging_module_is_pinned_to_the_kubernetes_release() -> None:
    text = (REPO / "tools" / "go.mod").read_text(encoding="utf-8")
    kube = GoTools(REPO / "tools").version(tool("kube-apiserver"))
    staging_version = "v0." + kube.split(".", 1)[1]
    replaced = [line.split() for line in text.splitlines() if line.strip().startswith("k8s.io/") and "=>" in line]
    assert len(replaced) >= 30
    assert all(parts[-1] == staging_version for parts in replaced)


def test_state_missing_built_and_stale(tools_root: Path) -> None:
    tools = GoTools(tools_root)
    spec = tool("kubeconform")
    assert tools.status(spec).state == ToolState.MISSING
    tools.bin.mkdir()
    tools.path(spec).write_text("binary", encoding="utf-8")
    assert tools.status(spec).state == ToolState.STALE  # no stamp: built by someone else
    (tools.bin / ".kubeconform.stamp").write_text(tools.fingerprint(spec) + "\n", encoding="utf-8")
    assert tools.status(spec).built
    (tools_root / "go.sum").write_text("changed pins\n", encoding="utf-8")
    assert tools.status(spec).state == ToolState.STALE


def test_adding_a_tool_directive_leaves_the_other_binaries_built(tools_root: Path) -> None:
    tools = GoTools(tools_root)
    spec = tool("kubeconform")
    tools.bin.mkdir()
    tools.path(spec).write_text("binary", encoding="utf-8")
    (tools.bin / ".kubeconform.stamp").write_text(tools.fingerprint(spec) + "\n", encoding="utf-8")
    go_mod = tools_root / "go.mod"
    go_mod.write_text(go_mod.read_text(encoding="utf-8").replace(
        "tool (\n", "tool (\n\tk8s.io/kubernetes/cmd/kube-scheduler\n"), encoding="utf-8")
    assert GoTools(tools_root).status(spec).built  # the tool list changes no binary
    go_mod.write_text(go_mod.read_text(encoding="utf-8").replace("kubeconform v0.7.0", "kubeconform v0.7.1"),
                      encoding="utf-8")
    assert GoTools(tools_root).status(spec).state == ToolState.STALE  # a pin does


def test_binary_of_a_missing_tool_says_how_to_build_it(tools_root: Path) -> None:
    with pytest.raises(CommandError) as caught:
        GoTools(tools_root).binary("etcd")
    assert "greenfield tools --build etcd" in caught.value.render()


def test_unknown_tool_and_unpinned_module(tools_root: Path) -> None:
    with pytest.raises(InputError, match="unknown tool"):
        tool("kubectl")
    (tools_root / "go.mod").write_text("module x\n", encoding="utf-8")
    with pytest.raises(InputError, match="not pinned"):
        GoTools(tools_root).version(tool("helm"))


def test_version_stamps_in_link_flags() -> None:
    flags = tool("kube-apiserver").ldflags("v1.34.1")
    assert "-X=k8s.io/component-base/version.gitVersion=v1.34.1" in flags
    assert "-X=k8s.io/component-base/version.gitMinor=34" in flags
    assert tool("flux").ldflags("v2.7.2").endswith("-X=main.VERSION=2.7.2")
    assert tool("etcd").ldflags("v3.6.4") == "-s -w"


def test_build_command_is_reproducible_and_never_uses_a_shell(tools_root: Path) -> None:
    tools = GoTools(tools_root)
    command = tools.build_command(tool("kube-apiserver"), tools.bin / "out")
    argv = list(command.argv)
    assert argv[1:5] == ["build", "-trimpath", "-buildvcs=false", "-mod=readonly"]
    assert argv[-1] == "k8s.io/kubernetes/cmd/kube-apiserver"
    assert command.env is not None and command.env["CGO_ENABLED"] == "0" and command.env["GOTOOLCHAIN"] == "local"
    assert command.cwd == tools_root
    source = tools_root / "src"
    assert list(tools.build_command(tool("flux"), tools.bin / "f", source).argv)[-1] == "./cmd/flux"


def test_talosctl_has_its_own_module(tools_root: Path) -> None:
    tools = GoTools(tools_root)
    assert tools.module_dir(tool("talosctl")) == tools_root / "talos"
    assert tools.version(tool("talosctl")) == "v1.11.3"


def test_cli_lists_tools_as_json(tools_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENFIELD_TOOLS", str(tools_root))
    register(app)
    result = CliRunner().invoke(app, ["tools", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert set(rows) == {t.name for t in TOOLS}
    assert rows["kube-apiserver"]["version"] == "v1.34.1"
    assert rows["kube-apiserver"]["state"] == "missing"
    assert rows["flux"]["path"] == str(tools_root / "bin" / "flux")
