"""Differential check: our schema verdicts against kubeconform's, over the same schemas.

Three corpora: the schema fixtures, mutants of the valid fixtures (one mistake each), and the reference
platform as the engine renders it for every cluster.

kubeconform (built from tools/go.mod) gets the same built-in schemas (the kubernetes-validate strict files
with our enum overlay, written as standalone files) and the shared CRD catalog. Per object, both verdicts
(valid / invalid / no schema) must agree, except where we deliberately differ:
- custom resources: unknown top-level fields are rejected (kubeconform leaves the root of CRD schemas open);
- `x-kubernetes-preserve-unknown-fields: true` keeps an object open even when the converter that produced a
  catalog file closed it (kubeconform follows the converted file);
- custom resource `metadata` is checked as ObjectMeta; nulls for optional fields are accepted (the API
  server prunes them); values still holding `${...}` are left to the substitution rules.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from schema_helpers import FIXTURES, KUBERNETES, rendered

from greenfield.adapters.command import Command
from greenfield.adapters.gotools import GoTools, tool
from greenfield.adapters.schemas import build_schema_validator, builtin_schemas, export_standalone
from greenfield.app.render import RenderOptions, render_repository, select_clusters
from greenfield.core.model import RenderedObject
from greenfield.core.schema_validation import SchemaValidator, derived_crds
from greenfield.errors import CommandError

REPO = Path(__file__).resolve().parents[2]

# (file, kind, name) -> why our verdict differs from kubeconform's
KNOWN_DIFFERENCES = {
    ("crs-valid.yaml", "VMAuth", "vmauth"): ("valid", "invalid"),  # preserve-unknown-fields closed by a converter
    ("crs-invalid.yaml", "Kustomization", "apps"): ("invalid", "valid"),  # unknown top-level field of a CR
}


@pytest.fixture(scope="module")
def kubeconform() -> Path:
    tools = GoTools(REPO / "tools")
    try:
        tools.go()
    except CommandError:
        pytest.skip("the Go toolchain is not installed on this machine: kubeconform cannot be built")
    return tools.build(tool("kubeconform")).path


@pytest.fixture(scope="module")
def builtin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("kubeconform-builtin")
    export_standalone(builtin_schemas(KUBERNETES), directory)
    return directory


def _kubeconform_verdicts(binary: Path, files: list[Path], builtin_dir: Path, catalog: Path) -> dict[tuple, str]:
    result = Command([
        str(binary), "-strict", "-kubernetes-version", KUBERNETES, "-output", "json", "-verbose",
        "-schema-location", str(builtin_dir) + "/{{ .ResourceKind }}{{ .KindSuffix }}.json",
        "-schema-location", str(catalog) + "/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json",
        *[str(f) for f in files]], timeout=120, allowed_exit_codes=frozenset({0, 1})).run()
    verdicts = {}
    for resource in json.loads(result.stdout)["resources"]:
        # statusError: no schema, or an object kubeconform cannot read (e.g. a metadata.namespace that is a list)
        status = {"statusValid": "valid", "statusInvalid": "invalid", "statusError": "error"}[resource["status"]]
        verdicts[(Path(resource["filename"]).name, resource["kind"], resource["name"])] = status
    return verdicts


def _our_verdicts(validator: SchemaValidator, objects: list[RenderedObject]) -> dict[tuple, str]:
    verdicts = {}
    for obj in objects:
        findings = validator.validate([obj])
        rules = {f.rule for f in findings}
        verdict = "error" if "schema/not-found" in rules else "invalid" if findings else "valid"
        verdicts[(Path(obj.file).name, obj.kind, obj.name)] = verdict
    return verdicts


@pytest.mark.integration
def test_verdicts_agree_with_kubeconform(kubeconform: Path, builtin_dir: Path, with_catalog: SchemaValidator,
                                         crd_schema_dir: Path) -> None:
    files = sorted(FIXTURES.glob("*.yaml"))
    objects = [obj for path in files for obj in rendered(path.name)]

    theirs = _kubeconform_verdicts(kubeconform, files, builtin_dir, crd_schema_dir)
    ours = _our_verdicts(with_catalog, objects)

    assert set(theirs) == set(ours)
    differences = {key: (ours[key], theirs[key]) for key in ours if ours[key] != theirs[key]}
    assert differences == KNOWN_DIFFERENCES
    assert sorted(set(theirs.values())) == ["invalid", "valid"]


def _mutants(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Copies of a valid object with one mistake each: an unknown field in every object node, every
    scalar wrapped in a list, strings turned into numbers and numbers/booleans into strings."""
    free_form = {"labels", "annotations", "data", "values", "matchLabels"}

    def places(node: Any, path: list[str | int]) -> Iterator[tuple[list[str | int], str]]:
        if isinstance(node, dict):
            if path and path[-1] not in free_form:
                yield path, "unknown"
            for key, value in node.items():
                yield from places(value, [*path, key])
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from places(value, [*path, index])
        else:
            yield path, "wrap"
            yield path, "number" if isinstance(node, str) else "string"

    for path, how in places(body, []):
        if path[0] in ("apiVersion", "kind") or path[:2] == ["metadata", "name"]:
            continue
        mutant = copy.deepcopy(body)
        parent: Any = mutant
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        if how == "unknown":
            parent[last]["zzUnknown"] = 1
        else:
            parent[last] = [parent[last]] if how == "wrap" else 12345 if how == "number" else "zz"
        yield f"{'.'.join(map(str, path))} {how}", mutant


