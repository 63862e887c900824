"""Shaping statements for PostgreSQL: fewer, larger statements for the same work.

Two rewrites, both invisible to the SQL written for every backend (``?`` placeholders,
one row per ``executemany`` row, ``IN (...)`` lists):

- a long ``IN (%s, %s, ...)`` list becomes ``= ANY(%s)`` with one array parameter, so
  the statement text stays short and the same whatever the count (psycopg re-parses,
  and PostgreSQL re-plans, a long statement at every call);
- ``executemany`` of an ``INSERT`` becomes ``INSERT ... SELECT FROM unnest(...)``: one
  statement, one array per column, instead of one statement per row.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

__all__ = ["BatchingCursor", "compact", "regroup"]


# -- long IN lists as one array parameter ---------------------------------------------------

_IN_LIST = re.compile(r"(?P<not>\bNOT\s+)?\bIN\s*\(\s*%s(?:\s*,\s*%s){15,}\s*\)", re.I)


@functools.lru_cache(maxsize=256)
def compact(sql: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """``sql`` with each long ``IN (%s, ...)`` as ``= ANY(%s)``, and where those lists were.

    The query layer batches ids into IN lists of hundreds of placeholders. psycopg parses
    a long query anew at every call (it caches only short ones), and PostgreSQL plans it
    anew; one array parameter keeps the text short and the same whatever the count.
    Returns the new text and, per list, (index of its first parameter, its length).
    """
    if "'" in sql:  # a literal might hold a '%s': leave such statements alone
        return sql, ()
    out: list[str] = []
    groups: list[tuple[int, int]] = []
    position = 0
    index = 0
    for match in _IN_LIST.finditer(sql):
        before = sql[position : match.start()]
        index += before.count("%s")
        count = match.group(0).count("%s")
        out.append(before + ("<> ALL(%s)" if match["not"] else "= ANY(%s)"))
        groups.append((index, count))
        index += count
        position = match.end()
    if not groups:
        return sql, ()
    out.append(sql[position:])
    return "".join(out), tuple(groups)


def regroup(params: Sequence[Any], groups: tuple[tuple[int, int], ...]) -> list[Any]:
    out: list[Any] = []
    position = 0
    for start, count in groups:
        out.extend(params[position:start])
        out.append(list(params[start : start + count]))
        position = start + count
    out.extend(params[position:])
    return out


# -- many rows per statement ----------------------------------------------------------------

_UNNEST_ROWS = 10_000
_INSERT = re.compile(
    r"INSERT INTO (?P<table>\w+) \((?P<cols>[^)]*)\) VALUES \((?P<row>[^)]*)\)(?P<tail>.*)",
    re.S,
)
_CONFLICT = re.compile(r"ON CONFLICT \((?P<keys>[^)]*)\) DO UPDATE")


@dataclass(frozen=True, slots=True)
class _Plan:
    """An INSERT of one row, taken apart to be sent as ``INSERT ... SELECT FROM unnest``."""

    table: str
    head: str  # INSERT INTO table (every column)
    columns: tuple[str, ...]  # the target column of each parameter, in order
    select: str  # the SELECT list: u.c0, u.c1, ... with the statement's literals in place
    tail: str  # ON CONFLICT ...
    keys: tuple[int, ...] | None  # parameter positions of the ON CONFLICT ... DO UPDATE key


@functools.lru_cache(maxsize=128)
def _plan(sql: str) -> _Plan | None:
    match = _INSERT.fullmatch(sql.strip())
    if match is None:
        return None
    cols = [c.strip() for c in match["cols"].split(",")]
    items = [v.strip() for v in match["row"].split(",")]
    if len(cols) != len(items):
        return None
    params: list[str] = []
    select: list[str] = []
    for col, item in zip(cols, items, strict=True):
        if item == "%s":
            select.append(f"u.c{len(params)}")
            params.append(col)
        elif re.fullmatch(r"'[^']*'|-?\d+", item):
            select.append(item)  # a literal, such as 'running'
        else:
            return None
    tail = match["tail"]
    keys: tuple[int, ...] | None = None
    conflict = _CONFLICT.search(tail)
    if conflict is not None:
        named = [k.strip() for k in conflict["keys"].split(",")]
        if not all(k in params for k in named):
            return None
        keys = tuple(params.index(k) for k in named)
    elif "DO UPDATE" in tail:
        return None  # an upsert without a named key: keep it one row at a time
    head = f"INSERT INTO {match['table']} ({match['cols']})"
    return _Plan(match["table"], head, tuple(params), ", ".join(select), tail, keys)


def _waves(rows: list[Sequence[Any]], keys: tuple[int, ...]) -> list[list[Sequence[Any]]]:
    """Rows split so that no wave holds one key twice, each key's rows in their order.

    One ``INSERT ... ON CONFLICT DO UPDATE`` may not touch a row twice. Rows of different
    keys touch different rows, so applying wave after wave is the same as row by row.
    """
    seen: dict[tuple[Any, ...], int] = {}
    waves: list[list[Sequence[Any]]] = []
    for row in rows:
        key = tuple(row[i] for i in keys)
        wave = seen.get(key, 0)
        seen[key] = wave + 1
        if wave == len(waves):
            waves.append([])
        waves[wave].append(row)
    return waves


def _coerce(sql_type: str) -> Callable[[Any], Any]:
    """How to make a column's values one Python type, as PostgreSQL would assign them."""
    if sql_type in ("bigint", "integer", "smallint"):
        return int
    if sql_type in ("double precision", "real"):
        return float
    if sql_type == "bytea":
        return bytes
    return str


