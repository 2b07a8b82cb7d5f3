"""Entry point: registers the command groups and turns errors into one clear line."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading

import typer

from greenfield import __version__
from greenfield.cli.common import plain, say
from greenfield.errors import GreenfieldError

app = typer.Typer(
    name="greenfield",
    help="Multi-cluster GitOps platform: offline Flux validation, bootstrap, health, reproducibility, plan.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_state = {"debug": False}


def debug_enabled() -> bool:
    """`greenfield --debug ...`: commands that handle their own errors re-raise them for the traceback."""
    return _state["debug"]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"greenfield {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True),
) -> None:
    _state["debug"] = debug


def _register_optional() -> None:
    """Command groups delivered by later modules register themselves here."""
    from greenfield.cli import registry

    registry.register(app)


def _finish(code: int) -> None:
    """Exit after a command ran to its end. When nothing else runs any more, the exit handlers run and the
    process ends without freeing every object it built one by one (tens of milliseconds after a validate
    run: a tenth of a quick one's time)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # a reader that went away (`| head`) is not an error of ours
            if stream is not None:  # None: the program was started with that descriptor closed
                stream.flush()
    from greenfield.cli import registry

    # only as the program itself: a caller that runs main() in its own process (a test, an embedding tool)
    # gets SystemExit as before
    if threading.active_count() == 1 and registry.running_as_program():
        atexit._run_exitfuncs()
        os._exit(code)
    sys.exit(code)


def _fail(message: str, code: int = 1) -> None:
    """Print one error line and exit. The line is text (never markup); printing must not fail in its turn, or
    the user would see a traceback of the error handler instead of the error."""
    try:
        say(f"greenfield: {message}", err=True)
    except Exception:  # last resort: the console itself failed (closed stream, encoding)
        with contextlib.suppress(OSError):
            os.write(2, f"greenfield: {plain(message)}\n".encode("utf-8", "backslashreplace"))
    sys.exit(code)


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _safe_streams() -> None:
    """Output that cannot be encoded (a path that is not UTF-8, a terminal without UTF-8) is escaped, not fatal."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if callable(reconfigure):
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")


def main() -> None:
    _safe_streams()
    _register_optional()
    try:
        # click returns the code of a typer.Exit raised inside a command in non-standalone mode
        code = app(standalone_mode=False)
        _finish(code if isinstance(code, int) else 0)
    except GreenfieldError as error:
        if _state["debug"]:
            raise
        _fail(error.render())
    except typer.Exit as done:
        _finish(done.exit_code)
    except typer.Abort:
        _fail("aborted")
    except OSError as error:  # a file the user named cannot be read or written
        if _state["debug"]:
            raise
        where = f"{_cut(str(error.filename))}: " if error.filename else ""
        _fail(f"{where}{error.strerror or error} (hint: check the path and its permissions)")
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as error:  # click's usage errors (typer vendors click) arrive here in non-standalone mode
        show = getattr(error, "show", None)
        if callable(show) and isinstance(getattr(error, "exit_code", None), int):
            show()
            sys.exit(error.exit_code)  # type: ignore[attr-defined]
        if _state["debug"]:
            raise
        _fail(f"internal error: {error!r} (hint: re-run with --debug and report it)")
