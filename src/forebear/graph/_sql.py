"""Shared SQL plumbing of the query layer: portable statements and node rows.

Statements are written once with ``?`` and converted to the store's placeholder, so the
same standard SQL (recursive CTEs included) runs on SQLite and PostgreSQL. Node details
are always fetched set-based, a few hundred nodes per statement, from ``artifact`` (with
``artifact_uri``) and ``execution``, and decoded here into the DESIGN.md NODE shape.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from forebear._json import loads as _loads

# Longest IN (...) list sent in one statement (SQLite's default variable limit is 32766).
CHUNK = 900


class Queryable(Protocol):
    """The read side of a metadata store that the query layer needs."""

    placeholder: str

    def execute(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """Run a read-only statement; return every row."""
        ...


def run(store: Queryable, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run ``sql`` written with ``?`` placeholders on ``store``."""
    if store.placeholder != "?":
        sql = sql.replace("?", store.placeholder)
    return store.execute(sql, tuple(params))


def marks(count: int) -> str:
    """``?, ?, ...`` for an IN list of ``count`` values."""
    return ", ".join(["?"] * count)


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    """``values`` in slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


ANCHOR_ROLES = frozenset({"code", "environment"})
"""Edge roles of the code and environment anchors (the other roles are data)."""

# Artifact and execution details are read from their own tables: a node's type decides
# which one holds it, and skipping the ``node`` table saves a lookup per node. Only an
# artifact without a digest (a ``dataset:`` id) needs its key from ``node``.
ARTIFACT_SQL = (
    "SELECT a.node, a.digest, "
    "CASE WHEN a.digest IS NULL THEN (SELECT k.key FROM node k WHERE k.id = a.node) END, "
    "a.kind, a.name, u.uri "
    "FROM artifact a LEFT JOIN artifact_uri u ON u.node = a.node WHERE a.node {where}"
)
EXECUTION_SQL = (
    "SELECT x.node, x.run_id, x.kind, x.name, x.status, x.params, x.metrics, x.code, "
    "x.environment, x.started_at, x.ended_at, x.actor, x.reason, x.submitted_by "
    "FROM execution x WHERE x.node {where}"
)

_EMPTY = "{}"

# A batch of sorted ids spanning at most this much more than its length is read as one
# range, less the few ids in it that were not asked for: one index seek and a sequential
# read instead of a seek per id. Closures are often dense in id order, since ancestors
# are recorded together and before what they produced.
_DENSE = 4 / 3


def node_rows(
    store: Queryable, part: Sequence[int]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """``ARTIFACT_SQL`` and ``EXECUTION_SQL`` rows of one batch of sorted, distinct ids."""
    low, high = part[0], part[-1]
    if high - low + 1 > len(part) * _DENSE:
        where = f"IN ({marks(len(part))})"
        params: Sequence[int] = part
    else:
        gaps = sorted(set(range(low, high + 1)).difference(part))
        where = "BETWEEN ? AND ?" + (f" AND {{col}} NOT IN ({marks(len(gaps))})" if gaps else "")
        params = [low, high, *gaps]
    return (run(store, ARTIFACT_SQL.format(where=where.format(col="a.node")), params),
            run(store, EXECUTION_SQL.format(where=where.format(col="x.node")), params))


def decode_artifacts(
    rows: Iterable[Sequence[Any]],
    into: dict[int, dict[str, Any]],
    keys: dict[int, str] | None = None,
) -> None:
    """Add artifact NODEs from ``ARTIFACT_SQL`` rows; several URIs come as several rows.

    ``keys``, when given, also gets each node's id (its NODE ``id``).
    """
    for ident, digest, other, kind, name, uri in rows:
        node = into.get(ident)
        if node is not None:
            if uri is not None:
                node["uris"].append(uri)
            continue
        # The key is the digest itself when there is one: one string, not two equal ones.
        key = digest if digest is not None else other
        into[ident] = {
            "type": "artifact",
            "id": key,
            "digest": digest,
            "kind": kind,
            "name": name,
            "uris": [] if uri is None else [uri],
        }
        if keys is not None:
            keys[ident] = key


def decode_executions(
    rows: Iterable[Sequence[Any]],
    into: dict[int, dict[str, Any]],
    keys: dict[int, str] | None = None,
    shared: dict[str, Any] | None = None,
) -> None:
    """Add execution NODEs from ``EXECUTION_SQL`` rows.

    Code and environment records repeat across thousands of runs: each distinct text is
    decoded once (``shared`` carries them across calls) and the decoded record is shared
    by those runs' NODEs, which callers treat as read-only. Consecutive runs mostly share
    them, so a text equal to the previous row's skips even the dictionary lookup (hashing
    a few hundred bytes costs more than comparing them). Params and metrics, small and
    distinct, are parsed all at once as one JSON array: one call instead of two per run.
    """
    seen: dict[str, Any] = {} if shared is None else shared
    loads = _loads
    empty = _EMPTY
    last_code = last_env = code_record = env_record = None
    texts: list[str] = []
    # (node, field) pairs whose value is the next parsed text, in ``texts`` order.
    slots: list[tuple[dict[str, Any], str]] = []
    for (ident, run_id, kind, name, status, params, metrics, code, env,
         started, ended, actor, reason, submitted_by) in rows:
        if code is not None:
            if code != last_code:
                code_record = seen.get(code)
                if code_record is None:
                    code_record = seen[code] = loads(code)
                last_code = code
            code = code_record
        if env is not None:
            if env != last_env:
                env_record = seen.get(env)
                if env_record is None:
                    env_record = seen[env] = loads(env)
                last_env = env
            env = env_record
        node = {
            "type": "execution",
            "id": run_id,
            "run_id": run_id,
            "kind": kind,
            "name": name,
            "status": status,
            "params": {},
            "metrics": {},
            "code": code,
            "environment": env,
            "started_at": started,
            "ended_at": ended,
            "actor": actor,
        }
        if params is not None and params != empty:
            texts.append(params)
            slots.append((node, "params"))
        if metrics is not None and metrics != empty:
            texts.append(metrics)
            slots.append((node, "metrics"))
        if reason is not None:
            node["reason"] = reason
        if submitted_by is not None:
            node["submitted_by"] = submitted_by
        into[ident] = node
        if keys is not None:
            keys[ident] = run_id
    if texts:
        values = loads("[" + ",".join(texts) + "]")
        if len(values) != len(slots):  # a text that was not one JSON value
            values = [loads(text) for text in texts]
        for (node, field), value in zip(slots, values, strict=True):
            node[field] = value


def fetch_nodes(
    store: Queryable,
    ids: Iterable[int],
    *,
    ordered: bool = False,
    keys: dict[int, str] | None = None,
) -> dict[int, dict[str, Any]]:
    """NODEs (DESIGN.md shape) of integer node ids, fetched set-based in a few statements.

    ``ordered`` says ``ids`` is already a sorted list without repeats (sorted ids keep
    the index lookups local). ``keys``, when given, also gets each node's id string.
    """
    nodes: dict[int, dict[str, Any]] = {}
    wanted: Sequence[int] = ids if ordered and isinstance(ids, Sequence) else sorted(set(ids))
    shared: dict[str, Any] = {}
    with no_gc():
        for part in chunks(wanted):
            artifacts, executions = node_rows(store, part)
            decode_artifacts(artifacts, nodes, keys)
            decode_executions(executions, nodes, keys, shared)
    return nodes


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects.

    Every few hundred allocations the collector would walk all tracked objects; building
    100,000 NODEs then costs several times the work itself. Nothing built here is cyclic.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
