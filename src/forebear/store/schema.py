"""Numbered migrations of the metadata store, recorded in ``schema_migrations``.

The journal, its Merkle nodes and its checkpoints are append-only (triggers refuse
UPDATE and DELETE); every other table is a projection of the journal and can be
rebuilt from it (``PROJECTION_TABLES``).
"""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = 2

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

# (version, name, script) for SQLite; each runs in one transaction and is recorded.
SQLITE_MIGRATIONS: Final[list[tuple[int, str, str]]] = [
    (1, "journal and projections", _JOURNAL_SQLITE + _PROJECTIONS_SQLITE),
    (2, "deferred projection, tokens, idempotency keys", _SERVER_SQLITE),
]

SQLITE_PROJECTIONS_DDL: Final = _PROJECTIONS_SQLITE
