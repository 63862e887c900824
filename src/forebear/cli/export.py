"""``export REF --format prov|cyclonedx|slsa|openlineage``: a lineage in a format other
tools read.

The closure is the ``upstream`` (or ``downstream``) query and the root's aliases and
flags come from ``show``; the mapping itself is ``forebear.exporters``. The document goes
to stdout, or to ``--output FILE``, written whole (a temporary file renamed into place)
and never over an existing file without ``--force``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from forebear.cli._common import (
    common,
    console,
    emit_json,
    escape,
)
from forebear.errors import UsageError

FORMATS = ("prov", "cyclonedx", "slsa", "openlineage")
"""``forebear.exporters.FORMATS``, written out: importing the exporters to build the
command line would cost every command their import (a test keeps the two equal)."""


def _exists(output: Path) -> UsageError:
    return UsageError(f"--output {output} exists",
                      hint="choose another file, or pass --force to replace it")


def _check_output(output: Path | None, force: bool) -> None:
    """Refuse an --output that cannot be written, before any query runs."""
    if output is None:
        return
    if output.is_dir():
        raise UsageError(f"--output {output} is a directory", hint="give a file path")
    if output.exists() and not force:
        raise _exists(output)
    if not output.parent.is_dir():
        raise UsageError(f"--output {output}: the directory {output.parent} does not exist",
                         hint="create it first, or write somewhere else")


def _write(output: Path, data: bytes, force: bool) -> None:
    """Write ``data`` to ``output`` whole: a temporary file, then renamed or linked in."""
    import secrets  # here: the CLI imports this module for every command

    # Not mkstemp: its 0600 would outlive the rename; os.open leaves the mode to the umask.
    temp = str(output.parent / f".{output.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise UsageError(f"cannot write --output {output}: {exc.strerror}",
                         hint="write to a directory you can write to") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(temp, output)
            return
        try:
            os.link(temp, output)  # fails if the file appeared meanwhile: never clobbered
        except FileExistsError:
            raise _exists(output) from None
        except OSError:  # a file system without hard links
            if output.exists():
                raise _exists(output) from None
            os.replace(temp, output)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def _document(ref: str, fmt: str, direction: str, store: str | None,
              source: str | None) -> tuple[str, Any]:
    """(root id, document) of REF: built here, or by the server of a server store (it
    holds the environment manifests, as it holds the SDK's outputs)."""
    import forebear
    from forebear.graph.export import export_document
    from forebear.sdk.queries import Reader, blob_loader, ref_text, resolve_ref

    with Reader(store) as reader:
        if reader.remote:
            return ref, reader.db.get_json(
                "/api/v1/export", ref=ref_text(ref), format=fmt, direction=direction,
                **({"from": ref_text(source)} if source is not None else {}))
        return export_document(reader.db, resolve_ref(reader.db, reader.settings, ref), fmt,
                               direction, version=forebear.__version__,
                               loader=lambda: blob_loader(reader.settings),
                               source=None if source is None
                               else resolve_ref(reader.db, reader.settings, source))


@click.command(epilog="REF is a file path, an alias, a digest (or 8+ hex prefix) or a run "
               "id (or prefix).")
@click.argument("ref")
@click.option("--format", "fmt", required=True,
              type=click.Choice(FORMATS),
              help="prov (W3C PROV-JSON), cyclonedx (CycloneDX 1.6 ML-BOM), slsa (SLSA "
              "provenance v1, in-toto Statement v1) or openlineage (OpenLineage 2-0-2 "
              "RunEvents, a JSON array).")
@click.option("--direction", type=click.Choice(("upstream", "downstream")),
              default="upstream", show_default=True,
              help="Export what REF came from, or (prov and openlineage) what came from it.")
@click.option("--from", "source", metavar="REF",
              help="Only the paths from this REF to REF (what forebear path draws): how a "
              "dataset reached the model, for an audit.")
@click.option("--output", "-o", type=click.Path(path_type=Path), metavar="FILE",
              help="Write the document to FILE instead of stdout.")
@click.option("--force", is_flag=True, help="Replace an existing --output.")
@click.option("--to", "to", metavar="URL",
              help="openlineage only: POST each event to the OpenLineage consumer at URL "
              "(Marquez, DataHub, a forebear server) instead of printing them; its key "
              "from OPENLINEAGE_API_KEY.")
@click.option("--endpoint", default="api/v1/lineage", show_default=True,
              envvar="OPENLINEAGE_ENDPOINT", help="The consumer's path under --to.")
@common
def export(ref: str, fmt: str, direction: str, source: str | None, output: Path | None,
           force: bool, to: str | None, endpoint: str, store: str | None,
           json_out: bool) -> None:
    """Export REF's lineage as W3C PROV-JSON, a CycloneDX ML-BOM, SLSA provenance or
    OpenLineage RunEvents."""
    if to is not None:
        if fmt != "openlineage":
            raise UsageError(f"--to sends OpenLineage events, not {fmt}",
                             hint="use --format openlineage, or --output FILE")
        if output is not None:
            raise UsageError("--to sends the events and --output writes them: choose one",
                             hint="drop --output, or --to")
        from forebear.cli._send import check_url

        check_url(to)  # before any query
        _send(ref, fmt, direction, to, endpoint, store, json_out, source)
        return
    _export(ref, fmt, direction, output, force, store, source)  # JSON either way


def _send(ref: str, fmt: str, direction: str, to: str, endpoint: str, store: str | None,
          json_out: bool, source: str | None) -> None:
    from forebear.cli._common import progress_bar
    from forebear.cli._send import send_events

    root, events = _document(ref, fmt, direction, store, source)
    with progress_bar(disable=json_out) as bar:
        task = bar.add_task("sending", total=len(events))
        sent = send_events(events, to, endpoint=endpoint,
                           api_key=os.environ.get("OPENLINEAGE_API_KEY") or None,
                           advance=lambda: bar.advance(task))
    if json_out:
        emit_json({"root": root, "sent": sent, "to": to})
    else:
        console().print(f"sent {sent} OpenLineage events of {escape(root)} to {escape(to)}")


def _export(ref: str, fmt: str, direction: str, output: Path | None,
            force: bool, store: str | None, source: str | None) -> None:
    from forebear import exporters

    _check_output(output, force)
    exporters.check(fmt, direction)  # before any query
    root, document = _document(ref, fmt, direction, store, source)
    if output is None:
        emit_json(document)
        return
    from forebear._json import dumps

    _write(output, dumps(document, indent=True) + b"\n", force)
    console().print(f"wrote {fmt} export of {escape(root)} to {escape(str(output))}")
