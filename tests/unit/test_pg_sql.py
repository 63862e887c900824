"""The pure statement rewrites of the PostgreSQL store (no database needed)."""

from __future__ import annotations

import pytest

from forebear.store._pg_sql import _plan, _waves, compact, regroup
from forebear.store.projection import POSTGRES_STATEMENTS


def test_long_in_lists_become_one_array_parameter() -> None:
    ids = ", ".join(["%s"] * 20)
    sql = f"SELECT a FROM t WHERE k = %s AND id IN ({ids}) AND x NOT IN ({ids}) AND y = %s"
    short, groups = compact(sql)
    assert short == "SELECT a FROM t WHERE k = %s AND id = ANY(%s) AND x <> ALL(%s) AND y = %s"
    assert groups == ((1, 20), (21, 20))
    params = ["k", *range(20), *range(100, 120), "y"]
    assert regroup(params, groups) == ["k", list(range(20)), list(range(100, 120)), "y"]


@pytest.mark.parametrize(
    "sql",
    ["SELECT 1 FROM t WHERE id IN (%s, %s)",  # short: kept
     "SELECT 1 FROM t WHERE name = 'a%s' AND id IN (" + ", ".join(["%s"] * 20) + ")"],
    ids=["short-list", "has-a-literal"],
)
def test_other_statements_are_left_alone(sql: str) -> None:
    assert compact(sql) == (sql, ())


def test_every_projection_statement_has_a_plan() -> None:
    for name, sql in POSTGRES_STATEMENTS.items():
        plan = _plan(sql)
        assert plan is not None, name
        assert plan.select.count("u.c") == sql.split("VALUES", 1)[1].count("%s")
    start = _plan(POSTGRES_STATEMENTS["exec_start"])
    assert start is not None and "'running'" in start.select and start.keys == (0,)
    assert _plan(POSTGRES_STATEMENTS["edge"]).keys is None  # type: ignore[union-attr]
    assert _plan("UPDATE t SET a = %s") is None
    assert _plan("INSERT INTO t (a) VALUES (%s) ON CONFLICT DO UPDATE SET a = 1") is None


def test_waves_never_hold_a_key_twice_and_keep_each_keys_order() -> None:
    rows = [("a", 1), ("b", 1), ("a", 2), ("c", 1), ("a", 3), ("b", 2)]
    waves = _waves(rows, (0,))
    assert waves == [[("a", 1), ("b", 1), ("c", 1)], [("a", 2), ("b", 2)], [("a", 3)]]
