"""``prove``: show that one online update is part of the lineage, and check it."""

from __future__ import annotations

from typing import Any

import click

from forebear.cli._common import (
    common,
    console,
    emit_json,
    for_reading,
    settings,
)
from forebear.errors import UsageError


@click.command()
@click.argument("ref")
@click.argument("index", type=int, required=False)
@click.option("--update", type=int, help="The update's index in the whole stream instead.")
@common
def prove(ref: str, index: int | None, update: int | None, store: str | None,
          json_out: bool) -> None:
    """Prove an online update: its path to the aggregate's root, and the aggregate's to the
    journal's signed root; both are verified. REF is the aggregate's run id (or prefix),
    INDEX the update's position in it (0-based)."""
    from forebear.artifacts.base import open_blob_store
    from forebear.graph.refs import resolve
    from forebear.sdk.proofs import find_aggregate, prove_update
    from forebear.store.registry import open_from

    if (index is None) == (update is None):
        raise UsageError("give either INDEX or --update N",
                         hint="forebear prove RUN_ID 17, or forebear prove RUN_ID --update 5017")
    found = settings(store)
    if found.store_url.startswith(("http://", "https://")):
        # The proof reads the aggregate's journal entry and its run from the database;
        # the server's API has no such query yet.
        raise UsageError("forebear prove reads the store itself, not a server",
                         hint="run it against the database (--store sqlite:///... or "
                         "postgresql://..., with FOREBEAR_BLOBS naming the blob store)")
    if not found.blob_url:
        raise UsageError("this store has no blob store to read the update list from",
                         hint="set FOREBEAR_BLOBS to the store's blob store")
    db: Any = open_from(for_reading(found))  # a proof signs nothing
    try:
        run_id = resolve(db, ref).key
        if update is not None:
            run_id, index = find_aggregate(db, run_id, update)
        assert index is not None
        result = prove_update(db, open_blob_store(found.blob_url), run_id, index)
    finally:
        db.close()
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
