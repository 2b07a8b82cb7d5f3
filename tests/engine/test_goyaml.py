"""YAML read as Flux's Go code reads it (core/goyaml), checked against a table and against the real kustomize."""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.engine.conftest import make_repo, own_rules, run

from greenfield.adapters import yamlio
from greenfield.adapters.kustomize import Kustomizer, kubectl_binary
from greenfield.core import goyaml
from greenfield.core.engine import BuildRequest
from greenfield.errors import InputError

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "repos"  # ../shared of the worktree

HUGE = "9" * 5000
# plain scalar text -> (value for yaml.v3 (repository files), value for sigs.k8s.io/yaml (rendered text))
SCALARS: dict[str, tuple[Any, Any]] = {
    "yes": ("yes", True), "Yes": ("Yes", True), "YES": ("YES", True), "no": ("no", False),
    "on": ("on", True), "off": ("off", False), "y": ("y", True), "n": ("n", False), "N": ("N", False),
    "yEs": ("yEs", "yEs"), "true": (True, True), "True": (True, True), "FALSE": (False, False),
    "tRUE": ("tRUE", "tRUE"), "null": (None, None), "Null": (None, None), "~": (None, None), "nULL": ("nULL", "nULL"),
    "=": ("=", "="), "0755": (493, 493), "0o755": (493, 493), "0O17": (15, 15), "0x1F": (31, 31), "0b101": (5, 5),
    "-0x1F": (-31, -31), "+0x1F": (31, 31), "0o8": ("0o8", "0o8"), "0x": ("0x", "0x"), "0xZZ": ("0xZZ", "0xZZ"),
    "00": (0, 0), "0": (0, 0), "-0": (0, 0), "08": (8.0, 8.0), "09.5": (9.5, 9.5), "1_000": (1000, 1000),
    "1__2": (12, 12), "0_1": (1, 1), "0x_1f": (31, 31), "-_1": (-1, -1), "_1": ("_1", "_1"),
    "1:20": ("1:20", "1:20"), "12:30:45": ("12:30:45", "12:30:45"), "1e3": (1000.0, 1000.0), "1E3": (1000.0, 1000.0),
    "1e+3": (1000.0, 1000.0), "1.5e-3": (0.0015, 0.0015), "6.02e23": (6.02e23, 6.02e23), "+12": (12, 12),
    "-12": (-12, -12), ".5": (0.5, 0.5), "-.5": (-0.5, -0.5), ".5e3": (500.0, 500.0), "1.": (1.0, 1.0),
    "1.10": (1.1, 1.1), ".e3": (".e3", ".e3"), "._5": ("._5", "._5"), ".5_0": (0.5, 0.5), ".5_": (".5_", ".5_"), ".5e1_0": (5e9, 5e9),
    "1_000.5": (1000.5, 1000.5), "1.2.3": ("1.2.3", "1.2.3"), "1-2": ("1-2", "1-2"), "+": ("+", "+"),
    "9223372036854775807": ((1 << 63) - 1, (1 << 63) - 1), "9223372036854775808": (1 << 63, 1 << 63),
    "-9223372036854775808": (-(1 << 63), -(1 << 63)),
    "-9223372036854775809": (-9.223372036854776e18, -9.223372036854776e18),
    "+9223372036854775808": (9.223372036854776e18, 9.223372036854776e18),
    "18446744073709551615": ((1 << 64) - 1, (1 << 64) - 1),
    "18446744073709551616": (1.8446744073709552e19, 1.8446744073709552e19),
    "0x10000000000000000": ("0x10000000000000000", "0x10000000000000000"),
    "12345678901234567890123": (1.2345678901234568e22, 1.2345678901234568e22),
    "1e999": ("1e999", "1e999"), HUGE: (HUGE, HUGE), "1" * 400: ("1" * 400, "1" * 400),
    "2001-12-14": ("2001-12-14", "2001-12-14"), "<<": ("<<", "<<"), "a=b": ("a=b", "a=b"),
}
TIMESTAMPS = {"2001-12-14"}  # kustomize's JSON pass writes them as RFC 3339 (2001-12-14T00:00:00Z): still strings


