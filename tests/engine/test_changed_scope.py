"""What --changed-since skips (for speed) without changing what it reports: the schema scope and lazy CLI imports."""

from __future__ import annotations

from typing import Any

import typer

from greenfield.cli import registry
from greenfield.core.engine import affected_kustomizations, changed_objects_scope
from greenfield.core.model import ClusterRender, KustomizationNode, NamespacedName, RenderedObject


def _node(render: ClusterRender, name: str, inputs: list[str], objects: list[dict[str, Any]],
          parent: str | None = "root", depends_on: tuple[str, ...] = (), spec: dict[str, Any] | None = None) -> None:
    key = NamespacedName("flux-system", name)
    node = KustomizationNode(key=key, cluster="c", path=name, body={"spec": spec or {}},
                             parent=NamespacedName("flux-system", parent) if parent else None, inputs=inputs,
                             built=True, depends_on=[NamespacedName("flux-system", d) for d in depends_on])
    node.objects = [RenderedObject(body=o, cluster="c", kustomization=str(key), file=inputs[0]) for o in objects]
    render.kustomizations[key] = node


def _cm(name: str, namespace: str = "flux-system") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}}


def test_dependents_join_the_schema_scope_only_when_the_change_can_alter_their_objects() -> None:
    render = ClusterRender(cluster="c", entry="root")
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "w"},
           "spec": {"group": "example.com", "names": {"kind": "Widget"}}}
    _node(render, "root", ["root/k.yaml"], [], parent=None)
    _node(render, "crds", ["crds/crd.yaml"], [crd, _cm("settings")])
    _node(render, "child", ["child/a.yaml"], [_cm("x", "app")], parent="crds")
    _node(render, "plain", ["plain/a.yaml"], [_cm("y", "app")], depends_on=("crds",))
    _node(render, "widgets", ["widgets/a.yaml"], [{"apiVersion": "example.com/v1", "kind": "Widget",
                                                   "metadata": {"name": "w1", "namespace": "app"}}],
          depends_on=("crds",))
    _node(render, "reader", ["reader/a.yaml"], [_cm("z", "app")], depends_on=("crds",),
          spec={"postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "settings"}]}})
    changed = ["crds/crd.yaml"]
    affected = affected_kustomizations(render, changed)
    names = {k.name for k in affected}
    assert names == {"crds", "child", "plain", "widgets", "reader"}
    scope = {k.name for k in changed_objects_scope(render, changed, affected)}
    assert scope == {"crds", "child", "widgets", "reader"}  # "plain" renders the same objects as before


def test_the_program_imports_only_the_invoked_command_module() -> None:
    assert registry.invoked_module(["validate", "--changed-since", "HEAD"]) == "validate"
    assert registry.invoked_module(["--debug", "talos", "gen"]) == "cluster"
    assert registry.invoked_module(["--help"]) is None
    assert registry.invoked_module([]) is None
    assert registry.invoked_module(["no-such-command"]) is None
    every = typer.Typer()
    registry.register(every, [])
    names = {c.name for c in every.registered_commands} | {g.name for g in every.registered_groups}
    assert set(registry.COMMANDS) <= names  # the map names real commands
    for command, module in registry.COMMANDS.items():
        one = typer.Typer()
        registry.register(one, [command])
        registered = {c.name for c in one.registered_commands} | {g.name for g in one.registered_groups}
        assert command in registered, (command, module)
