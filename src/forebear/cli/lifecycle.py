"""``alias``, ``deploy``, ``human-edit``: the model's lifecycle after training.

Thin adapters over ``forebear.sdk.lifecycle``; ``--json`` prints DESIGN.md's shapes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from forebear.cli._common import (
    JsonOpt,
    StoreOpt,
    console,
    emit_json,
    for_reading,
    settings,
)
from forebear.errors import NotFoundError

alias_app = typer.Typer(
    name="alias",
    help="Mutable names (production, staging, ...) over immutable digests.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

NameArg = Annotated[str, typer.Argument(help="The alias name, e.g. production.",
                                        show_default=False)]
ActorOpt = Annotated[str | None, typer.Option(
    "--actor", help="Who does it (default: FOREBEAR_ACTOR, then user@host).",
    show_default=False)]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why.", show_default=False)]


def _session(store: str | None, *, read_only: bool = False) -> Any:
    from forebear.sdk.session import Session

    found = settings(store)
    return Session.from_settings(for_reading(found) if read_only else found)


def _print_alias(record: Any) -> None:
    reason = f"  [dim]reason[/] {escape(record.reason)}" if record.reason else ""
    console().print(f"{escape(record.name)} → {record.digest}  [dim]{record.set_at} by "
                    f"{escape(str(record.actor or '-'))}[/]{reason}")


@alias_app.command("set")
def alias_set(
    name: NameArg,
    ref: Annotated[str, typer.Argument(help="What it points at: a path, alias or digest.",
                                       show_default=False)],
    reason: ReasonOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Move a protected alias.")] = False,
    actor: ActorOpt = None,
    kind: Annotated[str, typer.Option(
        "--kind", help="Kind to record an unrecorded file as.")] = "model",
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Point alias NAME at REF (a journal entry; protected aliases need --force and --reason)."""
    from forebear.sdk.lifecycle import set_alias

    session = _session(store)
    try:
        record = set_alias(name, ref, reason=reason, actor=actor, force=force, kind=kind,
                           store=session)
    finally:
        session.store.close()
    if json_out:
        emit_json(record.to_json())
    else:
        _print_alias(record)


@alias_app.command("show")
def alias_show(
    name: NameArg,
    at: Annotated[str | None, typer.Option(
        "--at", help="Where it pointed at this time (ISO 8601; UTC without an offset).",
        show_default=False)] = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
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
def alias_history(name: NameArg, store: StoreOpt = None, json_out: JsonOpt = False) -> None:
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


def deploy(
    ref: Annotated[str, typer.Argument(help="The model: a path, alias or digest.",
                                       show_default=False)],
    target: Annotated[str, typer.Option("--target", help="The endpoint's name.",
                                        show_default=False)],
    url: Annotated[str | None, typer.Option("--url", help="The endpoint's address.",
                                            show_default=False)] = None,
    reason: ReasonOpt = None,
    actor: ActorOpt = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record a deployment of REF to --target NAME (the endpoint is downstream of the model)."""
    from forebear.sdk.lifecycle import deploy as record_deploy

    session = _session(store)
    try:
        done = record_deploy(ref, target=target, url=url, reason=reason, actor=actor,
                             store=session)
    finally:
        session.store.close()
    if json_out:
        emit_json(done.to_json())
    else:
        console().print(f"deployed {done.model} to {escape(done.target)}  "
                        f"[dim]run {done.run_id}[/]")


def human_edit(
    actor: Annotated[str, typer.Option("--actor", help="The person who made the edit.",
                                       show_default=False)],
    reason: Annotated[str, typer.Option("--reason", help="Why it was made.",
                                        show_default=False)],
    before: Annotated[str, typer.Option("--before", help="What was edited (a REF).",
                                        show_default=False)],
    after: Annotated[str, typer.Option("--after", help="The edited file.",
                                       show_default=False)],
    name: Annotated[str, typer.Option("--name", help="Execution name.")] = "human_edit",
    kind: Annotated[str | None, typer.Option(
        "--kind", help="Artifact kind (default: the before artifact's).",
        show_default=False)] = None,
    sign_key: Annotated[Path | None, typer.Option(
        "--sign-key", help="Sign the edit with this person's key (named after --actor).",
        show_default=False)] = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record a manual edit (relabel, weight edit) from --before to --after by --actor."""
    from forebear.sdk.lifecycle import human_edit as record_edit

    key = None
    if sign_key is not None:
        from forebear.errors import SigningKeyError
        from forebear.journal.keys import SigningKey

        try:
            key = SigningKey.load(sign_key)
        except SigningKeyError as exc:  # the editor's own key, not the store's
            raise SigningKeyError(exc.message, hint=exc.hint if "chmod" in exc.hint else
                                  "check the --sign-key path: the editor's own key file, "
                                  "named after --actor") from None
    session = _session(store)
    try:
        done = record_edit(before=before, after=after, actor=actor, reason=reason, name=name,
                           kind=kind, store=session, signing_key=key)
    finally:
        session.store.close()
    if json_out:
        emit_json(done.to_json())
    else:
        console().print(f"human edit by {escape(done.actor)}: {done.before} → {done.after}  "
                        f"[dim]run {done.run_id}[/]")
