"""The composite GitHub Action (`action.yml`), its steps run as a runner runs them: each `run:` script with
bash, the runner's files (GITHUB_OUTPUT, GITHUB_PATH, GITHUB_STEP_SUMMARY), the step's `env:` with the few
expressions the action uses evaluated, and a fake `gh` on PATH that keeps the comments of one pull request
in a file. The install step (pip install of the action's own folder) is what tests/companion/
test_wheel_install.py proves; here the checkout's environment stands in for it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from tests.companion.conftest import commit_all, git, replace_replicas

REPO_ROOT = Path(__file__).resolve().parents[2]
FAKE_GH = """#!/usr/bin/env python3
import json, sys
from pathlib import Path
store = Path(__file__).with_name("comments.json")
comments = json.loads(store.read_text()) if store.exists() else []
args = sys.argv[1:]
assert args[0] == "api", args
method = args[args.index("--method") + 1] if "--method" in args else "GET"
path = args[1] if args[1] != "--method" else args[3]
if method == "GET":
    assert "--jq" in args  # the action asks for our own comment only
    mine = [c for c in comments if c["body"].startswith("<!-- greenfield-diff -->")]
    print(mine[0]["id"] if mine else "")
else:
    body = Path(args[args.index("-F") + 1].split("=@", 1)[1]).read_text()
    if method == "POST":
        comments.append({"id": len(comments) + 100, "body": body, "path": path})
    else:
        [comment] = [c for c in comments if path.endswith(f"/{c['id']}")]
        comment["body"] = body
    store.write_text(json.dumps(comments))
"""


def evaluate(value: str, inputs: dict[str, str], context: dict[str, str]) -> str:
    """The expressions action.yml uses: inputs.X, github.X, `a || format('origin/{0}', github.base_ref)`."""
    def one(expression: str) -> str:
        expression = expression.strip()
        if "||" in expression:
            first, second = (part.strip() for part in expression.split("||", 1))
            return one(first) or one(second)
        match = re.fullmatch(r"format\('([^']*)', (.+)\)", expression)
        if match:
            return match.group(1).replace("{0}", one(match.group(2)))
        scope, _, name = expression.partition(".")
        return inputs.get(name, "") if scope == "inputs" else context[expression]

    return re.sub(r"\$\{\{(.+?)\}\}", lambda m: one(m.group(1)), value)


def condition(expression: str, inputs: dict[str, str], context: dict[str, str], outcomes: dict[str, str]) -> bool:
    parts = [part.strip() for part in expression.split("&&")]
    for part in parts:
        if part == "always()":
            continue
        left, right = (side.strip() for side in part.split("=="))
        right = right.strip("'")
        if left.startswith("steps."):
            actual = outcomes.get(left.split(".")[1], "")
        else:
            actual = evaluate("${{ " + left + " }}", inputs, context)
        if actual != right:
            return False
    return True


def run_action(repo: Path, tmp: Path, inputs: dict[str, str]) -> dict[str, Any]:
    action = yaml.safe_load((REPO_ROOT / "action.yml").read_text(encoding="utf-8"))
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    values.update(inputs)
    context = {"github.event_name": "pull_request", "github.base_ref": "main", "github.token": "t0ken",
               "github.event.pull_request.number": "7"}
    runner = tmp / "runner"
    runner.mkdir(exist_ok=True)
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "gh").write_text(FAKE_GH, encoding="utf-8")
    (bin_dir / "gh").chmod(0o755)
    files = {name: runner / name for name in ("output", "path", "summary")}
    base_env = {**os.environ, "CI": "true", "RUNNER_TEMP": str(runner), "GITHUB_ACTION_PATH": str(REPO_ROOT),
                "GITHUB_REPOSITORY": "org/fleet", "XDG_CACHE_HOME": str(tmp / "cache"),
                "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}"}
    outcomes: dict[str, str] = {}
    outputs: dict[str, dict[str, str]] = {}
    for step in action["runs"]["steps"]:
        if step["name"] == "Install greenfield":
            continue  # the wheel test installs it for real
        if "if" in step and not condition(step["if"], values, context, outcomes):
            continue
        for path in files.values():
            path.write_text("", encoding="utf-8")
        env = {**base_env, **{k: evaluate(str(v), values, context) for k, v in (step.get("env") or {}).items()},
               "GITHUB_OUTPUT": str(files["output"]), "GITHUB_PATH": str(files["path"]),
               "GITHUB_STEP_SUMMARY": str(files["summary"])}
        cwd = repo / evaluate(step.get("working-directory", "."), values, context)
        # what a runner runs for `shell: bash`
        result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=cwd,
                                env=env, capture_output=True, text=True, timeout=600, check=False)
        outcomes[step.get("id", step["name"])] = "success" if result.returncode == 0 else "failure"
        outputs[step.get("id", step["name"])] = {
            "stdout": result.stdout, "stderr": result.stderr, "code": str(result.returncode),
            **dict(line.split("=", 1) for line in files["output"].read_text().splitlines() if "=" in line),
            "summary": files["summary"].read_text()}
    comments_file = bin_dir / "comments.json"
    comments = json.loads(comments_file.read_text()) if comments_file.exists() else []
    return {"outcomes": outcomes, "outputs": outputs, "comments": comments}


def test_action_validates_writes_sarif_and_keeps_one_diff_comment(changed_repo: Path, tmp_path: Path) -> None:
    git(changed_repo, "checkout", "-q", "-b", "pr")
    try:
        replace_replicas(changed_repo, 5, 6)
        commit_all(changed_repo, "six replicas")
        git(changed_repo, "update-ref", "refs/remotes/origin/main", "main")  # what actions/checkout fetches
        first = run_action(changed_repo, tmp_path, {"validate-args": "--no-schema"})
        assert first["outcomes"] == {"validate": "success", "diff": "success",
                                     "Comment the diff on the pull request": "success"}, first["outputs"]
        sarif = json.loads(Path(first["outputs"]["validate"]["sarif-file"]).read_text(encoding="utf-8"))
        assert sarif["version"] == "2.1.0"
        assert first["outputs"]["diff"]["changed"] == "true"
        assert "values.replicaCount: 5 -> 6" in first["outputs"]["diff"]["summary"]
        [comment] = first["comments"]
        assert comment["path"] == "repos/org/fleet/issues/7/comments" and "5 -> 6" in comment["body"]

        replace_replicas(changed_repo, 6, 8)
        commit_all(changed_repo, "eight replicas")
        second = run_action(changed_repo, tmp_path, {"validate-args": "--no-schema"})
        [updated] = second["comments"]  # the same comment, updated
        assert updated["id"] == comment["id"] and "5 -> 8" in updated["body"]

        broken = changed_repo / "kubernetes/apps/grafana/app/kustomization.yaml"
        broken.write_text(broken.read_text(encoding="utf-8") + "  - ./missing.yaml\n", encoding="utf-8")
        commit_all(changed_repo, "breaks grafana")
        failing = run_action(changed_repo, tmp_path, {"validate-args": "--no-schema"})
        assert failing["outcomes"]["validate"] == "failure"
        assert "::error file=kubernetes/apps/grafana/app/kustomization.yaml" in failing["outputs"]["validate"]["stdout"]
        assert failing["outcomes"]["diff"] == "success"  # the diff is still posted
    finally:
        git(changed_repo, "checkout", "-q", "-f", "main")
        git(changed_repo, "branch", "-q", "-D", "pr")
