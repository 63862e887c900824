"""The embedded metadata store: one SQLite file in WAL mode with ``synchronous=FULL``.

An append returns only after its transaction is durable (``append_relaxed`` is the one
documented exception: durable against a process crash, and against power loss from the
next durable commit on). ``BEGIN IMMEDIATE`` takes the
database's write lock before the next sequence number is read, so several processes can
append to one store and the journal stays contiguous.

A store whose file or folder cannot be written (a read-only mount, another user's store)
opens read-only: queries and ``verify`` work, a write is refused naming why. SQLite's
errors become ``StoreError``s here, at the one place the connection is used.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from forebear.errors import NotAStoreError, SchemaVersionError, SigningKeyError, StoreError
from forebear.journal.keys import SigningKey, Verifier
from forebear.model.ids import Clock, format_time, utc_now
from forebear.store.base import JournalRecord, VerifyReport
from forebear.store.projection import SQLITE_STATEMENTS
from forebear.store.schema import SCHEMA_VERSION, SQLITE_MIGRATIONS, STORE_FORMAT, initial_meta
from forebear.store.sql import SqlJournal, as_bytes
from forebear.store.verify import (
    ProjectionRebuild,
    read_checkpoints,
    report,
    unprojected,
    verify_log,
)


def _connect(path: Path, mode: str = "rw") -> sqlite3.Connection:
    """A connection to ``path``: ``rw``, ``ro`` (read-only), or ``immutable`` (read-only
    media, where SQLite cannot even create the WAL's shared-memory file)."""
    if mode == "rw":
        target, uri = str(path), False
    else:
        query = "mode=ro" if mode == "ro" else "immutable=1"
        target, uri = f"{path.resolve().as_uri()}?{query}", True
    conn = sqlite3.connect(
        target, isolation_level=None, check_same_thread=False, timeout=60.0, uri=uri
    )
    conn.execute("PRAGMA busy_timeout = 60000")
    return conn


def _writable(path: Path) -> bool:
    """Whether this process may write the database and create its WAL files beside it."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def store_error(path: Path, exc: sqlite3.Error) -> StoreError:
    """The ``StoreError`` that SQLite's ``exc`` means, naming the store and the fix."""
    code = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return StoreError(f"the store at {path} stayed locked by another process ({text})",
                          hint="let the other forebear process finish, then try again")
    if code.startswith("SQLITE_READONLY") or "readonly" in text:
        return StoreError(f"the store at {path} is read-only ({text})",
                          hint="write from where the database file and its folder are "
                          "writable")
    if code.startswith("SQLITE_FULL"):
        return StoreError(f"no space left for the store at {path}", hint="free disk space")
    return StoreError(
        f"the store at {path} is damaged: {text}",
        hint="restore .forebear/forebear.db from a backup, then run `forebear verify`",
    )


def _migrate(conn: sqlite3.Connection, clock: Clock) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    for version, name, script in SQLITE_MIGRATIONS:
        if version in applied:
            continue
        # executescript commits first, so the script carries its own transaction.
        conn.executescript(
            "BEGIN IMMEDIATE;\n"
            + script
            + f"\nINSERT INTO schema_migrations VALUES ({version}, '{name}', "
            f"'{format_time(clock())}');\nCOMMIT;"
        )


def create_sqlite_store(
    path: Path, *, signer: SigningKey, clock: Clock = utc_now
) -> None:
    """Create a new store database at ``path`` whose checkpoints ``signer`` signs."""
    if path.exists():
        raise StoreError(f"{path} already exists", hint="open it instead of creating it")
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = _connect(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        _migrate(conn, clock)
        meta = initial_meta(origin=signer.name, verifier=signer.verifier().encode(),
                            created_at=format_time(clock()))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", list(meta.items()))
        conn.execute("COMMIT")
    finally:
        conn.close()


class SqliteStore(SqlJournal):
    """A metadata store in one SQLite file (see the module docstring)."""

    statements = SQLITE_STATEMENTS
    upsert_returning = sqlite3.sqlite_version_info >= (3, 35, 0)
    signer_required = True

    def __init__(
        self,
        path: str | Path,
        *,
        signer: SigningKey | None = None,
        verifiers: list[Verifier] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.path = Path(path)
        # Absolute (sqlite:////abs/path.db): a message naming the store names where it is.
        self.url = f"sqlite:///{self.path.absolute()}"
        if not self.path.is_file():
            raise NotAStoreError(f"no forebear store at {self.path}")
        self.read_only = not _writable(self.path)
        self._mode = "ro" if self.read_only else "rw"
        self._conn = _connect(self.path, self._mode)
        meta, version = self._read_meta()
        super().__init__(signer=signer, origin=meta["origin"], clock=clock)
        self.meta = meta
        self._extra_verifiers = verifiers or []
        try:
            self._refuse_foreign_signer(str(self.path))
            if self.read_only:
                if version < SCHEMA_VERSION:
                    raise StoreError(
                        f"the store at {self.path} has schema version {version}, older than "
                        f"this forebear's {SCHEMA_VERSION}, and is read-only",
                        hint="open it once where it is writable to upgrade it",
                    )
            else:
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = FULL")
                _migrate(self._conn, clock)
        except sqlite3.Error as exc:
            self._conn.close()
            raise store_error(self.path, exc) from exc
        except (SigningKeyError, StoreError):
            self._conn.close()
            raise
        self._thread_lock = threading.RLock()
        self._data_version = -1

    def _read_meta(self) -> tuple[dict[str, str], int]:
        """The ``meta`` rows and the schema version, or why this file is no store."""
        try:
            try:
                rows = self._conn.execute("SELECT key, value FROM meta").fetchall()
            except sqlite3.OperationalError:
                if self._mode != "ro":
                    raise
                # Read-only media: SQLite cannot make the WAL's shared-memory file. Nobody
                # can write there either, so the file can be read as it is, unless a WAL
                # holds commits that were never copied back into it.
                wal = self.path.with_name(self.path.name + "-wal")
                if wal.exists() and wal.stat().st_size:
                    raise
                self._conn.close()
                self._mode = "immutable"
                self._conn = _connect(self.path, self._mode)
                rows = self._conn.execute("SELECT key, value FROM meta").fetchall()
            versions = self._conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        except sqlite3.Error as exc:
            self._conn.close()
            code = getattr(exc, "sqlite_errorname", "")
            if code == "SQLITE_NOTADB" or str(exc).startswith("no such table"):
                raise NotAStoreError(f"{self.path} is not a forebear store ({exc})") from None
            raise store_error(self.path, exc) from None
        meta = dict(rows)
        if meta.get("format") != STORE_FORMAT or "origin" not in meta:
            self._conn.close()
            raise NotAStoreError(f"{self.path} is not a forebear store")
        version = 0 if not versions or versions[0] is None else int(versions[0])
        if version > SCHEMA_VERSION:
            self._conn.close()
            raise SchemaVersionError(
                f"{self.path} has schema version {version}; this forebear knows up to "
                f"{SCHEMA_VERSION}"
            )
        return meta, version

    # -- backend hooks ------------------------------------------------------------
    @contextmanager
    def _write_txn(self) -> Iterator[sqlite3.Cursor]:
        if self.read_only:
            raise StoreError(
                f"the store at {self.path} is read-only: this process cannot write the "
                "database file or its folder",
                hint="run the command where the store is writable, or as its owner",
            )
        with self._lock, self._translated():
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                if self._conn.in_transaction:
                    cur.execute("ROLLBACK")
                self._frontier = None
                self._node_ids.reset()
                raise
            cur.execute("COMMIT")

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """SQLite's errors as ``StoreError``s (a closed connection stays a bug)."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.ProgrammingError):
                raise
            raise store_error(self.path, exc) from exc

    def _others_wrote(self, cur: sqlite3.Cursor) -> bool:
        # PRAGMA data_version changes when another connection commits, never for this
        # one's own commits: one cheap statement instead of reading the journal's size,
        # its deferred position and the highest node id back at every append.
        cur.execute("PRAGMA data_version")
        version = int(cur.fetchone()[0])
        changed = version != self._data_version
        self._data_version = version
        return changed

    @contextmanager
    def _projection_txn(self) -> Iterator[sqlite3.Cursor]:
        # A deferred projection batch need not be durable on its own (see SqlJournal):
        # no fsync of its own; the next durable commit's fsync of the WAL covers it.
        with self._lock:
            self._conn.execute("PRAGMA synchronous = NORMAL")
            try:
                with self._write_txn() as cur:
                    yield cur
            finally:
                self._conn.execute("PRAGMA synchronous = FULL")

    def append_relaxed(self, entry: Mapping[str, Any]) -> int:
        """Append ``entry`` committed with ``synchronous=NORMAL``: no fsync of its own.

        In WAL mode such a commit survives a crash of the process (the WAL frames are in
        the OS's page cache) but not a power loss until the next ``synchronous=FULL``
        commit, whose fsync of the WAL makes every earlier frame durable with it. The SDK
        uses it for a run's ``execution.start`` entry, whose run then ends with a FULL
        commit of ``execution.end``. The head is signed at this commit like at every other.
        """
        with self._lock:
            level = int(self._conn.execute("PRAGMA synchronous").fetchone()[0])
            if level <= 1:  # OFF or NORMAL already (a caller's choice): keep it
                return self.append_batch([entry]).start
            self._conn.execute("PRAGMA synchronous = NORMAL")
            try:
                return self.append_batch([entry]).start
            finally:
                self._conn.execute(f"PRAGMA synchronous = {level}")

    @contextmanager
    def _read_cursor(self) -> Iterator[sqlite3.Cursor]:
        with self._lock, self._translated():
            cur = self._conn.cursor()
            try:
                yield cur
            finally:
                cur.close()

    def execute(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query on the projections (for the query layer)."""
        with self._read_cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    # -- verification -------------------------------------------------------------
    def verify(self, progress: Callable[[int], None] | None = None) -> VerifyReport:
        """See ``forebear.store.verify``."""
        rebuild = ProjectionRebuild(dict(SQLITE_STATEMENTS))
        with self._translated():
            reader = _connect(self.path, self._mode)
        with contextlib.closing(reader), self._translated():
            reader.execute("BEGIN")  # one consistent snapshot for the whole check
            checkpoints = read_checkpoints(reader.execute)
            records = (
                _record(seq, entry, leaf)
                for seq, entry, leaf in reader.execute(
                    # As bytes whatever their type: a tampered TEXT value that is not
                    # UTF-8 must be reported, not stop the check.
                    "SELECT seq, CAST(entry AS BLOB), CAST(leaf_hash AS BLOB) FROM journal "
                    "ORDER BY seq"
                )
            )
            nodes = reader.cursor().execute(
                "SELECT level, idx, hash FROM merkle_node ORDER BY idx << level, level"
            )
            # Entries whose projection is still deferred (the server's worker has not
            # reached them) are not in the live tables yet: rebuild only what they reflect.
            pending = reader.execute(
                "SELECT pending_from FROM projection_state WHERE id = 1"
            ).fetchone()
            limit = None if pending is None or pending[0] is None else int(pending[0])

            def add(seq: int, entry: dict[str, Any] | None) -> None:
                if limit is None or seq < limit:
                    rebuild.add(seq, entry)

            count, root, problems = verify_log(
                records, iter(nodes), checkpoints, self.verifiers(), self._origin,
                on_entry=add, progress=progress,
            )

            def live(table: str, order: str) -> Iterator[tuple[Any, ...]]:
                return iter(reader.cursor().execute(f"SELECT * FROM {table} ORDER BY {order}"))

            problems.extend(rebuild.compare(live))
            problems.extend(unprojected(limit, count))
            reader.execute("COMMIT")
        return report(count, root, problems)

    def close(self) -> None:
        self._conn.close()


def _record(seq: int, entry: Any, leaf: Any) -> JournalRecord:
    return JournalRecord(seq=int(seq), canonical=as_bytes(entry), leaf_hash=as_bytes(leaf))
