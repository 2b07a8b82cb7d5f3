"""What helm-controller does with a chart's output beyond `helm template`: lists flattened, crds/ files applied
outside the release, install-time generated Secrets, the cluster's API versions as capabilities, and a chart
folder that does not exist."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from tests.engine.conftest import run
from tests.engine.test_charts import HELLO, chart_objects, chart_repo, helm  # noqa: F401 (fixture)

from greenfield.adapters.charts import _is_chart_crd, split_manifests
from greenfield.core.chart_templates import generating_templates, uses_capabilities
from greenfield.core.engine import ChartOutput, ChartRequest, EngineOptions, api_versions, render_cluster
from greenfield.core.model import ClusterRender, KustomizationNode, NamespacedName, RenderedObject
from greenfield.core.rules import run_rules
from greenfield.core.rules.base import RuleContext
from greenfield.errors import InputError

CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "widgets.example.com"},
       "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}, "scope": "Namespaced",
                "versions": [{"name": "v1", "served": True, "storage": True,
                              "schema": {"openAPIV3Schema": {"type": "object"}}},
                             {"name": "v0", "served": False, "storage": False}]}}


def test_list_documents_are_flattened_like_helm_and_kustomize() -> None:
    text = """---
# Source: op/templates/configmaps.yaml
apiVersion: v1
kind: ConfigMapList
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: a}
  - apiVersion: v1
    kind: List
    items:
      - {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}
---
# Source: op/templates/role.yaml
apiVersion: v1
kind: ServiceAccount
metadata: {name: op}
"""
    documents, sources = split_manifests(text)
    assert [d["metadata"]["name"] for d in documents] == ["a", "b", "op"]
    assert sources == ["op/templates/configmaps.yaml"] * 2 + ["op/templates/role.yaml"]


def test_crds_folders_of_the_chart_and_its_subcharts() -> None:
    assert _is_chart_crd("cert-manager/crds/a.yaml")
    assert _is_chart_crd("gitlab/charts/certmanager/crds/b.yaml")
    assert not _is_chart_crd("cert-manager/templates/crds/c.yaml")  # a template, part of the release


def test_generating_templates_follow_named_templates() -> None:
    files = {
        "templates/_helpers.tpl": '{{- define "x.ca" }}{{- $ca := genCA "x" 365 -}}{{- end }}\n'
                                  '{{- define "x.name" }}x{{- end }}\n'
                                  '{{- define "x.setup" }}{{ include "x.ca" . }}{{- end }}',
        "templates/tls.yaml": '{{- $_ := include "x.setup" . }}kind: Secret',
        "templates/token.yaml": "password: {{ randAlphaNum 16 | b64enc }}",
        "templates/plain.yaml": '{{ include "x.name" . }}: {{ .Values.a | b64enc }}',
    }
    assert generating_templates(files) >= {"templates/tls.yaml", "templates/token.yaml"}
    assert "templates/plain.yaml" not in generating_templates(files)
    assert not uses_capabilities(files)
    assert uses_capabilities({"templates/pdb.yaml": '{{ if .Capabilities.APIVersions.Has "policy/v1" }}'})


def test_api_versions_of_served_crd_versions() -> None:
    assert api_versions(["v1", "v1/Pod"], [CRD, {"kind": "ConfigMap"}]) == (
        "example.com/v1", "example.com/v1/Widget", "v1", "v1/Pod")


# -- the engine's side, with a fake renderer -------------------------------------------------------------

class CapabilityCharts:
    """Renders a CRD for the local chart; a ConfigMap when helm is told the CRD's kind is served."""

    def __init__(self) -> None:
        self.requests: list[ChartRequest] = []

    def render_many(self, requests: Sequence[ChartRequest]) -> list[ChartOutput]:
        self.requests.extend(requests)
        outputs = []
        for request in requests:
            if not request.local_path:
                outputs.append(ChartOutput(found=False))
                continue
            documents = [CRD]
            if "example.com/v1/Widget" in request.api_versions:
                documents.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "widget-on"}})
            outputs.append(ChartOutput(found=True, documents=documents, file="charts/hello",
                                       sources=["charts/hello/crds/widget.yaml", "charts/hello/templates/w.yaml"],
                                       crds=[True, False], uses_capabilities=True))
        return outputs