@pytest.mark.parametrize("text", list(SCALARS), ids=lambda t: t[:24])
def test_plain_scalars_resolve_as_in_go(text: str) -> None:
    v3, k8s = SCALARS[text]
    for flavour, expected in ((goyaml.V3, v3), (goyaml.K8S, k8s)):
        value = goyaml.load(f"key: {text}\n", flavour)["key"]
        assert type(value) is type(expected) and value == expected, (flavour, text, value)


@pytest.mark.parametrize(("text", "expected"), [
    ("a: .inf", math.inf), ("a: -.Inf", -math.inf), ("a: +.INF", math.inf), ("a: '12'", "12"), ('a: "yes"', "yes"),
    ("a: !!str 12", "12"), ("a: !!binary aGVsbG8=", "hello"), ("a: !foo bar", "bar"), ("a: ! 12", 12),
    ("a: ! '12'", "12"), ("a: !!float 3", 3.0), ('a: !!int "7"', 7), ('a: !!null ""', None),
    ("a: !!timestamp 2001-12-14", "2001-12-14"), ("a: |\n  12\n", "12\n"), ("a: >-\n  yes\n", "yes"),
    ("a:\n", None), ("a: !!map {b: 1}", {"b": 1}), ("a: !custom [1]", [1]), ('"<<": x', "x"),
])
def test_tags_and_styles(text: str, expected: Any) -> None:
    document = goyaml.load(text)
    value = next(iter(document.values()))
    assert type(value) is type(expected) and value == expected


@pytest.mark.parametrize(("text", "problem"), [
    ("a: !!bool yes", "cannot decode !!str `yes` as a !!bool"),
    ("a: !!int 1.5", "cannot decode !!float `1.5` as a !!int"),
    ("a: !!null x", "cannot decode !!str `x` as a !!null"),
    ("a: !!binary '%%%'", "!!binary value contains invalid base64 data"),
    ("a: 1\na: 2\n", 'line 2: mapping key "a" already defined at line 1'),
    ("a: *nowhere\n", "unknown anchor 'nowhere' referenced"),
    ("a: &x [1, *x]\n", "anchor 'x' value contains itself"),
    ("a: 1\n<<: 2\n", "map merge requires map or sequence of maps as the value"),
    ("? [a]\n: b\n", "invalid map key"),
    ("a: b: c\n", "mapping values are not allowed in this context"),
])
def test_what_go_refuses(text: str, problem: str) -> None:
    with pytest.raises(goyaml.GoYAMLError, match=re.escape(problem)):
        goyaml.load(text)


def test_yaml11_bools_are_booleans_only_when_explicit_in_v3() -> None:
    assert goyaml.load("a: !!bool yes", goyaml.K8S) == {"a": True}
    assert goyaml.load("a: !!bool true") == {"a": True}


def test_duplicate_anchors_take_the_later_definition_from_there_on() -> None:
    text = "a: &x 1\nb: *x\nc: &x 2\nd: *x\ne: &m {k: v}\nf: &m {k: w}\ng: *m\n"
    for flavour in (goyaml.V3, goyaml.K8S):
        assert goyaml.load(text, flavour) == {"a": 1, "b": 1, "c": 2, "d": 2, "e": {"k": "v"}, "f": {"k": "w"},
                                              "g": {"k": "w"}}


def test_anchors_do_not_cross_documents() -> None:
    with pytest.raises(goyaml.GoYAMLError, match="unknown anchor 'a'"):
        goyaml.load_all("x: &a 1\n---\ny: *a\n")


