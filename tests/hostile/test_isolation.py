"""No hang, and one Kustomization's failure stays its own.

- The deadlock: after a validate, an edit that removes a document's `kind` in a parent plus edits in its
  children made the next run hang (the prefetch started the children's builds, the walk never asked for them,
  and closing the pool held the lock those builds needed to finish).
- A kustomize that panics or hangs on one member of a batch (one kustomize process builds several
  Kustomizations) must fail only that member; the finding names the Kustomization and says what happened.
  A fake `kubectl` (GREENFIELD_KUBECTL) forwards to the real one unless the farm it is asked to build holds a
  marker file: then it panics like Go does, or sleeps past the timeout.
- kustomize's wrapper noise is stripped: the finding points at the broken file and line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.hostile.conftest import TIMEOUT, greenfield, validate_json

from greenfield.adapters.kustomize import kubectl_binary

APPS = "kubernetes/apps"
SIBLINGS = [f"tool{index}" for index in range(6)]  # with 2 workers: batches of 3


def _siblings(repo: Path) -> None:
    """Six more Kustomizations next to grafana (copies with their own names), so that builds are batched."""
    for name in SIBLINGS:
        folder = repo / APPS / name
        shutil.copytree(repo / APPS / "grafana", folder)
        for path in folder.rglob("*.yaml"):
            text = path.read_text(encoding="utf-8").replace("grafana", name).replace("dependsOn:\n    - name: "
                                                                                     "podinfo\n  ", "")
            path.write_text(text, encoding="utf-8")
    index = repo / APPS / "kustomization.yaml"
    index.write_text(index.read_text(encoding="utf-8") + "".join(f"  - ./{n}\n" for n in SIBLINGS), encoding="utf-8")


FAKE = """#!{python}
import os, sys, time
root = sys.argv[-1]
markers = set()
for folder, names, files in os.walk(root):
    markers.update(name for name in files if name.endswith("-MARKER"))
if "PANIC-MARKER" in markers:
    sys.stderr.write("panic: runtime error: invalid memory address or nil pointer dereference\\n"
                     "[signal SIGSEGV: segmentation violation]\\n\\ngoroutine 1 [running]:\\nmain.main()\\n")
    sys.exit(2)
if "SLEEP-MARKER" in markers:
    time.sleep(60)
os.execv({real!r}, [{real!r}, *sys.argv[1:]])
"""


def _fake_kubectl(tmp_path: Path) -> Path:
    fake = tmp_path / "fake-kubectl"
    fake.write_text(FAKE.format(python=sys.executable, real=str(kubectl_binary())), encoding="utf-8")
    fake.chmod(0o755)
    return fake


def _run(repo: Path, cache: Path, fake: Path, **env: str) -> list[dict[str, object]]:
    result = subprocess.run([sys.executable, "-m", "greenfield", "validate", "--no-schema", "--format", "json",
                             "--cache-dir", str(cache)], cwd=repo, capture_output=True, text=True, timeout=TIMEOUT,
                            env={**os.environ, "GREENFIELD_KUBECTL": str(fake), **env})
    assert "Traceback" not in result.stderr, result.stderr
    findings: list[dict[str, object]] = json.loads(result.stdout)["findings"]
    return findings


def test_no_deadlock_after_removing_a_kind_and_editing_elsewhere(tmp_path: Path, repo: Path) -> None:
    cache = tmp_path / "cache"
    validate_json(repo, cache)
    podinfo_ks = repo / APPS / "podinfo/ks.yaml"
    podinfo_ks.write_text(podinfo_ks.read_text(encoding="utf-8").replace("kind: Kustomization\n", "", 1),
                          encoding="utf-8")
    for edited in ("grafana/app/dashboard.yaml", "podinfo/app/configmap.yaml"):
        with (repo / APPS / edited).open("a", encoding="utf-8") as handle:
            handle.write("# edited\n")
    result = greenfield("validate", "--no-schema", "--format", "json", "--cache-dir", str(cache), cwd=repo,
                        timeout=60)  # hung forever before the fix
    [finding] = json.loads(result.stdout)["findings"]
    assert finding["rule"] == "build/kustomize-error"
    assert (finding["file"], finding["line"]) == (f"{APPS}/podinfo/ks.yaml", 2)
    assert finding["message"].startswith(f"{APPS}/podinfo/ks.yaml: missing kind in object")
    assert "accumulat" not in finding["message"]  # wrapper noise stripped


def test_a_panic_fails_only_its_own_kustomization(tmp_path: Path, repo: Path) -> None:
    _siblings(repo)
    (repo / APPS / "tool4/app/PANIC-MARKER").write_text("", encoding="utf-8")
    findings = _run(repo, tmp_path / "cache", _fake_kubectl(tmp_path))
    assert [(f["rule"], f["kustomization"]) for f in findings] == [("build/kustomize-error", "flux-system/tool4")]
    assert str(findings[0]["message"]).startswith("kustomize crashed: runtime error: invalid memory address")


def test_a_real_kustomize_failure_fails_only_its_own_kustomization(tmp_path: Path, repo: Path) -> None:
    _siblings(repo)
    namespace = repo / APPS / "tool2/app/namespace.yaml"
    namespace.write_text(namespace.read_text(encoding="utf-8").replace("kind: Namespace\n", ""), encoding="utf-8")
    findings = validate_json(repo, tmp_path / "cache")
    assert [(f["rule"], f["kustomization"], f["file"], f["line"]) for f in findings] == [
        ("build/kustomize-error", "flux-system/tool2", f"{APPS}/tool2/app/namespace.yaml", 2)]


def test_a_hanging_build_times_out_and_names_its_kustomization(tmp_path: Path, repo: Path) -> None:
    _siblings(repo)
    (repo / APPS / "tool1/app/SLEEP-MARKER").write_text("", encoding="utf-8")
    findings = _run(repo, tmp_path / "cache", _fake_kubectl(tmp_path), GREENFIELD_KUSTOMIZE_TIMEOUT="2")
    assert [(f["rule"], f["kustomization"]) for f in findings] == [("build/kustomize-error", "flux-system/tool1")]
    assert re.search(r"did not finish within 2s building kubernetes/apps/tool1/app", str(findings[0]["message"]))


def test_kustomize_wrapper_noise_is_reduced_to_the_cause_and_its_file() -> None:
    from greenfield.adapters.kustomize import explain_kustomize_error

    nested = ("accumulating resources: accumulation err='accumulating resources from 'b0/cluster/apps': read "
              "cluster/apps: is a directory': recursed accumulation of path 'cluster/apps': accumulating resources: "
              "accumulation err='accumulating resources from 'dashboard': read cluster/apps/dashboard: is a "
              "directory': recursed accumulation of path 'cluster/apps/dashboard': loading KV pairs: file "
              "sources: [x.json]: no such file or directory")
    assert explain_kustomize_error(nested) == (
        "loading KV pairs: file sources: [x.json]: no such file or directory", "cluster/apps/dashboard")
    missing = ("accumulating resources: accumulation err='accumulating resources from 'gone.yaml': evalsymlink "
               "failure on '/tmp/x/b0/apps/gone.yaml' : lstat /tmp/x/b0/apps/gone.yaml: no such file or "
               "directory': must build at directory: not a valid directory: evalsymlink failure on "
               "'/tmp/x/b0/apps/gone.yaml' : lstat /tmp/x/b0/apps/gone.yaml: no such file or directory")
    assert explain_kustomize_error(missing) == ("no such file or directory", "gone.yaml")
    assert explain_kustomize_error("trouble configuring builtin PatchTransformer") is None
