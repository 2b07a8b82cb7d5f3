"""The one exception tree. The CLI turns any GreenfieldError into `greenfield: <path>: <problem> (hint: ...)`."""

from __future__ import annotations


class GreenfieldError(Exception):
    """Base of every error the tool raises on purpose."""

    def __init__(self, problem: str, *, path: str | None = None, hint: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path = path
        self.hint = hint

    def render(self) -> str:
        text = f"{self.path}: {self.problem}" if self.path else self.problem
        return f"{text} (hint: {self.hint})" if self.hint else text


class InputError(GreenfieldError):
    """Bad input from the user: a file, a flag, an inventory value."""


class BuildError(GreenfieldError):
    """A render step (kustomize, substitution, chart) could not produce output."""


class CommandError(GreenfieldError):
    """A subprocess failed, timed out or could not be started."""


class ClusterError(GreenfieldError):
    """The Kubernetes API or a node did not answer as required."""


def quoted(value: object, limit: int = 60) -> str:
    """`value` quoted for a message, cut to `limit` characters: a hostile 5,000-character argument must not turn
    the one error line into a page."""
    text = repr(value) if isinstance(value, str) else repr(str(value))
    return text if len(text) <= limit else f"{text[:limit - 5]}...{text[-1]} ({len(str(value))} characters)"
