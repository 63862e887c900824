"""Numbered migrations of the metadata store, recorded in ``schema_migrations``.

The journal, its Merkle nodes and its checkpoints are append-only (triggers refuse
UPDATE and DELETE); every other table is a projection of the journal and can be
rebuilt from it (``PROJECTION_TABLES``).
"""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = 4

STORE_FORMAT: Final = "forebear"
"""``meta.format`` of every forebear store, whatever its backend."""


def initial_meta(*, origin: str, verifier: str, created_at: str) -> dict[str, str]:
    """The ``meta`` rows a new store is created with (its id drawn here)."""
    from forebear.model.ids import uuid7

    return {
        "format": STORE_FORMAT,
        "store_id": uuid7(),
        "origin": origin,
        "verifier": verifier,
        "created_at": created_at,
    }

# Projection tables and the ORDER BY that makes their dumps comparable, in rebuild order.
PROJECTION_TABLES: Final[dict[str, str]] = {
    "node": "id",
    "artifact": "node",
    "artifact_uri": "node, uri",
    "execution": "node",
    "edge": "dst, src, role",
    "metric": "run_node, key, step, seq",
    "alias": "name",
    "alias_history": "seq",
    "flag": "seq",
}

_PROJECTIONS_SQLITE = """
CREATE TABLE node (
    id   INTEGER PRIMARY KEY,
    key  TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL CHECK (type IN ('artifact', 'execution'))
);
CREATE TABLE artifact (
    node      INTEGER PRIMARY KEY,
    digest    TEXT,
    kind      TEXT NOT NULL,
    name      TEXT,
    size      INTEGER,
    meta      TEXT,
    first_seq INTEGER NOT NULL
);
CREATE TABLE artifact_uri (
    node INTEGER NOT NULL,
    uri  TEXT NOT NULL,
    PRIMARY KEY (node, uri)
) WITHOUT ROWID;
CREATE TABLE execution (
    node          INTEGER PRIMARY KEY,
    run_id        TEXT NOT NULL UNIQUE,
    kind          TEXT,
    name          TEXT,
    namespace     TEXT,
    status        TEXT NOT NULL,
    params        TEXT NOT NULL DEFAULT '{}',
    metrics       TEXT NOT NULL DEFAULT '{}',
    tags          TEXT NOT NULL DEFAULT '{}',
    actor         TEXT,
    reason        TEXT,
    code          TEXT,
    environment   TEXT,
    parent_run_id TEXT,
    started_at    TEXT,
    ended_at      TEXT,
    error         TEXT,
    traceback     TEXT,
    exit_code     INTEGER,
    start_seq     INTEGER,
    end_seq       INTEGER
);
CREATE INDEX execution_started ON execution (started_at);
CREATE INDEX execution_name ON execution (name);
CREATE TABLE edge (
    src  INTEGER NOT NULL,
    dst  INTEGER NOT NULL,
    role TEXT NOT NULL,
    seq  INTEGER NOT NULL,
    PRIMARY KEY (dst, src, role)
) WITHOUT ROWID;
CREATE INDEX edge_src ON edge (src, dst);
CREATE TABLE metric (
    run_node INTEGER NOT NULL,
    key      TEXT NOT NULL,
    step     INTEGER,
    value    REAL,
    seq      INTEGER NOT NULL
);
CREATE INDEX metric_run ON metric (run_node, key);
CREATE TABLE alias (
    name   TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    set_at TEXT NOT NULL,
    actor  TEXT,
    reason TEXT,
    seq    INTEGER NOT NULL
);
CREATE TABLE alias_history (
    seq    INTEGER PRIMARY KEY,
    name   TEXT NOT NULL,
    target TEXT NOT NULL,
    set_at TEXT NOT NULL,
    actor  TEXT,
    reason TEXT
);
CREATE INDEX alias_history_name ON alias_history (name, set_at);
CREATE TABLE flag (
    seq         INTEGER PRIMARY KEY,
    target      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    reason      TEXT NOT NULL,
    actor       TEXT,
    flagged_at  TEXT NOT NULL
);
CREATE INDEX flag_target ON flag (target);
"""

