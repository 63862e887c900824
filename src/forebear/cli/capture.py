"""``exec``: run any command as a tracked execution."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from forebear import config
from forebear.cli._common import JsonOpt, StoreOpt, emit_json, settings
from forebear.errors import UsageError


def _parse_params(items: list[str]) -> dict[str, object]:
    params: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"bad --param {item!r}", hint="write --param key=value")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


def exec_(
    command: Annotated[list[str], typer.Argument(help="The command, after `--`.")],
    name: Annotated[str | None, typer.Option("--name", help="Execution name.")] = None,
    kind: Annotated[str, typer.Option("--kind", help="Execution kind (train, ...).")] = "run",
    param: Annotated[
        list[str] | None, typer.Option("--param", help="key=value (repeatable).")
    ] = None,
    input_: Annotated[list[Path] | None, typer.Option("--input", help="Declared input.")] = None,
    output: Annotated[list[Path] | None, typer.Option("--output", help="Declared output.")] = None,
    watch: Annotated[
        list[Path] | None,
        typer.Option(
            "--watch",
            help="Directory whose new or changed files are outputs "
            "(default: the working directory).",
        ),
    ] = None,
    no_capture: Annotated[
        bool, typer.Option("--no-capture", help="Turn off automatic capture in Python children.")
    ] = False,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run CMD as a tracked execution; its exit code passes through."""
    from forebear.capture.execute import check_command, execute
    from forebear.sdk.session import Session, default_session

    check_command(command)  # before a store is opened, or created
    found = settings(store, required=False)
    owned = store is not None or bool(os.environ.get("FOREBEAR_STORE")) or found.store_dir is None \
        or (found.store_dir / config.DB_FILE).exists()
    # The store named or found now, not the process's cached default session; with no
    # store anywhere, that default session creates one, as the SDK does, and says so.
    session = Session.from_settings(found) if owned else default_session()
    try:
        code, run = execute(
            command,
            name=name,
            kind=kind,
            params=_parse_params(param or []),
            inputs=[str(p) for p in input_ or []],
            outputs=[str(p) for p in output or []],
            watch=[str(w) for w in watch] if watch else None,
            capture=not no_capture,
            store=session,
        )
    finally:
        if owned:
            session.store.close()
    if json_out:
        emit_json({"run_id": run.run_id, "status": run.status, "exit_code": code})
    else:
        typer.echo(f"forebear: run {run.run_id} {run.status} (exit code {code})", err=True)
    if code:
        raise typer.Exit(code)