def test_merge_keys() -> None:
    text = "base: &b {x: 1, w: 2}\nm:\n  x: 0\n  <<: *b\n  z: 9\nl:\n  <<: [{a: 1}, {a: 2, b: 2}]\n"
    v3 = goyaml.load(text)
    assert v3["m"] == {"x": 0, "w": 2, "z": 9} and v3["l"] == {"a": 1, "b": 2}
    k8s = goyaml.load(text, goyaml.K8S)  # yaml.v2: document order, the merge overrides the key written before it
    assert k8s["m"] == {"x": 1, "w": 2, "z": 9} and k8s["l"] == {"a": 1, "b": 2}
    assert goyaml.load("m:\n  <<: {x: 1}\n  x: 2\n") == {"m": {"x": 2}}
    assert goyaml.load('m:\n  "<<": {x: 1}\n') == {"m": {"<<": {"x": 1}}}  # a quoted key is a plain key


def test_keys_become_json_keys() -> None:
    assert goyaml.load("1: a\ntrue: b\n1.5: c\n0x10: d\non: e\n", goyaml.K8S) == {
        "1": "a", "true": "e", "1.5": "c", "16": "d"}  # `on` is true in YAML 1.1: the later key wins
    assert goyaml.load("on: e\ny: f\n") == {"on": "e", "y": "f"}
    assert goyaml.load("y: f\n", goyaml.K8S) == {"true": "f"}  # why kyaml writes the key "y" quoted


def test_last_duplicate_key_wins_in_rendered_text() -> None:
    assert goyaml.load("a: 1\na: 2\n", goyaml.K8S) == {"a": 2}


def test_alias_bombs_are_refused_not_expanded() -> None:
    lines = ["l0: &l0 [" + ", ".join(["x"] * 10) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
    with pytest.raises(goyaml.GoYAMLError, match="excessive aliasing"):
        goyaml.load("\n".join(lines))
    assert goyaml.load("a: &a [1, 2]\nb: *a\nc: *a\n") == {"a": [1, 2], "b": [1, 2], "c": [1, 2]}


def test_depth_limit_is_an_error_at_the_line() -> None:
    assert goyaml.load("[" * goyaml.MAX_DEPTH + "]" * goyaml.MAX_DEPTH) is not None
    with pytest.raises(goyaml.GoYAMLError, match=f"line 1: exceeded max depth of {goyaml.MAX_DEPTH}"):
        goyaml.load("[" * (goyaml.MAX_DEPTH + 1) + "]" * (goyaml.MAX_DEPTH + 1))
    with pytest.raises(InputError) as raised:
        yamlio.load_documents("a:\n" + "".join("  " * i + "- b:\n" for i in range(1, 600)), "deep.yaml")
    assert raised.value.render() == (f"deep.yaml: line {goyaml.MAX_DEPTH // 2 + 1}: invalid YAML: exceeded max depth of "
                                     f"{goyaml.MAX_DEPTH} (hint: fix the YAML syntax)")


@pytest.mark.parametrize("text", ["'[' * 50000 + ']' * 50000", "'- ' * 50000 + 'x'", "'{a: ' * 50000 + '}' * 50000"])
def test_hostile_nesting_never_crashes_the_process(text: str) -> None:
    """libyaml's C composer segfaults (exit 139) on these; the loader fails with a message."""
    code = f"from greenfield.core import goyaml\ntry:\n    goyaml.load({text})\nexcept goyaml.GoYAMLError as e:\n" \
           "    print('refused:', e)\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("refused: line 1: exceeded max depth of")


def test_written_yaml_reads_back_unchanged_in_go() -> None:
    data = {"a": "0o755", "b": "1e3", "c": "yes", "d": "=", "e": "", "f": "multi\nline\n", "g": "<<", "h": "0x_1",
            "i": "-_1", "j": 12, "k": None, "on": True, "1": "x"}
    for literal in (False, True):
        text = goyaml.dump(data, literal_blocks=literal)
        assert goyaml.load(text) == data and goyaml.load(text, goyaml.K8S) == data


def test_own_files_keep_yaml11_typing_but_refuse_hostile_input(tmp_path: Path) -> None:
    own = tmp_path / "plan.yaml"
    own.write_text("start: 2025-10-27\nphases: {1: a}\nflag: yes\n", encoding="utf-8")
    assert yamlio.load_file(own) == {"start": datetime.date(2025, 10, 27), "phases": {1: "a"}, "flag": True}
    for text, problem in ((f"n: {HUGE}\n", "invalid YAML: Exceeds the limit (4300 digits)"),
                          ("- " * 50_000 + "x\n", "line 1: invalid YAML: exceeded max depth of 256"),
                          ("a: &x 1\nb: &x 2\n", "line 2: invalid YAML: duplicate anchor (first at line 1)")):
        own.write_text(text, encoding="utf-8")
        with pytest.raises(InputError) as raised:
            yamlio.load_file(own, "plan.yaml")
        assert raised.value.render().startswith(f"plan.yaml: {problem}"), raised.value.render()


# -- differential: the real kustomize (Go yaml.v3 + kyaml) on the same text -----------------------------------

def _kustomize(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(kubectl_binary()), "kustomize", str(folder)], capture_output=True, text=True,
                          timeout=120, check=False)


