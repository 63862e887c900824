"""Aliases with history, deployments and human edits, on a real store, SDK and CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import forebear
from forebear.cli import main
from forebear.errors import ConflictError, InvalidInputError, NotFoundError
from forebear.graph._sql import run as _q
from forebear.sdk.lifecycle import (
    alias_history,
    deploy,
    human_edit,
    protected_aliases,
    resolve_alias,
    set_alias,
    show_alias,
)
from forebear.sdk.session import Session
from forebear.store.registry import open_store
from tests.conftest import make_run, ref

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def session(store: Any, clock: FakeClock) -> Iterator[Session]:
    yield Session(store, clock=clock, actor="tester")


def _models(store: Any) -> tuple[str, str]:
    a, b = ref("model-a", kind="model"), ref("model-b", kind="model")
    store.append_batch([make_run(outputs=[a]), make_run(outputs=[b])])
    return a["digest"], b["digest"]


def test_alias_time_travel(session: Session, clock: FakeClock) -> None:
    """Set at T1 to A, at T2 to B: --at between answers A; history has both; a run at T1.5
    records A."""
    store = session.store
    a, b = _models(store)
    env = {"FOREBEAR_PROTECTED_ALIASES": ""}
    t1, t2 = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    clock.now = t1
    set_alias("champion", a, reason="best AUC", actor="alice", store=session, environ=env)
    clock.now = t1 + timedelta(minutes=30)
    with forebear.run("score", store=session, capture=False, watch=False, code=False,
                      environment=False) as run:
        used = run.use("champion", role="model")
    clock.now = t2
    set_alias("champion", b, reason="retrained", actor="bob", store=session, environ=env)

    assert used.digest == a
    edges = _q(store,
        "SELECT n.key FROM edge e JOIN node n ON n.id = e.src JOIN execution x ON x.node = e.dst "
        "WHERE x.run_id = ? AND e.role = 'model'", (run.run_id,))
    assert edges == [(a,)]
    assert resolve_alias("champion", store=session) == b
    assert resolve_alias("champion", t1 + timedelta(minutes=30), store=session) == a
    assert resolve_alias("champion", "2026-03-01T13:30:00", store=session) == a  # naive = UTC
    assert resolve_alias("champion", "2026-03-01T14:30:00+01:00", store=session) == a
    assert resolve_alias("champion", t2, store=session) == b
    assert resolve_alias("champion", T0, store=session) is None
    history = [r.to_json() for r in alias_history("champion", store=session)]
    assert history == [
        {"name": "champion", "digest": a, "set_at": "2026-03-01T13:00:00.000000Z",
         "actor": "alice", "reason": "best AUC"},
        {"name": "champion", "digest": b, "set_at": "2026-03-01T14:00:00.000000Z",
         "actor": "bob", "reason": "retrained"},
    ]
    assert store.verify().ok


def test_protected_alias_moves_only_with_force_and_reason(session: Session) -> None:
    a, b = _models(session.store)
    assert protected_aliases({}) == {"production"}
    assert protected_aliases({"FOREBEAR_PROTECTED_ALIASES": "prod, live"}) == {"prod", "live"}
    set_alias("production", a, store=session, environ={})
    with pytest.raises(ConflictError, match="protected"):
        set_alias("production", b, reason="why not", store=session, environ={})
    with pytest.raises(ConflictError, match="reason"):
        set_alias("production", b, force=True, store=session, environ={})
    assert resolve_alias("production", store=session) == a
    set_alias("production", a, store=session, environ={})  # not a move: allowed
    moved = set_alias("production", b, force=True, reason="rollout #42", store=session,
                      environ={})
    assert moved.digest == b and resolve_alias("production", store=session) == b
    set_alias("staging", a, store=session, environ={})
    set_alias("staging", b, store=session, environ={})  # not protected


def test_the_protected_check_is_repeated_inside_the_write(session: Session) -> None:
    """A move that raced past the first check is still refused at commit."""
    from forebear.sdk import lifecycle

    a, b = _models(session.store)
    set_alias("production", a, store=session, environ={})
    before = session.store.size()
    with pytest.raises(ConflictError):
        lifecycle._append_checked(
            session,
            [{"type": "alias.set", "time": "2026-03-01T12:00:00.000000Z", "name": "production",
              "target": b, "actor": "mallory"}],
            "production", protected=frozenset({"production"}), force=False, reason=None,
        )
    assert session.store.size() == before
    assert resolve_alias("production", store=session) == a


def test_alias_errors(session: Session) -> None:
    a, _ = _models(session.store)
    with pytest.raises(InvalidInputError, match="whitespace"):
        set_alias("my alias", a, store=session)
    with pytest.raises(NotFoundError):
        set_alias("x", "sha256:" + "0" * 64, store=session)
    run_id = _q(session.store, "SELECT run_id FROM execution LIMIT 1")[0][0]
    with pytest.raises(InvalidInputError, match="not an artifact"):
        set_alias("x", run_id, store=session)
    assert resolve_alias("never-set", store=session) is None
    assert resolve_alias("not an alias", store=session) is None
    assert show_alias("never-set", store=session) is None


def test_alias_set_records_an_unrecorded_file(
    sqlite_store_dir: Path, project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project_dir / "model.bin").write_bytes(b"weights v1")
    code, out, err = _run(capsys, "alias", "set", "latest", "model.bin", "--reason", "first",
                          "--json", "--actor", "carol")
    assert code == 0, err
    record = json.loads(out)
    assert set(record) == {"name", "digest", "set_at", "actor", "reason"}
    assert record["actor"] == "carol" and record["reason"] == "first"
    store = open_store()
    kinds = _q(store, "SELECT a.kind, a.name FROM artifact a JOIN node n ON n.id = a.node "
                          "WHERE n.key = ?", (record["digest"],))
    assert kinds == [("model", "model.bin")]
    assert store.verify().ok


def test_alias_cli_show_at_and_history(
    sqlite_store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_store()
    a, b = _models(store)
    clock = FakeClock(T0)
    session = Session(store, clock=clock, actor="tester")
    set_alias("production", a, reason="launch", store=session)
    clock.now = T0 + timedelta(days=1)
    set_alias("production", b, reason="v2", force=True, store=session)
    store.close()

    code, out, _ = _run(capsys, "alias", "show", "production", "--at", "2026-03-01T18:00",
                        "--json")
    assert code == 0 and json.loads(out)["digest"] == a
    code, out, _ = _run(capsys, "alias", "show", "production", "--json")
    assert json.loads(out)["digest"] == b
    code, out, _ = _run(capsys, "alias", "history", "production", "--json")
    assert [r["reason"] for r in json.loads(out)] == ["launch", "v2"]
    code, _, err = _run(capsys, "alias", "show", "production", "--at", "2026-02-01")
    assert code == 1 and "was not set" in err
    code, _, err = _run(capsys, "alias", "show", "production", "--at", "yesterday")
    assert code == 1 and "ISO 8601" in err
    code, _, err = _run(capsys, "alias", "set", "production", a, "--reason", "back")
    assert code == 1 and "protected" in err and "--force" in err
    code, out, _ = _run(capsys, "alias", "show", "production")
    assert code == 0 and b in out


def test_deploy_puts_the_endpoint_downstream_of_the_model(
    sqlite_store_dir: Path, project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project_dir / "model.pkl").write_bytes(b"model")
    code, out, err = _run(capsys, "deploy", "model.pkl", "--target", "fraud-api", "--json")
    assert code == 0, err
    done = json.loads(out)
    assert done["endpoint"] == "dataset:endpoint:fraud-api"
    store = open_store()
    rows = _q(store,
        "SELECT x.kind, x.name, e.role, n.key, a.kind FROM execution x "
        "JOIN edge e ON e.dst = x.node JOIN node n ON n.id = e.src "
        "JOIN artifact a ON a.node = n.id WHERE x.run_id = ?", (done["run_id"],))
    assert rows == [("deploy", "fraud-api", "model", done["model"], "model")]
    out_rows = _q(store,
        "SELECT e.role, n.key, a.kind, a.name, a.digest FROM execution x "
        "JOIN edge e ON e.src = x.node JOIN node n ON n.id = e.dst "
        "JOIN artifact a ON a.node = n.id WHERE x.run_id = ?", (done["run_id"],))
    assert out_rows == [("endpoint", "dataset:endpoint:fraud-api", "endpoint", "fraud-api", None)]
    store.close()
    code, out, _ = _run(capsys, "downstream", "model.pkl", "--json")
    if code == 0:  # the query layer is present
        ids = {node["id"] for node in json.loads(out)["nodes"]}
        assert "dataset:endpoint:fraud-api" in ids


def test_deploy_by_alias_and_sdk(session: Session) -> None:
    a, _ = _models(session.store)
    set_alias("production", a, store=session, environ={})
    done = deploy("production", target="scoring", store=session, reason="release")
    assert done.model == a
    with pytest.raises(InvalidInputError):
        deploy(a, target="two words", store=session)


def test_human_edit_sits_between_before_and_after(
    sqlite_store_dir: Path, project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project_dir / "raw.csv").write_text("id,label\n1,cat\n2,dog\n")
    (project_dir / "relabeled.csv").write_text("id,label\n1,cat\n2,cat\n")
    code, out, err = _run(capsys, "human-edit", "--actor", "dana@example.com", "--reason",
                          "row 2 mislabeled", "--before", "raw.csv", "--after",
                          "relabeled.csv", "--json")
    assert code == 0, err
    done = json.loads(out)
    store = open_store()
    row = _q(store, "SELECT kind, actor, reason, status FROM execution WHERE run_id = ?",
                        (done["run_id"],))
    assert row == [("human_edit", "dana@example.com", "row 2 mislabeled", "succeeded")]
    edges = sorted(_q(store,
        "SELECT e.role, s.key, d.key FROM edge e JOIN node s ON s.id = e.src "
        "JOIN node d ON d.id = e.dst"))
    assert edges == [("after", done["run_id"], done["after"]),
                     ("before", done["before"], done["run_id"])]
    blobs = project_dir / ".forebear" / "blobs"
    assert any(p.is_file() for p in blobs.rglob("*"))  # the after bytes are kept
    entries = [json.loads(r.canonical) for r in store.records()]
    assert [e["type"] for e in entries] == ["execution"]
    assert store.verify().ok


def test_human_edit_needs_actor_reason_and_a_change(session: Session, tmp_path: Path) -> None:
    before = tmp_path / "a.txt"
    before.write_text("same")
    with pytest.raises(InvalidInputError, match="reason"):
        human_edit(before=str(before), after=str(before), actor="me", reason=" ", store=session)
    with pytest.raises(InvalidInputError, match="same content"):
        human_edit(before=str(before), after=str(before), actor="me", reason="x", store=session)
    with pytest.raises(NotFoundError):
        human_edit(before=str(before), after=str(tmp_path / "nope"), actor="me", reason="x",
                   store=session)


def test_a_human_edit_signed_by_the_person(
    sqlite_store_dir: Path, project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from forebear.journal.keys import SigningKey
    from forebear.sdk.signing import check_entry, check_store

    key = SigningKey.generate("dana@example.com")
    key.save(project_dir / "dana.key")
    (project_dir / "w0.bin").write_bytes(b"weights")
    (project_dir / "w1.bin").write_bytes(b"weights, hand-tuned")
    code, _, err = _run(capsys, "human-edit", "--actor", "dana@example.com", "--reason",
                        "clip the outlier", "--before", "w0.bin", "--after", "w1.bin",
                        "--sign-key", "dana.key", "--json")
    assert code == 0, err
    store = open_store()
    records = list(store.records())
    entry = json.loads(records[-1].canonical)
    assert entry["signature"]["key"].startswith("dana@example.com+")
    assert check_entry(entry) is None and check_store(records) == []
    assert _run(capsys, "verify")[0] == 0  # verify checks the edit's signature too
    forged = {**entry, "reason": "something else"}
    assert "does not verify" in str(check_entry(forged))
    assert "not by its actor" in str(check_entry({**entry, "actor": "eve"}))
    with pytest.raises(InvalidInputError, match="actor"):
        human_edit(before="w0.bin", after="w1.bin", actor="eve", reason="x",
                   signing_key=key, store=str(project_dir))
    # A mistyped --sign-key is the editor's own key file: the hint is not the store's key.
    code, out, err = _run(capsys, "human-edit", "--actor", "dana@example.com", "--reason",
                          "x", "--before", "w0.bin", "--after", "w1.bin",
                          "--sign-key", "dana.kye")
    assert code == 1 and out == "" and "dana.kye does not exist" in err
    assert "check the --sign-key path" in err and "FOREBEAR_KEY" not in err
