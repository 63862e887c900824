"""What a security review of the server found, each case as it was reproduced."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from forebear.server.app import close_app, create_app, state_of
from forebear.store.registry import init_store, open_store
from tests.serverkit import Api, ol_event

RUN_B = "01a217de-8245-7ff6-8ad3-a684e45146b0"
T = "2026-11-27T10:00:00.000000Z"


@pytest.fixture
def world(tmp_path: Any) -> Iterator[dict[str, Any]]:
    store = open_store(str(init_store(tmp_path)))
    app = create_app(store)
    tokens = state_of(app).tokens
    made = {"write": tokens.create("write")[1],
            "team-a": tokens.create("write", namespace="team-a")[1],
            "team-b": tokens.create("write", namespace="team-b")[1]}
    try:
        yield {"app": app, "store": store, "tokens": made}
    finally:
        close_app(app)
        store.close()


def _projected(store: Any) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if store.projected_size() == store.size():
            return
        time.sleep(0.02)
    raise AssertionError("the projection did not catch up")


def _run(run_id: str, namespace: str | None, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "execution.start", "time": T, "run_id": run_id,
                             "kind": "train", "name": "victim", "actor": "b"}
    if namespace is not None:
        entry["namespace"] = namespace
    return {**entry, **extra}


@pytest.mark.parametrize("victim_namespace", ["team-b", None])
def test_a_namespace_token_cannot_touch_a_run_of_another_namespace(
        world: dict[str, Any], victim_namespace: str | None) -> None:
    app = world["app"]
    owner = Api(app, world["tokens"]["write" if victim_namespace is None else "team-b"])
    assert owner.post("/api/v1/events", json=[_run("r-b", victim_namespace)]).status_code == 201
    _projected(world["store"])
    size = world["store"].size()
    attacker = Api(app, world["tokens"]["team-a"])
    hijack = {"type": "execution.end", "time": T, "run_id": "r-b", "namespace": "team-a",
              "status": "failed", "error": "hijacked"}
    answer = attacker.post("/api/v1/events", json=[hijack])
    assert answer.status_code == 403, answer.text
    assert "run r-b is in namespace" in answer.json()["error"]["message"]
    assert world["store"].size() == size  # nothing of the batch was written
    # Its own runs, new or recorded, it still writes.
    own = [_run("r-a", "team-a"), {**hijack, "run_id": "r-a", "error": "own"}]
    assert attacker.post("/api/v1/events", json=own[:1]).status_code == 201
    _projected(world["store"])
    assert attacker.post("/api/v1/events", json=own[1:]).status_code == 201


def test_a_namespace_token_cannot_send_openlineage_events_for_another_namespaces_run(
        world: dict[str, Any]) -> None:
    app = world["app"]
    owner = Api(app, world["tokens"]["team-b"])
    start = ol_event("START", RUN_B, namespace="team-b")
    assert owner.post("/api/v1/lineage", json=start).status_code == 201
    _projected(world["store"])
    size = world["store"].size()
    attacker = Api(app, world["tokens"]["team-a"])
    fail = ol_event("FAIL", RUN_B, namespace="team-a", outputs=[
        {"namespace": "team-a", "name": "planted"}])
    for path, body in (("/api/v1/lineage", fail),
                       ("/api/v1/events", [{"type": "openlineage", "time": T, "event": fail}])):
        answer = attacker.post(path, json=body)
        assert answer.status_code == 403, (path, answer.text)
    assert world["store"].size() == size


def _recorded(api: Api, store: Any) -> str:
    """The digest of a model a run produced, projected."""
    digest = "sha256:" + "ab" * 32
    run = {"type": "execution", "time": T, "run_id": "r-m", "kind": "train", "name": "m",
           "status": "succeeded", "actor": "a", "inputs": [], "outputs": [
               {"id": digest, "digest": digest, "kind": "model", "name": "m.pkl", "uri": None,
                "size": 3, "role": "model"}]}
    assert api.post("/api/v1/events", json=[run]).status_code == 201
    _projected(store)
    return digest


@pytest.mark.parametrize(("change", "message"), [
    ({"name": "abababab"}, "looks like a digest"),
    ({"target": "r-m"}, "not a content digest"),
    ({"target": "sha256:" + "0" * 64}, "not an artifact this store knows"),
    ({"time": "9999-12-31T23:59:59.000000Z"}, "ahead of the server's clock"),
])
def test_alias_moves_sent_as_events_get_the_checks_of_put_alias(
        world: dict[str, Any], change: dict[str, Any], message: str) -> None:
    api = Api(world["app"], world["tokens"]["write"])
    digest = _recorded(api, world["store"])
    size = world["store"].size()
    move = {"type": "alias.set", "time": T, "name": "staging", "target": digest, "actor": "x"}
    answer = api.post("/api/v1/events", json=[{**move, **change}])
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"]["message"]
    assert world["store"].size() == size
    assert api.post("/api/v1/events", json=[move]).status_code == 201
    # A new artifact registered in the same batch, as the SDK sends it, is a target.
    other = "sha256:" + "cd" * 32
    registered = {"type": "artifact", "time": T, "artifact": {
        "id": other, "digest": other, "kind": "model", "name": "n.pkl", "uri": None,
        "size": 1, "role": ""}}
    both = [registered, {**move, "target": other}]
    assert api.post("/api/v1/events", json=both).status_code == 201, both


def test_spooled_batches_someone_else_could_have_written_are_never_sent(
        tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    import os
    from pathlib import Path

    from forebear.errors import ConfigError
    from forebear.store.spool import Spool

    spool = Spool(Path(tmp_path), "http://127.0.0.1:1")
    mine = spool.put("k1", [{"type": "flag", "time": T}])
    assert spool.files() == [mine]
    planted = spool.dir / "00000000000000000001-1-planted.json"
    planted.write_bytes(mine.read_bytes())
    os.chmod(planted, 0o666)  # anyone could have written it
    if os.getuid() == 0:
        other = spool.dir / "00000000000000000002-1-other.json"
        other.write_bytes(mine.read_bytes())
        os.chmod(other, 0o600)
        os.chown(other, 65534, 65534)  # nobody's
    assert spool.files() == [mine]
    assert "it is not sent" in caplog.text
    os.chmod(spool.dir, 0o777)  # a folder another user can add batches to
    assert spool.files() == []
    assert "its batches are not sent" in caplog.text
    with pytest.raises(ConfigError, match="another user could plant batches"):
        spool.put("k2", [])


@pytest.mark.parametrize("url", [
    "postgresql://forebear@127.0.0.1:5432/db?password=QuerySecretPw",
    "postgresql://forebear@127.0.0.1:5432/db?sslmode=require&sslpassword=QuerySecretPw",
    "postgresql://forebear:QuerySecretPw@[::1:5432/db",
    "postgresql://forebear:Query%ZZSecretPw@127.0.0.1:5432/db",
    "postgresql://forebear:QuerySecret%40Pw@127.0.0.1:5432/db",
])
def test_a_store_urls_password_never_reaches_a_message(url: str) -> None:
    from forebear.errors import StoreError
    from forebear.store.postgres import redact
    from forebear.store.registry import open_store

    shown = redact(url)
    assert "Secret" not in shown and "***" in shown
    with pytest.raises(StoreError) as refused:
        open_store(url.replace("5432", "1"))  # nothing listens there, or libpq refuses it
    assert "Secret" not in str(refused.value) and "Secret" not in str(refused.value.hint)


def test_a_worker_whose_server_is_gone_stops_even_while_projection_fails(
        tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    # A poison entry made every projection fail; the worker retried for ever, long after
    # the `forebear serve` that started it had exited.
    import threading

    from forebear.server.worker import ProjectionWorker

    store = open_store(str(init_store(tmp_path)))

    def fail(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("integer out of range")

    store.project_pending = fail
    server = {"alive": True}
    worker = ProjectionWorker(store, poll=0.01, alive=lambda: server["alive"])
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while worker.failures < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert worker.failures >= 2 and thread.is_alive()  # retrying while the server lives
    server["alive"] = False
    thread.join(timeout=5)
    assert not thread.is_alive()
    store.close()


def test_a_namespace_token_cannot_take_a_run_journaled_and_not_yet_projected(
        world: dict[str, Any]) -> None:
    # The check read the projection only: a hijack sent while the victim's start waited
    # for the worker passed, and the projection then gave the run the attacker's namespace.
    store = world["store"]
    project = store.project_pending

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)
        return project(*args, **kwargs)

    store.project_pending = slow
    owner = Api(world["app"], world["tokens"]["team-b"])
    assert owner.post("/api/v1/events", json=[_run("r-slow", "team-b")]).status_code == 201
    attacker = Api(world["app"], world["tokens"]["team-a"])
    hijack = [_run("r-slow", "team-a"),
              {"type": "execution.end", "time": T, "run_id": "r-slow", "namespace": "team-a",
               "status": "failed", "error": "hijacked"}]
    answer = attacker.post("/api/v1/events", json=hijack)
    assert answer.status_code == 403, answer.text
    _projected(store)
    assert store.execute("SELECT namespace, status FROM execution WHERE run_id = 'r-slow'") \
        == [("team-b", "running")]
