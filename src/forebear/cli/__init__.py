"""The ``forebear`` command: a thin adapter over the SDK and stores.

Built on click (not typer, which imports pydantic and inspects every command's signature
on each call: two thirds of a short command's time). Errors are one line (``error:
...``) with the exit code of the ``ForebearError``; ``--debug`` anywhere on the command
line shows the traceback instead.
"""

from __future__ import annotations

import sys

import click

from forebear.cli import capture as _capture
from forebear.cli import export as _export
from forebear.cli import importing as _importing
from forebear.cli import journal as _journal
from forebear.cli import lifecycle as _lifecycle
from forebear.cli import migrate as _migrate
from forebear.cli import online as _online
from forebear.cli import query as _query
from forebear.cli import server as _server

_SETTINGS = {"help_option_names": ["-h", "--help"]}


def _print_version(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        import forebear

        click.echo(f"forebear {forebear.__version__}")
        ctx.exit()


def _build() -> click.Group:
    """The ``forebear`` command group with every subcommand."""

    @click.group("forebear", context_settings=_SETTINGS)
    @click.option("--version", is_flag=True, expose_value=False, is_eager=True,
                  callback=_print_version, help="Print the version and exit.")
    def app() -> None:
        """Verifiable, end-to-end model lineage."""

    for command in (
        _journal.init, _journal.verify, _journal.journal, _journal.checkpoint,
        _migrate.migrate, _capture.exec_, _capture.restore,
        _query.log, _query.show, _query.upstream, _query.downstream, _query.path,
        _query.diff, _query.metrics,
        _query.flag, _query.flagged,
        _lifecycle.alias_app, _lifecycle.deploy, _lifecycle.human_edit, _lifecycle.key_app,
        _online.prove, _export.export, _importing.import_app,
        _server.serve, _server.worker, _server.token_app, _server.spool_app,
    ):
        app.add_command(command)
    return app


def _common_options_last(app: click.Group, args: list[str]) -> list[str]:
    """``forebear --json log`` as ``forebear log --json``: the options every command takes
    (``--json``, ``--store URL``), given before the command, are moved after it (after
    the subcommand of a group: ``forebear --store s alias show prod``)."""
    moved: list[str] = []
    rest = list(args)
    while rest and rest[0].startswith("--"):
        if rest[0] == "--json" or rest[0].startswith("--store="):
            moved.append(rest.pop(0))
        elif rest[0] == "--store" and len(rest) > 1:
            moved += [rest.pop(0), rest.pop(0)]
        else:
            return args  # --help, --version, or a mistake: click says what it is
    if not moved or not rest or rest[0] not in app.commands:
        return args
    at = 1
    command = app.commands[rest[0]]
    if isinstance(command, click.Group) and len(rest) > 1 and rest[1] in command.commands:
        at = 2
    return rest[:at] + moved + rest[at:]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    from forebear.errors import ForebearError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    app = _build()
    try:
        # With standalone_mode off, click returns the code of a raised Exit.
        result = app.main(args=_common_options_last(app, args), prog_name="forebear",
                          standalone_mode=False)
        if isinstance(result, int):
            return result
    except ForebearError as exc:
        if debug:
            raise
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        if debug:
            raise
        exc.show()
        return int(exc.exit_code)
    except click.Abort:
        sys.stderr.write("aborted\n")
        return 130
    except KeyboardInterrupt:
        return 130
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
