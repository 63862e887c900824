"""``verify``: recompute the Merkle log, check checkpoints, rebuild and compare projections.

The journal is the truth. Verification recomputes every leaf hash from the stored entry
bytes and every interior node from the leaves, checks that every stored checkpoint (and
the signed head) is signed by the store's key and matches the recomputed root at its size,
and replays the journal into empty projection tables to compare them with the live ones.
Problems are reported by the sequence number of the entry they concern, first one first.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from forebear import _json
from forebear.errors import CheckpointError, InvalidInputError
from forebear.journal import merkle
from forebear.journal.checkpoint import open_checkpoint
from forebear.journal.keys import Verifier
from forebear.model.entries import validate_entry
from forebear.store.base import JournalRecord, Problem, StoredCheckpoint, VerifyReport
from forebear.store.projection import project
from forebear.store.schema import PROJECTION_TABLES, SQLITE_PROJECTIONS_DDL
from forebear.store.sql_rows import NodeIds, apply_projection

_BATCH = 5000
PROGRESS_EVERY = 4096
"""Entries between two calls of ``verify_log``'s ``progress``."""
# The live tables' DDL without what serves only queries and lookups by key: secondary
# indexes and the UNIQUE keys of node and execution (the rebuild numbers nodes in memory
# and its upserts conflict on primary keys). Each is a B-tree insert per row, and the
# comparison reads every table by its primary key or in full.
_REBUILD_DDL = "\n".join(
    line for line in SQLITE_PROJECTIONS_DDL.replace(" NOT NULL UNIQUE,", " NOT NULL,").splitlines()
    if not line.startswith("CREATE INDEX") or line.startswith("CREATE INDEX metric_run")
)
# Columns that carry the seq of the entry a projection row came from, per table.
_SEQ_COLUMNS = {
    "artifact": ("first_seq",),
    "execution": ("start_seq", "end_seq"),
    "edge": ("seq",),
    "metric": ("seq",),
    "alias": ("seq",),
    "alias_history": ("seq",),
    "flag": ("seq",),
}


