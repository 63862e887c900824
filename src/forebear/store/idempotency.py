"""Idempotency keys: which journal entries a keyed write appended, so the same write sent
again is recognised instead of journaled twice.

The ``idempotency_key`` table (schema migration 2) is written in the same transaction as
the entries. The server keys each request (its ``Idempotency-Key`` header, or for an
OpenLineage event the digest of its canonical bytes); ``forebear import openlineage``
keys the events it journals the same way, so an event received and the same event
imported are one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from forebear.store.sql_rows import insert_rows

__all__ = ["Known", "known_keys", "record_keys"]

Known = tuple[bytes | None, int, int]
"""``(request hash, first seq, count)`` of a key already recorded."""

_CHUNK = 500


def known_keys(store: Any, keys: Sequence[str]) -> dict[str, Known]:
    """The keys among ``keys`` that ``store`` has recorded, with what they recorded."""
    found: dict[str, Known] = {}
    if not keys:
        return found
    p = store.placeholder
    with store.side_read() as cur:
        for start in range(0, len(keys), _CHUNK):
            chunk = list(keys[start : start + _CHUNK])
            cur.execute(
                "SELECT key, request_hash, first_seq, count FROM idempotency_key "
                f"WHERE key IN ({', '.join([p] * len(chunk))})",
                chunk,
            )
            for key, digest, first, count in cur.fetchall():
                found[key] = (bytes(digest), int(first), int(count))
    return found


def record_keys(cur: Any, store: Any, rows: Sequence[tuple[str, bytes, int, int, str]]) -> None:
    """Record ``(key, request hash, first seq, count, created at)`` rows, inside the
    transaction that appends those entries (``append_batch``'s ``before_commit``)."""
    insert_rows(cur, "INSERT INTO idempotency_key (key, request_hash, first_seq, count, "
                "created_at)", [(key, store.blob(digest), first, count, at)
                                for key, digest, first, count, at in rows],
                store.placeholder)
