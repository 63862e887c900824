"""Shared CLI plumbing: the ``--store``/``--json`` options, output, and store opening."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from forebear import config

F = TypeVar("F", bound=Callable[..., Any])

store_option = click.option(
    "--store", metavar="URL",
    help="Store URL or path (default: FOREBEAR_STORE, then .forebear/).",
)
json_option = click.option("--json", "json_out", is_flag=True, help="Print JSON for scripts.")


def common(function: F) -> F:
    """``--store URL`` and ``--json``, the options of every subcommand."""
    return store_option(json_option(function))


def escape(text: str) -> str:
    """``text`` with rich markup escaped (rich is imported only for human output)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def settings(store: str | None, *, required: bool = True) -> config.Settings:
    return config.resolve(store, required=required)


def open_store(store: str | None) -> Any:
    from forebear.store.registry import open_from

    return open_from(settings(store))


def emit_json(value: Any) -> None:
    """Print ``value`` as indented JSON (``--json``), straight as UTF-8 bytes when it can."""
    from forebear._json import dumps

    data = dumps(value, indent=True) + b"\n"
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only stream (some embedders): decode once
        sys.stdout.write(data.decode("utf-8", "surrogatepass"))
        return
    sys.stdout.flush()  # whatever was printed as text goes first
    buffer.write(data)
    buffer.flush()


def console() -> Any:
    from rich.console import Console

    # Piped output (a file, `less`, CI logs) keeps whole lines rather than rich's 80 columns.
    width = None if sys.stdout.isatty() else 160
    return Console(highlight=False, soft_wrap=True, width=width)


def progress_bar(*, disable: bool) -> Any:
    """A rich progress display on stderr for long work (stdout stays for the result).

    It draws only on a terminal and vanishes when done; ``disable`` (``--json``) turns
    it off altogether.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=disable,
        transient=True,
    )
