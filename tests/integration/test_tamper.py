"""Any single-byte change to the journal or a projection row is found by ``verify``.

The attacker here has write access to the database and drops the append-only triggers
first, as a real one would.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forebear.errors import SigningKeyError
from forebear.store.registry import init_store, open_store
from tests.conftest import make_run, ref

TRIGGERS = [
    "journal_no_update",
    "journal_no_delete",
    "merkle_no_update",
    "merkle_no_delete",
]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    base = tmp_path_factory.mktemp("pristine")
    store_dir = init_store(base)
    store = open_store(str(store_dir))
    previous = None
    for i in range(12):
        inputs = [ref(f"data{i}", role="training_data")]
        if previous:
            inputs.append(ref(previous, role="base_model", kind="model"))
        out = f"model{i}"
        store.append(
            make_run(
                inputs=inputs,
                outputs=[ref(out, kind="model")],
                params={"lr": i / 10, "layers": i},
                metrics={"acc": 0.5 + i / 100},
            )
        )
        previous = out
        if i % 4 == 0:
            store.append(
                {
                    "type": "alias.set",
                    "time": "2026-01-02T00:00:00.000000Z",
                    "name": "prod",
                    "target": ref(out)["id"],
                    "actor": "ana",
                    "reason": f"r{i}",
                }
            )
    store.append(
        {
            "type": "flag",
            "time": "2026-01-03T00:00:00.000000Z",
            "target": ref("data3")["id"],
            "reason": "leak",
            "actor": "bo",
        }
    )
    store.checkpoint()
    assert store.verify().ok
    store.close()
    yield store_dir


def _copy(pristine: Path, dest: Path) -> tuple[Path, sqlite3.Connection]:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(pristine, dest)
    conn = sqlite3.connect(dest / "forebear.db", isolation_level=None)
    for trigger in TRIGGERS:
        conn.execute(f"DROP TRIGGER {trigger}")
    return dest, conn


def _flip(value: Any, position: int, delta: int) -> Any:
    if isinstance(value, bytes):
        data = bytearray(value)
        i = position % len(data)
        data[i] = (data[i] + delta) % 256
        return bytes(data)
    if isinstance(value, str):
        i = position % len(value)
        return value[:i] + chr((ord(value[i]) + delta) % 0x7F or 0x41) + value[i + 1 :]
    if isinstance(value, int):
        return value + delta
    if isinstance(value, float):
        return value + delta / 1000
    return "x"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_changed_byte_in_any_entry_is_found_at_that_entry(
    pristine: Path, tmp_path: Path, data: st.DataObject
) -> None:
    store_dir, conn = _copy(pristine, tmp_path / "copy")
    size = conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
    seq = data.draw(st.integers(0, size - 1), label="seq")
    (entry,) = conn.execute("SELECT entry FROM journal WHERE seq = ?", (seq,)).fetchone()
    position = data.draw(st.integers(0, len(entry) - 1), label="byte")
    delta = data.draw(st.integers(1, 255), label="delta")
    conn.execute("UPDATE journal SET entry = ? WHERE seq = ?", (_flip(entry, position, delta), seq))
    conn.close()
    store = open_store(str(store_dir))
    report = store.verify()
    store.close()
    assert not report.ok
    assert report.problems[0].seq == seq, report.problems


PROJECTIONS = [
    "node",
    "artifact",
    "artifact_uri",
    "execution",
    "edge",
    "alias",
    "alias_history",
    "flag",
]


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_changed_projection_row_is_found(
    pristine: Path, tmp_path: Path, data: st.DataObject
) -> None:
    store_dir, conn = _copy(pristine, tmp_path / "copy")
    table = data.draw(st.sampled_from(PROJECTIONS), label="table")
    cur = conn.execute(f"SELECT * FROM {table}")
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    if not rows:
        return
    row = data.draw(st.sampled_from(rows), label="row")
    candidates = [i for i, v in enumerate(row) if v is not None and v != ""]
    column = data.draw(st.sampled_from(candidates), label="column")
    new = _flip(row[column], data.draw(st.integers(0, 1000)), data.draw(st.integers(1, 50)))
    where = " AND ".join(f"{n} IS ?" for n in names)
    try:
        conn.execute(f"UPDATE {table} SET {names[column]} = ? WHERE {where}", (new, *row))
    except sqlite3.IntegrityError:
        return  # the schema itself refused the change
    conn.close()
    store = open_store(str(store_dir))
    report = store.verify()
    store.close()
    assert not report.ok
    assert any(p.seq is not None for p in report.problems)


def test_a_removed_tail_is_caught_by_the_signed_checkpoint(pristine: Path, tmp_path: Path) -> None:
    store_dir, conn = _copy(pristine, tmp_path / "copy")
    size = conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
    conn.execute("DELETE FROM journal WHERE seq = ?", (size - 1,))
    conn.close()
    store = open_store(str(store_dir))
    report = store.verify()
    store.close()
    assert not report.ok


def test_a_changed_leaf_hash_is_named_at_its_entry_first(pristine: Path, tmp_path: Path) -> None:
    # The Merkle nodes above it differ too, but they are its echo: the entry comes first.
    store_dir, conn = _copy(pristine, tmp_path / "copy")
    (leaf,) = conn.execute("SELECT leaf_hash FROM journal WHERE seq = 3").fetchone()
    conn.execute("UPDATE journal SET leaf_hash = ? WHERE seq = 3", (_flip(leaf, 5, 1),))
    conn.close()
    with contextlib.closing(open_store(str(store_dir))) as store:
        report = store.verify()
    assert (report.problems[0].seq, report.problems[0].what) == (
        3, "entry bytes do not match their stored leaf hash")
    assert any("over entries 0 to 3" in p.what for p in report.problems)


def test_a_leaf_hash_rewritten_as_text_that_is_not_utf8_is_reported(
    pristine: Path, tmp_path: Path
) -> None:
    store_dir, conn = _copy(pristine, tmp_path / "copy")
    conn.execute("UPDATE journal SET leaf_hash = CAST(X'ff' || substr(leaf_hash, 2) AS TEXT) "
                 "WHERE seq = 3")
    conn.close()
    with contextlib.closing(open_store(str(store_dir))) as store:
        report = store.verify()
    assert report.problems[0].seq == 3


def _forge(store_dir: Path, conn: sqlite3.Connection, *, drop_head: bool) -> None:
    """Append one entry through forebear with the signing key taken away (so its head is
    not refreshed), as anyone who can write the database could: the append path itself
    refuses, so the entry goes in by hand with its Merkle nodes and projection."""
    from forebear.store.sqlite import SqliteStore

    key = store_dir / "signing.key"
    hidden = key.with_name("elsewhere.key")
    key.rename(hidden)
    try:
        writer = SqliteStore(store_dir / "forebear.db")
        with pytest.raises(SigningKeyError):
            writer.append(make_run())
        writer.signer_required = False  # what a forger's own code would do
        writer.append(make_run(params={"lr": 9}))
        writer.close()
    finally:
        hidden.rename(key)
    if drop_head:
        conn.execute("DELETE FROM head")
        conn.execute("DELETE FROM checkpoint")  # no trigger survives an attacker


@pytest.mark.parametrize("drop_head", [False, True], ids=["stale head", "no head"])
def test_entries_no_signed_head_covers_fail_verify(
    pristine: Path, tmp_path: Path, drop_head: bool
) -> None:
    store_dir, conn = _copy(pristine, tmp_path / "copy")
    conn.execute("DROP TRIGGER checkpoint_no_delete")
    size = conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
    _forge(store_dir, conn, drop_head=drop_head)
    conn.close()
    with contextlib.closing(open_store(str(store_dir))) as store:
        report = store.verify()
    first = 0 if drop_head else size
    assert not report.ok
    assert [p.seq for p in report.problems] == [first], report.problems
    assert f"entries {first} to {size}" in report.problems[0].what


def test_a_store_without_its_key_refuses_to_write(pristine: Path, tmp_path: Path) -> None:
    store_dir, conn = _copy(pristine, tmp_path / "copy")
    conn.close()
    (store_dir / "signing.key").unlink()
    with contextlib.closing(open_store(str(store_dir))) as store:
        size = store.size()
        with pytest.raises(SigningKeyError, match="without its signing key"):
            store.append(make_run())
        assert store.size() == size
        assert store.verify().ok  # reading needs no key


def test_hiding_entries_behind_the_pending_mark_fails_verify(
    pristine: Path, tmp_path: Path
) -> None:
    store_dir, conn = _copy(pristine, tmp_path / "copy")
    size = conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
    conn.execute("DELETE FROM flag WHERE seq = ?", (size - 1,))
    conn.execute("UPDATE projection_state SET pending_from = ? WHERE id = 1", (size - 1,))
    conn.close()
    with contextlib.closing(open_store(str(store_dir))) as store:
        report = store.verify()
    assert [p.seq for p in report.problems] == [size - 1]
    assert "not projected" in report.problems[0].what
