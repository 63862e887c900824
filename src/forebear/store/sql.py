"""The write path and journal reads shared by the SQL backends (SQLite, PostgreSQL).

A backend supplies a DB-API connection, its dialect's statements and how to take the
journal's write lock; everything else (sequencing, Merkle nodes, projections, proofs,
checkpoints) lives here once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from forebear import _canonical, _json
from forebear.errors import (
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    SigningKeyError,
)
from forebear.journal import merkle
from forebear.journal.checkpoint import Checkpoint, sign
from forebear.journal.keys import SigningKey, Verifier
from forebear.model.entries import refuse_nul, validate_entry
from forebear.model.ids import Clock, format_time, utc_now
from forebear.store.base import JournalRecord, StoredCheckpoint
from forebear.store.projection import project as project_entries
from forebear.store.sql_rows import NodeIds, apply_projection, insert_rows

# Entries larger than this are refused: a journal entry is metadata, not data.
MAX_ENTRY_BYTES = 4 * 1024 * 1024
_CHUNK = 500

Cursor = Any
Connection = Any


def encode_entries(entries: Sequence[Mapping[str, Any]]) -> list[bytes]:
    """Validate entries and return their canonical bytes, refusing the whole batch on error."""
    return _encode_entries(entries)[0]


def _encode_entries(entries: Sequence[Mapping[str, Any]]) -> tuple[list[bytes], list[bool]]:
    """``encode_entries``, and for each entry whether it is plain (see
    ``_canonical.canonical_bytes_plain``): its parsed bytes would equal it."""
    out: list[bytes] = []
    plain: list[bool] = []
    for index, entry in enumerate(entries):
        try:
            validate_entry(entry)
            data, is_plain = _canonical.canonical_bytes_plain(entry)
            refuse_nul(data)
        except InvalidInputError as exc:
            prefix = f"entry {index} of the batch: " if len(entries) > 1 else ""
            raise InvalidInputError(prefix + exc.message, hint=exc.hint) from None
        if len(data) > MAX_ENTRY_BYTES:
            raise InvalidInputError(
                f"entry {index} is {len(data)} bytes, over the {MAX_ENTRY_BYTES}-byte limit",
                hint="store large content as a blob and record its digest",
            )
        out.append(data)
        plain.append(is_plain)
    return out, plain


def _parsed_forms(
    entries: Sequence[Mapping[str, Any]], encoded: Sequence[bytes], plain: Sequence[bool]
) -> list[Mapping[str, Any]]:
    """What parsing each entry's canonical bytes gives, without parsing where it need not.

    Projections are computed from the journal's bytes as parsed (so that ``1.0`` and ``1``
    are one number live and in ``verify``'s rebuild). A plain entry parses back equal to
    itself, value for value and type for type (a tuple becomes a list, which projects the
    same): it is used as it is. Any other entry is parsed from its bytes.
    """
    loads = _json.loads
    return [
        entry if is_plain else loads(data)
        for entry, data, is_plain in zip(entries, encoded, plain, strict=True)
    ]


def as_bytes(value: Any) -> bytes:
    """A stored BLOB as bytes; a tampered row may come back as TEXT or a number."""
    if isinstance(value, bytes | memoryview | bytearray):
        return bytes(value)
    return str(value).encode("utf-8", errors="surrogateescape")


class SqlJournal:
    """Sequencing, Merkle bookkeeping and signed heads over a DB-API connection.

    Subclasses provide ``_write_txn()`` (a context manager yielding a cursor that holds the
    journal's write lock until commit), ``_read_cursor()``, ``placeholder``, ``statements``
    and ``blob(b)`` (how the driver wants bytes).
    """

    placeholder = "?"
    statements: Mapping[str, str] = {}
    # Whether ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` assigns node ids (SQLite's
    # INTEGER PRIMARY KEY does; PostgreSQL's node ids are always given explicitly).
    upsert_returning = False
    # Whether writing needs the signing key. An embedded store's key lives beside it, so
    # a missing one is a mistake to stop at; a PostgreSQL server started without its key
    # is warned about at start and keeps taking events (verify names what it left unsigned).
    signer_required = False

    def __init__(self, *, signer: SigningKey | None, origin: str, clock: Clock = utc_now) -> None:
        self._signer = signer
        self._origin = origin
        self._clock = clock
        self._frontier: merkle.Frontier | None = None
        # (journal size, pending_from) as this process's last append committed them.
        self._tip: tuple[int, int | None] | None = None
        self._node_ids = NodeIds(self.placeholder, upsert_returning=self.upsert_returning)
        self._lock = threading.RLock()

    # Set by the backend when it opens the store: its ``meta`` rows (the verifier key
    # written at init among them) and verifiers trusted besides the signing key.
    meta: dict[str, str]
    _extra_verifiers: list[Verifier]

    def _refuse_foreign_signer(self, where: str) -> None:
        """Refuse a signing key other than the one the store was created with.

        Heads signed by another key would fail ``verify`` later, far from the cause; the
        store's ``meta`` holds the verifier written at init, so the mismatch shows now.
        """
        if self._signer is None or "verifier" not in self.meta:
            return
        if self._signer.verifier().encode() != self.meta["verifier"]:
            raise SigningKeyError(
                f"the signing key {self._signer.name} is not the key of the store at {where}",
                hint="point FOREBEAR_KEY at the key this store was created with",
            )

    def verifiers(self) -> list[Verifier]:
        """The keys that checkpoints must be signed by."""
        if self._signer is not None:
            return [self._signer.verifier(), *self._extra_verifiers]
        if self._extra_verifiers:
            return list(self._extra_verifiers)
        return [Verifier.parse(self.meta["verifier"])]

    # -- backend hooks ---------------------------------------------------------------
    def _write_txn(self) -> AbstractContextManager[Cursor]:
        raise NotImplementedError

    def _read_cursor(self) -> AbstractContextManager[Cursor]:
        raise NotImplementedError

    @staticmethod
    def blob(data: bytes) -> Any:
        return data

    # -- side tables (outside the journal: server tokens, idempotency keys) ------------
    def side_write(self) -> AbstractContextManager[Cursor]:
        """A write transaction on the store's tables that are not the journal."""
        return self._write_txn()

    def side_read(self) -> AbstractContextManager[Cursor]:
        """A read cursor on the store's tables that are not the journal."""
        return self._read_cursor()

    # -- writes ---------------------------------------------------------------------
    def append(self, entry: Mapping[str, Any]) -> int:
        return self.append_batch([entry]).start

    def append_batch(
        self,
        entries: Sequence[Mapping[str, Any]],
        *,
        project: bool = True,
        before_commit: Callable[[Cursor, range], None] | None = None,
        encoded: Sequence[bytes] | None = None,
    ) -> range:
        """Append ``entries`` durably in one transaction; return their sequence numbers.

        ``project=False`` defers their projection to ``project_pending`` (the server's
        asynchronous listener); a projecting append first catches up on any deferred
        entries, so projections are always applied in journal order. ``before_commit``
        runs inside the transaction with the cursor and the new seqs (for side tables
        that must commit or roll back with the entries). ``encoded``, when given, is what
        ``encode_entries(entries)`` returned to a caller that validated them already.
        """
        if self._signer is None and self.signer_required:
            raise SigningKeyError(
                "this store was opened without its signing key, and every write signs the "
                "journal's new head")
        if not entries:
            size = self.size()
            return range(size, size)
        parsed: Sequence[Mapping[str, Any]] | None = None
        if encoded is None:
            encoded, plain = _encode_entries(entries)
            if project:
                parsed = _parsed_forms(entries, encoded, plain)
        elif len(encoded) != len(entries):
            raise ValueError("encoded must hold one canonical form per entry")
        p = self.placeholder
        with self._lock:
            tip, self._tip = self._tip, None  # stays None unless this commit succeeds
            with self._write_txn() as cur:
                # Our own last commit left the journal at ``tip`` (its size and deferred
                # position); when nobody else wrote since, nothing needs reading back.
                others = self._others_wrote(cur)  # asked every time: it keeps its mark
                alone = tip is not None and not others
                if alone:
                    assert tip is not None
                    size, pending = tip
                else:
                    size = self._size_in(cur)
                    pending = self._pending_from(cur)
                frontier = self._frontier_at(cur, size)
                journal_rows = []
                node_rows = []
                leaf_hash = merkle.leaf_hash
                blob = self.blob
                for offset, data in enumerate(encoded):
                    leaf = leaf_hash(data)
                    journal_rows.append((size + offset, blob(data), blob(leaf)))
                    for level, idx, value in frontier.append(leaf):
                        if level:
                            node_rows.append((level, idx, blob(value)))
                insert_rows(cur, "INSERT INTO journal (seq, entry, leaf_hash)", journal_rows, p)
                insert_rows(cur, "INSERT INTO merkle_node (level, idx, hash)", node_rows, p)
                if project:
                    if pending is not None:
                        self._project_stored(cur, pending, size)
                        self._set_pending(cur, None)
                        pending = None
                    # Project what the journal holds (its canonical bytes, parsed), exactly
                    # as verify's rebuild will: 1.0 and 1 are then one number in both.
                    if parsed is None:
                        parsed = [_json.loads(d) for d in encoded]
                    proj = project_entries(enumerate(parsed, size))
                    apply_projection(cur, proj, self.statements, self._node_ids, alone=alone)
                elif pending is None:
                    self._set_pending(cur, size)
                    pending = size
                seqs = range(size, size + len(encoded))
                if before_commit is not None:
                    before_commit(cur, seqs)
                self._refresh_head(cur, frontier.size, frontier.root())
                self._frontier = frontier
            self._tip = (seqs.stop, pending)
        return seqs

    def _others_wrote(self, cur: Cursor) -> bool:
        """Whether another connection committed since this one's last write transaction.

        Called once per append, inside its write transaction. Backends that cannot tell
        cheaply answer True, and the journal's size and positions are read back each time.
        """
        return True

    # -- deferred projection ------------------------------------------------------------
    def _pending_from(self, cur: Cursor) -> int | None:
        cur.execute("SELECT pending_from FROM projection_state WHERE id = 1")
        row = cur.fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def _set_pending(self, cur: Cursor, value: int | None) -> None:
        cur.execute(
            f"UPDATE projection_state SET pending_from = {self.placeholder} WHERE id = 1",
            (value,),
        )

    def _project_stored(self, cur: Cursor, start: int, end: int) -> None:
        """Project journal entries ``[start, end)`` read back from the journal."""
        p = self.placeholder
        for low in range(start, end, _CHUNK * 10):
            high = min(end, low + _CHUNK * 10)
            cur.execute(
                f"SELECT seq, entry FROM journal WHERE seq >= {p} AND seq < {p} ORDER BY seq",
                (low, high),
            )
            batch = [(int(seq), _json.loads(bytes(entry))) for seq, entry in cur.fetchall()]
            apply_projection(cur, project_entries(batch), self.statements, self._node_ids)

    def _projection_txn(self) -> AbstractContextManager[Cursor]:
        # Projections are derived from the journal and their position commits with them:
        # a projection batch lost in a crash is simply projected again, so backends may
        # commit it without waiting for durability.
        return self._write_txn()

    def project_pending(
        self,
        limit: int = 5000,
        *,
        gate: Callable[[], AbstractContextManager[Any]] | None = None,
    ) -> int:
        """Project up to ``limit`` deferred entries in journal order; return how many.

        The rows are computed outside the write lock (parsing and mapping are most of the
        work) and applied in a short transaction that first checks nobody else projected
        those entries meanwhile; if somebody did, nothing is applied and 0 is returned.
        ``gate`` is held around that transaction (the server's cross-process write gate).
        """
        p = self.placeholder
        with self._read_cursor() as cur:
            pending = self._pending_from(cur)
            if pending is None:
                return 0
            cur.execute(
                f"SELECT seq, entry FROM journal WHERE seq >= {p} AND seq < {p} ORDER BY seq",
                (pending, pending + max(1, limit)),
            )
            rows = cur.fetchall()
        if not rows:
            return 0
        end = int(rows[-1][0]) + 1
        proj = project_entries((int(seq), _json.loads(bytes(entry))) for seq, entry in rows)
        with gate() if gate is not None else nullcontext(), self._lock, \
                self._projection_txn() as cur:
            self._tip = None
            if self._pending_from(cur) != pending:
                return 0
            apply_projection(cur, proj, self.statements, self._node_ids)
            self._set_pending(cur, end if end < self._size_in(cur) else None)
        return end - pending

    def projected_size(self) -> int:
        """How many journal entries the projections reflect (the journal size when none lag)."""
        with self._read_cursor() as cur:
            pending = self._pending_from(cur)
            return self._size_in(cur) if pending is None else pending

    def _frontier_at(self, cur: Cursor, size: int) -> merkle.Frontier:
        current = self._frontier
        if current is not None and current.size == size:
            return current.copy()
        self._frontier = None
        return merkle.Frontier.load(size, lambda ids: self._fetch_nodes(cur, ids))

    def _refresh_head(self, cur: Cursor, size: int, root: bytes) -> None:
        if self._signer is None:
            return
        note = sign(Checkpoint(origin=self._origin, size=size, root=root), [self._signer])
        p = self.placeholder
        cur.execute(
            f"INSERT INTO head (id, size, root, note) VALUES (1, {p}, {p}, {p}) "
            "ON CONFLICT (id) DO UPDATE SET size = excluded.size, root = excluded.root, "
            "note = excluded.note",
            (size, self.blob(root), note),
        )

    # -- Merkle reads ---------------------------------------------------------------
    def _fetch_nodes(
        self, cur: Cursor, ids: Sequence[merkle.NodeId]
    ) -> dict[merkle.NodeId, bytes]:
        p = self.placeholder
        found: dict[merkle.NodeId, bytes] = {}
        leaves = [idx for level, idx in ids if level == 0]
        inner = [(level, idx) for level, idx in ids if level > 0]
        for start in range(0, len(leaves), _CHUNK):
            chunk = leaves[start : start + _CHUNK]
            marks = ", ".join([p] * len(chunk))
            cur.execute(f"SELECT seq, leaf_hash FROM journal WHERE seq IN ({marks})", chunk)
            for seq, value in cur.fetchall():
                found[(0, int(seq))] = bytes(value)
        for start in range(0, len(inner), _CHUNK):
            pairs = inner[start : start + _CHUNK]
            clause = " OR ".join([f"(level = {p} AND idx = {p})"] * len(pairs))
            flat = [v for pair in pairs for v in pair]
            cur.execute(f"SELECT level, idx, hash FROM merkle_node WHERE {clause}", flat)
            for level, idx, value in cur.fetchall():
                found[(int(level), int(idx))] = bytes(value)
        missing = [node for node in ids if node not in found]
        if missing:
            raise NotFoundError(
                f"the journal is missing Merkle node {missing[0]}",
                hint="run `forebear verify` to find the damage",
            )
        return found

    def size(self) -> int:
        with self._read_cursor() as cur:
            cur.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM journal")
            return int(cur.fetchone()[0])

    def _check_size(self, size: int | None, current: int) -> int:
        if size is None:
            return current
        if size < 0 or size > current:
            raise InvalidInputError(
                f"tree size {size} is outside the journal (it holds {current} entries)",
                hint=f"ask for a size between 0 and {current}",
            )
        return size

    def root(self, size: int | None = None) -> bytes:
        with self._read_cursor() as cur:
            current = self._size_in(cur)
            size = self._check_size(size, current)
            return merkle.root_from(size, lambda ids: self._fetch_nodes(cur, ids))

    def _size_in(self, cur: Cursor) -> int:
        cur.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM journal")
        return int(cur.fetchone()[0])

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        with self._read_cursor() as cur:
            size = self._check_size(size, self._size_in(cur))
            if not 0 <= index < size:
                raise InvalidInputError(
                    f"entry {index} is not in a tree of size {size}",
                    hint=f"ask for an index below {size}",
                )
            ranges = merkle.inclusion_path(index, size)
            return merkle.build_proof(ranges, lambda ids: self._fetch_nodes(cur, ids))

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        with self._read_cursor() as cur:
            new = self._check_size(new, self._size_in(cur))
            if not 0 <= old <= new:
                raise InvalidInputError(
                    f"cannot prove consistency from size {old} to size {new}",
                    hint="the old size must be between 0 and the new size",
                )
            ranges = merkle.consistency_path(old, new)
            return merkle.build_proof(ranges, lambda ids: self._fetch_nodes(cur, ids))

    def records(self, start: int = 0, end: int | None = None) -> Iterator[JournalRecord]:
        p = self.placeholder
        batch = 5000
        position = start
        while True:
            stop = position + batch if end is None else min(position + batch, end)
            if stop <= position:
                return
            with self._read_cursor() as cur:
                cur.execute(
                    f"SELECT seq, entry, leaf_hash FROM journal WHERE seq >= {p} AND seq < {p} "
                    "ORDER BY seq",
                    (position, stop),
                )
                rows = cur.fetchall()
            for seq, entry, leaf in rows:
                yield JournalRecord(seq=int(seq), canonical=as_bytes(entry),
                                    leaf_hash=as_bytes(leaf))
            if len(rows) < stop - position:
                return
            position = stop

    # -- aliases (forebear.store.aliases) ---------------------------------------------
    def resolve_alias(self, name: str, at: Any = None) -> str | None:
        """The digest alias ``name`` points at now (or at time ``at``); None if unset."""
        record = self.alias_record(name, at=at)
        return None if record is None else str(record["digest"])

    def alias_record(self, name: str, at: Any = None) -> dict[str, Any] | None:
        """The alias's latest move, at or before ``at`` when given; None if there is none."""
        from forebear.store import aliases

        with self._read_cursor() as cur:
            return aliases.alias_record(cur, name, at=at, placeholder=self.placeholder)

    def alias_history(self, name: str) -> list[dict[str, Any]]:
        """Every move of alias ``name``, oldest first."""
        from forebear.store import aliases

        with self._read_cursor() as cur:
            return aliases.alias_history(cur, name, placeholder=self.placeholder)

    # -- checkpoints ----------------------------------------------------------------
    def checkpoint(self) -> StoredCheckpoint:
        if self._signer is None:
            raise SigningKeyError("this store was opened without its signing key")
        p = self.placeholder
        with self._lock, self._write_txn() as cur:
            size = self._size_in(cur)
            root = merkle.root_from(size, lambda ids: self._fetch_nodes(cur, ids))
            note = sign(Checkpoint(origin=self._origin, size=size, root=root), [self._signer])
            # Ed25519 signs deterministically: nothing appended since the last checkpoint
            # gives the same note, which is kept once (as `forebear migrate` keeps them).
            cur.execute(f"SELECT created_at FROM checkpoint WHERE size = {p} AND note = {p}",
                        (size, note))
            found = cur.fetchone()
            if found is not None:
                return StoredCheckpoint(size=size, root=root, note=note, created_at=found[0])
            created = format_time(self._clock())
            cur.execute(
                "INSERT INTO checkpoint (size, root, note, created_at) "
                f"VALUES ({p}, {p}, {p}, {p})",
                (size, self.blob(root), note, created),
            )
        return StoredCheckpoint(size=size, root=root, note=note, created_at=created)

    def store_checkpoints(self, checkpoints: Sequence[StoredCheckpoint]) -> int:
        """Keep checkpoints signed elsewhere (``forebear migrate``); return how many were new.

        Each must match this journal's root at its size; one already stored (the same
        note) is skipped. Their signatures are checked by ``verify``, like every other.
        """
        p = self.placeholder
        added = 0
        with self._lock, self._write_txn() as cur:
            size = self._size_in(cur)
            cur.execute("SELECT note FROM checkpoint")
            stored = {row[0] for row in cur.fetchall()}

            def fetch(ids: Sequence[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
                return self._fetch_nodes(cur, ids)

            for cp in checkpoints:
                if cp.note in stored:
                    continue
                if cp.size > size or merkle.root_from(cp.size, fetch) != cp.root:
                    raise IntegrityError(
                        f"the checkpoint of size {cp.size} does not match this journal",
                        hint="only checkpoints of the same journal can be kept",
                    )
                cur.execute(
                    f"INSERT INTO checkpoint (size, root, note, created_at) "
                    f"VALUES ({p}, {p}, {p}, {p})",
                    (cp.size, self.blob(cp.root), cp.note, cp.created_at),
                )
                stored.add(cp.note)
                added += 1
        return added

    def checkpoints(self) -> list[StoredCheckpoint]:
        with self._read_cursor() as cur:
            cur.execute("SELECT size, root, note, created_at FROM checkpoint ORDER BY id")
            return [
                StoredCheckpoint(size=int(s), root=bytes(r), note=n, created_at=c)
                for s, r, n, c in cur.fetchall()
            ]

    def head(self) -> StoredCheckpoint | None:
        """The signed head refreshed at the latest commit, if any."""
        with self._read_cursor() as cur:
            cur.execute("SELECT size, root, note FROM head WHERE id = 1")
            row = cur.fetchone()
        if row is None:
            return None
        return StoredCheckpoint(size=int(row[0]), root=bytes(row[1]), note=row[2], created_at="")


FetchNodes = Callable[[Sequence[merkle.NodeId]], Mapping[merkle.NodeId, bytes]]