def test_charts_get_the_cluster_api_versions_and_render_again_with_chart_crds(tmp_path: Path,
                                                                                 build_cache: Path) -> None:
    from greenfield.adapters.kustomize import Kustomizer

    repo = chart_repo(tmp_path)
    fake = CapabilityCharts()
    with Kustomizer(repo, build_cache) as kustomizer:
        render = render_cluster("dev", "kubernetes/clusters/dev", kustomizer,
                                EngineOptions(charts=fake, api_versions=("policy/v1", "policy/v1/PodDisruptionBudget")))
    first = next(r for r in fake.requests if r.local_path)
    assert "policy/v1/PodDisruptionBudget" in first.api_versions
    assert "example.com/v1/Widget" not in first.api_versions
    # the chart's own CRD is served once installed: the chart is templated again with it
    assert any("example.com/v1/Widget" in r.api_versions for r in fake.requests if r.local_path)
    node = render.kustomizations[NamespacedName("flux-system", "hello")]
    objects = {str(o.id): o for o in node.objects if o.chart}
    assert set(objects) == {"CustomResourceDefinition/widgets.example.com", "ConfigMap/hello/widget-on"}
    crd = objects["CustomResourceDefinition/widgets.example.com"]
    assert crd.chart_crd and crd.release == "hello/hello"
    assert not objects["ConfigMap/hello/widget-on"].chart_crd


def test_a_chart_folder_that_does_not_exist_is_an_error(tmp_path: Path, build_cache: Path) -> None:
    repo = chart_repo(tmp_path)
    with pytest.raises(InputError) as caught:
        run(repo, build_cache, chart_dirs=[tmp_path / "nowhere"])
    assert caught.value.render().startswith(f"{tmp_path / 'nowhere'}: chart folder not found")


# -- rules over chart-rendered objects ------------------------------------------------------------------

def _render(objects: list[RenderedObject]) -> dict[str, ClusterRender]:
    render = ClusterRender("infra", "kubernetes/clusters/infra")
    for obj in objects:
        key = NamespacedName(*obj.kustomization.split("/"))
        render.kustomizations.setdefault(key, KustomizationNode(key, "infra", "x", {}, None, built=True))
        render.kustomizations[key].objects.append(obj)
    return {"infra": render}


def _findings(rule: str, objects: list[RenderedObject]) -> list[str]:
    context = RuleContext(renders=_render(objects), inventory=None, settings={}, options={})
    return [f.message for f in run_rules(context, only=[rule]) if f.rule == rule]


def test_the_same_crds_folder_crd_from_two_releases_is_not_a_duplicate() -> None:
    def crd(owner: str, body: dict, chart_crd: bool = True) -> RenderedObject:
        return RenderedObject(body, "infra", owner, "chart.tgz", chart="external-dns-1.19.0",
                              release=f"{owner.split('/')[1]}/external-dns", chart_crd=chart_crd)

    pair = [crd("flux-system/a", CRD), crd("flux-system/b", CRD)]
    assert _findings("build/duplicate-object", pair) == []
    changed = {**CRD, "spec": {**CRD["spec"], "scope": "Cluster"}}  # another chart version: they do fight
    assert _findings("build/duplicate-object", [crd("flux-system/a", CRD), crd("flux-system/b", changed)])
    templated = [crd("flux-system/a", CRD, chart_crd=False), crd("flux-system/b", CRD, chart_crd=False)]
    assert _findings("build/duplicate-object", templated)  # templates are release objects: owned twice


def test_secrets_helm_generates_at_install_time_are_not_plaintext_in_git() -> None:
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hubble-server-certs", "namespace": "kube-system"},
            "data": {"tls.key": "eA=="}}
    generated = RenderedObject(body, "infra", "flux-system/cilium", "cilium.tgz", chart="cilium-1.18.2",
                               release="kube-system/cilium", install_generated=True)
    assert _findings("secrets/plaintext", [generated]) == []
    static = RenderedObject(body, "infra", "flux-system/cilium", "cilium.tgz", chart="cilium-1.18.2",
                            release="kube-system/cilium")
    assert _findings("secrets/plaintext", [static])


def test_a_release_own_crds_are_one_owner() -> None:
    from greenfield.core.model import HelmReleaseInfo

    crd = {**CRD, "metadata": {"name": "certificates.cert-manager.io"},
           "spec": {**CRD["spec"], "group": "cert-manager.io", "names": {"kind": "Certificate"}}}
    release = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": "cert-manager", "namespace": "cert-manager"},
               "spec": {"values": {"crds": {"enabled": True, "keep": True}}}}
    objects = [RenderedObject(release, "infra", "flux-system/cert-manager", "hr.yaml"),
               RenderedObject(crd, "infra", "flux-system/cert-manager", "cm.tgz", chart="cert-manager-v1.19.1",
                              release="cert-manager/cert-manager")]
    renders = _render(objects)
    key = NamespacedName("cert-manager", "cert-manager")
    renders["infra"].helm_releases[key] = HelmReleaseInfo(
        key, "infra", "flux-system/cert-manager", release, chart="cert-manager", values=release["spec"]["values"])
    context = RuleContext(renders=renders, inventory=None, settings={}, options={"house_rules": True})  # a story rule
    assert [f for f in run_rules(context, only=["story/crd-single-owner"])] == []
    in_git = RenderedObject(crd, "infra", "flux-system/cert-manager-crds", "crds.yaml")
    renders["infra"].kustomizations[NamespacedName("flux-system", "cert-manager")].objects.append(in_git)
    [item] = run_rules(context, only=["story/crd-single-owner"])
    assert "2 owners" in item.message


