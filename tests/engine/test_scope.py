"""Object scope: kustomize stamps a namespace on cluster-scoped custom kinds; the API server drops it, so does the
engine (scope from a CRD rendered in the tree, else the built-in list; an unknown kind keeps its namespace)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.engine.conftest import run

from greenfield.core.scope import ScopeIndex, crd_scopes, drop_cluster_scoped_namespace

KUSTOMIZE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "kubectl"

FILES = {
    "clusters/dev/kustomization.yaml": """
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: apps
resources: [crds.yaml, objects.yaml]
""",
    "clusters/dev/crds.yaml": """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.io}
spec:
  group: example.io
  scope: Cluster
  names: {kind: Widget, plural: widgets}
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.io}
spec:
  group: example.io
  scope: Namespaced
  names: {kind: Gadget, plural: gadgets}
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
""",
    "clusters/dev/objects.yaml": """
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: {name: vault}
spec: {provider: {fake: {data: []}}}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: app}
spec: {secretStoreRef: {kind: ClusterSecretStore, name: vault}, target: {name: app}}
---
apiVersion: example.io/v1
kind: Widget
metadata: {name: w}
---
apiVersion: example.io/v1
kind: Gadget
metadata: {name: g}
---
apiVersion: unknown.example.org/v1
kind: Thing
metadata: {name: t}
""",
}


def _repo(tmp_path: Path) -> Path:
    for name, text in FILES.items():
        path = tmp_path / "repo" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip(), encoding="utf-8")
    return tmp_path / "repo"


def test_kustomize_stamps_the_namespace_the_engine_drops_it(tmp_path: Path, build_cache: Path) -> None:
    repo = _repo(tmp_path)
    stamped = subprocess.run([str(KUSTOMIZE), "kustomize", str(repo / "clusters/dev")], capture_output=True,
                             text=True, check=True).stdout
    assert "kind: ClusterSecretStore\nmetadata:\n  name: vault\n  namespace: apps" in stamped  # what kustomize does

    report = run(repo, build_cache, cluster_paths=["clusters/dev"])
    namespaces = {obj.kind: obj.namespace for obj in report.renders["dev"].objects}
    assert namespaces["ClusterSecretStore"] == ""  # the built-in list (its CRD is not in the tree)
    assert namespaces["Widget"] == ""  # scope: Cluster from the CRD in the tree
    assert namespaces["Gadget"] == "apps"  # scope: Namespaced
    assert namespaces["Thing"] == "apps"  # unknown scope: kept as kustomize wrote it
    assert namespaces["CustomResourceDefinition"] == ""
    assert not [f for f in report.findings if f.rule == "graph/reference-missing" and "vault" in f.message]


def test_scope_index_prefers_the_crd_over_the_built_in_list() -> None:
    crd = {"spec": {"group": "cert-manager.io", "scope": "Namespaced", "names": {"kind": "ClusterIssuer"}}}
    assert ScopeIndex().cluster_scoped("cert-manager.io", "ClusterIssuer") is True
    assert ScopeIndex().with_crds([crd]).cluster_scoped("cert-manager.io", "ClusterIssuer") is False
    assert ScopeIndex().cluster_scoped("apps", "Deployment") is False  # a built-in group: namespaced
    assert ScopeIndex().cluster_scoped("example.io", "Widget") is None
    assert crd_scopes([{"spec": {"group": "g.io", "names": {"kind": "K"}}}]) == {("g.io", "K"): "Namespaced"}
    body = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "x",
                                                                                              "namespace": "a"}}
    assert drop_cluster_scoped_namespace(body, ScopeIndex()) and body["metadata"] == {"name": "x"}
