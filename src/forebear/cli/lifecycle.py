"""``alias``, ``deploy``, ``human-edit``: the model's lifecycle after training.

Thin adapters over ``forebear.sdk.lifecycle``; ``--json`` prints DESIGN.md's shapes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from forebear.cli._common import (
    common,
    console,
    emit_json,
    escape,
    json_option,
    raise_if_refused,
    settings,
)
from forebear.errors import NotFoundError


@click.group("alias")
def alias_app() -> None:
    """Mutable names (production, staging, ...) over immutable digests."""


actor_option = click.option(
    "--actor", help="Who does it (default: FOREBEAR_ACTOR, then user@host).")
reason_option = click.option("--reason", help="Why.")


def _session(store: str | None, *, read_only: bool = False) -> Any:
    from forebear.sdk.session import Session

    found = settings(store)
    return Session.from_settings(found.for_reading() if read_only else found)


def _print_alias(record: Any) -> None:
    reason = f"  [dim]reason[/] {escape(record.reason)}" if record.reason else ""
    console().print(f"{escape(record.name)} → {record.digest}  [dim]{record.set_at} by "
                    f"{escape(str(record.actor or '-'))}[/]{reason}")


@alias_app.command("set")
@click.argument("name")
@click.argument("ref")
@reason_option
@click.option("--force", is_flag=True, help="Move a protected alias.")
@actor_option
@click.option("--kind", default="model", show_default=True,
              help="Kind to record an unrecorded file as.")
@common
def alias_set(name: str, ref: str, reason: str | None, force: bool, actor: str | None,
              kind: str, store: str | None, json_out: bool) -> None:
    """Point alias NAME at REF: a path, alias or digest (a journal entry; protected aliases
    need --force and --reason)."""
    from forebear.sdk.lifecycle import set_alias

    session = _session(store)
    try:
        record = set_alias(name, ref, reason=reason, actor=actor, force=force, kind=kind,
                           store=session)
    finally:
        session.store.close()
    raise_if_refused(session.store)
    if json_out:
        emit_json(record.to_json())
    else:
        _print_alias(record)


@alias_app.command("show")
@click.argument("name")
@click.option("--at", metavar="TIME",
              help="Where it pointed at this time (ISO 8601; UTC without an offset).")
@common
def alias_show(name: str, at: str | None, store: str | None, json_out: bool) -> None:
    """Where alias NAME points now, or pointed at --at TIME."""
    from forebear.sdk.lifecycle import show_alias

    session = _session(store, read_only=True)
    try:
        record = show_alias(name, at, store=session)
    finally:
        session.store.close()
    if record is None:
        when = f" at {at}" if at else ""
        raise NotFoundError(f"alias {name!r} was not set{when}",
                            hint="see `forebear alias history NAME`")
    if json_out:
        emit_json(record.to_json())
    else:
        _print_alias(record)


@alias_app.command("history")
@click.argument("name")
@common
def alias_history(name: str, store: str | None, json_out: bool) -> None:
    """Every move of alias NAME, oldest first."""
    from forebear.sdk.lifecycle import alias_history as history

    session = _session(store, read_only=True)
    try:
        records = history(name, store=session)
    finally:
        session.store.close()
    if json_out:
        emit_json([r.to_json() for r in records])
        return
    if not records:
        console().print(f"alias {name!r} was never set", markup=False)
    for record in records:
        _print_alias(record)


@click.command()
@click.argument("ref")
@click.option("--target", required=True, help="The endpoint's name.")
@click.option("--url", help="The endpoint's address.")
@reason_option
@actor_option
@common
def deploy(ref: str, target: str, url: str | None, reason: str | None, actor: str | None,
           store: str | None, json_out: bool) -> None:
    """Record a deployment of REF (the model: a path, alias or digest) to --target NAME (the
    endpoint is downstream of the model)."""
    from forebear.sdk.lifecycle import deploy as record_deploy

    session = _session(store)
    try:
        done = record_deploy(ref, target=target, url=url, reason=reason, actor=actor,
                             store=session)
    finally:
        session.store.close()
    raise_if_refused(session.store)
    if json_out:
        emit_json(done.to_json())
    else:
        console().print(f"deployed {done.model} to {escape(done.target)}  "
                        f"[dim]run {done.run_id}[/]")


@click.command("human-edit")
@click.option("--actor", required=True, help="The person who made the edit.")
@click.option("--reason", required=True, help="Why it was made.")
@click.option("--before", required=True, help="What was edited (a REF).")
@click.option("--after", required=True, help="The edited file.")
@click.option("--name", default="human_edit", show_default=True, help="Execution name.")
@click.option("--kind", help="Artifact kind (default: the before artifact's).")
@click.option("--sign-key", type=click.Path(path_type=Path),
              help="Sign the edit with this person's key (named after --actor).")
@common
def human_edit(actor: str, reason: str, before: str, after: str, name: str, kind: str | None,
               sign_key: Path | None, store: str | None, json_out: bool) -> None:
    """Record a manual edit (relabel, weight edit) from --before to --after by --actor."""
    from forebear.sdk.lifecycle import human_edit as record_edit

    key = None
    if sign_key is not None:
        from forebear.errors import SigningKeyError
        from forebear.journal.keys import SigningKey

        try:
            key = SigningKey.load(sign_key)
        except SigningKeyError as exc:  # the editor's own key, not the store's
            # The default hint is about the store's key; a specific one (chmod) stays.
            raise SigningKeyError(exc.message, hint=exc.hint
                                  if exc.hint != SigningKeyError.default_hint else
                                  "check the --sign-key path: the editor's own key file, "
                                  "named after --actor") from None
    session = _session(store)
    try:
        done = record_edit(before=before, after=after, actor=actor, reason=reason, name=name,
                           kind=kind, store=session, signing_key=key)
    finally:
        session.store.close()
    raise_if_refused(session.store)
    if json_out:
        emit_json(done.to_json())
    else:
        console().print(f"human edit by {escape(done.actor)}: {done.before} → {done.after}  "
                        f"[dim]run {done.run_id}[/]")


@click.group("key")
def key_app() -> None:
    """A person's own signing key, for signing their human edits (--sign-key)."""


@key_app.command("create")
@click.argument("name")
@click.option("--output", "-o", type=click.Path(path_type=Path),
              help="Where to write it (default: NAME.key here, NAME's unsafe characters "
              "as _).")
@json_option
def key_create(name: str, output: Path | None, json_out: bool) -> None:
    """Create an Ed25519 key named NAME (the person, as they appear as --actor) and print
    its public verifier key, for auditors to check their signed edits against."""
    import re

    from forebear.journal.keys import SigningKey

    key = SigningKey.generate(name)
    where = output or Path(re.sub(r"[^A-Za-z0-9@._+-]", "_", name) + ".key")
    key.save(where)  # mode 0600; an existing file is never overwritten
    verifier = key.verifier().encode()
    if json_out:
        emit_json({"name": name, "path": str(where), "verifier": verifier})
    else:
        click.echo(f"wrote {where} (keep it private; sign with --sign-key {where})")
        click.echo(f"public key, to publish: {verifier}")
