"""Which files of a Git source are in the artifact Flux builds from: source-controller's ignore rules.

A port of what source-controller runs (fluxcd/pkg/sourceignore on go-git's gitignore patterns, and the
artifact storage's filter): `.sourceignore` files (each scoped to its folder) and the GitRepository's
`spec.ignore`; when neither gives a pattern, the built-in exclusions (images, archives, CI files, .sops.yaml,
...) apply instead. The VCS files are always excluded. The archive also leaves out anything that is not a
regular file or a folder (symlinks). Paths are repository-relative, as lists of names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from greenfield.core.gomatch import compile_pattern

IGNORE_FILE = ".sourceignore"
EXCLUDE_VCS = ".git/,.gitignore,.gitmodules,.gitattributes"
EXCLUDE_EXT = "*.jpg,*.jpeg,*.gif,*.png,*.wmv,*.flv,*.tar.gz,*.zip"
EXCLUDE_CI = (".github/,.circleci/,.travis.yml,.gitlab-ci.yml,appveyor.yml,.drone.yml,cloudbuild.yaml,"
              "codeship-services.yml,codeship-steps.yml")
EXCLUDE_EXTRA = "**/.goreleaser.yml,**/.sops.yaml,**/.flux.yaml"


def _match(pattern: str, name: str) -> bool:
    compiled = compile_pattern(pattern)
    return compiled is not None and compiled.match(name) is not None


@dataclass(frozen=True)
class Pattern:
    """go-git's gitignore pattern: `domain` is the folder of the file that declared it."""

    domain: tuple[str, ...]
    parts: tuple[str, ...]
    inclusion: bool
    dir_only: bool
    is_glob: bool

    @classmethod
    def parse(cls, text: str, domain: Sequence[str] = ()) -> Pattern:
        inclusion = text.startswith("!")
        if inclusion:
            text = text[1:]
        if not text.endswith("\\ "):
            text = text.rstrip(" ")
        dir_only = text.endswith("/")
        if dir_only:
            text = text[:-1]
        return cls(tuple(domain), tuple(text.split("/")), inclusion, dir_only, "/" in text)

    def match(self, path: Sequence[str], is_dir: bool) -> int:
        """0 no match, 1 exclude, 2 include (go-git's MatchResult)."""
        if len(path) <= len(self.domain) or tuple(path[:len(self.domain)]) != self.domain:
            return 0
        rest = list(path[len(self.domain):])
        matched = self._glob(rest, is_dir) if self.is_glob else self._simple(rest, is_dir)
        if not matched:
            return 0
        return 2 if self.inclusion else 1

    def _simple(self, path: list[str], is_dir: bool) -> bool:
        for index, name in enumerate(path):
            if not _match(self.parts[0], name):
                continue
            return not (self.dir_only and not is_dir and index == len(path) - 1)
        return False

    def _glob(self, path: list[str], is_dir: bool) -> bool:
        matched = False
        traverse = False
        for index, part in enumerate(self.parts):
            if part == "":
                traverse = False
                continue
            if part == "**":
                if index == len(self.parts) - 1:
                    break
                traverse = True
                continue
            if "**" in part:
                return False
            if not path:
                return False
            if traverse:
                traverse = False
                while path:
                    element = path.pop(0)
                    if _match(part, element):
                        matched = True
                        break
                    if not path:
                        matched = False
            else:
                if not _match(part, path[0]):
                    return False
                matched = True
                path = path[1:]
        if matched and self.dir_only and not is_dir and not path:
            matched = False
        return matched


def read_patterns(text: str, domain: Sequence[str] = ()) -> list[Pattern]:
    """Patterns of a .sourceignore file or of spec.ignore: one a line, `#` comments and blank lines skipped."""
    return [Pattern.parse(line, domain) for line in text.splitlines()
            if not line.startswith("#") and line.strip()]


def _split(patterns: str) -> list[Pattern]:
    return [Pattern.parse(item) for item in patterns.split(",")]


class Matcher:
    """go-git's matcher: the last pattern that matches a path decides (exclude, or include for `!`)."""

    def __init__(self, patterns: Sequence[Pattern]) -> None:
        self.patterns = list(patterns)

    def excluded(self, path: str, is_dir: bool) -> bool:
        parts = [part for part in path.split("/") if part and part != "."]
        for pattern in reversed(self.patterns):
            result = pattern.match(parts, is_dir)
            if result:
                return result == 1
        return False


class ArtifactFilter(Matcher):
    """Is a repository path left out of the artifact? (the artifact storage's SourceIgnoreFilter)"""

    def __init__(self, declared: Sequence[Pattern]) -> None:
        # declared patterns (.sourceignore files, spec.ignore) replace the built-in exclusions; VCS files stay out
        defaults = [] if declared else _split(",".join((EXCLUDE_EXT, EXCLUDE_CI, EXCLUDE_EXTRA)))
        super().__init__(_split(EXCLUDE_VCS) + defaults + list(declared))
