"""``verify`` of a PostgreSQL store, inside PostgreSQL: one snapshot, the journal and
Merkle nodes streamed through server-side cursors, the projections rebuilt into temporary
tables and compared with the live ones by the server.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import IsolationLevel

from forebear.journal.keys import Verifier
from forebear.model.ids import uuid7
from forebear.store._pg_sql import BatchingCursor
from forebear.store.base import JournalRecord, Problem
from forebear.store.projection import POSTGRES_STATEMENTS, project
from forebear.store.schema import POSTGRES_PROJECTION_TABLES, PROJECTION_TABLES
from forebear.store.sql_rows import NodeIds, apply_projection
from forebear.store.verify import ProjectionRebuild, read_checkpoints, unprojected, verify_log

__all__ = ["verify_in_postgres"]

_STREAM_ROWS = 5000


def verify_in_postgres(
    conn: psycopg.Connection[Any],
    verifiers: Sequence[Verifier],
    origin: str,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, bytes, list[Problem]]:
    """Check the store behind ``conn`` (a fresh connection, not in autocommit; the caller
    closes it, which drops the temporary tables): entries, root and problems."""
    streams: list[Generator[tuple[Any, ...], None, None]] = []

    def stream(sql: str) -> Iterator[tuple[Any, ...]]:
        streams.append(_stream(conn, sql))
        return streams[-1]

    try:
        # One snapshot for the whole check, never blocking writers. Not READ ONLY:
        # the rebuild writes temporary tables, which only this transaction sees.
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        checkpoints = read_checkpoints(conn.execute)
        # Entries whose projection is still deferred (the server's worker has not
        # reached them) are not in the live tables yet: rebuild only what they reflect.
        pending = conn.execute(
            "SELECT pending_from FROM projection_state WHERE id = 1"
        ).fetchone()
        limit = None if pending is None or pending[0] is None else int(pending[0])
        rebuild = _PostgresRebuild(conn)

        def add(seq: int, entry: dict[str, Any] | None) -> None:
            if limit is None or seq < limit:
                rebuild.add(seq, entry)

        records = (
            JournalRecord(seq=int(seq), canonical=bytes(entry), leaf_hash=bytes(leaf))
            for seq, entry, leaf in stream(
                "SELECT seq, entry, leaf_hash FROM journal ORDER BY seq"
            )
        )
        nodes = stream("SELECT level, idx, hash FROM merkle_node ORDER BY idx << level, level")
        count, root, problems = verify_log(
            records, nodes, checkpoints, verifiers, origin, on_entry=add, progress=progress
        )
        problems.extend(rebuild.compare_in_database())
        problems.extend(unprojected(limit, count))
        return count, root, problems
    finally:
        for open_stream in streams:
            open_stream.close()



def _stream(conn: psycopg.Connection[Any], sql: str) -> Generator[tuple[Any, ...], None, None]:
    """Rows of ``sql`` through a server-side cursor: a large journal never sits in memory."""
    with conn.cursor(name=f"forebear_{uuid7().replace('-', '')}") as cur:
        cur.itersize = _STREAM_ROWS
        cur.execute(sql)
        yield from cur


class _PostgresRebuild(ProjectionRebuild):
    """Replays entries into temporary projection tables, then compares them in the server.

    The temporary tables (``pg_temp``, which PostgreSQL searches before any other schema)
    take the same PostgreSQL statements as the live ones, so jsonb's text form, collation
    and numeric types are exactly theirs. The live tables are read, in the same snapshot,
    by their qualified names; ``EXCEPT ALL`` both ways finds the first row that differs.
    """

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        # Not ProjectionRebuild.__init__: that one builds an in-memory SQLite database.
        self._conn = conn
        row = conn.execute("SELECT current_schema()").fetchone()
        self._live_schema = str(row[0]) if row else "public"
        for ddl in POSTGRES_PROJECTION_TABLES:
            conn.execute(ddl.replace("CREATE TABLE", "CREATE TEMP TABLE", 1) + " ON COMMIT DROP")
        self._statements = dict(POSTGRES_STATEMENTS)
        self._batch = []
        self._ids = NodeIds("%s")
        self._types: dict[str, dict[str, str]] = {}

    def flush(self) -> None:
        if self._batch:
            with self._conn.cursor() as cur:
                apply_projection(
                    BatchingCursor(cur, self._types), project(self._batch), self._statements,
                    self._ids,
                )
            self._batch = []

    def compare_in_database(self) -> list[Problem]:
        """The first difference of each projection table, like ``ProjectionRebuild.compare``."""
        self.flush()
        problems = []
        for table, order in PROJECTION_TABLES.items():
            live, rebuilt = f'"{self._live_schema}".{table}', f"pg_temp.{table}"
            cur = self._conn.execute(
                f"SELECT * FROM ("
                f"SELECT 0 AS side, * FROM (TABLE {rebuilt} EXCEPT ALL TABLE {live}) AS missing "
                f"UNION ALL "
                f"SELECT 1 AS side, * FROM (TABLE {live} EXCEPT ALL TABLE {rebuilt}) AS extra"
                f") AS diff ORDER BY {order}, side LIMIT 2"
            )
            rows = cur.fetchall()
            if not rows:
                continue
            assert cur.description is not None
            names = [column.name for column in cur.description][1:]
            first, second = rows[0], rows[1] if len(rows) > 1 else None
            keys = [names.index(column.strip()) for column in order.split(",")]
            changed = (
                second is not None and first[0] == 0 and second[0] == 1
                and [first[1:][k] for k in keys] == [second[1:][k] for k in keys]
            )
            if changed:
                what = f"projection table {table!r} has a row that differs from the journal"
            elif first[0] == 0:
                what = f"projection table {table!r} has a missing row"
            else:
                what = f"projection table {table!r} has an extra row"
            problems.append(Problem(seq=self._seq_of(table, names, first[1:]), what=what))
        return problems

    def _seq_of(self, table: str, names: list[str], row: tuple[Any, ...]) -> int | None:
        values = dict(zip(names, row, strict=False))
        if table == "node":
            node = values.get("id")
            found = self._conn.execute(
                "SELECT MIN(s) FROM (SELECT first_seq AS s FROM pg_temp.artifact WHERE node = %s "
                "UNION ALL SELECT start_seq FROM pg_temp.execution WHERE node = %s "
                "UNION ALL SELECT end_seq FROM pg_temp.execution WHERE node = %s) AS seqs",
                (node, node, node),
            ).fetchone()
            return None if found is None or found[0] is None else int(found[0])
        if table == "artifact_uri":
            found = self._conn.execute(
                "SELECT first_seq FROM pg_temp.artifact WHERE node = %s", (values.get("node"),)
            ).fetchone()
            return None if found is None else int(found[0])
        return super()._seq_of(table, names, row)
