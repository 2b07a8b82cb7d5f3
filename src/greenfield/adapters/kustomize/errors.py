"""Explaining a failed build: kustomize's innermost cause, the file it names and the line."""

from __future__ import annotations

import contextlib
import posixpath
import re

from greenfield.adapters.kustomize.files import kustomization_file, line_index, line_of_entry
from greenfield.adapters.kustomize.job import Job
from greenfield.adapters.kustomize.state import KustomizerState


class KustomizeErrors(KustomizerState):
    """kustomize's messages as (message, file, line) of the repository."""

    def _kfile(self, path: str) -> str:
        """The kustomization file of a build folder (repository-relative), "" when it was generated."""
        found = kustomization_file(self.repo / path if path else self.repo)
        return found.relative_to(self.repo).as_posix() if found is not None else ""

    def _clean(self, message: str) -> str:
        message = message.replace(str(self.repo) + "/", "")
        # git's ": exit status 128" (a failed remote fetch) trails the message that says why
        lines = [line for line in message.splitlines() if line.strip() and not re.fullmatch(
            r":?\s*exit status \d+\s*", line)]
        panic = next((line for line in lines if line.startswith("panic: ")), None)
        if panic is not None:  # a Go panic: its first line says what happened, the rest is a stack trace
            return f"kustomize crashed: {panic.removeprefix('panic: ')}"
        return lines[-1].removeprefix("error: ") if lines else "kustomize failed"

    def _explain(self, raw: str, job: Job) -> tuple[str, str, int]:
        """(message, file, line) of a failed build: kustomize's innermost cause and the file it names."""
        message = self._clean(raw)
        kfile = self._kfile(job.output.request.path)
        cause = explain_kustomize_error(message)
        if cause is None:
            return message, kfile, 0
        text, named = cause
        file = self._resolve_named(named, job)
        if not file:  # e.g. a missing resource: name it, at the line of the kustomization that lists it
            named = re.sub(r"^b\d+/", "", named)
            line = 0
            if kfile:
                with contextlib.suppress(OSError, UnicodeDecodeError):
                    line = line_of_entry((self.repo / kfile).read_text(encoding="utf-8"), posixpath.basename(named))
            return f"{named}: {text}", kfile, line
        line = 0
        numbered = re.search(r"\byaml: line (\d+)", text)
        if numbered:
            line = int(numbered.group(1))
        else:
            name = re.search(r"\{\{\S* \S*\} \{\{(\S+)", text)
            index = self._line_cache.get(self.repo / file)
            if index is None:
                index = self._line_cache[self.repo / file] = line_index(self.repo / file)
            found = [start for start, _, found_name in index if name and found_name == name.group(1)]
            line = found[0] if found else (index[0][0] if len(index) == 1 else 0)
        return f"{file}: {text}", file, line

    def _resolve_named(self, named: str, job: Job) -> str:
        """A path from kustomize's message as a repository-relative file ("" when it is not one)."""
        candidates = [named]
        base = job.folder.relative_to(self.repo).as_posix() if job.folder != self.repo else ""
        candidates.append(posixpath.normpath(posixpath.join(base, named)))
        for candidate in candidates:
            candidate = re.sub(r"^b\d+/", "", candidate)
            if not candidate or candidate.startswith(("/", "..")):
                continue
            if (self.repo / candidate).is_dir():  # a folder: its kustomization file says what it reads
                found = kustomization_file(self.repo / candidate)
                if found is not None:
                    return found.relative_to(self.repo).as_posix()
            elif (self.repo / candidate).is_file():
                return candidate
        return ""


def explain_kustomize_error(message: str) -> tuple[str, str] | None:
    """kustomize nests its cause in wrappers ("accumulating resources: accumulation err='accumulating
    resources from 'x': ...': must build at directory: 'a/x': file is not directory"). The innermost cause
    and the file it is about, or None when the message has no such structure."""
    sources = list(re.finditer(r"accumulating resources from '([^']+)': ", message))
    if not sources:
        return None
    last = sources[-1]
    recursed = list(re.finditer(r"recursed accumulation of path '([^']+)': ", message))
    if recursed and recursed[-1].start() > last.start():  # the innermost folder's own error (not a resource's)
        deepest = recursed[-1]
        cause = message[deepest.end():].removeprefix("accumulating resources: ")
        return cause.strip() or message, deepest.group(1)
    cause = message[last.end():]
    cause = re.split(r"'?: (?:must build at directory|recursed accumulation of path)\b", cause)[0].rstrip("'")
    cause = re.sub(r"evalsymlink failure on '[^']*' : lstat [^:]*: ", "", cause)
    named = last.group(1)
    must = re.search(r"must build at directory: '([^']+)': file is not directory", message)
    if must is not None and posixpath.basename(must.group(1)) == posixpath.basename(named):
        named = must.group(1)
    folders = re.findall(r"recursed accumulation of path '([^']+)'", message[:last.start()])
    if must is None and folders and not named.startswith("/"):
        named = posixpath.normpath(posixpath.join(folders[-1], named))
    return cause.strip() or message, named
