"""`greenfield diff --format markdown` on the largest corpus repository stays a postable pull-request comment.

The repository is copied to a temporary folder, committed, and one file changed and committed: the defaults
patch its root Kustomization writes into every child Kustomization (HelmRelease remediation retries), which
changes every HelmRelease of the cluster and every child Kustomization, the widest one-file change it has."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.companion.conftest import CORPUS, commit_all, git, greenfield

from greenfield.core.diff_format import GITHUB_COMMENT_LIMIT

LARGEST = "haraldkoch__kochhaus-home"  # the most YAML files of the corpus (corpus.yaml)
ENTRY = "kubernetes/main/flux/cluster"
CHANGED_FILE = "kubernetes/main/flux/cluster/ks.yaml"
IN_CLUSTER = Path(__file__).resolve().parents[1] / "fixtures" / "corpus" / "haraldkoch-in-cluster.yaml"


def test_markdown_of_a_wide_change_fits_in_one_comment(tmp_path: Path, diff_cache: Path) -> None:
    repo = tmp_path / "fleet"
    shutil.copytree(CORPUS / "repos" / LARGEST, repo, symlinks=True)
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "snapshot")
    path = repo / CHANGED_FILE
    text = path.read_text(encoding="utf-8")
    assert "retries: 2" in text
    path.write_text(text.replace("retries: 2", "retries: 3"), encoding="utf-8")
    commit_all(repo, "one more remediation retry for every HelmRelease")
    common = ["diff", "--base", "HEAD~1", "--head", "HEAD", "--cluster-path", ENTRY, "--substitute-from",
              str(IN_CLUSTER), "--cache-dir", str(diff_cache / LARGEST)]

    markdown = greenfield(*common, "--format", "markdown", cwd=repo)
    assert markdown.returncode == 1, markdown.stderr
    comment = markdown.stdout
    assert len(comment) < GITHUB_COMMENT_LIMIT
    assert comment.count("<details") == comment.count("</details>") > 10
    assert "spec.upgrade.remediation.retries: 2 -> 3" in comment

    document = json.loads(greenfield(*common, "--format", "json", cwd=repo).stdout)
    summary = document["summary"]
    assert summary["changed"] > 100 and summary["added"] == summary["removed"] == 0
    assert len(json.dumps(document)) > GITHUB_COMMENT_LIMIT  # the whole diff would not fit: the cap is real
    shown = comment.count("**~ `")  # one header per changed object shown
    if "**Truncated**" in comment:
        assert 0 < shown < summary["changed"]
    else:
        assert shown == summary["changed"]
