"""The source artifact: what .sourceignore, spec.ignore, the built-in exclusions and symlinks leave out of
what kustomize-controller builds from (source-controller's rules, ported from go-git and fluxcd/pkg)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from tests.engine.conftest import make_repo, run

from greenfield.adapters.command import Command
from greenfield.core.sourceignore import ArtifactFilter, Matcher, Pattern, read_patterns

PODINFO = "flux-system/podinfo"


@pytest.mark.parametrize(("patterns", "path", "is_dir", "excluded"), [
    ("*.md", "docs/readme.md", False, True),
    ("*.md", "docs", True, False),
    ("docs/", "docs", True, True),
    ("docs/", "docs/a.yaml", False, True),  # a file below a matching folder name
    ("docs/", "docs", False, False),  # a file named like the folder
    ("/*\n!/kubernetes", "kubernetes/apps/a.yaml", False, False),
    ("/*\n!/kubernetes", "src/main.py", False, True),
    ("**/secret.yaml", "a/b/secret.yaml", False, True),
    ("a/**/c.yaml", "a/x/y/c.yaml", False, True),
    ("a/**/c.yaml", "b/x/c.yaml", False, False),
    ("[abc].yaml", "b.yaml", False, True),
    ("[^abc].yaml", "b.yaml", False, False),
    ("[a-c].yaml", "d.yaml", False, False),
    ("[]a].yaml", "a.yaml", False, False),  # malformed in Go: never matches
    ("\\#literal", "#literal", False, True),
    ("*.yaml\n!keep.yaml", "x/keep.yaml", False, False),
])
def test_patterns_match_like_go_git(patterns: str, path: str, is_dir: bool, excluded: bool) -> None:
    assert Matcher(read_patterns(patterns)).excluded(path, is_dir) is excluded


def test_declared_patterns_replace_the_default_exclusions_but_not_the_vcs_ones() -> None:
    defaults = ArtifactFilter([])
    assert defaults.excluded("apps/.sops.yaml", False) and defaults.excluded("logo.png", False)
    assert defaults.excluded(".git/config", False)
    declared = ArtifactFilter([Pattern.parse("*.md")])
    assert not declared.excluded("apps/.sops.yaml", False) and not declared.excluded("logo.png", False)
    assert declared.excluded(".git/config", False) and declared.excluded("README.md", False)
    scoped = ArtifactFilter(read_patterns("*.yaml", ["kubernetes", "apps"]))
    assert scoped.excluded("kubernetes/apps/x.yaml", False) and not scoped.excluded("kubernetes/x.yaml", False)


@pytest.mark.integration
def test_the_matcher_agrees_with_the_flux_cli(tmp_path: Path, upstream_tools) -> None:  # type: ignore[no-untyped-def]
    """`flux build artifact --ignore-paths` runs go-git's matcher over a folder: the same patterns must leave
    out the same files here."""
    upstream_tools.ensure(["flux"])
    tree = tmp_path / "tree"
    files = ["a.yaml", "b.md", "docs/x.md", "docs/y.yaml", "kubernetes/apps/p/app/hr.yaml", "kubernetes/apps/p/k.md",
             "deep/a/b/secret.yaml", "x/keep.yaml", "x/drop.yaml", "[x].yaml", "img/logo.png", "c.yml"]
    for name in files:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text("a: 1\n", encoding="utf-8")
    patterns = ["*.md", "docs/", "**/secret.yaml", "x/*.yaml", "!x/keep.yaml", "/img", "[x].yaml", "?.yml"]
    artifact = tmp_path / "artifact.tgz"
    Command([upstream_tools.binary("flux"), "build", "artifact", "--path", str(tree), "--output", str(artifact),
             "--ignore-paths", ",".join(patterns)], timeout=120).run()
    with tarfile.open(artifact) as archive:
        kept_by_flux = {m.name.removeprefix("./") for m in archive.getmembers() if m.isfile()}
    matcher = Matcher([Pattern.parse(p) for p in patterns])
    kept_here = {name for name in files if not matcher.excluded(name, False)}
    assert kept_here == kept_by_flux


def _findings(report, kustomization: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(f.rule, f.message) for f in report.findings if f.kustomization == kustomization]


def test_a_sourceignored_file_is_not_in_a_generated_kustomization(tmp_path: Path, build_cache: Path) -> None:
    repo = make_repo(tmp_path)
    before = run(repo, build_cache).renders["dev"].kustomizations
    assert any(o.kind == "ConfigMap" for o in before[_key(PODINFO)].objects)
    (repo / ".sourceignore").write_text("# not for the cluster\nkubernetes/apps/podinfo/app/configmap.yaml\n")
    after = run(repo, build_cache).renders["dev"].kustomizations
    assert not any(o.kind == "ConfigMap" and o.file.endswith("configmap.yaml") for o in after[_key(PODINFO)].objects)


def test_a_sourceignored_file_a_kustomization_lists_fails_its_build(tmp_path: Path, build_cache: Path) -> None:
    repo = make_repo(tmp_path)
    (repo / "kubernetes/apps/grafana/.sourceignore").write_text("app/dashboard.yaml\n")  # scoped to its folder
    report = run(repo, build_cache)
    [(rule, message)] = _findings(report, "flux-system/grafana")
    assert rule == "build/kustomize-error" and "dashboard.yaml" in message


def test_spec_ignore_can_leave_a_kustomization_path_out(tmp_path: Path, build_cache: Path) -> None:
    repo = make_repo(tmp_path)
    sync = repo / "kubernetes/clusters/dev/flux-system/sync.yaml"
    sync.write_text(sync.read_text().replace(
        "  interval: 1h\n  ref:", "  ignore: |\n    /*\n    !/kubernetes\n    /kubernetes/apps/podinfo/app/\n"
        "  interval: 1h\n  ref:", 1), encoding="utf-8")
    report = run(repo, build_cache)
    [(rule, message)] = _findings(report, PODINFO)
    assert rule == "build/path-missing" and "not in the source artifact" in message


def test_a_symlinked_path_is_not_in_the_artifact(tmp_path: Path, build_cache: Path) -> None:
    repo = make_repo(tmp_path)
    app = repo / "kubernetes/apps/podinfo/app"
    app.rename(repo / "kubernetes/apps/podinfo/real-app")
    app.symlink_to("real-app")
    report = run(repo, build_cache)
    assert [rule for rule, _ in _findings(report, PODINFO)] == ["build/path-missing"]


def test_default_exclusions_hold_only_while_nothing_is_declared(tmp_path: Path, build_cache: Path) -> None:
    repo = make_repo(tmp_path)
    (repo / "kubernetes/apps/podinfo/app/.sops.yaml").write_text("creation_rules:\n  - age: age1xyz\n")
    assert not _findings(run(repo, build_cache), PODINFO)  # **/.sops.yaml is a default exclusion
    (repo / ".sourceignore").write_text("*.md\n")  # now only *.md (and VCS files) are left out
    assert [rule for rule, _ in _findings(run(repo, build_cache), PODINFO)] == ["build/kustomize-error"]


def _key(label: str):  # type: ignore[no-untyped-def]
    from greenfield.core.model import NamespacedName

    namespace, name = label.split("/")
    return NamespacedName(namespace, name)


def test_a_changed_sourceignore_affects_every_kustomization(tmp_path: Path, build_cache: Path) -> None:
    repo = make_repo(tmp_path)
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "base"]):
        Command([*git, *args], cwd=repo, timeout=60).run()
    (repo / "kubernetes/apps/grafana/.sourceignore").write_text("app/dashboard.yaml\n")
    report = run(repo, build_cache, changed_since="HEAD")
    # podinfo reads nothing of grafana's folder: still affected, the artifact it is built from changed
    assert "flux-system/grafana" in report.affected["dev"] and "flux-system/podinfo" in report.affected["dev"]
    assert [f.rule for f in report.findings if f.kustomization == "flux-system/grafana"] == ["build/kustomize-error"]
