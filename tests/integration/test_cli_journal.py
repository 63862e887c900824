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
    # The store folder is its owner's alone: other local users cannot read past tokens.
    assert (project_dir / ".forebear").stat().st_mode & 0o077 == 0
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


def test_verify_blobs_finds_a_stored_outputs_missing_blob(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import forebear
    from forebear.artifacts.base import open_blob_store
    from forebear.hashing import Digest
    from forebear.sdk.session import reset_default_session

    _run(capsys, "init")
    reset_default_session()
    (project_dir / "model.bin").write_bytes(b"weights")
    (project_dir / "big").mkdir()  # a directory: recorded, its bytes never stored
    (project_dir / "big" / "part").write_bytes(b"p")
    options = dict(capture=False, watch=False, code=False, environment=False)
    with forebear.run("train", **options) as run:  # type: ignore[arg-type]
        model = run.produce("model.bin", kind="model")
        run.produce("big", kind="data")
    reset_default_session()
    code, out, _ = _run(capsys, "verify", "--blobs", "--json")
    assert code == 0 and json.loads(out)["ok"]
    blobs = open_blob_store(project_dir / ".forebear" / "blobs")
    Path(blobs.path_for(Digest.parse(model.digest))).unlink()  # type: ignore[attr-defined]
    code, out, _ = _run(capsys, "verify", "--blobs", "--json")
    report = json.loads(out)
    assert code == 1
    (problem,) = report["problems"]
    assert problem["seq"] == 1 and str(model.digest) in problem["what"]
    assert "missing" in problem["what"]


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


def _damage(db: Path, how: str) -> None:
    if how == "truncated":
        with db.open("r+b") as handle:  # a copy cut short: the tables' pages are gone
            handle.truncate(db.stat().st_size // 2)
    else:
        conn = sqlite3.connect(db)
        conn.execute("DROP TABLE edge")
        conn.commit()
        conn.close()


@pytest.mark.parametrize("how", ["truncated", "table-dropped"])
def test_a_damaged_database_is_one_line_naming_the_fix_and_nothing_runs(
    project_dir: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    assert _run(capsys, "init")[0] == 0
    store = open_store()
    store.append_batch([make_run(outputs=[ref(f"m{i}")]) for i in range(300)])
    store.close()
    _damage(project_dir / ".forebear" / "forebear.db", how)
    for args in (["show", ref("m1")["id"]], ["verify"], ["exec", "--", "touch", "ran"]):
        code, out, err = _run(capsys, *args)
        assert code == 1 and out == "", (args, out)
        assert err.startswith("error: the store at ") and " is damaged: " in err, (args, err)
        assert "restore .forebear/forebear.db from a backup" in err
        assert len(err.splitlines()) == 1 and "Traceback" not in err
    if how == "truncated":  # the run could not start: the command never ran unrecorded
        assert not (project_dir / "ran").exists()


def test_a_store_on_a_read_only_file_system_answers_queries(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os
    import shutil
    import subprocess
    import sys

    assert _run(capsys, "init")[0] == 0
    store = open_store()
    store.append_batch([make_run(outputs=[ref(f"m{i}")]) for i in range(3)])
    store.close()
    model = ref("m1")["id"]
    forebear = [sys.executable, "-m", "forebear"]
    if os.geteuid() == 0:  # root writes through file modes: mount the project read-only
        if shutil.which("unshare") is None:
            pytest.skip("needs unshare(1) to mount a read-only file system as root")
        mount = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && cd "$0" && exec "$@"'
        prefix = ["unshare", "-m", "sh", "-c", mount, str(project_dir)]
    else:
        (project_dir / ".forebear" / "forebear.db").chmod(0o444)
        (project_dir / ".forebear").chmod(0o555)
        prefix = []

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*prefix, *forebear, *args], cwd=project_dir,
                              capture_output=True, text=True, timeout=120)

    probe = subprocess.run([*prefix, "touch", "probe"], cwd=project_dir, capture_output=True)
    if probe.returncode == 0 or not (b"Read-only" in probe.stderr
                                     or b"Permission denied" in probe.stderr):
        pytest.skip(f"no read-only file system here: {probe.stderr.decode()}")
    for args in (["log", "--json"], ["show", model, "--json"], ["upstream", model, "--json"],
                 ["journal", "--json"], ["verify", "--json"]):
        done = cli(*args)
        assert done.returncode == 0, (args, done.stderr)
        json.loads(done.stdout)
    assert len(json.loads(cli("log", "--json").stdout)) == 3
    for args in (["checkpoint"], ["flag", model, "--reason", "bad"]):
        done = cli(*args)
        assert done.returncode == 1 and done.stdout == "", args
        assert done.stderr.startswith("error: the store at ") and "is read-only" in done.stderr
        assert len(done.stderr.splitlines()) == 1, done.stderr


def test_queries_need_no_signing_key_and_writes_name_it(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The key is readable by its owner alone (0600): a teammate reading the same store,
    # or a key that was damaged, must not stop the questions that sign nothing.
    assert _run(capsys, "init")[0] == 0
    store = open_store()
    store.append_batch([make_run(outputs=[ref("m")]),
                        {"type": "alias.set", "time": "2026-01-01T00:00:00.000000Z",
                         "name": "prod", "target": ref("m")["id"], "actor": "ana"}])
    store.close()
    key = project_dir / ".forebear" / "signing.key"
    key.write_text("not a key\n")
    key.chmod(0o600)
    for args in (["log"], ["show", "prod"], ["upstream", "prod"], ["downstream", "prod"],
                 ["diff", "prod", "prod"], ["journal"], ["flagged"], ["alias", "show", "prod"],
                 ["alias", "history", "prod"]):
        code, out, err = _run(capsys, *args)
        assert code == 0 and out and err == "", (args, err)
    code, out, err = _run(capsys, "flag", "prod", "--reason", "bad")
    assert code == 1 and out == "" and "signing key" in err and "is corrupt" in err


def test_init_that_cannot_be_done_is_one_line_and_leaves_nothing(
    project_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (project_dir / "notes.txt").write_text("a file, not a folder")
    code, out, err = _run(capsys, "init", "notes.txt")
    assert code == 2 and out == "" and err.startswith("error: ") and "is a file" in err
    code, _, err = _run(capsys, "init", "notes.txt/sub")  # below a file: no such folder
    assert code == 1 and err.startswith("error: cannot create a store in ")
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    monkeypatch.setenv("FOREBEAR_KEY", str(project_dir / "no" / "such" / "dir" / "key"))
    code, _, err = _run(capsys, "init", "fresh")
    assert code == 1 and "cannot write the signing key" in err
    assert not (project_dir / "fresh").exists()  # no half-made store to trip over later
    code, _, err = _run(capsys, "init")
    assert code == 1 and not (project_dir / ".forebear").exists()
    monkeypatch.delenv("FOREBEAR_KEY")
    assert _run(capsys, "init")[0] == 0  # and then it can be done


def test_the_sdks_first_run_leaves_no_half_made_store_either(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # forebear.run() makes .forebear/ itself (init_store): when it cannot, nothing is left.
    import forebear
    from forebear.errors import SigningKeyError
    from forebear.sdk.session import reset_default_session

    monkeypatch.delenv("FOREBEAR_STORE", raising=False)
    monkeypatch.setenv("FOREBEAR_KEY", str(project_dir / "no" / "such" / "dir" / "key"))
    reset_default_session()
    try:
        with pytest.raises(SigningKeyError, match="cannot write the signing key"), \
                forebear.run("first", capture=False, watch=False, code=False,
                             environment=False):
            pass
        assert not (project_dir / ".forebear").exists()
    finally:
        reset_default_session()