# -- with the pinned helm ------------------------------------------------------------------------------------

CAPABLE_TEMPLATES = {
    "templates/pdb.yaml": """{{- if .Capabilities.APIVersions.Has "policy/v1/PodDisruptionBudget" }}
apiVersion: policy/v1
{{- else }}
apiVersion: policy/v1beta1
{{- end }}
kind: PodDisruptionBudget
metadata:
  name: {{ .Release.Name }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: hello
""",
    "templates/widget.yaml": """{{- if .Capabilities.APIVersions.Has "example.com/v1/Widget" }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: widget-on
{{- end }}
""",
    "templates/tls.yaml": """{{- $ca := genCA "hello-ca" 365 }}
apiVersion: v1
kind: Secret
metadata:
  name: hello-tls
type: kubernetes.io/tls
data:
  tls.crt: {{ $ca.Cert | b64enc }}
  tls.key: {{ $ca.Key | b64enc }}
""",
    "templates/list.yaml": """apiVersion: v1
kind: ConfigMapList
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: listed
""",
}


@pytest.mark.integration
@pytest.mark.usefixtures("helm")
def test_real_chart_output_as_helm_controller_applies_it(tmp_path: Path, build_cache: Path) -> None:
    import yaml

    repo = chart_repo(tmp_path)
    chart = repo / "charts/hello"
    for name, text in CAPABLE_TEMPLATES.items():
        (chart / name).write_text(text, encoding="utf-8")
    (chart / "crds").mkdir()
    (chart / "crds/widget.yaml").write_text(yaml.safe_dump(CRD), encoding="utf-8")
    report = run(repo, build_cache)
    assert report.renders["dev"].helm_releases[HELLO].rendered
    objects = chart_objects(report)
    assert objects["PodDisruptionBudget/hello/hello"].api_version == "policy/v1"  # kind-qualified capabilities
    assert "ConfigMap/hello/widget-on" in objects  # the chart's own CRD is served on the second pass
    assert objects["CustomResourceDefinition/widgets.example.com"].chart_crd
    assert objects["Secret/hello/hello-tls"].install_generated
    assert "ConfigMap/hello/listed" in objects and not any("List" in key for key in objects)
    assert not [f for f in report.findings if f.rule in ("secrets/plaintext", "build/duplicate-object")]
    again = run(repo, build_cache)  # cached by content: the same objects
    assert set(chart_objects(again)) == set(objects)


# -- chart folders are configuration --------------------------------------------------------------------

def test_chart_folders_come_from_platform_yaml_relative_to_it(tmp_path: Path, repo_root: Path) -> None:
    import yaml

    from greenfield.app.validate import ValidateOptions, chart_folders
    from greenfield.core.inventory import parse_inventory

    data = yaml.safe_load((repo_root / "platform.yaml").read_text(encoding="utf-8"))
    data["charts"] = ["../charts", {"path": "../charts/approximate", "approximate": True}]
    inventory, problems = parse_inventory(data)
    assert inventory is not None and not [p for p in problems if p.severity == "error"]
    repo = tmp_path / "repo"
    assert chart_folders(repo, inventory, ValidateOptions()) == (
        [tmp_path / "charts", tmp_path / "charts/approximate"], [tmp_path / "charts/approximate"])
    given = ValidateOptions(chart_dirs=[tmp_path / "mine"])  # --chart-dir wins over the configuration
    assert chart_folders(repo, inventory, given) == ([tmp_path / "mine"], [])
    assert chart_folders(repo, inventory, ValidateOptions(configured_charts=False)) == ([], [])
    _, wrong = parse_inventory({**data, "charts": [{"path": "x", "aproximate": True}]})
    assert any("aproximate" in p.field for p in wrong)


def test_the_reference_platform_names_the_shared_charts(repo_root: Path) -> None:
    from greenfield.app.inventory import load_inventory

    inventory = load_inventory(repo_root / "platform.yaml")
    assert [folder.path for folder in inventory.chart_folders()] == ["../shared/charts", "../shared/charts/approximate"]


