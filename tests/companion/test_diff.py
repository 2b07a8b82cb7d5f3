"""`greenfield diff` on a fixture git repository: a commit changes one HelmRelease value and one kustomize
patch; every format shows exactly those changes, and the chart's rendered Deployment (local chart) too."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
from tests.companion.conftest import chart_fixture, commit_all, git, greenfield, replace_replicas, set_tier

DIFF_SCHEMA = Path(__file__).resolve().parents[2] / "src/greenfield/data/schemas/diff-output.schema.json"
# (Kustomization, object, field path, before, after): the whole diff of the fixture commit
EXPECTED = {
    ("flux-system/hello", "ConfigMap/hello/hello-values", "metadata.labels.tier", "a", "b"),
    ("flux-system/hello", "HelmRelease/hello/hello", "values.replicaCount", 3, 5),
    ("flux-system/hello", "Deployment/hello/hello", "spec.replicas", 3, 5),  # rendered by the local chart
}


def diff(repo: Path, cache: Path, *args: str):  # type: ignore[no-untyped-def]
    return greenfield("diff", "--cache-dir", str(cache), *args, cwd=repo)


def flat(document: dict) -> set[tuple]:
    found = set()
    for cluster in document["clusters"]:
        assert cluster["name"] == "dev"
        for kustomization in cluster["kustomizations"]:
            for item in kustomization["objects"]:
                assert item["change"] == "changed"
                for change in item["fields"]:
                    found.add((kustomization["name"], item["object"], change["path"], change.get("before"),
                               change.get("after")))
    return found


def test_json_shows_exactly_the_commit_changes(changed_repo: Path, diff_cache: Path) -> None:
    result = diff(changed_repo, diff_cache, "--base", "HEAD~1", "--head", "HEAD", "--format", "json")
    assert result.returncode == 1, result.stderr  # 1 = changes (documented)
    document = json.loads(result.stdout)
    assert flat(document) == EXPECTED
    [deployment] = [o for c in document["clusters"] for k in c["kustomizations"] for o in k["objects"]
                    if o["object"] == "Deployment/hello/hello"]
    assert deployment["chart"].startswith("hello") and deployment["file"] == "charts/hello/templates/deployment.yaml"
    assert document["summary"] == {"clusters": 1, "kustomizations": 1, "added": 0, "removed": 0, "changed": 3,
                                   "dangers": 0}
    schema = json.loads(DIFF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert not list(jsonschema.Draft202012Validator(schema).iter_errors(document))


def test_text_shows_the_same_changes(changed_repo: Path, diff_cache: Path) -> None:
    result = diff(changed_repo, diff_cache, "--base", "HEAD~1", "--head", "HEAD")
    assert result.returncode == 1, result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "~ Kustomization flux-system/hello" in lines
    assert "~ metadata.labels.tier: a -> b" in lines
    assert "~ values.replicaCount: 3 -> 5" in lines
    assert "~ spec.replicas: 3 -> 5" in lines
    assert sum(line.startswith("~ ") and ": " in line and "->" in line for line in lines) == 3
    assert "0 added, 0 removed, 3 changed object(s) in 1 Kustomization(s) of 1 cluster(s)" in lines


def test_markdown_is_a_collapsible_comment_with_the_same_changes(changed_repo: Path, diff_cache: Path) -> None:
    result = diff(changed_repo, diff_cache, "--base", "HEAD~1", "--head", "HEAD", "--format", "markdown")
    assert result.returncode == 1, result.stderr
    text = result.stdout
    assert text.startswith("<!-- greenfield-diff -->")
    assert text.count("<details") == 1 and text.count("</details>") == 1
    assert "<code>flux-system/hello</code>: +0 -0 ~3" in text
    fenced = re.findall(r"```diff\n(.*?)\n```", text, re.S)
    assert sorted(fenced) == sorted(["~ metadata.labels.tier: a -> b", "~ values.replicaCount: 3 -> 5",
                                     "~ spec.replicas: 3 -> 5"])


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href"} and value:
                self.external.append(value)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_self_contained_with_the_same_changes(changed_repo: Path, diff_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "diff.html"
    result = diff(changed_repo, diff_cache, "--base", "HEAD~1", "--head", "HEAD", "--format", "html",
                  "--output-file", str(out))
    assert result.returncode == 1 and result.stdout == "", result.stderr
    parser = _Collector()
    parser.feed(out.read_text(encoding="utf-8"))
    assert parser.external == []  # no external request: inline CSS, no links
    lines = {line.strip() for chunk in parser.text for line in chunk.splitlines()}
    assert {"~ metadata.labels.tier: a -> b", "~ values.replicaCount: 3 -> 5", "~ spec.replicas: 3 -> 5"} <= lines


def test_no_change_exits_zero_and_work_tree_is_the_default_head(changed_repo: Path, diff_cache: Path) -> None:
    same = diff(changed_repo, diff_cache, "--base", "HEAD", "--format", "json")
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["clusters"] == []
    replace_replicas(changed_repo, 5, 7)  # uncommitted
    try:
        dirty = diff(changed_repo, diff_cache, "--base", "HEAD", "--format", "json")
        assert dirty.returncode == 1, dirty.stderr
        assert dirty.stdout and {(k, o, p, b, a) for k, o, p, b, a in flat(json.loads(dirty.stdout))} == {
            ("flux-system/hello", "HelmRelease/hello/hello", "values.replicaCount", 5, 7),
            ("flux-system/hello", "Deployment/hello/hello", "spec.replicas", 5, 7)}
    finally:
        git(changed_repo, "checkout", "-q", "--", ".")


def test_default_base_is_the_merge_base_with_the_default_branch(changed_repo: Path, diff_cache: Path) -> None:
    git(changed_repo, "checkout", "-q", "-b", "feature")
    try:
        replace_replicas(changed_repo, 5, 9)
        commit_all(changed_repo, "feature change")
        result = diff(changed_repo, diff_cache, "--format", "json")
        assert result.returncode == 1, result.stderr
        document = json.loads(result.stdout)
        assert document["base"].startswith("merge-base(main, HEAD)")
        assert ("flux-system/hello", "HelmRelease/hello/hello", "values.replicaCount", 5, 9) in flat(document)
    finally:
        git(changed_repo, "checkout", "-q", "main")
        git(changed_repo, "branch", "-q", "-D", "feature")


def test_bad_revisions_are_one_line_errors_and_never_options(changed_repo: Path, diff_cache: Path,
                                                            tmp_path: Path) -> None:
    target = tmp_path / "written"
    for revision in ("no-such-branch", f"--output={target}", "--upload-pack=touch /tmp/x"):
        result = diff(changed_repo, diff_cache, "--base", revision)
        assert result.returncode == 3, (revision, result.stdout, result.stderr)
        assert result.stderr.startswith("greenfield: ") and len(result.stderr.strip().splitlines()) == 1
        assert "unknown revision" in result.stderr
    assert not target.exists()


def test_export_runs_no_hook_filter_or_fsmonitor_of_the_repository(changed_repo: Path, diff_cache: Path,
                                                                  tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\ncat\n", encoding="utf-8")
    script.chmod(0o755)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for hook in ("post-checkout", "pre-commit", "reference-transaction"):
        (hooks / hook).write_text(f"#!/bin/sh\ntouch {marker}\n", encoding="utf-8")
        (hooks / hook).chmod(0o755)
    for key, value in (("core.fsmonitor", str(script)), ("core.hooksPath", str(hooks)),
                       ("filter.evil.smudge", str(script)), ("filter.evil.clean", str(script)),
                       ("filter.evil.required", "true")):
        git(changed_repo, "config", key, value)
    attributes = changed_repo / ".gitattributes"
    try:
        attributes.write_text("* filter=evil\n*.yaml export-ignore\n", encoding="utf-8")
        result = diff(changed_repo, diff_cache, "--base", "HEAD~1", "--head", "HEAD", "--format", "json",
                      "--no-cache")
        assert result.returncode == 1, result.stderr
        assert flat(json.loads(result.stdout)) == EXPECTED  # export-ignore did not drop the YAML either
        assert not marker.exists()
    finally:
        attributes.unlink()
        for key in ("core.fsmonitor", "core.hooksPath"):
            git(changed_repo, "config", "--unset", key)
        git(changed_repo, "config", "--remove-section", "filter.evil")


def test_a_flux_repository_in_a_subfolder_of_the_git_repository(tmp_path: Path, diff_cache: Path) -> None:
    mono = tmp_path / "mono"
    mono.mkdir()
    fleet = chart_fixture(mono)  # mono/repo: the Flux repository is one folder of a larger git repository
    (mono / "README.md").write_text("not Flux\n", encoding="utf-8")
    git(mono, "init", "-q", "-b", "main")
    set_tier(fleet, "a")
    commit_all(mono, "base")
    set_tier(fleet, "c")
    commit_all(mono, "tier c")
    result = greenfield("diff", "--repo", str(fleet), "--base", "HEAD~1", "--head", "HEAD", "--format", "json",
                        "--cache-dir", str(diff_cache), cwd=mono)
    assert result.returncode == 1, result.stderr
    assert flat(json.loads(result.stdout)) == {
        ("flux-system/hello", "ConfigMap/hello/hello-values", "metadata.labels.tier", "a", "c")}


def test_dangerous_changes_are_called_out_in_the_comment(changed_repo: Path, diff_cache: Path) -> None:
    git(changed_repo, "checkout", "-q", "-b", "danger")
    try:
        listing = changed_repo / "kubernetes/apps/kustomization.yaml"
        listing.write_text(listing.read_text(encoding="utf-8").replace("  - ./grafana\n", ""), encoding="utf-8")
        podinfo = changed_repo / "kubernetes/apps/podinfo/ks.yaml"
        podinfo.write_text(podinfo.read_text(encoding="utf-8").replace("  targetNamespace: podinfo\n",
                                                                        "  suspend: true\n  targetNamespace: web\n"),
                           encoding="utf-8")
        commit_all(changed_repo, "drop grafana, move podinfo")
        result = diff(changed_repo, diff_cache, "--base", "main", "--format", "markdown")
        assert result.returncode == 1, result.stderr
        table = [line for line in result.stdout.splitlines() if line.startswith("| dev |")]
        assert {line.split("**")[1] for line in table} == {"diff/kustomization-removed", "diff/suspended",
                                                           "diff/target-namespace", "diff/namespace-removed"}
        assert "<details open><summary>- <code>dev</code> Kustomization <code>flux-system/grafana</code>" in (
            result.stdout)
    finally:
        git(changed_repo, "checkout", "-q", "main")
        git(changed_repo, "branch", "-q", "-D", "danger")
