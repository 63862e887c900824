"""``forebear token``, ``worker``, ``serve`` options, and the SDK's light imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from forebear.model.entries import validate_entry
from forebear.server.resources.lineage import entry_bytes
from forebear.store.sql import encode_entries
from tests.serverkit import ServerProcess, clean_env, cli, ol_event

RUN = "01a217de-8245-7ff6-8ad3-a684e45146ae"


def test_tokens_are_shown_once_stored_hashed_and_revocable(tmp_path: Path) -> None:
    env = clean_env()
    cli("init", str(tmp_path), env=env)
    store = str(tmp_path / ".forebear")
    made = json.loads(cli("token", "create", "--scope", "write", "--namespace", "team-a",
                          "--name", "airflow", "--store", store, "--json", env=env).stdout)
    assert made["token"].startswith("fbt_") and made["scope"] == "write"
    database = (tmp_path / ".forebear" / "forebear.db").read_bytes()
    assert made["token"].encode() not in database
    listed = json.loads(cli("token", "list", "--store", store, "--json", env=env).stdout)
    assert [(t["id"], t["namespace"], t["revoked_at"]) for t in listed] == [
        (made["id"], "team-a", None)]
    assert "token" not in listed[0]
    cli("token", "revoke", made["id"], "--store", store, env=env)
    listed = json.loads(cli("token", "list", "--store", store, "--json", env=env).stdout)
    assert listed[0]["revoked_at"] is not None
    bad = cli("token", "create", "--scope", "root", "--store", store, env=env, check=False)
    assert bad.returncode == 1 and "unknown scope" in bad.stderr


def test_a_server_without_a_worker_lags_until_forebear_worker_runs(tmp_path: Path) -> None:
    cli("init", str(tmp_path), env=clean_env())
    server = ServerProcess(store=tmp_path / ".forebear", args=("--worker", "none"))
    server.create_tokens()
    server.start()
    try:
        for kind in ("START", "COMPLETE"):
            status, _ = server.call("POST", "/api/v1/lineage",
                                    json.dumps(ol_event(kind, RUN)).encode(), token="write")
            assert status == 201
        assert server.json("GET", "/api/v1/status")["lag"] == 2
        done = json.loads(cli("worker", "--once", "--store", str(server.store), "--json",
                              env=clean_env()).stdout)
        assert done == {"projected": 2, "projected_size": 2}
        runs = server.json("GET", "/api/v1/log?wait_for=2")
        assert [r["status"] for r in runs] == ["succeeded"]
    finally:
        server.stop()


def test_a_server_with_a_worker_thread_projects_by_itself(tmp_path: Path) -> None:
    cli("init", str(tmp_path), env=clean_env())
    server = ServerProcess(store=tmp_path / ".forebear", args=("--worker", "thread"))
    server.create_tokens()
    server.start()
    try:
        status, _ = server.call("POST", "/api/v1/lineage",
                                json.dumps(ol_event("START", RUN)).encode(), token="write")
        assert status == 201
        assert server.json("GET", "/api/v1/log?wait_for=1")[0]["status"] == "running"
    finally:
        server.stop()


def test_serve_refuses_to_serve_another_server(tmp_path: Path) -> None:
    answer = cli("serve", "--store", "http://127.0.0.1:9", env=clean_env(), check=False,
                 cwd=tmp_path)
    assert answer.returncode == 2
    assert "needs its own database" in answer.stderr


def test_the_fast_entry_encoding_is_the_canonical_one() -> None:
    from forebear import _canonical

    entry = {"type": "openlineage", "time": "2026-01-01T00:00:00.000000Z",
             "actor": "token:ci \u00e9", "event": ol_event("START", RUN, job="j\u00f6b")}
    validate_entry(entry)
    fast = entry_bytes(entry, _canonical.canonical_bytes(entry["event"]))
    assert [fast] == encode_entries([entry])


def test_import_forebear_and_the_remote_store_stay_light() -> None:
    code = ("import sys, forebear, forebear.store.remote, forebear.server, "
            "forebear.server.tokens; "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'httpx', "
            "'jsonschema', 'jsonschema_rs') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=clean_env()).stdout
    assert out.strip() == "[]"


def test_aliases_with_slashes_through_the_cli_and_a_real_server(tmp_path: Path) -> None:
    from tests.conftest import make_run, ref

    cli("init", str(tmp_path), env=clean_env())
    server = ServerProcess(store=tmp_path / ".forebear")
    server.create_tokens()
    server.start()
    try:
        model = ref("model", kind="model")
        status, _ = server.call("POST", "/api/v1/events",
                                json.dumps([make_run(run_id=RUN, outputs=[model])]).encode(),
                                token="write")
        assert status == 201
        env = clean_env(FOREBEAR_TOKEN=server.tokens["write"])
        name = "team/fraud@champion"
        cli("alias", "set", name, model["id"], "--reason", "first", "--store", server.url,
            env=env)
        shown = json.loads(cli("alias", "show", name, "--store", server.url, "--json",
                               env=env).stdout)
        assert shown["name"] == name and shown["digest"] == model["id"]
        history = json.loads(cli("alias", "history", name, "--store", server.url, "--json",
                                 env=env).stdout)
        assert [h["reason"] for h in history] == ["first"]
    finally:
        server.stop()
