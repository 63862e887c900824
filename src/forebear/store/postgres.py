"""The scale-out metadata store: PostgreSQL through psycopg 3.

Same journal, Merkle nodes, projections and checkpoints as the embedded store (the
write path is ``SqlJournal``), so any number of ``forebear serve`` replicas can share
one database:

- **Sequencing.** Every write transaction first locks the single row of
  ``journal_sequencer`` (``SELECT ... FOR UPDATE``) and only then reads the next
  sequence number, so writers on every server queue up and the journal stays contiguous.
  A PostgreSQL sequence would not do: ``nextval`` is not rolled back, so a failed write
  would leave a gap. Readers never take the lock.
- **Durability.** An append returns after its COMMIT, which with PostgreSQL's defaults
  (``synchronous_commit = on``) means the WAL is flushed.
- **Append-only.** Triggers refuse UPDATE, DELETE and TRUNCATE on the journal, its Merkle
  nodes and the stored checkpoints; a deployment also withholds those privileges from the
  role the servers use (docs/deployment.md).
- **verify** runs in one REPEATABLE READ snapshot that never blocks writers: it
  recomputes the Merkle log, rebuilds the projections with the same PostgreSQL
  statements into temporary tables, and compares them with the live ones in the server
  (``EXCEPT ALL``), so the comparison is exact: jsonb's text form, collation order and
  numeric types are those of the live tables.
- **Fewer statements.** Batches go out as ``INSERT ... SELECT FROM unnest(...)`` and long
  ``IN`` lists as one array (``_pg_sql``); a write transaction is pipelined.

psycopg is imported only when a ``postgresql://`` URL is opened.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from forebear import config
from forebear.errors import (
    ConfigError,
    NotAStoreError,
    SchemaVersionError,
    SigningKeyError,
    StoreError,
)
from forebear.journal.keys import SigningKey, Verifier
from forebear.model.ids import Clock, format_time, utc_now, uuid7
from forebear.store._pg_sql import BatchingCursor, compact, regroup
from forebear.store.base import VerifyReport
from forebear.store.projection import POSTGRES_STATEMENTS
from forebear.store.schema import (
    POSTGRES_MIGRATIONS,
    SCHEMA_VERSION,
    STORE_FORMAT,
    initial_meta,
)
from forebear.store.sql import SqlJournal
from forebear.store.verify import report

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresStore", "create", "init", "open_from_settings", "redact"]

# Key of the transaction-scoped advisory lock that serialises migrations, so several
# servers starting at once on a new database do not race to create the schema.
_MIGRATION_LOCK = 0x666F7265  # "fore"
_STREAM_ROWS = 5000


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise ConfigError(
            "the postgresql:// store needs psycopg, which is not installed",
            hint="pip install 'forebear[postgres]'",
        ) from None
    return psycopg


# A password in a store URL: after the user (postgresql://user:secret@host), or as a query
# parameter (?password=secret, sslpassword=...). Found by pattern rather than by parsing,
# so that a URL too malformed to parse (an unclosed [ of an IPv6 host) is redacted too.
_USERINFO_PASSWORD = re.compile(r"(://[^/@:?#]*:)([^@/?#]*)(@)")
_QUERY_PASSWORD = re.compile(r"([?&][^=&#]*password=)([^&#]*)", re.IGNORECASE)


def redact(url: str) -> str:
    """``url`` with its passwords replaced by ``***``, for messages and reports."""
    url = _USERINFO_PASSWORD.sub(lambda m: m[1] + "***" + m[3] if m[2] else m[0], url)
    return _QUERY_PASSWORD.sub(lambda m: m[1] + "***" if m[2] else m[0], url)


def _scrub(text: str, url: str) -> str:
    """``text`` (a driver's message, which may quote the URL or a bad part of it) with
    every password of ``url`` replaced by ``***``, as found and as percent-decoded."""
    secrets = {m[2] for m in _USERINFO_PASSWORD.finditer(url)}
    secrets |= {m[2] for m in _QUERY_PASSWORD.finditer(url)}
    for secret in sorted(secrets | {unquote(s) for s in secrets}, key=len, reverse=True):
        if len(secret) >= 3:  # a shorter one would blank out ordinary words
            text = text.replace(secret, "***")
    return redact(text)


def _libpq_url(url: str) -> str:
    # libpq knows postgresql:// and postgres://; forebear also accepts postgresql+psycopg://.
    return re.sub(r"^postgres(ql)?\+[a-z0-9]+://", "postgresql://", url)


def _store_error(exc: Exception, url: str, doing: str) -> StoreError:
    """The one place psycopg errors become forebear errors."""
    pg = _psycopg()
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = _scrub(text, url)
    if isinstance(exc, pg.errors.InsufficientPrivilege):
        hint = (
            "open the store once as its owner, who may change the schema "
            "(docs/deployment.md, Upgrading)"
            if doing == "migrating the schema"
            else "the journal is append-only; grant the role what docs/deployment.md lists"
        )
        return StoreError(f"PostgreSQL refused {doing}: {text}", hint=hint)
    if isinstance(exc, pg.OperationalError):
        if doing == "connecting":
            hint = "check that the server is up and the URL, user and password are right"
        elif doing == "writing to the journal":
            hint = "the write may or may not have been recorded; the next call reconnects"
        else:
            hint = "the next call reconnects"
        return StoreError(f"PostgreSQL at {redact(url)} failed ({doing}): {text}", hint=hint)
    return StoreError(f"PostgreSQL error while {doing}: {text}")


def _connect(url: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    pg = _psycopg()
    try:
        conn: psycopg.Connection[Any] = pg.connect(
            _libpq_url(url), autocommit=autocommit, application_name="forebear"
        )
    except pg.Error as exc:
        raise _store_error(exc, url, "connecting") from None
    return conn


def _applied_versions(conn: psycopg.Connection[Any]) -> set[int]:
    row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return set()
    return {int(v) for (v,) in conn.execute("SELECT version FROM schema_migrations")}


def _migrate(conn: psycopg.Connection[Any], clock: Clock) -> None:
    """Apply the migrations this database lacks, each recorded, under one advisory lock."""
    pending = [m for m in POSTGRES_MIGRATIONS if m[0] not in _applied_versions(conn)]
    if not pending:
        return  # nothing to do, and no DDL privilege needed: the servers' role has none
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        applied = _applied_versions(conn)  # again, now that we hold the lock
        for version, name, script in POSTGRES_MIGRATIONS:
            if version in applied:
                continue
            conn.execute(script)  # no parameters: several statements in one go
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                (version, name, format_time(clock())),
            )


def create(url: str, *, signer: SigningKey, clock: Clock = utc_now) -> None:
    """Create the forebear schema in the (existing, empty) database at ``url``."""
    pg = _psycopg()
    conn = _connect(url)
    try:
        if "meta" in _tables(conn):
            try:
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            except pg.Error:
                meta = {}
            if meta.get("format") == STORE_FORMAT:
                raise StoreError(
                    f"{redact(url)} already holds a forebear store", hint="use it as it is"
                )
            raise NotAStoreError(
                f"{redact(url)} has a 'meta' table that is not forebear's",
                hint="give forebear a database (or schema) of its own",
            )
        try:
            _migrate(conn, clock)
            meta = initial_meta(origin=signer.name, verifier=signer.verifier().encode(),
                                created_at=format_time(clock()))
            with conn.transaction():
                conn.cursor().executemany(
                    "INSERT INTO meta (key, value) VALUES (%s, %s)", list(meta.items())
                )
        except pg.Error as exc:
            raise _store_error(exc, url, "creating the schema") from None
    finally:
        conn.close()


def _tables(conn: psycopg.Connection[Any]) -> set[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    ).fetchall()
    return {name for (name,) in rows}


class PostgresStore(SqlJournal):
    """A metadata store in a PostgreSQL database (see the module docstring).

    Two connections: writes go through one, one at a time (the database serialises
    writers across every process anyway); reads go through the other, so queries do not
    wait behind a commit. Each is reopened on next use if the server dropped it.
    """

    placeholder = "%s"
    statements = POSTGRES_STATEMENTS

    def __init__(
        self,
        url: str,
        *,
        signer: SigningKey | None = None,
        verifiers: list[Verifier] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.url = url
        self._conn = _connect(url)
        pg = _psycopg()
        try:
            meta = self._read_meta()
            try:
                _migrate(self._conn, clock)
            except pg.Error as exc:
                raise _store_error(exc, url, "migrating the schema") from None
        except BaseException:
            self._conn.close()
            raise
        super().__init__(signer=signer, origin=meta["origin"], clock=clock)
        self.meta = meta
        self._reader: psycopg.Connection[Any] | None = None
        self._read_lock = threading.RLock()
        self._column_types: dict[str, dict[str, str]] = {}
        self._extra_verifiers = verifiers or []
        try:
            self._refuse_foreign_signer(redact(url))
        except SigningKeyError:
            self._conn.close()
            raise

    def _read_meta(self) -> dict[str, str]:
        pg = _psycopg()
        where = redact(self.url)
        try:
            tables = _tables(self._conn)
            if "meta" not in tables or "journal" not in tables:
                raise NotAStoreError(
                    f"no forebear store in the database at {where}",
                    hint=f"run `forebear init --store {where}` first",
                )
            meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
            versions = _applied_versions(self._conn)
        except pg.Error as exc:
            raise _store_error(exc, self.url, "opening the store") from None
        if meta.get("format") != STORE_FORMAT or "origin" not in meta:
            raise NotAStoreError(f"the database at {where} is not a forebear store")
        if versions and max(versions) > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the store at {where} has schema version {max(versions)}; this forebear "
                f"knows up to {SCHEMA_VERSION}"
            )
        return meta

    # -- backend hooks ---------------------------------------------------------------
    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn.closed or self._conn.broken:
            # A server outlives database restarts and fail-overs: reconnect on next use.
            self._conn = _connect(self.url)
            self._frontier = None
        return self._conn

    @contextmanager
    def _write_txn(self) -> Iterator[BatchingCursor]:
        pg = _psycopg()
        with self._lock:
            try:
                conn = self._connection()
                with conn.pipeline(), conn.transaction(), conn.cursor() as cur:
                    # The sequencer lock: held until COMMIT, taken before the next seq is read.
                    cur.execute("SELECT id FROM journal_sequencer WHERE id = 1 FOR UPDATE")
                    yield BatchingCursor(cur, self._column_types)
            except pg.Error as exc:
                self._rolled_back()
                raise _store_error(exc, self.url, "writing to the journal") from None
            except BaseException:
                self._rolled_back()
                raise

    def _rolled_back(self) -> None:
        # What this process cached about the journal may not have been committed.
        self._frontier = None
        self._node_ids.reset()

    @contextmanager
    def _read_cursor(self) -> Iterator[psycopg.Cursor[Any]]:
        pg = _psycopg()
        with self._read_lock:
            try:
                if self._reader is None or self._reader.closed or self._reader.broken:
                    self._reader = _connect(self.url)
                with self._reader.cursor() as cur:
                    yield cur
            except pg.Error as exc:
                raise _store_error(exc, self.url, "reading") from None

    def execute(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query on the projections (for the query layer), ``%s`` style.

        A query that meets a dropped connection is retried once on a new one: reads
        are safe to repeat, and a server should not fail a request over a fail-over.
        """
        if params:
            short, groups = compact(sql)
            listed = sum(n for _, n in groups)
            if groups and len(params) == listed + short.count("%s") - len(groups):
                sql, params = short, regroup(params, groups)
        for attempt in (1, 2):
            try:
                with self._read_cursor() as cur:
                    # Without parameters psycopg leaves '%' alone: LIKE 'a%' works unescaped.
                    cur.execute(sql, params if params else None)
                    return cur.fetchall() if cur.description is not None else []
            except StoreError:
                if attempt == 2 or self._reader is None or not self._reader.broken:
                    raise
        raise AssertionError("unreachable")

    # -- verification ----------------------------------------------------------------
    def verify(self, progress: Callable[[int], None] | None = None) -> VerifyReport:
        """See ``forebear.store.verify``; the rebuild and the comparison run in PostgreSQL."""
        from forebear.store._pg_verify import verify_in_postgres

        pg = _psycopg()
        conn = _connect(self.url, autocommit=False)
        try:
            count, root, problems = verify_in_postgres(
                conn, self.verifiers(), self._origin, progress
            )
        except pg.Error as exc:
            raise _store_error(exc, self.url, "verifying") from None
        finally:
            conn.close()  # rolls back: the temporary tables go with the transaction
        return report(count, root, problems)

    def close(self) -> None:
        """Close the connections."""
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
        with self._lock:
            self._conn.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A store dropped without close() (a short CLI command) must not leave psycopg
        # to complain about open connections at garbage collection.
        for conn in (getattr(self, "_reader", None), getattr(self, "_conn", None)):
            if conn is not None and not conn.closed:
                conn.close()


def find_key(start: Path) -> Path | None:
    """``.forebear/signing.key`` in ``start`` or above it, if there is one."""
    for folder in (start, *start.parents):
        candidate = folder / config.STORE_DIR / config.KEY_FILE
        if candidate.is_file():
            return candidate
    return None


def key_path(settings: config.Settings, environ: Any = None) -> Path:
    """Where a PostgreSQL store's signing key is: FOREBEAR_KEY, else ./.forebear/signing.key.

    The key is found upward from the working directory like ``.forebear/`` itself; when
    there is none, the path it would be created at.
    """
    env = os.environ if environ is None else environ
    if settings.key_path is not None:
        return settings.key_path
    if env.get("FOREBEAR_KEY"):
        return Path(env["FOREBEAR_KEY"])
    return find_key(Path.cwd()) or Path.cwd() / config.STORE_DIR / config.KEY_FILE


def init(url: str, directory: Path, *, environ: Any = None) -> Path:
    """``forebear init --store postgresql://...``: create the schema; return the key's path.

    The signing key is FOREBEAR_KEY, else ``<directory>/.forebear/signing.key``; an
    existing key is used as it is, a missing one is made (mode 0600). A server
    deployment mounts that file and points FOREBEAR_KEY at it.
    """
    env = os.environ if environ is None else environ
    if env.get("FOREBEAR_KEY"):
        path = Path(env["FOREBEAR_KEY"])
    else:
        store_dir = directory / config.STORE_DIR
        store_dir.mkdir(parents=True, exist_ok=True)
        ignore = store_dir / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n")  # the key must never be committed
        path = store_dir / config.KEY_FILE
    if path.exists():
        signer = SigningKey.load(path)
    else:
        signer = SigningKey.generate(f"forebear.local/{uuid7()}")
        signer.save(path)
    create(url, signer=signer)
    return path


def open_from_settings(settings: config.Settings) -> PostgresStore:
    """The registry's entry point for ``postgresql://`` (and ``postgres://``) URLs.

    Without its signing key the store opens read-only: queries and ``verify`` work,
    appends leave the signed head stale and ``checkpoint`` refuses.
    """
    path = key_path(settings)
    signer = SigningKey.load(path) if path.is_file() else None
    return PostgresStore(settings.store_url, signer=signer)
