"""git on a repository we do not trust: nothing it configures is ever executed.

git reads the repository's own `.git/config` whatever the environment says, and several of its keys name
commands that ordinary read-only commands run: `core.fsmonitor` (any command that looks at the working
tree), `filter.<driver>.clean/smudge/process` and `diff.<driver>.textconv/command` (selected by the
repository's own `.gitattributes`), `core.pager`, `gpg.program` behind `log.showSignature`, hooks. Command-line
`-c` settings win over every config file, so each git run here carries overrides for the fixed keys and for
every driver the repository's config defines (listed first with `git config --list`, which executes
nothing). System and global config are not read at all, no transport is allowed (no network), the index is
never rewritten (`GIT_OPTIONAL_LOCKS=0`: nothing is written into the repository), and a revision coming from
the command line is resolved with `rev-parse --verify --end-of-options` before it is used, so that
`--output=FILE` is a bad revision and never an option.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from greenfield.adapters.command import Command, CommandResult
from greenfield.errors import CommandError, InputError, quoted

SAFE_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_SYSTEM": "/dev/null",
    "GIT_OPTIONAL_LOCKS": "0",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_PAGER": "cat",
    "PAGER": "cat",
    "GIT_ASKPASS": "/bin/false",
    "SSH_ASKPASS": "/bin/false",
    "GIT_SSH_COMMAND": "/bin/false",
    "GIT_ALLOW_PROTOCOL": "",
    "GIT_NO_REPLACE_OBJECTS": "1",
}

SAFE_CONFIG = (
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "core.pager=cat",
    "core.sshCommand=/bin/false",
    "core.askPass=/bin/false",
    "core.gitProxy=",
    "core.attributesFile=/dev/null",
    "core.untrackedCache=false",
    "diff.external=",
    "log.showSignature=false",
    "gpg.program=/bin/false",
    "protocol.allow=never",
    "credential.helper=",
    "core.quotePath=false",
)

# per-driver keys that name a command (the driver name comes from the repository's config)
_DRIVER_KEY = re.compile(r"^(filter|diff|merge)\.(.+)\.(clean|smudge|process|textconv|command|driver)$", re.I)


def _overrides(repo: Path) -> list[str]:
    """`-c` pairs neutralising every command the repository's config defines, plus the fixed ones."""
    pairs = list(SAFE_CONFIG)
    try:
        listed = Command(["git", *_flags(SAFE_CONFIG), "config", "--null", "--list"], cwd=repo,
                         env=SAFE_ENV, timeout=30).run().stdout
    except CommandError:
        listed = ""
    for item in listed.split("\0"):
        key = item.split("\n", 1)[0]
        if key.lower() == "core.worktree":  # a working tree elsewhere: git would read (and list) that folder
            raise CommandError("the repository's git config sets core.worktree (not followed)")
        match = _DRIVER_KEY.match(key)
        if match is not None:
            pairs.append(f"{key}=")
            if match.group(1).lower() == "filter":
                pairs.append(f"{match.group(1)}.{match.group(2)}.required=false")
    pairs.append(f"safe.directory={repo.resolve()}")
    return pairs


def _flags(pairs: Sequence[str]) -> list[str]:
    flags: list[str] = []
    for pair in pairs:
        flags += ["-c", pair]
    return flags


class Git:
    """Read-only git commands on one (untrusted) repository."""

    def __init__(self, repo: Path, timeout: float = 60) -> None:
        self.repo = repo
        self.timeout = timeout
        self._config: list[str] | None = None

    def command(self, *args: str) -> Command:
        if self._config is None:
            self._config = _flags(_overrides(self.repo))
        return Command(["git", *self._config, *args], cwd=self.repo, env=SAFE_ENV, timeout=self.timeout)

    def run(self, *args: str) -> CommandResult:
        return self.command(*args).run()

    def commit(self, revision: str) -> str:
        """The commit a user-supplied revision names (never read as an option)."""
        if not revision or "\0" in revision or "\n" in revision:
            raise InputError(f"invalid revision {quoted(revision)}", path=str(self.repo),
                             hint="pass a revision git knows (e.g. origin/main, HEAD~1)")
        try:
            found = self.run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}")
        except CommandError as error:
            raise InputError(f"unknown revision {quoted(revision)}", path=str(self.repo),
                             hint="pass a revision git knows (e.g. origin/main, HEAD~1)") from error
        sha = found.stdout.strip()
        if not re.fullmatch(r"[0-9a-f]{40}([0-9a-f]{24})?", sha):
            raise InputError(f"unknown revision {quoted(revision)}", path=str(self.repo))
        return sha

    def commit_range(self, revisions: str) -> str:
        """`A..B`, `A...B` or `A` with each end resolved to a commit (an empty end is HEAD)."""
        for separator in ("...", ".."):
            if separator in revisions:
                start, end = revisions.split(separator, 1)
                return f"{self.commit(start or 'HEAD')}{separator}{self.commit(end or 'HEAD')}"
        return self.commit(revisions)