def _category(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def test_kustomize_types_every_scalar_as_the_loader_does(tmp_path: Path) -> None:
    """kustomize reads the file with yaml.v3, passes it through JSON and writes it with kyaml, which quotes every
    string a YAML 1.1 reader would misread: so its output text shows how Go typed each scalar."""
    fields = {f"f{index}": text for index, text in enumerate(SCALARS)}
    body = "".join(f"{key}: {text}\n" for key, text in fields.items())
    (tmp_path / "kustomization.yaml").write_text("resources: [thing.yaml]\n", encoding="utf-8")
    thing = "apiVersion: example.com/v1\nkind: Thing\nmetadata:\n  name: t\n" + body
    (tmp_path / "thing.yaml").write_text(thing, encoding="utf-8")
    result = _kustomize(tmp_path)
    assert result.returncode == 0, result.stderr
    ours = goyaml.load(thing)
    theirs = goyaml.load(result.stdout, goyaml.K8S)
    emitted = dict(re.findall(r"^(f\d+): (.*)$", result.stdout, flags=re.MULTILINE))
    for key, text in fields.items():
        mine, go = ours[key], theirs[key]
        assert _category(mine) == _category(go), (text, mine, go)
        if isinstance(mine, str):
            if text not in TIMESTAMPS:
                assert mine == go, (text, go)
            if mine and any(goyaml.resolve_plain(mine, f) is not mine for f in (goyaml.V3, goyaml.K8S)):
                assert emitted[key].startswith('"'), (text, emitted[key])  # kyaml quoted it: Go read a string
        elif isinstance(mine, (int, float)) and not isinstance(mine, bool):
            assert math.isclose(mine, go, rel_tol=0, abs_tol=0) or mine == go, (text, mine, go)
            assert not emitted[key].startswith(('"', "'")), (text, emitted[key])
        else:
            assert mine == go, (text, mine, go)


def test_kustomize_agrees_on_anchors_merges_and_tags(tmp_path: Path) -> None:
    thing = ("apiVersion: example.com/v1\nkind: Thing\nmetadata:\n  name: t\n"
             "base: &b {x: 1, y: 2}\nother: &b {x: 3}\nusesB: *b\n"
             "merged:\n  x: 0\n  <<: *b\n  z: 9\nmergeList:\n  <<: [{a: 1}, {a: 2, b: 2}]\n"
             "tags: [!!str 12, !!binary aGVsbG8=, !foo bar, ! 12, !!float 3, '<<']\nmatchType: =\non: yes\n")
    (tmp_path / "kustomization.yaml").write_text("resources: [thing.yaml]\n", encoding="utf-8")
    (tmp_path / "thing.yaml").write_text(thing, encoding="utf-8")
    result = _kustomize(tmp_path)
    assert result.returncode == 0, result.stderr
    assert goyaml.load(result.stdout, goyaml.K8S) == goyaml.load(thing)


@pytest.mark.parametrize(("body", "problem"), [
    ("a: 1\na: 2\n", 'line 6: mapping key "a" already defined at line 5'),
    ("a: *nowhere\n", "unknown anchor 'nowhere' referenced"),
    ("a: !!bool yes\n", "cannot decode !!str `yes` as a !!bool"),
])
def test_kustomize_refuses_what_the_loader_refuses(tmp_path: Path, body: str, problem: str) -> None:
    thing = "apiVersion: example.com/v1\nkind: Thing\nmetadata:\n  name: t\n" + body
    (tmp_path / "kustomization.yaml").write_text("resources: [thing.yaml]\n", encoding="utf-8")
    (tmp_path / "thing.yaml").write_text(thing, encoding="utf-8")
    result = _kustomize(tmp_path)
    assert result.returncode != 0 and problem in result.stderr, result.stderr
    with pytest.raises(goyaml.GoYAMLError, match=re.escape(problem)):
        goyaml.load(thing)


# -- the engine ---------------------------------------------------------------------------------------------

THING = """---
apiVersion: example.com/v1
kind: Thing
metadata:
  name: thing
spec:
  routes: &routes
    - matchType: =
      name: severity
  more: &routes [a]
  again: *routes
  plain: on
  substituted: ${THING_FLAG:=on}
  mode: 0755
  huge: HUGE
""".replace("HUGE", HUGE)


def test_engine_renders_go_yaml_and_types_substituted_text_as_kustomize_controller(tmp_path: Path,
                                                                                   build_cache: Path) -> None:
    repo = make_repo(tmp_path)
    (repo / "kubernetes/apps/podinfo/app/thing.yaml").write_text(THING, encoding="utf-8")
    report = run(repo, build_cache)
    assert own_rules(report) == [], report.findings  # no build or substitution finding (the CRD is not our topic)
    [thing] = [o.body for o in report.renders["dev"].objects if o.body.get("kind") == "Thing"]
    spec = thing["spec"]
    assert spec["routes"] == [{"matchType": "=", "name": "severity"}] and spec["again"] == ["a"]
    assert spec["plain"] == "on"  # yaml.v3 read it as a string and kyaml quoted it
    assert spec["substituted"] is True  # sigs.k8s.io/yaml (YAML 1.1 booleans) reads the substituted text
    assert spec["mode"] == 493 and spec["huge"] == HUGE


def test_unparsable_output_fails_only_its_own_batch_member(tmp_path: Path) -> None:
    """kustomize accepts nesting up to 10,000 levels, the engine refuses more than MAX_DEPTH: the output of a batch
    holding such an object does not parse, and only that Kustomization fails, cold and warm."""
    repo = make_repo(tmp_path)
    app = repo / "kubernetes/apps/grafana/app"
    depth = goyaml.MAX_DEPTH + 10
    (app / "deep.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n  x: "
                                   + "[" * depth + "]" * depth + "\n", encoding="utf-8")
    (app / "kustomization.yaml").write_text((app / "kustomization.yaml").read_text(encoding="utf-8")
                                            + "  - ./deep.yaml\n", encoding="utf-8")
    requests = [BuildRequest(path="kubernetes/apps/grafana/app"), BuildRequest(path="kubernetes/apps/podinfo/app")]
    cache = tmp_path / "cache"
    for run_kind in ("cold", "warm"):
        with Kustomizer(repo, cache_dir=cache, workers=1) as kustomizer:
            grafana, podinfo = kustomizer.build_many(requests)
            if run_kind == "cold":
                assert kustomizer.stats.get("split_batches") == 1  # both were in one kustomize run
        assert "exceeded max depth" in grafana.error and not grafana.documents
        assert [p.kind for p in grafana.problems] == ["kustomize"]
        assert podinfo.ok and {d["kind"] for d in podinfo.documents} >= {"HelmRelease", "ConfigMap"}


@pytest.mark.parametrize("relative", [
    "billimek__k8s-gitops/kubernetes/default/plex/plex.yaml",  # duplicate anchors
    "buroa__k8s-gitops/kubernetes/apps/observability/kube-prometheus-stack/app/alertmanagerconfig.yaml",  # `=`
])
def test_corpus_files_that_pyyaml_refused(relative: str) -> None:
    path = CORPUS / relative
    documents = yamlio.load_documents(path.read_text(encoding="utf-8"), relative)
    assert documents and all(isinstance(d, dict) for d in documents)


def test_corpus_repository_with_duplicate_anchors_renders_without_yaml_errors(tmp_path: Path) -> None:
    report = run(CORPUS / "billimek__k8s-gitops", tmp_path / "cache", cluster_paths=["setup/flux/cluster"])
    yaml_errors = [f for f in report.findings if "YAML" in f.message or "anchor" in f.message]
    assert not yaml_errors, yaml_errors
    files = {o.file for render in report.renders.values() for o in render.objects}
    assert "kubernetes/default/plex/plex.yaml" in files


def _validate(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "greenfield", "validate", "--no-schema", "--cache-dir", str(cache),
                           *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def test_cli_refuses_hostile_substitute_from_files_in_one_line(tmp_path: Path, build_cache: Path) -> None:
    repo = make_repo(tmp_path)
    deep = tmp_path / "deep.yaml"
    deep.write_text("- " * 50_000 + "x\n", encoding="utf-8")
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    for path, problem in ((deep, "line 1: invalid YAML: exceeded max depth of 256"), (fifo, "not a regular file")):
        result = _validate("--repo", str(repo), "--substitute-from", str(path), cwd=tmp_path, cache=build_cache)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        [line] = result.stderr.strip().splitlines()
        assert line.startswith(f"greenfield: {path}: {problem}"), line


def test_cli_validates_a_repository_with_a_5000_digit_number(tmp_path: Path, build_cache: Path) -> None:
    repo = make_repo(tmp_path)
    # PyYAML turned it into an int (Python refuses int() of more than 4,300 digits): an internal error
    (repo / "kubernetes/apps/podinfo/app/number.yaml").write_text(
        f"apiVersion: example.com/v1\nkind: Number\nmetadata:\n  name: huge\nspec:\n  value: {HUGE}\n",
        encoding="utf-8")
    result = _validate("--repo", str(repo), "--format", "json", cwd=tmp_path, cache=build_cache)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    assert not [f for f in json.loads(result.stdout)["findings"] if f["rule"].startswith(("build/", "substitution/"))]


FLUX_THING = """apiVersion: example.com/v1
kind: Thing
metadata:
  name: thing
spec:
  plain: on
  quoted: "yes"
  substituted: ${FLAG:=on}
  octal: ${MODE:=0o17}
  clock: ${CLOCK:=1:20}
  number: ${NUMBER:=1e3}
  equals: =
  huge: ${HUGE}
  anchored: &a [x]
  again: &a [y]
  alias: *a
"""


def test_substituted_objects_are_typed_as_flux_build_types_them(tmp_path: Path, upstream_tools: Any) -> None:
    """kustomize-controller marshals each object, substitutes the text and reads it back with sigs.k8s.io/yaml:
    a substituted `on` is a boolean, a written `on` stays the string kyaml quoted (checked with the real flux)."""
    from greenfield.adapters.upstream import FluxBuild
    from greenfield.core import substitution

    upstream_tools.ensure(["flux"])
    app = tmp_path / "repo" / "app"
    app.mkdir(parents=True)
    (app / "thing.yaml").write_text(FLUX_THING, encoding="utf-8")
    variables = {"HUGE": HUGE}
    kustomization = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                     "metadata": {"name": "app", "namespace": "flux-system"},
                     "spec": {"interval": "1h", "path": "./app", "prune": True, "postBuild": {"substitute": variables},
                              "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}
    [theirs] = FluxBuild(upstream_tools.binary("flux")).build(kustomization, variables, app, tmp_path / "scratch")
    with Kustomizer(tmp_path / "repo", cache_dir=tmp_path / "cache") as kustomizer:
        [built] = kustomizer.build(BuildRequest(path="app")).documents
    ours = substitution.substitute_object(built, variables).body
    assert ours is not None and ours["spec"] == theirs["spec"]
    assert ours["spec"]["substituted"] is True and ours["spec"]["plain"] == "on" and ours["spec"]["octal"] == 15
