"""``exec``: run any command as a tracked execution; ``restore``: bring its code back."""

from __future__ import annotations

import json
from pathlib import Path

import click

from forebear.cli._common import common, emit_json, settings
from forebear.errors import UsageError

_PATH = click.Path(path_type=Path)


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


@click.command("exec", context_settings={"allow_interspersed_args": False})
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--name", help="Execution name.")
@click.option("--kind", default="run", show_default=True, help="Execution kind (train, ...).")
@click.option("--param", multiple=True, help="key=value (repeatable).")
@click.option("--input", "input_", multiple=True, type=_PATH, help="Declared input.")
@click.option("--output", multiple=True, type=_PATH, help="Declared output.")
@click.option("--watch", multiple=True, type=_PATH,
              help="Directory whose new or changed files are outputs "
              "(default: the working directory).")
@click.option("--no-capture", is_flag=True,
              help="Turn off automatic capture in Python children.")
@common
def exec_(
    command: tuple[str, ...],
    name: str | None,
    kind: str,
    param: tuple[str, ...],
    input_: tuple[Path, ...],
    output: tuple[Path, ...],
    watch: tuple[Path, ...],
    no_capture: bool,
    store: str | None,
    json_out: bool,
) -> None:
    """Run CMD as a tracked execution; its exit code passes through."""
    from forebear.capture.execute import check_command, execute
    from forebear.sdk.session import Session, ensure_store

    check_command(list(command))  # before a store is opened, or created
    found = settings(store, required=False)
    # With no store anywhere, one is created, as the SDK does, and it says so.
    session = Session.from_settings(found if store is not None else ensure_store(found))
    try:
        code, run = execute(
            list(command),
            name=name,
            kind=kind,
            params=_parse_params(list(param)),
            inputs=[str(p) for p in input_],
            outputs=[str(p) for p in output],
            watch=[str(w) for w in watch] if watch else None,
            capture=not no_capture,
            store=session,
        )
    finally:
        session.store.close()
    if json_out:
        emit_json({"run_id": run.run_id, "status": run.status, "exit_code": code})
    else:
        click.echo(f"forebear: run {run.run_id} {run.status} (exit code {code})", err=True)
    if code:
        raise click.exceptions.Exit(code)


@click.command()
@common
@click.argument("ref")
@click.argument("directory", type=_PATH)
@click.option("--repo", help="Clone the commit from here (a path or URL); default: the "
              "folder the run ran in, else its remote.")
def restore(ref: str, directory: Path, repo: str | None, store: str | None,
            json_out: bool) -> None:
    """Rebuild in DIRECTORY (new or empty) the code REF's run used: its commit checked
    out and its uncommitted changes applied (REF may be a model: the run that made it)."""
    from forebear.sdk.restore import restore_code

    done = restore_code(ref, directory, repo=repo, store=store)
    if json_out:
        emit_json(done)
        return
    commit = (done["commit"] or "no commit")[:12]
    changes = " with its uncommitted changes" if done["diff_digest"] else ""
    click.echo(f"restored {commit}{changes} of run {done['run']} into {done['dir']} "
               f"(from {done['repo']})")
    if not done["exact"]:
        click.echo("forebear: the record says its diff does not hold the whole tree "
                   "(untracked files skipped or a patch over the size cap): see "
                   "`forebear show --json`, transformation.code.notes", err=True)
