"""`schedule`, `stories` and `report` arguments out of range are one-line errors, never an OverflowError or an
endless calendar."""

from __future__ import annotations

from pathlib import Path

import pytest
from inputs_helpers import clean, greenfield, one_line_error

CASES = [
    (["--sprint-length", "99999999999w"], "--sprint-length: '99999999999w' is not a duration like 2w or 10d"),
    (["--sprint-length", "9" * 5000 + "d"], "(5001 characters)"),
    (["--sprint-length", "27w"], "--sprint-length: '27w' is longer than 26w (182 days)"),
    (["--sprint-length", "6=999999999999999w"], "is not a duration like 2w or 10d"),
    (["--sprint-length", "99999999999999999999=2w"], "expected N=LENGTH (N a sprint number, 1 to 999)"),
    (["--sprint-length", "\u00b2=2w"], "expected N=LENGTH"),  # a Unicode digit int() would take
    (["--sprint-length", "0w"], "is not a duration"),
    (["--freeze", "2026-01-01..9999-12-31"], "longer than 366 days"),
    (["--freeze", "2026-02-01..2026-01-01"], "ends before it starts"),
    (["--freeze", ".."], "not a date"),
    (["--start", "9999-12-01"], "the sprint calendar runs past the year 9999"),
    (["--start", "9999-06-01", "--sprint-length", "26w"], "runs past the year 9999"),
    (["--start", ""], "--start '': not a date"),
    (["--holiday", "99999-01-01"], "not a date"),
    (["--capacity", "nan"], "must be a positive number"),
    (["--capacity", "inf"], "must be a positive number"),
    (["--capacity", "1e999"], "must be a positive number"),
    (["--capacity", "-1"], "must be a positive number"),
    (["--capacity", "apps="], "not a number"),
    (["--check", ""], "no seed schedule ''"),
    (["--check", "../../etc/passwd"], "no seed schedule '../../etc/passwd'"),
]


@pytest.mark.parametrize(("args", "words"), CASES, ids=[" ".join(a)[:40] for a, _ in CASES])
def test_out_of_range_schedule_arguments_are_one_line_errors(repo_root: Path, args: list[str], words: str) -> None:
    line = one_line_error(greenfield("schedule", *args, cwd=repo_root))
    assert words in line
    assert len(line) < 400  # a 5,000-character argument is cut in the message


def test_a_tiny_capacity_still_ends(repo_root: Path) -> None:
    out = clean(greenfield("schedule", "--capacity", "1e-300", cwd=repo_root))
    assert "exceeds the sprint's capacity and is scheduled alone" in out


def test_a_long_story_board_argument_is_cut(repo_root: Path) -> None:
    line = one_line_error(greenfield("stories", "--schedule", "x" * 3000, cwd=repo_root))
    assert "(3000 characters)" in line and len(line) < 300
    line = one_line_error(greenfield("stories", "--cluster", "[/x]", cwd=repo_root))
    assert "unknown cluster '[/x]'" in line
