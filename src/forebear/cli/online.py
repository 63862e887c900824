"""``prove``: show that one online update is part of the lineage, and check it."""

from __future__ import annotations

from typing import Any

import click

from forebear.cli._common import (
    NUMBER,
    common,
    console,
    emit_json,
    settings,
)
from forebear.errors import UsageError


@click.command()
@click.argument("ref")
@click.argument("index", type=NUMBER, required=False)
@click.option("--update", type=NUMBER, help="The update's index in the whole stream instead.")
@common
def prove(ref: str, index: int | None, update: int | None, store: str | None,
          json_out: bool) -> None:
    """Prove an online update: its path to the aggregate's root, and the aggregate's to the
    journal's signed root; both are verified. REF is the aggregate's run id (or prefix),
    INDEX the update's position in it (0-based)."""
    if (index is None) == (update is None):
        raise UsageError("give either INDEX or --update N",
                         hint="forebear prove RUN_ID 17, or forebear prove RUN_ID --update 5017")
    found = settings(store)
    if found.is_remote:
        result = _prove_remotely(found, ref, index, update)
    else:
        result = _prove_here(found, ref, index, update)
    _show(result, json_out)


def _prove_remotely(found: Any, ref: str, index: int | None, update: int | None) -> Any:
    """The server builds the proof; it is checked here against the server's key."""
    from urllib.parse import urlencode

    from forebear.sdk.proofs import check_proof_json
    from forebear.store.remote import open_from_settings

    query = {"run": ref, **({"index": index} if index is not None else {"update": update})}
    db = open_from_settings(found, sender=False)
    try:
        payload = db.get_json(f"/api/v1/proofs/update?{urlencode(query)}")
        return check_proof_json(payload, db.verifiers())
    finally:
        db.close()


def _prove_here(found: Any, ref: str, index: int | None, update: int | None) -> Any:
    from forebear.artifacts.base import open_blob_store
    from forebear.graph.refs import resolve
    from forebear.sdk.proofs import find_aggregate, prove_update
    from forebear.store.registry import open_from

    if not found.blob_url:
        raise UsageError("this store has no blob store to read the update list from",
                         hint="set FOREBEAR_BLOBS to the store's blob store")
    db: Any = open_from(found.for_reading())  # a proof signs nothing
    try:
        run_id = resolve(db, ref).key
        if update is not None:
            run_id, index = find_aggregate(db, run_id, update)
        assert index is not None
        return prove_update(db, open_blob_store(found.blob_url), run_id, index)
    finally:
        db.close()


def _show(result: Any, json_out: bool) -> None:
    payload = result.to_json()
    if json_out:
        emit_json(payload)
        return
    out = console()
    up, jp = payload["update_proof"], payload["journal_proof"]
    out.print(f"update {payload['update_index']} = {payload['update_line']}", markup=False)
    out.print(f"  [green]✓[/] leaf {up['index']} of {up['size']} in aggregate {result.run_id}")
    out.print(f"    root {up['root']}")
    for step in up["path"]:
        out.print(f"    [dim]{step}[/]")
    out.print(f"  [green]✓[/] aggregate entry {jp['seq']} of {jp['size']} in the journal")
    out.print(f"    root {jp['root']}")
    for step in jp["path"]:
        out.print(f"    [dim]{step}[/]")
    if result.checkpoint:
        out.print("  [green]✓[/] journal root signed by the store's key:")
        out.print(result.checkpoint.rstrip("\n"), markup=False)
