"""`greenfield mirror`'s cluster-root patch, checked by rendering: the reference platform with the patch on
its root Kustomization (what bootstrap applies; git unchanged) has every mirrored chart source pointing at the
mirror, through the two Kustomization levels between the root and the sources, and nothing else changed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import copy_platform_yaml

from greenfield.adapters.charts import chart_metadata
from greenfield.app.mirror import packaged_charts, patch_document, render_clusters, write_patch
from greenfield.core.mirror import plan_mirror
from greenfield.core.model import ClusterRender, RenderedObject

MIRROR = "127.0.0.1:5000/charts"
SOURCES = ("OCIRepository", "HelmRepository")


@pytest.fixture(scope="module")
def charts(repo_root: Path) -> set[str]:
    folder = repo_root.parent / "shared" / "charts"
    if not folder.is_dir():
        pytest.fail(f"the shared chart folder is missing: {folder}")
    return {str(chart_metadata(path)["name"]) for path in packaged_charts([folder])}


def _copy_platform(repo_root: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    copy_platform_yaml(repo_root, target)  # its chart folders stay where they are
    for item in ("kubernetes", "bootstrap", "plan"):
        source = repo_root / item
        if source.is_dir():
            shutil.copytree(source, target / item)
        elif source.is_file():
            shutil.copy(source, target / item)
    return target


def _with_root_patch(repo: Path, cluster: str, patch: dict[str, Any]) -> None:
    """What the cluster has after bootstrap applied the patch: the root Kustomization with its spec.patches."""
    sync = repo / "kubernetes" / "clusters" / cluster / "flux-system" / "sync.yaml"
    documents = [d for d in yaml.safe_load_all(sync.read_text(encoding="utf-8")) if d]
    for document in documents:
        if document["kind"] == "Kustomization" and document["metadata"]["name"] == patch["metadata"]["name"]:
            document["spec"]["patches"] = patch["spec"]["patches"]
    sync.write_text(yaml.safe_dump_all(documents, sort_keys=False), encoding="utf-8")


def _sources(render: ClusterRender) -> dict[str, RenderedObject]:
    return {f"{o.kind} {o.namespace}/{o.name}": o for o in render.objects
            if o.kind in SOURCES and o.api_version.startswith("source.toolkit.fluxcd.io/")}


@pytest.mark.parametrize("cluster", ["infra", "apps"])
def test_the_root_patch_points_every_mirrored_chart_source_at_the_mirror(
        cluster: str, repo_root: Path, charts: set[str], tmp_path: Path) -> None:
    before = render_clusters(repo_root, [cluster], [])[cluster]
    plan = plan_mirror(before, MIRROR, charts)
    assert plan.root is not None and str(plan.root) == "flux-system/flux-system"
    assert plan.rewrites
    write_patch(tmp_path / "out" / f"{cluster}.yaml", before, plan)
    [written] = [d for d in yaml.safe_load_all((tmp_path / "out" / f"{cluster}.yaml").read_text()) if d]
    assert written == patch_document(before, plan)

    repo = _copy_platform(repo_root, tmp_path / "repo")
    _with_root_patch(repo, cluster, written)
    after = render_clusters(repo, [cluster], [])[cluster]

    old, new = _sources(before), _sources(after)
    assert set(old) == set(new)
    rewritten = {f"{r.kind} {r.namespace}/{r.name}" for r in plan.rewrites}
    for key, source in new.items():
        url = str(old[key].spec["url"])
        if key not in rewritten:
            assert source.body == old[key].body, key  # a chart the mirror lacks: left exactly as it was
            continue
        if source.kind == "OCIRepository":
            assert source.spec["url"] == f"oci://{MIRROR}/{url.rsplit('/', 1)[-1]}", key
            assert source.spec["ref"] == old[key].spec["ref"]  # the pinned tag stays
            assert source.spec["provider"] == "generic"
        else:
            assert source.spec["url"] == f"oci://{MIRROR}" and source.spec["type"] == "oci", key
        assert source.spec["insecure"] is True
        assert "secretRef" not in source.spec and "verify" not in source.spec
    # every OCIRepository whose chart is in the mirror was reached, however deep it sits
    assert {k for k, o in old.items() if o.kind == "OCIRepository"
            and str(o.spec["url"]).rsplit("/", 1)[-1] in charts} <= rewritten
    # nothing but the sources changed: same objects, same HelmReleases
    assert {str(o.id) for o in before.objects} == {str(o.id) for o in after.objects}
    for key, release in before.helm_releases.items():
        assert after.helm_releases[key].body["spec"] == release.body["spec"]
    # the Kustomizations keep their own patches (the layer's HelmRelease defaults) and gain the mirror's
    for key, node in before.kustomizations.items():
        own = node.spec.get("patches") or []
        assert (after.kustomizations[key].spec.get("patches") or [])[:len(own)] == own, key


def test_a_helm_repository_with_a_chart_the_mirror_lacks_is_left_alone(repo_root: Path, charts: set[str]) -> None:
    render = render_clusters(repo_root, ["infra"], [])["infra"]
    plan = plan_mirror(render, MIRROR, charts - {"harbor"})
    assert any(line.startswith("HelmRepository ") and "harbor not in the mirror" in line for line in plan.unmirrored)
    assert not any(r.kind == "HelmRepository" and r.name == "harbor" for r in plan.rewrites)
    assert plan_mirror(render, MIRROR, set()).root_patches == []
