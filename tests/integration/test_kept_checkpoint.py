"""``forebear verify --checkpoint FILE``: a checkpoint kept outside the store catches the
rewrite that the store's own records cannot, by someone holding the database *and* its
signing key, who re-signs everything after rewriting history."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest

from forebear.journal.keys import SigningKey
from forebear.store.registry import init_store, open_store
from tests.conftest import make_run
from tests.serverkit import clean_env, cli

PROJECTIONS = ["node", "artifact", "artifact_uri", "execution", "edge", "metric", "alias",
               "alias_history", "flag"]


def _store(tmp_path: Path, runs: int = 6) -> Path:
    store_dir = init_store(tmp_path / "project")
    with contextlib.closing(open_store(str(store_dir))) as store:
        for i in range(runs):
            store.append(make_run(params={"lr": i}))
    return store_dir


def _keep(store_dir: Path, where: Path) -> Path:
    where.write_text(cli("checkpoint", "--json", "--store", str(store_dir),
                         env=clean_env()).stdout)
    return where


def _verify(store_dir: Path, *args: str) -> tuple[int, dict[str, object]]:
    done = cli("verify", "--json", "--store", str(store_dir), *args, env=clean_env(),
               check=False)
    return done.returncode, json.loads(done.stdout)


def _rewrite(store_dir: Path, keep: int, *, new_key: bool = False) -> None:
    """Cut the journal back to ``keep`` entries, drop every record of what was signed,
    re-project what is left and append other entries, signing as the store does."""
    db = sqlite3.connect(store_dir / "forebear.db", isolation_level=None)
    for name, in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f"DROP TRIGGER {name}")
    db.execute("DELETE FROM journal WHERE seq >= ?", (keep,))
    db.execute("DELETE FROM merkle_node WHERE ((idx + 1) << level) > ?", (keep,))
    db.execute("DELETE FROM checkpoint")
    db.execute("DELETE FROM head")
    for table in PROJECTIONS:
        db.execute(f"DELETE FROM {table}")
    db.execute("UPDATE projection_state SET pending_from = 0")
    if new_key:  # a key of the attacker's own, written in as the store's
        key = SigningKey.generate(db.execute(
            "SELECT value FROM meta WHERE key = 'origin'").fetchone()[0])
        (store_dir / "signing.key").write_text(key.encode() + "\n")
        db.execute("UPDATE meta SET value = ? WHERE key = 'verifier'",
                   (key.verifier().encode(),))
    db.close()
    with contextlib.closing(open_store(str(store_dir))) as store:
        store.project_pending()
        for i in range(4):
            store.append(make_run(params={"lr": 100 + i}))


def test_a_log_that_grew_honestly_still_extends_the_kept_checkpoint(tmp_path: Path) -> None:
    store_dir = _store(tmp_path)
    kept = _keep(store_dir, tmp_path / "kept.json")
    with contextlib.closing(open_store(str(store_dir))) as store:
        store.append(make_run())
    code, report = _verify(store_dir, "--checkpoint", str(kept))
    assert (code, report["ok"], report["problems"]) == (0, True, [])


@pytest.mark.parametrize("new_key", [False, True], ids=["same key", "key replaced"])
def test_a_rewrite_resigned_by_the_store_passes_verify_but_not_the_kept_checkpoint(
    tmp_path: Path, new_key: bool
) -> None:
    store_dir = _store(tmp_path)
    kept = _keep(store_dir, tmp_path / "kept.json")
    _rewrite(store_dir, keep=3, new_key=new_key)
    code, report = _verify(store_dir)
    assert (code, report["ok"]) == (0, True)  # the store agrees with itself
    code, report = _verify(store_dir, "--checkpoint", str(kept))
    assert code == 1
    (problem,) = report["problems"]  # type: ignore[misc]
    expected = "not signed by the key" if new_key else "not consistent with the checkpoint"
    assert expected in problem["what"], problem


def test_a_kept_checkpoint_beyond_the_log_says_entries_were_removed(tmp_path: Path) -> None:
    store_dir = _store(tmp_path, runs=8)
    kept = _keep(store_dir, tmp_path / "kept.json")
    _rewrite(store_dir, keep=2)  # 2 + 4 entries: shorter than the kept 8
    code, report = _verify(store_dir, "--checkpoint", str(kept))
    assert code == 1
    assert [p["seq"] for p in report["problems"]] == [6]  # type: ignore[union-attr]
    assert "shorter than" in report["problems"][0]["what"]  # type: ignore[index]


def test_a_bare_note_needs_the_key_it_is_trusted_by(tmp_path: Path) -> None:
    store_dir = _store(tmp_path)
    saved = json.loads(_keep(store_dir, tmp_path / "kept.json").read_text())
    note = tmp_path / "kept.note"
    note.write_text(saved["note"])
    refused = cli("verify", "--store", str(store_dir), "--checkpoint", str(note),
                  env=clean_env(), check=False)
    assert refused.returncode == 2 and "--key" in refused.stderr
    assert "Traceback" not in refused.stderr
    code, report = _verify(store_dir, "--checkpoint", str(note), "--key", saved["key"])
    assert (code, report["ok"]) == (0, True)
    other = SigningKey.generate(saved["origin"]).verifier().encode()
    code, report = _verify(store_dir, "--checkpoint", str(note), "--key", other)
    assert code == 1 and "does not verify" in report["problems"][0]["what"]  # type: ignore[index]


def test_a_corrupt_signing_key_does_not_stop_verify(tmp_path: Path) -> None:
    store_dir = _store(tmp_path)
    (store_dir / "signing.key").write_text("not a key\n")
    code, report = _verify(store_dir)
    assert code == 1
    assert [p["what"].split(":")[0] for p in report["problems"]] == ["signing key"]  # type: ignore[union-attr]


def test_the_text_checkpoint_tells_the_key_that_checks_the_note_kept(tmp_path: Path) -> None:
    # `forebear checkpoint > cp.note` kept the note, and verify then asked for a --key that
    # only --json showed.
    store_dir = _store(tmp_path)
    done = cli("checkpoint", "--store", str(store_dir), env=clean_env())
    note = tmp_path / "cp.note"
    note.write_text(done.stdout)
    assert done.stdout.count("\n") >= 3 and "verifier key" not in done.stdout
    key = done.stderr.strip().rsplit(" ", 1)[-1]
    assert _verify(store_dir, "--checkpoint", str(note), "--key", key)[0] == 0
