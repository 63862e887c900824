"""The journal's CLI commands end to end: init, journal, checkpoint, verify, bad stores."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import pytest

from forebear.cli import main
from forebear.journal import merkle
from forebear.journal.checkpoint import Verifier, open_checkpoint
from forebear.store.registry import open_store
from tests.conftest import make_run, ref


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_journal_checkpoint_verify(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "init")[0] == 0
    key = project_dir / ".forebear" / "signing.key"
    assert key.stat().st_mode & 0o777 == 0o600
    store = open_store()
    store.append_batch([make_run(outputs=[ref(f"m{i}")]) for i in range(5)])
    store.close()

    code, out, _ = _run(capsys, "journal", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["seq"] for r in rows] == list(range(5))
    leaves = [r["canonical"].encode() for r in rows]
    for row, leaf in zip(rows, leaves, strict=True):
        assert row["leaf_hash"] == "sha256:" + merkle.leaf_hash(leaf).hex()

    code, out, _ = _run(capsys, "checkpoint", "--json")
    cp = json.loads(out)
    assert code == 0 and cp["size"] == 5
    assert cp["root"] == "sha256:" + merkle.naive_root(leaves).hex()
    parsed = open_checkpoint(cp["note"], [Verifier.parse(cp["key"])], origin=cp["origin"])
    assert parsed.root == bytes.fromhex(cp["root"][7:])
    assert base64.b64encode(parsed.root).decode() in cp["note"]

    code, out, _ = _run(capsys, "verify", "--json")
    report = json.loads(out)
    assert code == 0 and report == {"ok": True, "entries": 5, "root": cp["root"], "problems": []}


def test_verify_exits_1_and_names_the_edited_entry(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "init")
    store = open_store()
    store.append_batch([make_run(outputs=[ref(f"m{i}")]) for i in range(4)])
    store.close()
    db = sqlite3.connect(project_dir / ".forebear" / "forebear.db")
    db.execute("DROP TRIGGER journal_no_update")
    db.execute("UPDATE journal SET entry = replace(entry, 'tester', 'mallory') WHERE seq = 2")
    db.commit()
    db.close()
    code, out, _ = _run(capsys, "verify", "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    assert report["problems"][0]["seq"] == 2
    code, out, _ = _run(capsys, "verify")
    assert code == 1 and "entry 2" in out


def test_the_journal_refuses_update_and_delete_through_sql(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "init")
    store = open_store()
    store.append_batch([make_run(), make_run()])
    store.close()
    db = sqlite3.connect(project_dir / ".forebear" / "forebear.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE journal SET entry = x'00' WHERE seq = 0")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM journal")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM merkle_node")


def test_not_a_store_is_one_clear_line(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = project_dir / "bogus.db"
    bogus.write_bytes(b"this is not sqlite at all" * 10)
    code, _, err = _run(capsys, "verify", "--store", str(bogus))
    assert code == 2
    assert err.count("\n") == 1 and "is not a forebear store" in err and "Traceback" not in err
    code, _, err = _run(capsys, "journal", "--store", str(project_dir / "nowhere"))
    assert code == 2 and "forebear init" in err


def test_no_store_found_names_the_fix(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "verify")
    assert code == 2 and "forebear init" in err and err.count("\n") == 1


def test_a_newer_schema_is_refused(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, "init")
    db = sqlite3.connect(project_dir / ".forebear" / "forebear.db")
    db.execute("INSERT INTO schema_migrations VALUES (99, 'future', 'later')")
    db.commit()
    db.close()
    code, _, err = _run(capsys, "verify")
    assert code == 1 and "schema version 99" in err and "upgrade forebear" in err


def test_a_corrupt_key_file_is_one_clear_line(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "init")
    key = project_dir / ".forebear" / "signing.key"
    key.write_text("PRIVATE+KEY+garbage\n")
    code, _, err = _run(capsys, "checkpoint")
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_debug_shows_the_traceback(project_dir: Path) -> None:
    with pytest.raises(Exception, match="forebear init"):
        main(["verify", "--debug"])


def test_verify_blobs_rehashes_every_blob(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from forebear.artifacts.base import open_blob_store

    _run(capsys, "init")
    blobs = open_blob_store(project_dir / ".forebear" / "blobs")
    digest = blobs.put_bytes(b"model weights")
    code, out, _ = _run(capsys, "verify", "--blobs", "--json")
    assert code == 0 and json.loads(out)["ok"]
    path = Path(blobs.path_for(digest))  # type: ignore[attr-defined]
    path.chmod(0o644)
    path.write_bytes(b"model weightZ")
    code, out, _ = _run(capsys, "verify", "--blobs", "--json")
    report = json.loads(out)
    assert code == 1 and str(digest) in report["problems"][0]["what"]


def test_another_stores_key_is_one_line_naming_the_fix(
    project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from forebear.journal.keys import SigningKey

    assert _run(capsys, "init")[0] == 0
    other = tmp_path / "other.key"
    SigningKey.generate("other.example/key").save(other)
    monkeypatch.setenv("FOREBEAR_KEY", str(other))
    code, out, err = _run(capsys, "checkpoint")
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "not the key of the store" in err and "FOREBEAR_KEY" in err
    assert "Traceback" not in err
    monkeypatch.delenv("FOREBEAR_KEY")
    assert _run(capsys, "verify")[0] == 0  # nothing was signed with the wrong key


def test_journal_prints_entries_verbatim_and_counts_from_the_end(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "init")[0] == 0
    store = open_store()
    store.append_batch([make_run(name=f"[bold]run-{i}[/]", outputs=[ref(f"m{i}")])
                        for i in range(5)])
    canonical = [r.canonical.decode() for r in store.records()]
    store.close()
    code, out, _ = _run(capsys, "journal", "--from", "-2")
    lines = out.splitlines()
    assert code == 0 and [line.split(None, 1)[0] for line in lines] == ["3", "4"]
    assert [line.split(None, 1)[1] for line in lines] == canonical[3:]  # markup and all
    code, out, _ = _run(capsys, "journal", "--from", "-9", "--limit", "1", "--json")
    assert code == 0 and [r["seq"] for r in json.loads(out)] == [0]
    code, _, err = _run(capsys, "journal", "--limit", "0")
    assert code == 2 and "--limit must be 1 or more" in err
