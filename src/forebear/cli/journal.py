"""``init``, ``verify``, ``journal``, ``checkpoint``: the journal's commands."""

from __future__ import annotations

from pathlib import Path

import click

from forebear.cli._common import (
    NUMBER,
    common,
    console,
    emit_json,
    emit_text,
    escape,
    json_option,
    key_unreadable,
    open_store,
    progress_bar,
    settings,
)
from forebear.errors import UsageError


@click.command()
@click.argument("directory", type=click.Path(path_type=Path), default=Path("."))
@click.option("--store", metavar="URL",
              help="Create the store in this postgresql:// database instead.")
@json_option
def init(directory: Path, store: str | None, json_out: bool) -> None:
    """Create .forebear/ (store, blobs, signing key) in DIRECTORY (default: here)."""
    if store is not None:
        _init_database(store, directory.resolve(), json_out)
        return
    from forebear.store.registry import init_store

    store_dir = init_store(directory.resolve())
    if json_out:
        emit_json({"store": str(store_dir)})
    else:
        console().print(f"Initialised an empty forebear store in {store_dir}")


def _init_database(url: str, directory: Path, json_out: bool) -> None:
    """``init --store URL``: the schema in that database, the key in DIR/.forebear/."""
    from forebear.errors import ConfigError

    scheme = url.split("://", 1)[0].split("+", 1)[0] if "://" in url else ""
    if scheme not in ("postgresql", "postgres"):
        raise ConfigError(
            "init --store takes a postgresql:// URL",
            hint="for an embedded store, give the project directory: forebear init DIR",
        )
    from forebear.store.postgres import init as init_postgres
    from forebear.store.postgres import redact

    key = init_postgres(url, directory)
    if json_out:
        emit_json({"store": redact(url), "key": str(key)})
    else:
        out = console()
        out.print(f"Initialised an empty forebear store in {redact(url)}")
        out.print(f"Its signing key is {key}: keep it safe, and mount it on every server")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}",
                         hint="give the file `forebear checkpoint --json` wrote") from None


@click.command()
@common
@click.option("--blobs", is_flag=True, help="Also re-hash every blob.")
@click.option("--checkpoint", "kept", multiple=True, type=click.Path(path_type=Path),
              help="A checkpoint kept outside the store (`forebear checkpoint --json` "
              "output, or its note with --key): the log must still extend it.")
@click.option("--key", metavar="VERIFIER",
              help="The verifier key a kept checkpoint is trusted by (default: the one "
              "saved in its JSON).")
def verify(store: str | None, json_out: bool, blobs: bool, kept: tuple[Path, ...],
           key: str | None) -> None:
    """Recompute the Merkle log, check checkpoints, rebuild projections and compare."""
    # Checkpoints are checked with the public key; an auditor who may not read the
    # private one checks them against the key the store recorded at init.
    from forebear.errors import SigningKeyError
    from forebear.store.registry import open_from
    from forebear.store.witness import read_kept

    witnesses = [read_kept(str(path), _read_text(path), key) for path in kept]
    found = settings(store)
    key_problems = []
    try:
        db = open_from(found.for_reading() if key_unreadable(found) else found)
    except SigningKeyError as exc:  # checking needs only the public key, in the store
        db = open_from(found.for_reading())
        key_problems.append({"seq": None, "what": f"signing key: {exc.message}"})
    with progress_bar(disable=json_out) as progress:
        size = db.size()
        task = progress.add_task("journal", total=size)
        result = db.verify(progress=lambda n: progress.advance(task, n))
        progress.update(task, completed=size)  # a remote store checks on the server
        payload = result.to_json()
        if hasattr(db, "records"):
            # Human edits signed with the editor's own key: the signature must still hold.
            from forebear.sdk.signing import check_store

            task = progress.add_task("signed edits", total=size)
            payload["problems"].extend(
                check_store(db.records(), progress=lambda n: progress.advance(task, n))
            )
        if blobs:
            from forebear.cli._blobs import stored_outputs, verify_blobs

            expected = stored_outputs(db.records()) if hasattr(db, "records") else {}
            task = progress.add_task("blobs", total=None)
            payload["problems"].extend(
                verify_blobs(found, progress=lambda n: progress.advance(task, n),
                             expected=expected)
            )
        if witnesses:
            from forebear.store.witness import check_kept

            head = db.head()
            for witness in witnesses:
                payload["problems"].extend(
                    problem.to_json() for problem in check_kept(
                        witness, head, db.consistency_proof))
        payload["problems"].extend(key_problems)
    payload["ok"] = not payload["problems"]
    if json_out:
        emit_json(payload)
    else:
        out = console()
        if payload["ok"]:
            out.print(
                f"[green]ok[/]: {payload['entries']} entries, root {payload['root']}, "
                f"{len(db.checkpoints())} checkpoints, projections match the journal"
            )
        else:
            for problem in payload["problems"]:
                where = f"entry {problem['seq']}" if problem["seq"] is not None else "store"
                out.print(f"[red]problem[/] at {where}: {escape(problem['what'])}")
    if not payload["ok"]:
        raise click.exceptions.Exit(1)


@click.command()
@common
@click.option("--from", "start", type=NUMBER, default=0, show_default=True,
              help="First sequence number; negative counts from the end (--from -5: the "
              "last five).")
@click.option("--limit", type=NUMBER, help="At most N entries.")
def journal(store: str | None, json_out: bool, start: int, limit: int | None) -> None:
    """Print the journal's entries."""
    from forebear.errors import UsageError

    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be 1 or more, not {limit}")
    db = open_store(store, read_only=True)
    if start < 0:
        start = max(0, db.size() + start)
    end = None if limit is None else start + limit
    records = db.records(start, end)
    if json_out:
        emit_json([r.to_json() for r in records])
        return
    out = console()
    for record in records:
        # The entry exactly as journaled: a name like "[bold]x" is text, not a style.
        text = escape(record.canonical.decode("utf-8", "replace"))
        out.print(f"[dim]{record.seq:>8}[/] {text}")


@click.command()
@common
def checkpoint(store: str | None, json_out: bool) -> None:
    """Sign the current size and root, store the checkpoint and print it."""
    import base64

    db = open_store(store)
    cp = db.checkpoint()
    verifier = db.verifiers()[0].encode()
    payload = {
        "origin": cp.note.split("\n", 1)[0],
        "size": cp.size,
        "root": "sha256:" + cp.root.hex(),
        "root_base64": base64.b64encode(cp.root).decode(),
        "note": cp.note,
        "key": verifier,
    }
    if json_out:
        emit_json(payload)
    else:
        emit_text(cp.note)  # stdout: the note alone, to keep in a file
        # Whoever checks the kept note later needs the key that signed it.
        click.echo(f"forebear: verifier key (forebear verify --checkpoint FILE --key ...): "
                   f"{verifier}", err=True)
