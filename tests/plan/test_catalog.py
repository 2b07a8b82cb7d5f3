"""plan/stories.yaml: all 50 stories load; a malformed catalog is one clear load error."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from greenfield.core.plan.catalog import Catalog, DepKind, Kind, parse_catalog
from greenfield.errors import InputError


@pytest.fixture()
def raw(repo_root: Path) -> dict[str, Any]:
    return yaml.safe_load((repo_root / "plan" / "stories.yaml").read_text(encoding="utf-8"))


def _story(data: dict[str, Any], number: int) -> dict[str, Any]:
    return next(s for s in data["stories"] if s["number"] == number)


def _problems(data: dict[str, Any]) -> str:
    with pytest.raises(InputError) as caught:
        parse_catalog(data, "plan/stories.yaml", schedules=["v3", "gitops-first"])
    return caught.value.render()


def test_all_fifty_stories_load(catalog: Catalog) -> None:
    assert [s.number for s in catalog.stories] == list(range(1, 51))
    assert len({s.id for s in catalog.stories}) == 50
    assert catalog.story(1).id == "STORY-NET-CILIUM-CORE-GITOPS"
    assert catalog.story("STORY-BOOT-AUTOMATION-ALIGN").number == 50
    assert {s.kind for s in catalog.stories[:41]} == {Kind.MANIFEST}
    assert {s.kind for s in catalog.stories[41:]} == {Kind.RUNTIME}
    assert set(catalog.lanes) == {"infra", "apps", "cross-platform"}


def test_every_story_has_paths_gates_estimate_and_a_v3_sprint(catalog: Catalog) -> None:
    for story in catalog.stories:
        assert story.paths and story.estimate > 0
        assert ("STD-OFFLINE" in story.gates) == (story.kind is Kind.MANIFEST)
        assert "v3" in story.sprint


def test_dependencies_are_split_into_build_and_runtime(catalog: Catalog) -> None:
    gateway = catalog.story(3)
    assert gateway.deps(DepKind.BUILD) == ["STORY-NET-CILIUM-CORE-GITOPS", "STORY-NET-CILIUM-IPAM",
                                           "STORY-SEC-CERT-MANAGER-ISSUERS"]
    assert catalog.story(5).deps(DepKind.RUNTIME) == ["STORY-BOOT-CRDS"]
    assert catalog.validator_of(catalog.story(12)) == catalog.story(45)
    assert "vmagent" in catalog.story(17).kustomizations_on("apps")
    assert "grafana" not in catalog.story(17).kustomizations_on("apps")
    assert catalog.story(14).kustomizations_on("apps") == []  # infra-only story


def test_unknown_dependency_is_a_load_error(raw: dict[str, Any]) -> None:
    _story(raw, 2)["depends_on"]["build"].append("STORY-DOES-NOT-EXIST")
    assert "stories[STORY-NET-CILIUM-IPAM].depends_on.build: unknown story ID STORY-DOES-NOT-EXIST" in _problems(raw)


def test_dependency_cycle_is_a_load_error(raw: dict[str, Any]) -> None:
    _story(raw, 1)["depends_on"]["build"].append("STORY-NET-CILIUM-GATEWAY")
    text = _problems(raw)
    assert "build dependency cycle: STORY-NET-CILIUM-GATEWAY -> STORY-NET-CILIUM-CORE-GITOPS -> STORY-NET-CILIUM-GATEWAY" in text


def test_duplicate_ids_and_numbers_are_load_errors(raw: dict[str, Any]) -> None:
    twin = copy.deepcopy(_story(raw, 7))
    raw["stories"].append(twin)
    text = _problems(raw)
    assert "duplicate story ID" in text and "duplicate number 7" in text


def test_unknown_field_lane_and_schedule_are_load_errors(raw: dict[str, Any]) -> None:
    _story(raw, 4)["owner"] = "someone"
    assert "stories[STORY-DNS-COREDNS-BASE].owner: Extra inputs are not permitted" in _problems(raw)
    del _story(raw, 4)["owner"]
    _story(raw, 4)["lane"] = "backend"
    _story(raw, 4)["sprint"]["v9"] = 2
    text = _problems(raw)
    assert "unknown lane 'backend'" in text and "unknown schedule 'v9'" in text


def test_missing_paths_are_not_load_errors(raw: dict[str, Any]) -> None:
    _story(raw, 1)["paths"] = ["kubernetes/nowhere/cilium"]
    loaded = parse_catalog(raw, schedules=["v3", "gitops-first"])
    assert loaded.story(1).paths == ["kubernetes/nowhere/cilium"]


def test_error_names_the_file_and_gives_a_hint(raw: dict[str, Any]) -> None:
    _story(raw, 9)["estimate"] = 0
    text = _problems(raw)
    assert text.startswith("plan/stories.yaml: invalid story catalog:")
    assert "stories[STORY-NET-CILIUM-BGP].estimate: Input should be greater than 0" in text
    assert "(hint:" in text
