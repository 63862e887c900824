"""``log``: recent runs, newest start first, failed ones included.

Filters combine (AND): ``kind``, ``status`` and ``name`` match exactly; ``since`` and
``until`` bound the start time (ISO 8601, UTC when they carry no offset; ``until`` is
exclusive). Each run is an execution NODE plus ``exit_code`` where known and ``error``
for a run that failed. ``count`` is how many runs the filters match in all.
"""

from __future__ import annotations

from typing import Any

from forebear.errors import UsageError
from forebear.graph._sql import Queryable, fetch_nodes, run
from forebear.model.entries import STATUSES
from forebear.model.ids import format_time, parse_time

__all__ = ["DEFAULT_LIMIT", "count", "log"]

DEFAULT_LIMIT = 50


def _time(option: str, text: str) -> str:
    try:
        return format_time(parse_time(text))
    except ValueError:
        raise UsageError(
            f"{option} {text!r} is not an ISO 8601 time",
            hint="write it like 2026-01-31 or 2026-01-31T12:00:00Z",
        ) from None


def _where(
    kind: str | None, status: str | None, name: str | None, since: str | None,
    until: str | None,
) -> tuple[str, list[Any]]:
    """The WHERE clause of the filters (see the module docstring) and its parameters."""
    if status is not None and status not in STATUSES:
        raise UsageError(
            f"unknown status {status!r}", hint="use one of " + ", ".join(sorted(STATUSES))
        )
    where = ["1 = 1"]
    params: list[Any] = []
    for column, value in (("x.kind", kind), ("x.status", status), ("x.name", name)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("x.started_at >= ?")
        params.append(_time("--since", since))
    if until is not None:
        where.append("x.started_at < ?")
        params.append(_time("--until", until))
    return " AND ".join(where), params


def log(
    store: Queryable,
    *,
    limit: int = DEFAULT_LIMIT,
    kind: str | None = None,
    status: str | None = None,
    name: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> list[dict[str, Any]]:
    """Runs newest first (see the module docstring)."""
    if limit < 1:
        raise UsageError(f"--limit must be 1 or more, not {limit}")
    where, params = _where(kind, status, name, since, until)
    # The newest runs by start first (execution_started index), then their details.
    rows = run(
        store,
        "SELECT x.node, x.exit_code, x.error FROM execution x "
        f"WHERE {where} ORDER BY x.started_at DESC, x.node DESC LIMIT ?",
        [*params, limit],
    )
    if not rows:
        return []
    nodes = fetch_nodes(store, [int(r[0]) for r in rows])
    out = []
    for ident, exit_code, error in rows:
        node = nodes[int(ident)]
        if exit_code is not None:
            node["exit_code"] = exit_code
        if error is not None:
            node["error"] = error
        out.append(node)
    return out


def count(
    store: Queryable,
    *,
    kind: str | None = None,
    status: str | None = None,
    name: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> int:
    """How many runs ``log`` with these filters would list without a limit (``forebear
    log`` says so when it shows fewer)."""
    where, params = _where(kind, status, name, since, until)
    return int(run(store, f"SELECT COUNT(*) FROM execution x WHERE {where}", params)[0][0])
