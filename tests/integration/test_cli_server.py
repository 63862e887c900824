"""``forebear token``, ``worker``, ``serve`` options, and the SDK's light imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from forebear.model.entries import validate_entry
from forebear.server.resources.lineage import entry_bytes
from forebear.store.sql import encode_entries
from tests.serverkit import clean_env, cli, ol_event, running_server

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
    with running_server(tmp_path, "--worker", "none") as server:
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


def test_a_server_with_a_worker_thread_projects_by_itself(tmp_path: Path) -> None:
    with running_server(tmp_path, "--worker", "thread") as server:
        status, _ = server.call("POST", "/api/v1/lineage",
                                json.dumps(ol_event("START", RUN)).encode(), token="write")
        assert status == 201
        assert server.json("GET", "/api/v1/log?wait_for=1")[0]["status"] == "running"


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

    with running_server(tmp_path) as server:
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


def test_serve_on_a_port_in_use_is_one_error_line_naming_the_fix(tmp_path: Path) -> None:
    import socket

    cli("init", str(tmp_path), env=clean_env())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        answer = cli("serve", "--port", str(port), "--store", str(tmp_path / ".forebear"),
                     env=clean_env(), check=False)
    assert answer.returncode == 2, answer.stderr
    lines = [line for line in answer.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), answer.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "--port" in lines[0]


def test_token_expiry_must_be_a_positive_number_of_days(tmp_path: Path) -> None:
    env = clean_env()
    cli("init", str(tmp_path), env=env)
    store = str(tmp_path / ".forebear")
    for days in ("0", "-1", "nan", "inf", "1e10"):
        answer = cli("token", "create", "--scope", "read", "--expires-days", days,
                     "--store", store, env=env, check=False)
        assert answer.returncode == 2, (days, answer.stderr)
        assert answer.stderr.startswith("error:") and "Traceback" not in answer.stderr
        assert "--expires-days" in answer.stderr
    listed = json.loads(cli("token", "list", "--store", store, "--json", env=env).stdout)
    assert listed == []
    made = json.loads(cli("token", "create", "--scope", "read", "--expires-days", "0.5",
                          "--store", store, "--json", env=env).stdout)
    assert made["expires_at"] > made["created_at"]


def test_a_token_namespace_error_speaks_of_tokens(tmp_path: Path) -> None:
    env = clean_env()
    cli("init", str(tmp_path), env=env)
    answer = cli("token", "create", "--scope", "write", "--namespace", "", "--store",
                 str(tmp_path / ".forebear"), env=env, check=False)
    assert answer.returncode != 0 and answer.stderr.startswith("error:")
    assert "OpenLineage 2-0-2 RunEvent" not in answer.stderr and "--namespace" in answer.stderr


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started, from any of its threads (Linux /proc)."""
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return sorted(int(child) for task in tasks for child in (task / "children").read_text()
                  .split())


def test_a_dead_projection_worker_is_restarted(tmp_path: Path) -> None:
    import os
    import signal
    import time

    with running_server(tmp_path) as server:
        assert server.proc is not None
        [first] = _children(server.proc.pid)
        os.kill(first, signal.SIGKILL)  # the OOM killer, say
        status, _ = server.call("POST", "/api/v1/lineage",
                                json.dumps(ol_event("START", RUN)).encode(), token="write")
        assert status == 201
        deadline = time.monotonic() + 20
        while server.json("GET", "/api/v1/status")["lag"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.json("GET", "/api/v1/status")["lag"] == 0
        assert _children(server.proc.pid) not in ([], [first])


def test_a_query_to_a_server_whose_projection_is_stuck_names_the_worker(
    tmp_path: Path,
) -> None:
    with running_server(tmp_path, "--worker", "none") as server:
        status, _ = server.call("POST", "/api/v1/lineage",
                                json.dumps(ol_event("START", RUN)).encode(), token="write")
        assert status == 201
        answer = cli("log", "--store", server.url, check=False,
                     env=clean_env(FOREBEAR_TOKEN=server.tokens["read"]))
        assert answer.returncode == 1
        assert answer.stderr.startswith("error:") and "timed out" not in answer.stderr
        assert "forebear worker" in answer.stderr, answer.stderr