def _coerced(columns: list[list[Any]], sql_types: list[str]) -> list[list[Any]]:
    out = []
    for values, sql_type in zip(columns, sql_types, strict=True):
        convert = _coerce(sql_type)
        out.append([None if v is None else convert(v) for v in values])
    return out


class BatchingCursor:
    """A psycopg cursor whose ``executemany`` of an INSERT runs as a few set statements.

    The shared write path (``SqlJournal``) writes a batch as ``executemany`` calls of
    thousands of rows each; psycopg would still run one statement per row. Here each
    becomes ``INSERT ... SELECT ... FROM unnest(%s::type[], ...)``: one statement, one
    array parameter per column, whatever the number of rows. An upsert's rows are sent in
    *waves* (see ``_waves``), since one statement may not update a row twice.
    """

    def __init__(self, cur: psycopg.Cursor[Any], types: dict[str, dict[str, str]]) -> None:
        self._cur = cur
        self._types = types  # table -> column -> SQL type, shared by the store's cursors

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)

    def _column_types(self, table: str) -> dict[str, str]:
        found = self._types.get(table)
        if found is None:
            # to_regclass follows the search path, so a verify's temporary tables are found.
            self._cur.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
                (table,),
            )
            found = self._types[table] = dict(self._cur.fetchall())
        return found

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        import psycopg as pg

        rows = list(params)
        plan = _plan(sql)
        if plan is None or len(rows) < 2:
            self._cur.executemany(sql, rows)
            return
        types = self._column_types(plan.table)
        sql_types = [types[col] for col in plan.columns]
        arrays = ", ".join(f"%b::{t}[]" for t in sql_types)  # binary: no text escaping
        names = ", ".join(f"c{i}" for i in range(len(sql_types)))
        waves = [rows] if plan.keys is None else _waves(rows, plan.keys)
        statement = f"{plan.head} SELECT {plan.select} FROM unnest({arrays}) AS u({names})"
        statement += plan.tail
        for wave in waves:
            for start in range(0, len(wave), _UNNEST_ROWS):
                chunk = wave[start : start + _UNNEST_ROWS]
                columns = [list(values) for values in zip(*chunk, strict=True)]
                try:
                    self._cur.execute(statement, columns)
                except pg.DataError as exc:
                    # psycopg dumps a list of one Python type only (1 and 2.5 in one
                    # column); the error is raised before anything is sent.
                    if "mixed types" not in str(exc):
                        raise
                    self._cur.execute(statement, _coerced(columns, sql_types))
