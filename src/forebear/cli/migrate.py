"""``migrate --to URL``: move a store to another backend and prove nothing changed."""

from __future__ import annotations

import click

from forebear.cli._common import common, console, emit_json, escape, progress_bar, settings


@click.command()
@click.option("--to", required=True, metavar="URL",
              help="Target store URL: postgresql://... or sqlite:///path.")
@click.option("--batch", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Entries per target transaction.")
@click.option("--blobs-to", metavar="URL", help="Also copy every blob to this blob store "
              "(s3://bucket/prefix or a folder), verified.")
@common
def migrate(to: str, batch: int, blobs_to: str | None, store: str | None,
            json_out: bool) -> None:
    """Replay the journal into another store, prove the same Merkle root, copy checkpoints."""
    from forebear.store import migrate as _migrate
    from forebear.store.registry import open_from

    resolved = settings(store)
    if blobs_to is not None and resolved.blob_url is None:
        from forebear.errors import ConfigError

        raise ConfigError(
            "--blobs-to needs the source blob store", hint="set FOREBEAR_BLOBS or --store"
        )
    if blobs_to is not None:
        from forebear.artifacts.base import check_reachable, open_blob_store

        # Before the journal moves: a wrong bucket is found now, not after the replay.
        check_reachable(open_blob_store(blobs_to))
    signer = _migrate.source_key(resolved)
    source = open_from(resolved)
    target = _migrate.open_target(to, signer)
    progress = progress_bar(disable=json_out)
    try:
        with progress:
            task = progress.add_task("journal", total=source.size())
            report = _migrate.migrate(
                source, target, batch=batch,
                progress=lambda n: progress.advance(task, n),
            )
            blobs = 0
            if blobs_to is not None and resolved.blob_url is not None:  # checked above
                blob_task = progress.add_task("blobs", total=None)
                blobs = _migrate.copy_blobs(
                    resolved.blob_url, blobs_to, progress=lambda n: progress.advance(blob_task, n)
                )
    finally:
        source.close()
        target.close()
    payload = report.to_json()
    payload["blobs_copied"] = blobs
    if json_out:
        emit_json(payload)
    else:
        out = console()
        if report.ok:
            out.print(
                f"[green]ok[/]: {report.entries} entries ({report.replayed} replayed) in "
                f"{report.target}, root {payload['root']} as in the source, "
                f"{report.checkpoints} checkpoints verify ({report.checkpoints_copied} copied)"
                + (f", {blobs} blobs copied" if blobs_to else "")
                + f", {report.seconds:.1f} s"
            )
        else:
            for problem in report.problems:
                where = f"entry {problem.seq}" if problem.seq is not None else "store"
                out.print(f"[red]problem[/] at {where}: {escape(problem.what)}")
    if not report.ok:
        raise click.exceptions.Exit(1)
