"""core/diff.py on hand-made renders: field-level diffs, dangerous changes, secret data, and the formats'
guarantees (markdown size cap, no secret value in any format)."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
from tests.companion.test_diff import DIFF_SCHEMA

from greenfield.core import diff_format as diff_output
from greenfield.core.diff import SECRET_DATA_CHANGED, Change, diff_renders, field_changes
from greenfield.core.model import ClusterRender, HelmReleaseInfo, KustomizationNode, NamespacedName, RenderedObject

KS = "kustomize.toolkit.fluxcd.io/v1"


def obj(kind: str, name: str, namespace: str = "apps", api: str = "v1", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": api, "kind": kind, "metadata": {"name": name}}
    if namespace:
        body["metadata"]["namespace"] = namespace
    body.update(fields)
    return body


def render(objects: dict[str, list[dict[str, Any]]], prune: bool = True,
           kustomizations: dict[str, dict[str, Any]] | None = None, encrypted: tuple[str, ...] = ()) -> ClusterRender:
    """A cluster whose root applies one Flux Kustomization per key of `objects` (spec from `kustomizations`)."""
    result = ClusterRender("dev", "clusters/dev")
    root = KustomizationNode(NamespacedName("", ""), "dev", "clusters/dev", {}, None, built=True, synthetic=True)
    result.kustomizations[root.key] = root
    for name, bodies in objects.items():
        spec = {"path": f"./apps/{name}", "prune": prune, "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
                **(kustomizations or {}).get(name, {})}
        body = obj("Kustomization", name, "flux-system", KS, spec=spec)
        key = NamespacedName("flux-system", name)
        root.objects.append(RenderedObject(body, "dev", "", file=f"apps/{name}/ks.yaml"))
        node = KustomizationNode(key, "dev", f"apps/{name}", body, root.key, built=True)
        node.objects = [RenderedObject(b, "dev", str(key), file=f"apps/{name}/app.yaml",
                                       encrypted=b["metadata"]["name"] in encrypted) for b in bodies]
        result.kustomizations[key] = node
    return result


def dangers_of(base: ClusterRender, head: ClusterRender) -> set[str]:
    return {danger.rule for *_, danger in diff_renders({"dev": base}, {"dev": head}).dangers()}


DEPLOYMENT = obj("Deployment", "web", api="apps/v1",
                 spec={"selector": {"matchLabels": {"app": "web"}},
                       "template": {"spec": {"containers": [{"name": "web", "image": "web:1"},
                                                            {"name": "side", "image": "side:1"}]}}})


def test_field_changes_match_named_list_items_and_report_leaves() -> None:
    after = copy.deepcopy(DEPLOYMENT)
    after["spec"]["template"]["spec"]["containers"][1]["image"] = "side:2"
    after["metadata"]["labels"] = {"team": "a"}
    changes = field_changes(DEPLOYMENT, after)
    assert [(c.path, c.change, c.before, c.after) for c in changes] == [
        ("metadata.labels", Change.ADDED, None, {"team": "a"}),
        ("spec.template.spec.containers[name=side].image", Change.CHANGED, "side:1", "side:2")]


def test_unchanged_render_is_empty() -> None:
    base = render({"web": [DEPLOYMENT]})
    assert diff_renders({"dev": base}, {"dev": render({"web": [copy.deepcopy(DEPLOYMENT)]})}).empty


@pytest.mark.parametrize(("kind", "api", "path", "value"), [
    ("Deployment", "apps/v1", ("spec", "selector"), {"matchLabels": {"app": "other"}}),
    ("StatefulSet", "apps/v1", ("spec", "selector"), {"matchLabels": {"app": "other"}}),
    ("Job", "batch/v1", ("spec", "selector"), {"matchLabels": {"job": "other"}}),
    ("Service", "v1", ("spec", "clusterIP"), "10.0.0.20"),
    ("PersistentVolumeClaim", "v1", ("spec", "storageClassName"), "fast"),
])
def test_immutable_field_changes_are_dangerous(kind: str, api: str, path: tuple[str, str], value: Any) -> None:
    before = obj(kind, "x", api=api, spec={"selector": {"matchLabels": {"app": "x"}}, "clusterIP": "10.0.0.10",
                                           "storageClassName": "slow"})
    after = copy.deepcopy(before)
    after[path[0]][path[1]] = value
    assert dangers_of(render({"a": [before]}), render({"a": [after]})) == {"diff/immutable-field"}


def test_service_cluster_ip_allocated_by_the_cluster_is_not_a_change_of_an_immutable_field() -> None:
    before = obj("Service", "x", spec={"ports": [{"port": 80}]})
    after = obj("Service", "x", spec={"ports": [{"port": 80}], "clusterIP": "10.0.0.10"})
    assert dangers_of(render({"a": [before]}), render({"a": [after]})) == set()


def test_flux_dangers_prune_suspend_target_namespace_source() -> None:
    base = render({"a": [], "b": [], "c": []}, prune=False)
    head = render({"a": [], "b": [], "c": []}, prune=False, kustomizations={
        "a": {"prune": True}, "b": {"suspend": True, "targetNamespace": "moved"},
        "c": {"sourceRef": {"kind": "OCIRepository", "name": "other"}}})
    found = diff_renders({"dev": base}, {"dev": head}).dangers()
    assert {(obj_name, d.rule) for _, _, obj_name, d in found} == {
        ("Kustomization/flux-system/a", "diff/prune-enabled"),
        ("Kustomization/flux-system/b", "diff/suspended"),
        ("Kustomization/flux-system/b", "diff/target-namespace"),
        ("Kustomization/flux-system/c", "diff/source-changed")}


def test_removed_kustomization_crd_and_namespace_under_prune() -> None:
    crd = obj("CustomResourceDefinition", "widgets.example.com", "", "apiextensions.k8s.io/v1", spec={})
    namespace = obj("Namespace", "apps", "")
    base = render({"crds": [crd, namespace], "gone": [obj("ConfigMap", "c")]})
    head = render({"crds": []})
    result = diff_renders({"dev": base}, {"dev": head})
    rules = {(k, o, d.rule) for _, k, o, d in result.dangers()}
    assert rules == {("flux-system/crds", "CustomResourceDefinition/widgets.example.com", "diff/crd-removed"),
                     ("flux-system/crds", "Namespace/apps", "diff/namespace-removed"),
                     ("flux-system/gone", "", "diff/kustomization-removed")}
    [gone] = [k for c in result.clusters for k in c.kustomizations if k.name == "flux-system/gone"]
    assert gone.change == Change.REMOVED and "deleted" in gone.dangers[0].message


def test_removed_crd_without_prune_is_left_in_the_cluster() -> None:
    crd = obj("CustomResourceDefinition", "widgets.example.com", "", "apiextensions.k8s.io/v1", spec={})
    [(*_, danger)] = diff_renders({"dev": render({"crds": [crd]}, prune=False)},
                                  {"dev": render({"crds": []}, prune=False)}).dangers()
    assert danger.rule == "diff/crd-removed" and "left in the cluster" in danger.message


def test_helm_release_values_come_from_the_resolved_values() -> None:
    release = obj("HelmRelease", "web", api="helm.toolkit.fluxcd.io/v2",
                  spec={"chart": {"spec": {"chart": "web"}}, "valuesFrom": [{"kind": "ConfigMap", "name": "v"}]})
    base, head = render({"a": [release]}), render({"a": [copy.deepcopy(release)]})
    key = NamespacedName("apps", "web")
    base.helm_releases[key] = HelmReleaseInfo(key, "dev", "flux-system/a", release, values={"replicas": 1})
    head.helm_releases[key] = HelmReleaseInfo(key, "dev", "flux-system/a", release, values={"replicas": 2})
    [cluster] = diff_renders({"dev": base}, {"dev": head}).clusters
    [[item]] = [k.objects for k in cluster.kustomizations]
    assert [(f.path, f.before, f.after) for f in item.fields] == [("values.replicas", 1, 2)]


def test_secret_data_is_never_in_any_format() -> None:
    secret = obj("Secret", "token", stringData={"password": "hunter2-old"}, data={"key": "b2xkLXNlY3JldA=="})
    sops = obj("ConfigMap", "sealed", data={"value": "ENC[AES256_GCM,data:oldcipher]"})
    changed_secret = obj("Secret", "token", stringData={"password": "hunter2-new"}, data={"key": "bmV3LXNlY3JldA=="})
    changed_sops = obj("ConfigMap", "sealed", data={"value": "ENC[AES256_GCM,data:newcipher]"})
    result = diff_renders({"dev": render({"a": [secret, sops]}, encrypted=("sealed",))},
                          {"dev": render({"a": [changed_secret, changed_sops]}, encrypted=("sealed",))})
    outputs = [diff_output.as_json(result), diff_output.markdown(result), diff_output.as_html(result),
               "\n".join(line for line, _ in diff_output.text_lines(result))]
    for text in outputs:
        for value in ("hunter2", "b2xk", "bmV3", "oldcipher", "newcipher"):
            assert value not in text
    assert SECRET_DATA_CHANGED in outputs[1] and "stringData.password" in outputs[1]
    schema = json.loads(DIFF_SCHEMA.read_text(encoding="utf-8"))
    assert not list(jsonschema.Draft202012Validator(schema).iter_errors(json.loads(outputs[0])))
    fields = json.loads(outputs[0])["clusters"][0]["kustomizations"][0]["objects"]
    assert all(f["secret"] and "before" not in f and "after" not in f for o in fields for f in o["fields"])


def test_markdown_stays_under_the_github_limit_with_a_truncation_note() -> None:
    many = {f"app-{index}": [obj("ConfigMap", f"c{n}", data={"v": "x" * 300}) for n in range(30)]
            for index in range(60)}
    changed = {name: [obj("ConfigMap", f"c{n}", data={"v": "y" * 300}) for n in range(30)] for name in many}
    result = diff_renders({"dev": render(many)}, {"dev": render(changed)})
    full = len(diff_output.as_html(result))
    assert full > diff_output.GITHUB_COMMENT_LIMIT  # the whole diff would not fit
    text = diff_output.markdown(result)
    assert len(text) <= diff_output.DEFAULT_MARKDOWN_LIMIT < diff_output.GITHUB_COMMENT_LIMIT
    assert "**Truncated**" in text and text.count("<details") == text.count("</details>")
    small = diff_output.markdown(result, limit=5000)
    assert len(small) <= 5000 and "**Truncated**" in small


def test_an_object_moving_between_kustomizations_is_no_deletion() -> None:
    crd = obj("CustomResourceDefinition", "widgets.example.com", "", "apiextensions.k8s.io/v1", spec={})
    result = diff_renders({"dev": render({"old": [crd], "new": []})}, {"dev": render({"old": [], "new": [crd]})})
    assert result.dangers() == []
    moves = {(k.name, o.change, o.moved) for c in result.clusters for k in c.kustomizations for o in k.objects}
    assert moves == {("flux-system/old", Change.REMOVED, "flux-system/new"),
                     ("flux-system/new", Change.ADDED, "flux-system/old")}
    assert "(moved to flux-system/new)" in diff_output.markdown(result)
