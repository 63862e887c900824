"""The ``forebear`` command: a thin adapter over the SDK and stores.

Errors are one line (``error: ...``) with the exit code of the ``ForebearError``;
``--debug`` anywhere on the command line shows the traceback instead.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from forebear.cli import capture as _capture
from forebear.cli import export as _export
from forebear.cli import journal as _journal
from forebear.cli import lifecycle as _lifecycle
from forebear.cli import migrate as _migrate
from forebear.cli import online as _online
from forebear.cli import query as _query
from forebear.cli import server as _server


def _print_version(value: bool) -> None:
    if value:
        import forebear

        typer.echo(f"forebear {forebear.__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True,
                     help="Print the version and exit."),
    ] = False,
) -> None:
    """Verifiable, end-to-end model lineage."""


def _build() -> typer.Typer:
    app = typer.Typer(
        name="forebear",
        help="Verifiable, end-to-end model lineage.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root)
    app.command("init")(_journal.init)
    app.command("verify")(_journal.verify)
    app.command("journal")(_journal.journal)
    app.command("checkpoint")(_journal.checkpoint)
    app.command("migrate")(_migrate.migrate)
    app.command(
        "exec",
        context_settings={"allow_interspersed_args": False},
    )(_capture.exec_)
    for name in ("log", "show", "upstream", "downstream", "diff", "flag", "flagged"):
        app.command(name)(getattr(_query, name))
    app.add_typer(_lifecycle.alias_app, name="alias")
    app.command("deploy")(_lifecycle.deploy)
    app.command("human-edit")(_lifecycle.human_edit)
    app.command("prove")(_online.prove)
    app.command("export")(_export.export)
    app.command("serve")(_server.serve)
    app.command("worker")(_server.worker)
    app.add_typer(_server.token_app, name="token")
    app.add_typer(_server.spool_app, name="spool")
    return app


def _only(app: typer.Typer, args: list[str]) -> typer.Typer:
    """``app`` keeping only the command that ``args`` names, when they name one.

    typer inspects every command's signature and builds its parameters before it runs
    any of them: about 40 ms for our thirty commands, more than most queries take. A
    command line that names no known command keeps them all, for help and for the
    usage error that lists them.
    """
    name = next((arg for arg in args if not arg.startswith("-")), None)
    commands = [info for info in app.registered_commands if info.name == name]
    groups = [info for info in app.registered_groups if info.name == name]
    if name is not None and (commands or groups):
        app.registered_commands = commands
        app.registered_groups = groups
    return app


def _click_exception() -> type[Exception]:
    """The base class of typer's usage errors, wherever this typer keeps click.

    typer up to 0.2x used the ``click`` package; later ones carry their own copy, and
    ``click`` itself may not even be installed. ``typer.BadParameter`` is public in both
    and derives from the class we need.
    """
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == "ClickException":
            return cls
    return typer.BadParameter  # pragma: no cover - a typer without that base


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    from forebear.errors import ForebearError

    usage_error = _click_exception()

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    app = _only(_build(), args)
    try:
        # With standalone_mode off, click returns the code of a raised Exit.
        result = app(args=args, prog_name="forebear", standalone_mode=False)
        if isinstance(result, int):
            return result
    except ForebearError as exc:
        if debug:
            raise
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except usage_error as exc:
        if debug:
            raise
        exc.show()  # type: ignore[attr-defined]
        return int(getattr(exc, "exit_code", 2))
    except typer.Abort:
        sys.stderr.write("aborted\n")
        return 130
    except KeyboardInterrupt:
        return 130
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