def verify_log(
    records: Iterable[JournalRecord],
    stored_nodes: Iterator[tuple[int, int, bytes]],
    checkpoints: Sequence[StoredCheckpoint],
    verifiers: Sequence[Verifier],
    origin: str,
    *,
    on_entry: Callable[[int, dict[str, Any] | None], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, bytes, list[Problem]]:
    """Recompute leaves, interior nodes and roots; check checkpoints against them.

    ``stored_nodes`` yields the stored interior nodes ``(level, idx, hash)``, best in the
    order they complete (``idx << level``) so that few wait in memory; they are matched
    by id, so any order is correct.
    ``on_entry`` receives each parsed entry (or None when it does not parse);
    ``progress`` the number of entries checked since its last call, every
    ``PROGRESS_EVERY`` entries and once at the end.
    """
    problems: list[Problem] = []
    frontier = merkle.Frontier()
    wanted: dict[int, list[StoredCheckpoint]] = {}
    for cp in checkpoints:
        wanted.setdefault(cp.size, []).append(cp)
    roots: dict[int, bytes] = {}
    if 0 in wanted:
        roots[0] = merkle.EMPTY_ROOT
    expected_nodes: dict[tuple[int, int], bytes] = {}
    stored = _NodeMatcher(stored_nodes)
    count = 0
    for record in records:
        if record.seq != count:
            problems.append(Problem(seq=count, what=f"sequence gap: entry {count} is missing"))
            count = record.seq
        if merkle.leaf_hash(record.canonical) != record.leaf_hash:
            problems.append(
                Problem(seq=record.seq, what="entry bytes do not match their stored leaf hash")
            )
        # The tree is recomputed from the stored leaf hashes: an edited entry is named by
        # the check above, an edited leaf hash by the signed checkpoints below.
        leaf = record.leaf_hash if len(record.leaf_hash) == merkle.HASH_SIZE else bytes(32)
        for level, idx, value in frontier.append(leaf):
            if level:
                expected_nodes[(level, idx)] = value
        if expected_nodes and len(expected_nodes) >= _BATCH:
            problems.extend(stored.check(expected_nodes))
            expected_nodes.clear()
        count += 1
        if count in wanted:
            roots[count] = frontier.root()
        if on_entry is not None:
            on_entry(record.seq, _parse(record, problems))
        if progress is not None and not count % PROGRESS_EVERY:
            progress(PROGRESS_EVERY)
    if progress is not None and count % PROGRESS_EVERY:
        progress(count % PROGRESS_EVERY)
    problems.extend(stored.check(expected_nodes))
    problems.extend(stored.leftovers())
    root = frontier.root()
    for cp in checkpoints:
        problems.extend(_check_checkpoint(cp, roots.get(cp.size), count, verifiers, origin))
    problems.extend(_unsigned_tail(checkpoints, count))
    return count, root, problems


def _unsigned_tail(checkpoints: Sequence[StoredCheckpoint], count: int) -> list[Problem]:
    """Entries no signed head covers. Every commit refreshes the head in its own
    transaction, so a shorter head (or none) means entries were written without the
    signing key, or the head was removed or put back to an older one: either way
    nothing vouches for those entries, and whoever can write the database could have
    made them."""
    heads = [cp.size for cp in checkpoints if not cp.created_at]
    signed = max(heads, default=0)
    if signed >= count:
        return []
    what = "no signed head covers" if not heads else f"the signed head (size {signed}) misses"
    return [Problem(seq=signed, what=f"{what} entries {signed} to {count - 1}: they were "
                    "written without the signing key, or the head was removed; find out "
                    "who wrote them before trusting them")]


def unprojected(limit: int | None, count: int) -> list[Problem]:
    """Entries journaled but not projected yet (``projection_state.pending_from``): the
    queries do not show them, so the store answers less than its journal holds."""
    if limit is None or limit >= count:
        return []
    return [Problem(seq=limit, what=f"projection: entries {limit} to {count - 1} are "
                    "journaled but not projected, so queries do not show them: let the "
                    "server's worker catch up (or run `forebear worker`), then verify again")]


def read_checkpoints(execute: Callable[[str], Any]) -> list[StoredCheckpoint]:
    """Every stored checkpoint, oldest first, then the signed head if there is one.

    ``execute`` runs a statement and returns a DB-API cursor (SQLite's and psycopg's
    ``Connection.execute`` both do), inside the caller's snapshot.
    """
    found = [
        StoredCheckpoint(size=int(s), root=bytes(r), note=n, created_at=c)
        for s, r, n, c in execute("SELECT size, root, note, created_at FROM checkpoint ORDER BY id")
    ]
    head = execute("SELECT size, root, note FROM head").fetchone()
    if head is not None:
        found.append(
            StoredCheckpoint(size=int(head[0]), root=bytes(head[1]), note=head[2], created_at="")
        )
    return found


def _parse(record: JournalRecord, problems: list[Problem]) -> dict[str, Any] | None:
    try:
        entry = _json.loads(record.canonical)
        validate_entry(entry)
    except (ValueError, InvalidInputError) as exc:
        problems.append(Problem(seq=record.seq, what=f"entry does not parse: {exc}"))
        return None
    return entry  # type: ignore[no-any-return]


class _NodeMatcher:
    """Compares recomputed interior nodes with the stored ones, streaming both."""

    def __init__(self, stored: Iterator[tuple[int, int, bytes]]) -> None:
        self._pending: dict[tuple[int, int], bytes] = {}
        self._stored = stored
        self._done = False

    def check(self, expected: dict[tuple[int, int], bytes]) -> list[Problem]:
        problems = []
        for node, value in expected.items():
            while node not in self._pending and not self._done:
                try:
                    level, idx, stored_value = next(self._stored)
                except StopIteration:
                    self._done = True
                    break
                self._pending[(level, idx)] = bytes(stored_value)
            got = self._pending.pop(node, None)
            if got != value:
                level, idx = node
                first_leaf = idx << level
                what = "missing" if got is None else "does not match the entries below it"
                span = f"entries {first_leaf} to {first_leaf + (1 << level) - 1}"
                problems.append(
                    Problem(seq=first_leaf, what=f"Merkle node ({level}, {idx}) over {span} "
                            f"{what}")
                )
        return problems

    def leftovers(self) -> list[Problem]:
        for level, idx, value in self._stored:
            self._pending[(level, idx)] = bytes(value)
        return [
            Problem(seq=idx << level, what=f"Merkle node ({level}, {idx}) is beyond the log")
            for (level, idx) in sorted(self._pending)
        ]


def _check_checkpoint(
    cp: StoredCheckpoint,
    recomputed: bytes | None,
    size: int,
    verifiers: Sequence[Verifier],
    origin: str,
) -> list[Problem]:
    label = "signed head" if not cp.created_at else f"checkpoint of size {cp.size}"
    try:
        parsed = open_checkpoint(cp.note, verifiers, origin=origin)
    except CheckpointError as exc:
        return [Problem(seq=None, what=f"{label}: {exc}")]
    if parsed.size != cp.size or parsed.root != cp.root:
        return [Problem(seq=None, what=f"{label}: stored size or root differs from its note")]
    if cp.size > size:
        return [Problem(seq=size, what=f"{label} is beyond the log: entries were removed")]
    if recomputed != parsed.root:
        return [
            Problem(
                seq=cp.size - 1 if cp.size else None,
                what=f"{label}: the log's root at size {cp.size} differs from the signed root "
                "(history was rewritten)",
            )
        ]
    return []


class _RebuildNodeIds(NodeIds):
    # Every key stays cached (the rebuilt tables are in memory anyway): the rebuild's node
    # table has no key index to look keys up in.
    _LIMIT = 1 << 62


class ProjectionRebuild:
    """Replays entries into empty in-memory projection tables (SQLite dialect)."""

    def __init__(self, statements: dict[str, str]) -> None:
        self.db = sqlite3.connect(":memory:", isolation_level=None)
        self.db.executescript(_REBUILD_DDL)
        self.db.execute("BEGIN")
        self._statements = statements
        self._batch: list[tuple[int, dict[str, Any]]] = []
        self._ids: NodeIds = _RebuildNodeIds("?")

    def add(self, seq: int, entry: dict[str, Any] | None) -> None:
        if entry is not None:
            self._batch.append((seq, entry))
            if len(self._batch) >= _BATCH:
                self.flush()

    def flush(self) -> None:
        if self._batch:
            apply_projection(self.db.cursor(), project(self._batch), self._statements, self._ids)
            self._batch = []

    def compare(self, live_rows: Callable[[str, str], Iterator[tuple[Any, ...]]]) -> list[Problem]:
        """Compare each projection table with the live one; the first difference per table."""
        self.flush()
        problems = []
        for table, order in PROJECTION_TABLES.items():
            cur = self.db.execute(f"SELECT * FROM {table} ORDER BY {order}")
            names = [d[0] for d in cur.description]
            rebuilt = iter(cur)
            live = live_rows(table, order)
            position = 0
            while True:
                want = next(rebuilt, None)
                got = next(live, None)
                if want is None and got is None:
                    break
                if want is not None and got is not None and (want == got or _same(want, got)):
                    position += 1
                    continue
                row = want if want is not None else got
                assert row is not None
                seq = self._seq_of(table, names, row)
                what = (
                    f"projection table {table!r} row {position} differs from the journal"
                    if want is not None and got is not None
                    else f"projection table {table!r} has "
                    + ("a missing row" if got is None else "an extra row")
                )
                problems.append(Problem(seq=seq, what=what))
                break
        return problems

    def _seq_of(self, table: str, names: list[str], row: tuple[Any, ...]) -> int | None:
        values = dict(zip(names, row, strict=False))
        if table == "node":
            found = self.db.execute(
                "SELECT MIN(s) FROM (SELECT first_seq AS s FROM artifact WHERE node = ? "
                "UNION ALL SELECT start_seq FROM execution WHERE node = ? "
                "UNION ALL SELECT end_seq FROM execution WHERE node = ?)",
                (values.get("id"), values.get("id"), values.get("id")),
            ).fetchone()
            return None if found is None or found[0] is None else int(found[0])
        if table == "artifact_uri":
            found = self.db.execute(
                "SELECT first_seq FROM artifact WHERE node = ?", (values.get("node"),)
            ).fetchone()
            return None if found is None else int(found[0])
        for column in _SEQ_COLUMNS.get(table, ()):
            value = values.get(column)
            if isinstance(value, int):
                return value
        return None


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if isinstance(x, bytes | memoryview) or isinstance(y, bytes | memoryview):
            if bytes(x) != bytes(y):
                return False
        elif x != y:
            return False
    return True


def report(count: int, root: bytes, problems: list[Problem]) -> VerifyReport:
    """Order problems by the entry they concern (unknown last) and build the report."""
    # Damage to the journal's entries comes first: a Merkle node over them, and projection
    # differences, are often its echo (a changed leaf hash shows in every node above it).
    def order(p: Problem) -> tuple[bool, bool, bool, int]:
        return (p.what.startswith("projection"), p.what.startswith("Merkle node"),
                p.seq is None, p.seq or 0)

    ordered = sorted(problems, key=order)
    return VerifyReport(entries=count, root=root, problems=ordered)