@pytest.mark.integration
def test_verdicts_on_mutated_objects_agree_with_kubeconform(kubeconform: Path, builtin_dir: Path,
                                                            with_catalog: SchemaValidator, crd_schema_dir: Path,
                                                            tmp_path: Path) -> None:
    originals = [obj for name in ("builtin-valid.yaml", "crs-valid.yaml") for obj in rendered(name)
                 if obj.kind != "VMAuth"]
    mutants = [(what, mutant) for obj in originals for what, mutant in _mutants(obj.body)]
    objects, described, files = [], {}, []
    for start in range(0, len(mutants), 50):
        path = tmp_path / f"mutants-{start}.yaml"
        batch = mutants[start:start + 50]
        for number, (what, mutant) in enumerate(batch, start):
            mutant["metadata"]["name"] = f"m{number}"
            objects.append(RenderedObject(mutant, "infra", "flux-system/demo", str(path)))
            described[(path.name, mutant["kind"], f"m{number}")] = what
        path.write_text(yaml.safe_dump_all([mutant for _, mutant in batch]), encoding="utf-8")
        files.append(path)

    theirs = _kubeconform_verdicts(kubeconform, files, builtin_dir, crd_schema_dir)
    ours = _our_verdicts(with_catalog, objects)

    assert set(theirs) == set(ours) and len(ours) > 100
    agreed = [key for key in ours if ours[key] == theirs[key]]
    assert len(agreed) > 0.9 * len(ours)
    for key in set(ours) - set(agreed):
        # only metadata differs: we check custom resources' metadata as ObjectMeta (kubeconform does not),
        # and kubeconform cannot read an object whose metadata.namespace is not a string
        assert described[key].startswith("metadata") and ours[key] == "invalid", (key, described[key], theirs[key])


@pytest.mark.integration
def test_verdicts_on_the_rendered_platform_agree_with_kubeconform(kubeconform: Path, builtin_dir: Path,
                                                                  crd_schema_dir: Path, tmp_path: Path) -> None:
    """Every object Flux would apply to every cluster of the reference platform: same verdict as kubeconform.
    Renders with the tool's own kustomize cache (the user's cache, what ./run validate fills): cold ~30 s."""
    targets = select_clusters(REPO, None, [], [])
    renders = render_repository(REPO, targets, RenderOptions()).renders
    ours: dict[tuple, str] = {}
    files = []
    for name, render in sorted(renders.items()):
        objects = [obj for obj in render.objects if "sops" not in obj.body]  # kubeconform cannot read SOPS
        validator = build_schema_validator(KUBERNETES, [str(crd_schema_dir)], tmp_path / "schemas",
                                           derived_crds(objects))
        for start in range(0, len(objects), 200):
            path = tmp_path / f"{name}-{start}.yaml"
            batch = [RenderedObject(obj.body, name, obj.kustomization, str(path)) for obj in objects[start:start + 200]]
            path.write_text(yaml.safe_dump_all([obj.body for obj in batch]), encoding="utf-8")
            files.append(path)
            ours.update(_our_verdicts(validator, batch))

    theirs = _kubeconform_verdicts(kubeconform, files, builtin_dir, crd_schema_dir)

    assert len(ours) > 100 and set(theirs) == set(ours)
    assert {key: (ours[key], theirs[key]) for key in ours if ours[key] != theirs[key]} == {}
