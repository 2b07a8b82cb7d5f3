"""Random repository mutations: no traceback, no hang, and the same findings from a warm cache as from a cold one.

Each example validates the basic fixture (filling a cache), applies one to three mutations (the corpus of
tests/engine/test_mutations.py plus random edits: a dropped `kind:`, a truncated file, garbage appended),
validates again with that cache (stale index, prefetched builds, memo), and once more with a fresh cache.
Bounded: few examples, no per-example deadline, and a total time budget.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.engine.test_mutations import MUTATIONS
from tests.hostile.conftest import copy_basic, greenfield

BUDGET = 60.0  # seconds for the whole test
_started: list[float] = []
_counter = [0]

Op = Callable[[Path], None]


def _files(repo: Path) -> list[Path]:
    return sorted(p for p in repo.rglob("*.yaml") if p.is_file())


def _drop_kind(index: int) -> Op:
    def op(repo: Path) -> None:
        files = _files(repo)
        if files:
            path = files[index % len(files)]
            path.write_text(path.read_text(encoding="utf-8").replace("kind:", "kinds:", 1), encoding="utf-8")
    return op


def _truncate(index: int, keep: float) -> Op:
    def op(repo: Path) -> None:
        files = _files(repo)
        if files:
            path = files[index % len(files)]
            data = path.read_bytes()
            path.write_bytes(data[: int(len(data) * keep)])
    return op


def _garbage(index: int, text: str) -> Op:
    def op(repo: Path) -> None:
        files = _files(repo)
        if files:
            with files[index % len(files)].open("a", encoding="utf-8") as handle:
                handle.write(text)
    return op


_corpus = st.sampled_from([ops for _, ops, _ in MUTATIONS]).map(lambda ops: list(ops))
_random = st.one_of(
    st.integers(0, 50).map(lambda i: [_drop_kind(i)]),
    st.tuples(st.integers(0, 50), st.floats(0, 1)).map(lambda t: [_truncate(*t)]),
    st.tuples(st.integers(0, 50), st.sampled_from(["\n  - ../../x\n", "\n: [\n", "\n---\n- 1\n", "\n${\n",
                                                   "\nkind: Secret\n", "\x00\x01", "\nresources: 7\n"]))
    .map(lambda t: [_garbage(*t)]),
)
mutations = st.lists(st.one_of(_corpus, _random), min_size=1, max_size=3)


def _validate(repo: Path, cache: Path) -> tuple[int, list[object]]:
    result = greenfield("validate", "--no-schema", "--format", "json", "--cache-dir", str(cache), cwd=repo,
                        timeout=120)  # a hang fails here; greenfield() asserts no traceback
    assert result.returncode in (0, 1), result.stderr
    assert len(result.stderr.strip().splitlines()) <= 1, result.stderr
    return result.returncode, json.loads(result.stdout) if result.stdout.strip() else []


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(chosen=mutations)
def test_mutations_never_crash_hang_or_depend_on_the_cache(tmp_path: Path, chosen: list[list[Op]]) -> None:
    if not _started:
        _started.append(time.monotonic())
    if time.monotonic() - _started[0] > BUDGET:
        return  # the budget is spent: the remaining examples pass without running
    _counter[0] += 1
    base = tmp_path / f"example-{_counter[0]}"
    base.mkdir()
    repo = copy_basic(base)
    warm = base / "warm-cache"
    _validate(repo, warm)
    for ops in chosen:
        for op in ops:
            with contextlib.suppress(AssertionError, OSError):  # an earlier mutation removed what this one edits
                op(repo)
    warm_result = _validate(repo, warm)
    cold_result = _validate(repo, base / "cold-cache")
    assert warm_result == cold_result
