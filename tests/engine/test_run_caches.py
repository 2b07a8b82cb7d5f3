"""What makes repeated runs fast without changing a result: the substitution memo and the build prefetch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from tests.engine.conftest import make_repo, run, scenario_names

from greenfield.adapters.cache import CacheStore, cache_folder
from greenfield.adapters.render_memo import ClusterMemo, RenderMemo, code_fingerprint
from greenfield.app.prefetch import INDEX_FILE, Prefetch, stale_requests
from greenfield.app.render import ClusterTarget, RenderOptions, render_repository
from greenfield.cli import registry
from greenfield.core.model import ClusterRender

TARGETS = [ClusterTarget("dev", "kubernetes/clusters/dev")]


def _facts(render: ClusterRender) -> tuple[list[object], list[object]]:
    """Everything a render reports: objects with their origin, and every note."""
    objects = [(o.kustomization, o.file, o.line, json.dumps(o.body, sort_keys=True)) for o in render.objects]
    notes = sorted((str(key), note.kind, note.message, note.file, note.line, note.object,
                    json.dumps(note.detail, sort_keys=True))
                   for key, node in render.kustomizations.items() for note in node.notes)
    return objects, notes


@pytest.mark.parametrize("name", [None, *[n for n in scenario_names() if "variable" in n or "substitut" in n
                                          or n in ("emptied-value", "leftover", "syntax", "runtime-placeholder")]])
def test_a_memo_hit_reports_exactly_what_substituting_again_does(tmp_path: Path, name: str | None) -> None:
    repo = make_repo(tmp_path, name)
    cache = tmp_path / "cache"
    fresh = render_repository(repo, TARGETS, RenderOptions(cache_dir=cache)).renders["dev"]
    if any(node.substitutions for node in fresh.kustomizations.values()):
        assert list((cache_folder(repo, cache) / "substituted").rglob("*.json")), "the first run leaves a memo"
    replayed = render_repository(repo, TARGETS, RenderOptions(cache_dir=cache)).renders["dev"]
    without = render_repository(repo, TARGETS, RenderOptions(cache_dir=tmp_path / "other", use_cache=False))
    assert _facts(replayed) == _facts(fresh) == _facts(without.renders["dev"])


def test_memo_entries_are_private_copies(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    cache = tmp_path / "cache"
    render_repository(repo, TARGETS, RenderOptions(cache_dir=cache))
    first = render_repository(repo, TARGETS, RenderOptions(cache_dir=cache)).renders["dev"]
    for obj in first.objects:
        obj.body["metadata"]["name"] = "changed-by-a-caller"
    again = render_repository(repo, TARGETS, RenderOptions(cache_dir=cache)).renders["dev"]
    assert all(o.name != "changed-by-a-caller" for o in again.objects)


def test_memo_of_another_engine_version_is_dropped_and_unused_entries_pruned(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    stale = cache / "substituted" / "0000000000000000"
    stale.mkdir(parents=True)
    (stale / "dev.json").write_text("{}", encoding="utf-8")
    memo = RenderMemo(cache)
    cluster = memo.for_cluster("dev")
    cluster["kept"] = "1"
    memo.save()
    assert not stale.exists()
    name = f"substituted/{code_fingerprint()}/dev.json"
    store = CacheStore(cache)
    assert json.loads(store.read(name) or "") == {"kept": "1"}
    unused = ClusterMemo(store, name)  # a run that asks nothing: the entry goes
    unused.save()
    assert json.loads(store.read(name) or "") == {}


def test_a_broken_memo_file_is_ignored(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    cache = tmp_path / "cache"
    folder = cache_folder(repo, cache) / "substituted" / code_fingerprint()
    folder.mkdir(parents=True)
    (folder / "dev.json").write_text("{not json", encoding="utf-8")
    render = render_repository(repo, TARGETS, RenderOptions(cache_dir=cache)).renders["dev"]
    assert render.objects
    assert json.loads(CacheStore(cache_folder(repo, cache)).read(f"substituted/{code_fingerprint()}/dev.json")
                      or "")  # rewritten whole


def test_the_build_index_names_builds_whose_inputs_changed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    cache = tmp_path / "cache"
    render_repository(repo, TARGETS, RenderOptions(cache_dir=cache))
    folder = cache_folder(repo, cache)
    assert (folder / INDEX_FILE).is_file()
    assert stale_requests(repo.resolve(), folder) == []
    helmrelease = repo / "kubernetes/apps/podinfo/app/helmrelease.yaml"
    helmrelease.write_text(helmrelease.read_text() + "# edited\n", encoding="utf-8")
    assert [r.path for r in stale_requests(repo.resolve(), folder)] == ["kubernetes/apps/podinfo/app"]
    store = CacheStore(folder)
    index = json.loads(store.read(INDEX_FILE) or "")
    index["repo"] = "/somewhere/else"
    store.write(INDEX_FILE, json.dumps(index))
    assert stale_requests(repo.resolve(), folder) == []  # the index of another repository is not a guess


def test_a_prefetched_build_is_the_one_the_walk_uses(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    cache = tmp_path / "cache"
    run(repo, cache)
    helmrelease = repo / "kubernetes/apps/podinfo/app/helmrelease.yaml"
    helmrelease.write_text(helmrelease.read_text() + "# edited\n", encoding="utf-8")
    prefetch = Prefetch(repo, cache)
    try:
        started = prefetch.take()
        assert [r.path for r in started.requests_started()] == ["kubernetes/apps/podinfo/app"]
        report = run(repo, cache, prefetch=prefetch)
    finally:
        prefetch.close()
    assert report.timings["builds"] == 1.0  # built once, by the prefetch, not again by the walk
    assert report.findings == run(repo, cache).findings


def test_a_wrong_guess_changes_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    other = make_repo(tmp_path / "other")
    cache = tmp_path / "cache"
    run(repo, cache)
    prefetch = Prefetch(other, tmp_path / "other-cache")  # not this repository: the run builds for itself
    try:
        report = run(repo, cache, prefetch=prefetch)
    finally:
        prefetch.close()
    assert report.findings == run(repo, cache).findings
    assert report.timings["cached_builds"] > 0


def test_only_the_invoked_command_prepares_early(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    class Module:
        @staticmethod
        def register(app: object) -> None:
            return None

        @staticmethod
        def prepare(argv: list[str]) -> None:
            calls.append(argv)

    monkeypatch.setattr(registry.importlib, "import_module", lambda name: Module)
    registry.register(typer.Typer(), ["validate", "--repo", "x"])
    registry.register(typer.Typer(), None)  # tests and other callers: nothing starts early
    assert calls == [["validate", "--repo", "x"]]


def test_cli_exit_codes_and_output_survive_the_fast_exit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, "undefined-variable")
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "greenfield", "validate", "--no-schema", "--format", "json",
               "--cache-dir", str(tmp_path / "cache")]
    first = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=300, env=environment,
                           check=False)
    assert first.returncode == 1, first.stderr
    assert any(f["rule"] == "substitution/undefined-variable" for f in json.loads(first.stdout)["findings"])
    second = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=300, env=environment,
                            check=False)
    assert (second.returncode, second.stdout) == (1, first.stdout)
    closed = subprocess.run(f"{' '.join(command)} | head -c 1", shell=True, cwd=repo, capture_output=True,
                            text=True, timeout=300, env=environment, check=False)
    assert "Traceback" not in closed.stderr


def test_the_second_run_takes_substituted_objects_from_the_memo(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    cache = tmp_path / "cache"
    render_repository(repo, TARGETS, RenderOptions(cache_dir=cache))
    store, name = CacheStore(cache_folder(repo, cache)), f"substituted/{code_fingerprint()}/dev.json"
    entries = json.loads(store.read(name) or "")
    assert entries
    marked = {key: value.replace('"namespace":', '"x-from-memo":true,"namespace":', 1) for key, value in entries.items()}
    store.write(name, json.dumps(marked))  # a genuine (sealed) entry: the memo is trusted only when it verifies
    again = render_repository(repo, TARGETS, RenderOptions(cache_dir=cache)).renders["dev"]
    assert any(o.body.get("metadata", {}).get("x-from-memo") for o in again.objects)


def test_main_called_in_process_raises_system_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the program itself ends without teardown; a caller of main() keeps control."""
    from greenfield.cli import main as cli_main

    monkeypatch.setattr(sys, "argv", ["pytest-runner", "--version"])
    with pytest.raises(SystemExit) as raised:
        cli_main.main()
    assert raised.value.code == 0
