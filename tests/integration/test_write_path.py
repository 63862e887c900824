"""The SQLite write path's shortcuts keep the journal and projections exact.

An append reads nothing back when this connection made the last commit (PRAGMA
data_version), inserts node keys with ``RETURNING`` once the store was reopened, and
projects plain entries without parsing their canonical bytes. Each must leave the same
tables as the long way round, which ``verify``'s rebuild checks.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from forebear.store.registry import init_store, open_store
from tests.conftest import make_run, ref


def _run(i: int, shared: str) -> dict[str, Any]:
    return make_run(
        run_id=f"00000000-0000-7000-8000-{i:012d}",
        inputs=[ref(shared, role="training_data")],
        outputs=[ref(f"model-{i}", kind="model")],
        params={"lr": 0.5, "step": i},
    )


def test_two_connections_interleaving_keep_the_journal_contiguous(tmp_path: Path) -> None:
    store_dir = init_store(tmp_path)
    first, second = open_store(str(store_dir)), open_store(str(store_dir))
    try:
        seqs = []
        for i in range(12):
            writer = first if i % 3 else second
            if i % 4 == 0:
                seqs.extend(writer.append_batch([_run(100 + i, "data"), _run(200 + i, "d2")]))
            else:
                seqs.append(writer.append(_run(i, "data")))
        assert seqs == list(range(len(seqs)))
        assert first.size() == second.size() == len(seqs)
        report = first.verify()
        assert report.ok, report.problems
        ids = [row[0] for row in first.execute("SELECT id FROM node ORDER BY id")]
        assert ids == list(range(1, len(ids) + 1))
    finally:
        first.close()
        second.close()


def test_a_write_by_another_connection_is_seen_before_the_next_append(tmp_path: Path) -> None:
    store_dir = init_store(tmp_path)
    store = open_store(str(store_dir))
    try:
        store.append(_run(0, "data"))
        other = open_store(str(store_dir))
        other.append_batch([_run(1, "data"), _run(2, "other")])
        other.close()
        assert store.append(_run(3, "other")) == 3
        assert store.verify().ok
    finally:
        store.close()


def test_a_reopened_store_reuses_old_nodes_and_numbers_new_ones_in_order(
    tmp_path: Path,
) -> None:
    store_dir = init_store(tmp_path)
    store = open_store(str(store_dir))
    store.append_batch([_run(i, f"data-{i % 3}") for i in range(9)])
    store.close()
    for round_ in range(3):
        store = open_store(str(store_dir))
        try:
            # Old keys (data-0..2, earlier models) mixed with new ones, in one batch and alone.
            store.append_batch([
                _run(100 * (round_ + 1) + i, f"data-{i % 4}") for i in range(6)
            ])
            store.append(_run(5, "data-0"))  # an old run id and old keys only
            store.append(_run(1000 + round_, "fresh"))
            report = store.verify()
            assert report.ok, report.problems
            ids = [row[0] for row in store.execute("SELECT id FROM node ORDER BY id")]
            assert ids == list(range(1, len(ids) + 1))
        finally:
            store.close()


def test_a_rolled_back_append_leaves_no_stale_shortcut(tmp_path: Path) -> None:
    store_dir = init_store(tmp_path)
    store = open_store(str(store_dir))
    try:
        store.append(_run(0, "data"))

        def fail(cur: Any, seqs: range) -> None:
            raise RuntimeError("refused")

        with pytest.raises(RuntimeError):
            store.append_batch([_run(1, "new")], before_commit=fail)
        assert store.append(_run(2, "new")) == 1
        assert store.verify().ok
    finally:
        store.close()


def test_floats_that_print_differently_project_as_the_journal_parses_them(
    tmp_path: Path,
) -> None:
    store_dir = init_store(tmp_path)
    store = open_store(str(store_dir))
    try:
        entry = make_run(params={"whole": 2.0, "tiny": 1e-7, "half": 0.5, "n": (1, 2)})
        store.append(entry)
        (params,) = store.execute("SELECT params FROM execution")[0]
        assert params == '{"half":0.5,"n":[1,2],"tiny":1e-07,"whole":2}'
        assert store.verify().ok
    finally:
        store.close()
    conn = sqlite3.connect(store_dir / "forebear.db")
    assert conn.execute("SELECT COUNT(*) FROM node").fetchone()[0] > 0
    conn.close()