def test_chart_status_names_what_was_rendered_and_what_was_not() -> None:
    from greenfield.core.model import HelmReleaseInfo, chart_status

    render = ClusterRender("infra", "kubernetes/clusters/infra")
    for name, version, rendered, approximate, found in (("cilium", "1.18.2", True, False, True),
                                                       ("gitlab", "9.5.0", True, True, True),
                                                       ("gitlab-runner", "0.82.0", False, False, False)):
        key = NamespacedName(name, name)
        render.helm_releases[key] = HelmReleaseInfo(key, "infra", "flux-system/x", {}, chart=name, version=version,
                                                    rendered=rendered, chart_approximate=approximate,
                                                    chart_file=f"{name}.tgz" if found else "")
    status = chart_status({"infra": render, "apps": render})
    assert status.line() == ("4/6 HelmRelease chart(s) rendered (2 chart(s)), approximate: gitlab 9.5.0, "
                             "not available offline: gitlab-runner 0.82.0")


# -- lookup: what helm-controller finds in the cluster at install time ---------------------------------------

def test_lookup_calls_are_answered_by_a_named_template() -> None:
    from greenfield.core.chart_templates import rewrite_lookups

    text = ('{{- (lookup "v1" "Secret" .Release.Namespace (.Values.redis.existingSecret)).data.PW | b64dec }}\n'
            '{{- with lookup "v1" "Secret" (include "x.ns" .) "certs" }}x{{ end }}\n'
            '{{/* a lookup in a comment stays */}}\n{{ .Values.lookup }}\n')
    assert rewrite_lookups(text) == (
        '{{- ((fromYaml (include "greenfield.lookup" (list "v1" "Secret" .Release.Namespace '
        '(.Values.redis.existingSecret))))).data.PW | b64dec }}\n'
        '{{- with (fromYaml (include "greenfield.lookup" (list "v1" "Secret" (include "x.ns" .) "certs"))) }}x'
        '{{ end }}\n{{/* a lookup in a comment stays */}}\n{{ .Values.lookup }}\n')


LOOKUP_TEMPLATE = """{{- $secret := lookup "v1" "Secret" .Release.Namespace "hello-creds" }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: looked-up
data:
  found: {{ hasKey (($secret).data | default dict) "password" | quote }}
"""
EXTERNAL_SECRET = """---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: hello-creds
spec:
  secretStoreRef: {kind: ClusterSecretStore, name: store}
  target: {name: hello-creds}
  data:
    - secretKey: password
      remoteRef: {key: hello, property: password}
"""
SECRETS_KS = """---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: hello-secrets
  namespace: flux-system
spec:
  interval: 1h
  path: ./kubernetes/apps/hello/secrets
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  targetNamespace: hello
"""


@pytest.mark.integration
@pytest.mark.usefixtures("helm")
def test_lookup_finds_what_the_release_dependencies_applied(tmp_path: Path, build_cache: Path) -> None:
    repo = chart_repo(tmp_path)
    (repo / "charts/hello/templates/lookup.yaml").write_text(LOOKUP_TEMPLATE, encoding="utf-8")
    app = repo / "kubernetes/apps/hello"
    # the ExternalSecret next to the HelmRelease: applied together, the Secret is not there at install
    (app / "app/externalsecret.yaml").write_text(EXTERNAL_SECRET, encoding="utf-8")
    kustomization = app / "app/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - ./externalsecret.yaml\n", encoding="utf-8")
    report = run(repo, build_cache)
    assert chart_objects(report)["ConfigMap/hello/looked-up"].body["data"] == {"found": "false"}
    # in a Kustomization the HelmRelease's depends on: ready (and the Secret made) before the install
    kustomization.write_text(kustomization.read_text().replace("  - ./externalsecret.yaml\n", ""), encoding="utf-8")
    (app / "secrets").mkdir()
    (app / "app/externalsecret.yaml").rename(app / "secrets/externalsecret.yaml")
    (app / "secrets/kustomization.yaml").write_text("resources:\n  - ./externalsecret.yaml\n", encoding="utf-8")
    (app / "ks.yaml").write_text((app / "ks.yaml").read_text().replace(
        "  interval: 1h\n", "  dependsOn:\n    - name: hello-secrets\n  interval: 1h\n", 1) + SECRETS_KS,
        encoding="utf-8")
    report = run(repo, build_cache)
    assert chart_objects(report)["ConfigMap/hello/looked-up"].body["data"] == {"found": "true"}


