"""Go's path.Match / filepath.Match (Unix) as Python regular expressions, for the Go tools greenfield
emulates: envsubst's `${var#pattern}` trimming and go-git's ignore patterns."""

from __future__ import annotations

import re
from functools import lru_cache


def _class_char(pattern: str, position: int) -> tuple[str, int] | None:
    """Go's getEsc: one (possibly escaped) character of a class; None where Go reports ErrBadPattern."""
    if position >= len(pattern) or pattern[position] in "-]":
        return None
    if pattern[position] == "\\":
        position += 1
        if position >= len(pattern):
            return None
    return pattern[position], position + 1


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """The pattern as a regex matching a whole string; None for a malformed one (Go: ErrBadPattern)."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\":
            index += 1
            if index >= len(pattern):
                return None
            out.append(re.escape(pattern[index]))
        elif char == "[":
            position = index + 1
            negate = position < len(pattern) and pattern[position] == "^"
            if negate:
                position += 1
            ranges: list[str] = []
            while True:
                if position < len(pattern) and pattern[position] == "]" and ranges:
                    break
                low = _class_char(pattern, position)
                if low is None:
                    return None
                character, position = low
                if position < len(pattern) and pattern[position] == "-":
                    high = _class_char(pattern, position + 1)
                    if high is None:
                        return None
                    ranges.append(f"{re.escape(character)}-{re.escape(high[0])}")
                    position = high[1]
                else:
                    ranges.append(re.escape(character))
            out.append(f"[{'^' if negate else ''}{''.join(ranges)}]")
            index = position
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out) + r"\Z")
