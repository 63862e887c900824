"""Projection rows onto SQL tables through a DB-API cursor, for every SQL backend.

``NodeIds`` gives each node key its integer id (inserting new nodes, caching the rest);
``apply_projection`` writes one batch's rows (``forebear.store.projection``) with those
ids; ``insert_rows`` sends many rows per statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from forebear.store.projection import NODE_POSITIONS, STATEMENT_ORDER, Projection

__all__ = ["NodeIds", "apply_projection", "insert_rows"]

Cursor = Any
_CHUNK = 500


class NodeIds:
    """Maps node keys to integer ids, inserting new nodes in first-appearance order.

    Keys are cached: every node created after the cache's *floor* (the highest id when it
    was started) is known to it, by this process or by reading the few rows other writers
    added since, so only keys that may be older than the floor are looked up in the
    database. A rolled-back transaction must call ``reset()``.
    """

    _LIMIT = 4_000_000  # entries; past this the cache restarts from a new floor

    def __init__(self, placeholder: str, *, upsert_returning: bool = False) -> None:
        self._p = placeholder
        self.upsert_returning = upsert_returning
        self._cache: dict[str, int] = {}
        self._floor: int | None = None
        self._seen = 0

    def reset(self) -> None:
        self._cache = {}
        self._floor = None

    def resolve(
        self, cur: Cursor, nodes: Mapping[str, str], *, alone: bool = False
    ) -> Mapping[str, int]:
        """Ids for ``nodes``' keys, inserting the new ones.

        ``alone``: the caller knows nobody else wrote since this cache's last commit, so
        the highest id is the one it saw and need not be read.
        """
        p = self._p
        if alone and self._floor is not None:
            top = self._seen
        else:
            cur.execute("SELECT COALESCE(MAX(id), 0) FROM node")
            top = int(cur.fetchone()[0])
        if self._floor is None or top < self._seen:
            self._cache = {}
            self._floor = self._seen = top
        elif top > self._seen:
            cur.execute(f"SELECT key, id FROM node WHERE id > {p}", (self._seen,))
            self._cache.update(cur.fetchall())
            self._seen = top
        cache = self._cache
        missing = [key for key in nodes if key not in cache]
        if missing and self._floor and self.upsert_returning:
            # Insert-or-skip in one pass over the key index: the ids of the new keys come
            # back; only a key the table already held (older than the cache) is looked up.
            # The table assigns max(id) + 1 to each new row in VALUES order, which is the
            # first-appearance order the explicit ids below follow too.
            returned: dict[str, int] = {}
            for start in range(0, len(missing), _CHUNK):
                chunk = missing[start : start + _CHUNK]
                marks = ", ".join([f"({p}, {p})"] * len(chunk))
                cur.execute(
                    f"INSERT INTO node (key, type) VALUES {marks} "
                    "ON CONFLICT (key) DO NOTHING RETURNING key, id",
                    [v for key in chunk for v in (key, nodes[key])],
                )
                returned.update(cur.fetchall())
            if returned:
                self._seen = max(returned.values())
                cache.update(returned)
            old = [key for key in missing if key not in returned]
            for start in range(0, len(old), _CHUNK):
                chunk = old[start : start + _CHUNK]
                cur.execute(
                    f"SELECT key, id FROM node WHERE key IN ({', '.join([p] * len(chunk))})",
                    chunk,
                )
                cache.update(cur.fetchall())
            missing = []
        if missing and self._floor:
            for start in range(0, len(missing), _CHUNK):
                chunk = missing[start : start + _CHUNK]
                marks = ", ".join([p] * len(chunk))
                cur.execute(f"SELECT key, id FROM node WHERE key IN ({marks})", chunk)
                cache.update(cur.fetchall())
            missing = [key for key in missing if key not in cache]
        if missing:
            next_id = self._seen + 1
            rows = []
            for key in missing:
                cache[key] = next_id
                rows.append((next_id, key, nodes[key]))
                next_id += 1
            if len(rows) > 1:
                # In key order: the key index (digests are random) then takes the rows
                # page by page instead of one random page each; the ids are given.
                rows.sort(key=itemgetter(1))
            cur.executemany(f"INSERT INTO node (id, key, type) VALUES ({p}, {p}, {p})", rows)
            self._seen = next_id - 1
        if len(cache) > self._LIMIT:
            self._cache = {key: cache[key] for key in nodes}
            self._floor = self._seen
            return self._cache
        return cache


def insert_rows(cur: Cursor, head: str, rows: Sequence[Sequence[Any]], placeholder: str,
                ) -> None:
    """``head VALUES (...), (...), ...``: many rows per statement, not one per row.

    Each statement step releases and retakes the interpreter lock; with a busy event loop
    in the same process, a commit of N rows through ``executemany`` would wait for the lock
    N times (the server's ingest path commits hundreds of rows a second).
    """
    if not rows:
        return
    width = len(rows[0])
    group = "(" + ", ".join([placeholder] * width) + ")"
    step = max(1, 900 // width)
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        cur.execute(f"{head} VALUES {', '.join([group] * len(chunk))}",
                    [value for row in chunk for value in row])


def apply_projection(
    cur: Cursor,
    proj: Projection,
    statements: Mapping[str, str],
    node_ids: NodeIds,
    *,
    alone: bool = False,
) -> None:
    """Write one batch's projection rows through ``cur`` (inside the caller's transaction).

    ``alone`` as for ``NodeIds.resolve``.
    """
    ids = node_ids.resolve(cur, proj.nodes, alone=alone) if proj.nodes else {}
    for name in STATEMENT_ORDER:
        rows = proj.rows[name]
        if not rows:
            continue
        positions = NODE_POSITIONS[name]
        if positions == (0,):
            rows = [(ids[row[0]], *row[1:]) for row in rows]
        elif positions == (0, 1):
            rows = [(ids[row[0]], ids[row[1]], *row[2:]) for row in rows]
        cur.executemany(statements[name], rows)