_JOURNAL_SQLITE = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE journal (
    seq       INTEGER PRIMARY KEY,
    entry     BLOB NOT NULL,
    leaf_hash BLOB NOT NULL
);
CREATE TABLE merkle_node (
    level INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    hash  BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE checkpoint (
    id         INTEGER PRIMARY KEY,
    size       INTEGER NOT NULL,
    root       BLOB NOT NULL,
    note       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
-- The latest signed head, refreshed at every commit (the only row that is replaced).
CREATE TABLE head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note TEXT NOT NULL
);
CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
BEGIN SELECT RAISE(ABORT, 'the forebear journal is append-only'); END;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
BEGIN SELECT RAISE(ABORT, 'the forebear journal is append-only'); END;
CREATE TRIGGER merkle_no_update BEFORE UPDATE ON merkle_node
BEGIN SELECT RAISE(ABORT, 'the forebear journal is append-only'); END;
CREATE TRIGGER merkle_no_delete BEFORE DELETE ON merkle_node
BEGIN SELECT RAISE(ABORT, 'the forebear journal is append-only'); END;
CREATE TRIGGER checkpoint_no_update BEFORE UPDATE ON checkpoint
BEGIN SELECT RAISE(ABORT, 'stored checkpoints are append-only'); END;
CREATE TRIGGER checkpoint_no_delete BEFORE DELETE ON checkpoint
BEGIN SELECT RAISE(ABORT, 'stored checkpoints are append-only'); END;
"""

# Migration 2: deferred projection and the server's tables, none of them in the journal.
# ``projection_state.pending_from`` is the first journal entry the projections do not
# reflect yet (NULL when they reflect all of it): the server journals events at once and
# a worker projects them later. ``api_token`` holds SHA-256 hashes of bearer tokens;
# ``idempotency_key`` remembers which entries a keyed request appended, written in the
# same transaction as the entries, so a resent request is answered with the same seqs.
_SERVER_SQLITE = """
CREATE TABLE projection_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    pending_from INTEGER
);
INSERT INTO projection_state (id, pending_from) VALUES (1, NULL);
CREATE TABLE api_token (
    id          TEXT PRIMARY KEY,
    secret_hash BLOB NOT NULL UNIQUE,
    scope       TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    namespace   TEXT,
    name        TEXT,
    created_at  TEXT NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT
);
CREATE TABLE idempotency_key (
    key          TEXT PRIMARY KEY,
    request_hash BLOB NOT NULL,
    first_seq    INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    created_at   TEXT NOT NULL
);
"""

POSTGRES_SERVER_MIGRATION: Final = """
CREATE TABLE projection_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    pending_from BIGINT
);
INSERT INTO projection_state (id, pending_from) VALUES (1, NULL);
CREATE TABLE api_token (
    id          TEXT PRIMARY KEY,
    secret_hash BYTEA NOT NULL UNIQUE,
    scope       TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    namespace   TEXT,
    name        TEXT,
    created_at  TEXT NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT
);
CREATE TABLE idempotency_key (
    key          TEXT PRIMARY KEY,
    request_hash BYTEA NOT NULL,
    first_seq    BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    created_at   TEXT NOT NULL
);
"""
"""Migration 2 for PostgreSQL (the same tables as SQLite's migration 2)."""

# Migration 3: the token a server took each run's entries from (``submitted_by``, which
# the server sets on every entry it journals), beside the actor the client claims.
_SUBMITTED_BY = "ALTER TABLE execution ADD COLUMN submitted_by TEXT;\n"


def _with_submitted_by(ddl: str, seq_type: str) -> str:
    """``ddl`` with migration 3's column where ALTER TABLE puts it: last in execution."""
    last = f"    end_seq       {seq_type}\n)"
    assert ddl.count(last) == 1
    return ddl.replace(last, f"    end_seq       {seq_type},\n    submitted_by  TEXT\n)")


# (version, name, script) for SQLite; each runs in one transaction and is recorded.
SQLITE_MIGRATIONS: Final[list[tuple[int, str, str]]] = [
    (1, "journal and projections", _JOURNAL_SQLITE + _PROJECTIONS_SQLITE),
    (2, "deferred projection, tokens, idempotency keys", _SERVER_SQLITE),
    (3, "who submitted each run", _SUBMITTED_BY),
    (4, "exit codes beyond 32 bits", "SELECT 1;\n"),  # PostgreSQL's change; nothing here
]

SQLITE_PROJECTIONS_DDL: Final = _with_submitted_by(_PROJECTIONS_SQLITE, "INTEGER")
"""The projection tables as the migrations leave them (verify rebuilds into these)."""

# -- PostgreSQL ---------------------------------------------------------------------------
# The same tables, column for column and in the same order (``verify`` compares rows).
# JSON columns stay TEXT: the projection statements merge them through jsonb and store
# the text, so rows read back the same way on every backend. Metric values are DOUBLE
# PRECISION because SQLite's REAL is a double too.

_POSTGRES_PROJECTION_TABLES_1: Final[list[str]] = [
    """CREATE TABLE node (
    id   BIGINT PRIMARY KEY,
    key  TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL CHECK (type IN ('artifact', 'execution'))
)""",
    """CREATE TABLE artifact (
    node      BIGINT PRIMARY KEY,
    digest    TEXT,
    kind      TEXT NOT NULL,
    name      TEXT,
    size      BIGINT,
    meta      TEXT,
    first_seq BIGINT NOT NULL
)""",
    """CREATE TABLE artifact_uri (
    node BIGINT NOT NULL,
    uri  TEXT NOT NULL,
    PRIMARY KEY (node, uri)
)""",
    """CREATE TABLE execution (
    node          BIGINT PRIMARY KEY,
    run_id        TEXT NOT NULL UNIQUE,
    kind          TEXT,
    name          TEXT,
    namespace     TEXT,
    status        TEXT NOT NULL,
    params        TEXT NOT NULL DEFAULT '{}',
    metrics       TEXT NOT NULL DEFAULT '{}',
    tags          TEXT NOT NULL DEFAULT '{}',
    actor         TEXT,
    reason        TEXT,
    code          TEXT,
    environment   TEXT,
    parent_run_id TEXT,
    started_at    TEXT,
    ended_at      TEXT,
    error         TEXT,
    traceback     TEXT,
    exit_code     INTEGER,
    start_seq     BIGINT,
    end_seq       BIGINT
)""",
    """CREATE TABLE edge (
    src  BIGINT NOT NULL,
    dst  BIGINT NOT NULL,
    role TEXT NOT NULL,
    seq  BIGINT NOT NULL,
    PRIMARY KEY (dst, src, role)
)""",
    """CREATE TABLE metric (
    run_node BIGINT NOT NULL,
    key      TEXT NOT NULL,
    step     BIGINT,
    value    DOUBLE PRECISION,
    seq      BIGINT NOT NULL
)""",
    """CREATE TABLE alias (
    name   TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    set_at TEXT NOT NULL,
    actor  TEXT,
    reason TEXT,
    seq    BIGINT NOT NULL
)""",
    """CREATE TABLE alias_history (
    seq    BIGINT PRIMARY KEY,
    name   TEXT NOT NULL,
    target TEXT NOT NULL,
    set_at TEXT NOT NULL,
    actor  TEXT,
    reason TEXT
)""",
    """CREATE TABLE flag (
    seq         BIGINT PRIMARY KEY,
    target      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    reason      TEXT NOT NULL,
    actor       TEXT,
    flagged_at  TEXT NOT NULL
)""",
]

# Migration 4: an exit code is a 32-bit unsigned DWORD on Windows (0xC0000005 for an
# access violation), beyond PostgreSQL's INTEGER; SQLite's INTEGER holds it already.
_EXIT_CODE_BIGINT = "ALTER TABLE execution ALTER COLUMN exit_code TYPE BIGINT;\n"
_EXIT_CODE_INTEGER = "    exit_code     INTEGER,\n"

POSTGRES_PROJECTION_TABLES: Final[list[str]] = [
    _with_submitted_by(ddl, "BIGINT").replace(_EXIT_CODE_INTEGER,
                                               "    exit_code     BIGINT,\n")
    if "TABLE execution" in ddl else ddl for ddl in _POSTGRES_PROJECTION_TABLES_1
]
"""The projection tables as the migrations leave them (verify rebuilds into these)."""

_PROJECTION_INDEXES_POSTGRES = """
CREATE INDEX execution_started ON execution (started_at);
CREATE INDEX execution_name ON execution (name);
CREATE INDEX edge_src ON edge (src, dst);
CREATE INDEX metric_run ON metric (run_node, key);
CREATE INDEX alias_history_name ON alias_history (name, set_at);
CREATE INDEX flag_target ON flag (target);
"""

_JOURNAL_POSTGRES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE journal (
    seq       BIGINT PRIMARY KEY CHECK (seq >= 0),
    entry     BYTEA NOT NULL,
    leaf_hash BYTEA NOT NULL
);
CREATE TABLE merkle_node (
    level INTEGER NOT NULL,
    idx   BIGINT NOT NULL,
    hash  BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE checkpoint (
    id         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    size       BIGINT NOT NULL,
    root       BYTEA NOT NULL,
    note       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
-- The latest signed head, refreshed at every commit (the only row that is replaced).
CREATE TABLE head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    size BIGINT NOT NULL,
    root BYTEA NOT NULL,
    note TEXT NOT NULL
);
-- The sequencer: every journal write locks this one row (SELECT ... FOR UPDATE) before
-- it reads the next sequence number, so writers on any number of servers queue up and
-- the journal stays contiguous. A PostgreSQL sequence would not: it is not
-- transactional, and a rolled-back write would leave a gap.
CREATE TABLE journal_sequencer (id INTEGER PRIMARY KEY CHECK (id = 1));
INSERT INTO journal_sequencer (id) VALUES (1);
CREATE FUNCTION forebear_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the forebear % is append-only', TG_ARGV[0]
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
    FOR EACH ROW EXECUTE FUNCTION forebear_append_only('journal');
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
    FOR EACH ROW EXECUTE FUNCTION forebear_append_only('journal');
CREATE TRIGGER journal_no_truncate BEFORE TRUNCATE ON journal
    FOR EACH STATEMENT EXECUTE FUNCTION forebear_append_only('journal');
CREATE TRIGGER merkle_no_update BEFORE UPDATE ON merkle_node
    FOR EACH ROW EXECUTE FUNCTION forebear_append_only('journal');
CREATE TRIGGER merkle_no_delete BEFORE DELETE ON merkle_node
    FOR EACH ROW EXECUTE FUNCTION forebear_append_only('journal');
CREATE TRIGGER merkle_no_truncate BEFORE TRUNCATE ON merkle_node
    FOR EACH STATEMENT EXECUTE FUNCTION forebear_append_only('journal');
CREATE TRIGGER checkpoint_no_update BEFORE UPDATE ON checkpoint
    FOR EACH ROW EXECUTE FUNCTION forebear_append_only('checkpoint list');
CREATE TRIGGER checkpoint_no_delete BEFORE DELETE ON checkpoint
    FOR EACH ROW EXECUTE FUNCTION forebear_append_only('checkpoint list');
CREATE TRIGGER checkpoint_no_truncate BEFORE TRUNCATE ON checkpoint
    FOR EACH STATEMENT EXECUTE FUNCTION forebear_append_only('checkpoint list');
"""

# (version, name, script) for PostgreSQL, in step with SQLITE_MIGRATIONS.
POSTGRES_MIGRATIONS: Final[list[tuple[int, str, str]]] = [
    (
        1,
        "journal and projections",
        _JOURNAL_POSTGRES
        + ";\n".join(_POSTGRES_PROJECTION_TABLES_1)
        + ";\n"
        + _PROJECTION_INDEXES_POSTGRES,
    ),
    (2, "deferred projection, tokens, idempotency keys", POSTGRES_SERVER_MIGRATION),
    (3, "who submitted each run", _SUBMITTED_BY),
    (4, "exit codes beyond 32 bits", _EXIT_CODE_BIGINT),
]
