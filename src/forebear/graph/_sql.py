"""Shared SQL plumbing of the query layer: portable statements and node rows.

Statements are written once with ``?`` and converted to the store's placeholder, so the
same standard SQL (recursive CTEs included) runs on SQLite and PostgreSQL. Node details
are always fetched set-based, a few hundred nodes per statement, from ``artifact`` (with
``artifact_uri``) and ``execution``, and decoded here into the DESIGN.md NODE shape.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Protocol

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
    "SELECT a.node, COALESCE(a.digest, (SELECT k.key FROM node k WHERE k.id = a.node)), "
    "a.digest, a.kind, a.name, u.uri "
    "FROM artifact a LEFT JOIN artifact_uri u ON u.node = a.node WHERE a.node IN ({marks})"
)
EXECUTION_SQL = (
    "SELECT x.node, x.run_id, x.kind, x.name, x.status, x.params, x.metrics, x.code, "
    "x.environment, x.started_at, x.ended_at, x.actor, x.reason "
    "FROM execution x WHERE x.node IN ({marks})"
)

_EMPTY = "{}"
# The C scanner, without json.loads' per-call checks (not in typeshed, hence getattr).
_scan: Callable[[str, int], tuple[Any, int]] = getattr(json.JSONDecoder(), "scan_once")  # noqa: B009


@lru_cache(maxsize=4096)
def _shared(text: str) -> Any:
    # Code and environment records repeat across thousands of runs: decode each once.
    # The decoded record is shared by those runs' NODEs, which callers treat as read-only.
    return json.loads(text)


def _obj(text: str | None) -> Any:
    if text is None or text == _EMPTY:
        return {}
    try:
        return _scan(text, 0)[0]
    except (StopIteration, ValueError):  # not JSON: the projection never writes that
        return json.loads(text)


def decode_artifacts(rows: Iterable[Sequence[Any]], into: dict[int, dict[str, Any]]) -> None:
    """Add artifact NODEs from ``ARTIFACT_SQL`` rows; several URIs come as several rows."""
    for ident, key, digest, kind, name, uri in rows:
        node = into.get(ident)
        if node is not None:
            if uri is not None:
                node["uris"].append(uri)
            continue
        into[ident] = {
            "type": "artifact",
            "id": key,
            "digest": digest,
            "kind": kind,
            "name": name,
            "uris": [] if uri is None else [uri],
        }


def decode_executions(rows: Iterable[Sequence[Any]], into: dict[int, dict[str, Any]]) -> None:
    """Add execution NODEs from ``EXECUTION_SQL`` rows."""
    for row in rows:
        code, env, reason = row[7], row[8], row[12]
        node = {
            "type": "execution",
            "id": row[1],
            "run_id": row[1],
            "kind": row[2],
            "name": row[3],
            "status": row[4],
            "params": _obj(row[5]),
            "metrics": _obj(row[6]),
            "code": None if code is None else _shared(code),
            "environment": None if env is None else _shared(env),
            "started_at": row[9],
            "ended_at": row[10],
            "actor": row[11],
        }
        if reason is not None:
            node["reason"] = reason
        into[row[0]] = node


def fetch_nodes(store: Queryable, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """NODEs (DESIGN.md shape) of integer node ids, fetched set-based in a few statements."""
    nodes: dict[int, dict[str, Any]] = {}
    ordered = sorted(set(ids))
    with no_gc():
        for part in chunks(ordered):
            where = marks(len(part))
            decode_artifacts(run(store, ARTIFACT_SQL.format(marks=where), part), nodes)
            decode_executions(run(store, EXECUTION_SQL.format(marks=where), part), nodes)
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
