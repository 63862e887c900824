"""Shared CLI plumbing: the ``--store``/``--json`` options, output, and store opening."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import IO, Any, TypeVar, cast

import click

from forebear import config
from forebear.errors import ForebearError

F = TypeVar("F", bound=Callable[..., Any])

store_option = click.option(
    "--store", metavar="URL",
    help="Store URL or path (default: FOREBEAR_STORE, then .forebear/).",
)
json_option = click.option("--json", "json_out", is_flag=True, help="Print JSON for scripts.")

class _Number(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """A whole number no larger than any store holds (2**62), as one line otherwise."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a whole number", param, ctx)
        if number > 1 << 62:
            self.fail(f"{number} is larger than any store holds (at most 2**62)", param, ctx)
        return number


NUMBER = _Number()
"""A count, depth or index option: larger than any store holds is refused by click, in
one line, rather than overflowing a 64-bit database integer."""


def common(function: F) -> F:
    """``--store URL`` and ``--json``, the options of every subcommand."""
    return store_option(json_option(function))


def escape(text: str) -> str:
    """``text`` with rich markup escaped (rich is imported only for human output)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def settings(store: str | None, *, required: bool = True) -> config.Settings:
    return config.resolve(store, required=required)


def open_store(store: str | None, *, read_only: bool = False) -> Any:
    """Open the store; ``read_only`` for a command that writes nothing
    (``Settings.for_reading``)."""
    return open_with_settings(store, read_only=read_only)[0]


def open_with_settings(store: str | None, *, read_only: bool = False
                       ) -> tuple[Any, config.Settings]:
    """``open_store``, and the settings it was opened with."""
    from forebear.store.registry import open_from

    found = settings(store)
    return open_from(found.for_reading() if read_only else found), found


def raise_if_refused(store: Any) -> None:
    """After closing a store this command wrote to: through a server, fail if it refused
    the writes (they wait in the spool's ``rejected/`` folder, never sent under another
    token)."""
    refused = getattr(store, "refused", None)
    if refused:
        from forebear.store.remote import refusal_error

        raise refusal_error(refused[0])


def key_unreadable(found: config.Settings) -> bool:
    """Whether the signing key is there but this user may not read it (another's store)."""
    key = found.key_path
    return key is not None and key.is_file() and not os.access(key, os.R_OK)


def _stdout() -> Any:
    """``sys.stdout``, or the error that says it is closed (``forebear log >&-``)."""
    if sys.stdout is None:
        raise ForebearError("standard output is closed", hint="give the command somewhere "
                            "to write, e.g. > out.txt")
    return sys.stdout


def _unwritable(exc: OSError) -> ForebearError:
    return ForebearError(f"cannot write the output: {exc.strerror or exc}",
                         hint="free space where it goes, or send it elsewhere")


class _Output:
    """Standard output for rich: a failed write (a full disk) becomes one error line.

    A closed pipe (``| head``) is left to rich, which stops quietly."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _unwritable(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _unwritable(exc) from None

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, ...
        return getattr(self._stream, name)


def emit_text(text: str) -> None:
    """Print ``text`` as it is (DOT, Mermaid, a checkpoint's note, plain tree lines)."""
    _Output(_stdout()).write(text)
    _Output(sys.stdout).flush()


def emit_json(value: Any) -> None:
    """Print ``value`` as indented JSON (``--json``), straight as UTF-8 bytes when it can."""
    from forebear._json import dumps

    data = dumps(value, indent=True) + b"\n"
    stdout = _stdout()
    buffer = getattr(stdout, "buffer", None)
    try:
        if buffer is None:  # a text-only stream (some embedders): decode once
            stdout.write(data.decode("utf-8", "surrogatepass"))
            return
        stdout.flush()  # whatever was printed as text goes first
        buffer.write(data)
        buffer.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _unwritable(exc) from None


def console() -> Any:
    from rich.console import Console

    stdout = _stdout()
    # Piped output (a file, `less`, CI logs) keeps whole lines rather than rich's 80 columns.
    width = None if stdout.isatty() else 160
    # No emoji codes: a recorded name such as "ok :smile:" is printed as it was recorded.
    return Console(file=cast("IO[str]", _Output(stdout)), highlight=False, soft_wrap=True,
                   width=width, emoji=False)


def progress_bar(*, disable: bool) -> Any:
    """A rich progress display on stderr for long work (stdout stays for the result).

    It draws only on a terminal and vanishes when done; ``disable`` (``--json``) turns
    it off altogether.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    err = Console(stderr=True)
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        # Off a terminal rich would still end with a blank line on stderr.
        disable=disable or not err.is_terminal,
        transient=True,
    )