def test_a_chart_workload_carries_the_reviewed_reason_of_its_helmrelease() -> None:
    from greenfield.core.model import HelmReleaseInfo

    daemonset = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "spire-agent", "namespace": "spire"},
                 "spec": {"template": {"spec": {"hostPID": True, "containers": [{"name": "agent"}]}}}}
    release = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": "spire", "namespace": "spire"}, "spec": {}}
    renders = _render([RenderedObject(release, "infra", "flux-system/spire", "helmrelease.yaml"),
                       RenderedObject(daemonset, "infra", "flux-system/spire", "spire.tgz", chart="spire-0.27.0",
                                      release="spire/spire")])
    key = NamespacedName("spire", "spire")
    renders["infra"].helm_releases[key] = HelmReleaseInfo(key, "infra", "flux-system/spire", release, chart="spire")

    def findings() -> list[str]:
        context = RuleContext(renders=renders, inventory=None, settings={}, options={"house_rules": True})  # policy/privileged is a house rule
        return [f.message for f in run_rules(context, only=["policy/privileged"])]

    assert findings() == ["DaemonSet spire/spire-agent runs privileged in spire: hostPID"]
    release["metadata"]["annotations"] = {"greenfield/privileged-reason": "node attestation (reviewed)"}
    assert findings() == []


# -- values against the chart ------------------------------------------------------------------------------

def test_values_the_templates_read() -> None:
    from greenfield.core.chart_templates import WHOLE, unknown_values, values_reads

    reads = values_reads({"templates/a.yaml": '{{ .Values.a.b }} {{ index .Values "c-d" "e" }} {{ toYaml .Values.f }}'
                                              '{{ with .Values.g }}{{ .x }}{{ end }} {{ $.Values.h.i | quote }}'})
    assert reads == {("a", "b"), ("c-d", "e"), ("f",), ("g",), ("h", "i")}
    values = {"a": {"b": 1, "z": 2}, "c-d": {"e": 1, "q": 1}, "f": {"any": 1}, "g": {"h": 1}, "nope": 1,
              "free": {"x": 1}, "listed": {"y": 1}, "sub": {"k": 1, "l": 2}, "global": {"x": 1}}
    defaults = {"free": {}, "listed": {"y": 0, "w": 0}}
    assert unknown_values(values, reads, defaults, {"sub": ({("k",)}, {})}) == ["a.z", "c-d.q", "nope", "sub.l"]
    assert values_reads({"templates/b.yaml": "{{ toYaml .Values | nindent 2 }}"}) == {WHOLE}
    assert unknown_values(values, {WHOLE}, {}, {}) == []


@pytest.mark.integration
@pytest.mark.usefixtures("helm")
def test_unknown_values_keys_and_the_values_schema(tmp_path: Path, build_cache: Path) -> None:
    repo = chart_repo(tmp_path)
    release = repo / "kubernetes/apps/hello/app/helmrelease.yaml"
    release.write_text(release.read_text().replace("    replicaCount: 3\n", "    replicaCount: 3\n    replicaCuont: 2\n"),
                       encoding="utf-8")
    report = run(repo, build_cache)
    [item] = [f for f in report.findings if f.rule == "values/unknown-key"]
    assert item.severity == "warning" and item.object == "HelmRelease/hello/hello"
    assert item.message.startswith("values replicaCuont are not read by chart charts/hello")
    schema = {"$schema": "https://json-schema.org/draft-07/schema#", "type": "object",
              "properties": {"replicaCount": {"type": "integer", "maximum": 2}}}
    import json

    (repo / "charts/hello/values.schema.json").write_text(json.dumps(schema), encoding="utf-8")
    report = run(repo, build_cache)
    [item] = [f for f in report.findings if f.rule == "values/schema"]
    assert item.severity == "error" and "replicaCount" in item.message and "values.schema.json" in item.message
    assert not [f for f in report.findings if f.rule == "build/chart-template"]


def test_chart_rendered_crds_come_before_the_tree_s() -> None:
    from greenfield.core.schema_validation import crd_sources, derived_crds

    git = RenderedObject({**CRD, "spec": {**CRD["spec"], "scope": "Cluster"}}, "infra", "flux-system/crds", "crd.yaml")
    chart = RenderedObject(CRD, "infra", "flux-system/op", "op.tgz", chart="op-1.0.0", release="op/op")
    assert [(name, len(bodies)) for name, bodies in crd_sources([git, chart])] == [
        ("CRDs rendered by the pinned charts", 1), ("CRDs in the tree", 1)]
    assert derived_crds([git, chart])[0] is CRD  # the pinned operator's version wins
