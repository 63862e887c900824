"""``verify --blobs``: re-hash every blob in the blob store against its digest, and
find the stored outputs' blobs that are missing."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from forebear import _json, config
from forebear.store.base import JournalRecord


def stored_outputs(records: Iterable[JournalRecord]) -> dict[str, int]:
    """The digests of outputs recorded as stored in the blob store, each with the seq of
    the first entry that says so."""
    found: dict[str, int] = {}
    for record in records:
        if b'"stored":true' not in record.canonical:  # most entries: no parse
            continue
        entry = _json.loads(record.canonical)
        for ref in entry.get("outputs") or ():
            if isinstance(ref, dict) and ref.get("stored") is True and ref.get("digest"):
                found.setdefault(str(ref["digest"]), record.seq)
    return found


def verify_blobs(
    resolved: config.Settings,
    progress: Callable[[int], None] | None = None,
    expected: Mapping[str, int] | None = None,
) -> list[dict[str, Any]]:
    """Problems found in the blob store, in the ``verify`` JSON shape: blobs that do not
    match their digest (``seq`` null), and ``expected`` ones (digest -> the seq of the
    entry that recorded it stored) that are missing.

    ``progress`` is called with 1 after each blob.
    """
    from forebear.artifacts.base import open_blob_store
    from forebear.errors import ForebearError

    if not resolved.blob_url:
        return [{"seq": None, "what": "no blob store is configured (set FOREBEAR_BLOBS)"}]
    blobs = open_blob_store(resolved.blob_url)
    problems: list[dict[str, Any]] = []
    missing = dict(expected or {})
    for digest in blobs.iter_digests():
        missing.pop(str(digest), None)
        try:
            if not blobs.verify(digest):
                problems.append({"seq": None, "what": f"blob {digest} does not match its digest"})
        except ForebearError as exc:
            problems.append({"seq": None, "what": f"blob {digest}: {exc}"})
        if progress is not None:
            progress(1)
    for text, seq in sorted(missing.items(), key=lambda item: item[1]):
        problems.append({"seq": seq, "what": f"blob {text}, an output recorded as stored, "
                         "is missing from the blob store: restore it from a backup"})
    return problems
