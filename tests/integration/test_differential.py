"""Differential tests: the engine against the real Flux CLI and kubeconform (built from tools/go.mod).

For every Kustomization the engine renders (fixture repositories of tests/fixtures/engine and the
reference platform), `flux build kustomization NAME --path ... --kustomization-file ... --dry-run`
must produce the same objects, modulo ordering, the owner labels flux adds and the SOPS data it
masks. `--dry-run` never reads substituteFrom from a cluster, so the variables the engine resolved
are handed to flux inline (postBuild.substitute): what is compared is the kustomize build and the
substitution, given the same variables. Schema verdicts are compared with kubeconform fed the same
schemas (the built-in kinds exported from kubernetes-validate, the shared CRD catalog).
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from greenfield.adapters.upstream import FluxBuild, Kubeconform, normalise, object_key
from greenfield.app.inventory import load_inventory
from greenfield.core.scope import ScopeIndex, drop_cluster_scoped_namespace, is_crd
from greenfield.errors import CommandError

pytestmark = pytest.mark.integration

render = pytest.importorskip("greenfield.app.render", reason="the engine (greenfield.app.render) is not present")
engine_fixtures = pytest.importorskip("tests.engine.conftest", reason="the engine fixture repositories are absent")

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "engine"


IN_CLUSTER_REASONS = {"not-built", "parent-failed", "external-source", "substitute-from-missing"}


def _repositories() -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = [("basic", {}), ("multi", {}), ("reference", {}),
                                               ("foreign", {"cluster_paths": ["clusters/production"],
                                                            "substitute_from": [FIXTURES / "foreign-vars.yaml"]})]
    cases += [(f"scenario:{name}", {}) for name in engine_fixtures.scenario_names()]
    return cases


def _make(tmp: Path, name: str) -> Path:
    if name == "reference":
        repo = tmp / "reference"
        repo.mkdir(parents=True)
        shutil.copy(REPO / "platform.yaml", repo / "platform.yaml")
        shutil.copytree(REPO / "kubernetes", repo / "kubernetes")
        return repo
    if name.startswith("scenario:"):
        return engine_fixtures.make_repo(tmp, name.split(":", 1)[1])
    repo = tmp / name
    shutil.copytree(FIXTURES / name, repo)
    return repo


def _render(repo: Path, options: dict[str, Any], cache: Path) -> dict[str, Any]:
    inventory = load_inventory(repo / "platform.yaml") if (repo / "platform.yaml").is_file() else None
    targets = render.select_clusters(repo, inventory, [], options.get("cluster_paths", []))
    result = render.render_repository(repo, targets, render.RenderOptions(
        cluster_paths=options.get("cluster_paths", []), substitute_from=options.get("substitute_from", []),
        cache_dir=cache, use_cache=False))
    return dict(result.renders)


def _reproduction(flux: FluxBuild, node: Any, repo: Path, file: Path) -> str:
    command = flux.command(node.key.name, node.key.namespace, repo / node.path, file)
    return " ".join(command.argv)


def _compare_cluster(flux: FluxBuild, cluster: str, cluster_render: Any, repo_copy: Path, scratch: Path,
                     built_only: bool = False) -> tuple[list[str], int]:
    """Disagreements (with reproductions) and the number of Kustomizations compared. With `built_only`, only the
    Kustomizations the engine built (a corpus repository whose sources or bootstrap objects are not all known)."""
    problems: list[str] = []
    compared = 0
    # the API server drops the namespace kustomize stamps on cluster-scoped objects; the engine applies the same
    scopes = ScopeIndex().with_crds(o.body for o in cluster_render.objects if is_crd(o.body))
    for node in cluster_render.ordered_kustomizations():
        if node.synthetic or (not node.built and not node.error) or (built_only and not node.built):
            continue  # a stand-in root, or a source that is not in the repository: nothing to build
        path = repo_copy / node.path
        file = flux.kustomization_file(node.body, node.substitutions, scratch)
        repro = _reproduction(flux, node, repo_copy, file)
        compared += 1
        try:
            theirs = flux.build(node.body, node.substitutions, path, scratch)
        except CommandError as error:
            if node.built and not node.notes:  # a note is the engine reporting the same problem
                problems.append(f"{cluster} {node.key}: flux build failed but the engine built it: "
                                f"{error.problem}\n    repro: {repro}")
            continue
        if not node.built and {note.kind for note in node.notes} & IN_CLUSTER_REASONS:
            continue  # flux build has no cluster: it builds what Flux would not (parent failed, foreign source, ...)
        if not node.built:
            problems.append(f"{cluster} {node.key}: the engine failed ({node.error}) but flux built it\n"
                            f"    repro: {repro}")
            continue
        for body in theirs:
            drop_cluster_scoped_namespace(body, scopes)
        ours = {object_key(o.body): normalise(o.body) for o in node.objects if not o.chart}
        upstream = {object_key(o): normalise(o) for o in theirs}
        for key in sorted(set(ours) | set(upstream)):
            if ours.get(key) != upstream.get(key):
                problems.append(f"{cluster} {node.key}: {'/'.join(key)} differs\n"
                                f"    engine: {json.dumps(ours.get(key), sort_keys=True)[:400]}\n"
                                f"    flux:   {json.dumps(upstream.get(key), sort_keys=True)[:400]}\n"
                                f"    repro: {repro}")
    return problems, compared


def test_known_origin_annotations(flux: FluxBuild, tmp_path: Path) -> None:
    """Minimal reproduction: a folder whose kustomization.yaml only lists a component (Flux then sets
    buildMetadata: [originAnnotations], so its objects keep config.kubernetes.io/origin; the engine too)."""
    repo = tmp_path / "repo"
    (repo / "components" / "cm").mkdir(parents=True)
    (repo / "components" / "cm" / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [configmap.yaml]\n",
        encoding="utf-8")
    (repo / "components" / "cm" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  a: b\n",
        encoding="utf-8")
    (repo / "app").mkdir()
    (repo / "app" / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\ncomponents: [../components/cm]\n",
        encoding="utf-8")
    (repo / "clusters" / "dev").mkdir(parents=True)
    (repo / "clusters" / "dev" / "app.yaml").write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: app\n"
        "  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./app\n  prune: true\n"
        "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n", encoding="utf-8")
    renders = _render(repo, {"cluster_paths": ["clusters/dev"]}, tmp_path / "cache")
    node = next(n for r in renders.values() for n in r.kustomizations.values() if n.key.name == "app")
    copy = tmp_path / "flux"
    shutil.copytree(repo, copy)
    upstream = flux.build(node.body, node.substitutions, copy / "app", tmp_path / "ks")
    assert [normalise(o.body) for o in node.objects] == [normalise(o) for o in upstream]


@pytest.fixture(scope="module")
def flux(upstream_tools) -> FluxBuild:  # type: ignore[no-untyped-def]
    upstream_tools.ensure(["flux"])
    return FluxBuild(upstream_tools.binary("flux"))


@pytest.mark.parametrize(("name", "options"), _repositories(), ids=[c[0] for c in _repositories()])
def test_engine_output_equals_flux_build(name: str, options: dict[str, Any], flux: FluxBuild,
                                         tmp_path: Path) -> None:
    repo = _make(tmp_path / "engine", name)
    renders = _render(repo, options, tmp_path / "cache")
    assert renders, f"{name}: nothing rendered"

    def one(item: tuple[str, Any]) -> tuple[list[str], int]:
        cluster, cluster_render = item
        # flux build writes a kustomization.yaml into folders that lack one: one private copy per cluster
        copy = tmp_path / "flux" / cluster
        shutil.copytree(repo, copy)
        return _compare_cluster(flux, cluster, cluster_render, copy, tmp_path / "ks" / cluster)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, sorted(renders.items())))
    problems = [p for found, _n in results for p in found]
    assert sum(n for _p, n in results) > 0, f"{name}: no Kustomization was compared"
    assert problems == [], "\n".join(problems)


# --- the same comparison on real repositories of the shared corpus ----------------------------------------------
CORPUS = REPO.parent / "shared" / "corpus"
# repositories whose Kustomizations the engine builds today (others wait for their bootstrap-created sources)
CORPUS_REPOSITORIES = {
    "fluxcd__flux2-hub-spoke-example": ["hub"],
    "fluxcd__flux2-multi-tenancy": ["clusters/staging"],
    "rcdailey__home-ops": ["kubernetes/flux/cluster"],
    "toboshii__home-ops": ["cluster/flux"],
    "billimek__k8s-gitops": ["setup/flux/cluster"],
}


@pytest.mark.corpus
@pytest.mark.parametrize("name", sorted(CORPUS_REPOSITORIES))
def test_engine_output_equals_flux_build_on_corpus_repositories(name: str, flux: FluxBuild, tmp_path: Path) -> None:
    source = CORPUS / "repos" / name
    assert source.is_dir(), f"the shared corpus is missing at {CORPUS}"
    repo = tmp_path / "engine" / "repo"
    shutil.copytree(source, repo, symlinks=True)
    renders = _render(repo, {"cluster_paths": CORPUS_REPOSITORIES[name]}, tmp_path / "cache")
    problems, compared = [], 0
    for cluster, cluster_render in sorted(renders.items()):
        copy = tmp_path / "flux" / cluster
        shutil.copytree(repo, copy, symlinks=True)
        found, count = _compare_cluster(flux, cluster, cluster_render, copy, tmp_path / "ks" / cluster,
                                        built_only=True)
        problems += found
        compared += count
    assert compared > 0, f"{name}: no Kustomization was built to compare"
    assert problems == [], "\n".join(problems)


# --- schema verdicts: the engine's validator vs kubeconform over the same schemas ----------------------------
KUBERNETES_VERSION = "1.34.1"


@pytest.fixture(scope="module")
def kubeconform_setup(upstream_tools, crd_schema_dir: Path, tmp_path_factory: pytest.TempPathFactory
                      ) -> tuple[Kubeconform, list[str]]:  # type: ignore[no-untyped-def]
    schemas = pytest.importorskip("greenfield.adapters.schemas", reason="the schema store is not present")
    upstream_tools.ensure(["kubeconform"])
    exported = tmp_path_factory.mktemp("kubeconform-builtin")
    schemas.export_standalone(schemas.BuiltinSchemas(KUBERNETES_VERSION), exported)
    locations = [f"{exported}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
                 f"{crd_schema_dir}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json"]
    return Kubeconform(upstream_tools.binary("kubeconform")), locations


@pytest.mark.parametrize("name", ["basic", "multi", "reference"])
def test_schema_verdicts_agree_with_kubeconform(name: str, kubeconform_setup: tuple[Kubeconform, list[str]],
                                                crd_schema_dir: Path, tmp_path: Path) -> None:
    from greenfield.adapters.schemas import build_schema_validator

    kubeconform, locations = kubeconform_setup
    repo = _make(tmp_path / "engine", name)
    renders = _render(repo, {}, tmp_path / "cache")
    problems: list[str] = []
    compared = 0
    for cluster, cluster_render in sorted(renders.items()):
        objects = [o for o in cluster_render.objects if "sops" not in o.body]
        validator = build_schema_validator(KUBERNETES_VERSION, [str(crd_schema_dir)], tmp_path / "schema-cache", [])
        verdicts = kubeconform.validate([o.body for o in objects], KUBERNETES_VERSION, locations,
                                        tmp_path / "kubeconform" / cluster)  # one file per object, in order
        scratch = tmp_path / "kubeconform" / cluster
        for index, (obj, verdict) in enumerate(zip(objects, verdicts, strict=True)):
            ours = validator.errors(obj.body)
            if not isinstance(ours, list) or verdict.status in ("skipped", "error", "empty"):
                continue  # one side has no schema for it: no verdict to compare
            compared += 1
            engine_valid, upstream_valid = not ours, verdict.status == "valid"
            if engine_valid != upstream_valid:
                repro = kubeconform.command([scratch / f"{index:05d}.yaml"], KUBERNETES_VERSION, locations)
                problems.append(
                    f"{cluster} {obj.id} ({obj.file}): engine {'valid' if engine_valid else 'invalid'} "
                    f"{[e.message for e in ours][:3]}, kubeconform {verdict.status} {list(verdict.messages)[:3]}\n"
                    f"    repro: {repro.describe()}")
    assert compared > 0
    assert problems == [], "\n".join(problems)
