"""The offline spool: the server goes away mid-run, nothing is lost, nothing is doubled."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from forebear.store.remote import RemoteStore, Spool
from tests.conftest import make_run
from tests.serverkit import ServerProcess, clean_env, cli, running_server

TRAIN = textwrap.dedent("""
    import pathlib, sys, time
    import forebear

    started, proceed, model = (pathlib.Path(p) for p in sys.argv[1:4])
    with forebear.run("train", kind="train", params={"lr": 0.1}, capture=False, watch=False,
                      code=False, environment=False) as run:
        started.write_text("started")
        while not proceed.exists():
            time.sleep(0.02)
        begun = time.monotonic()
        run.log_metrics({"accuracy": 0.97})
        model.write_bytes(b"weights")
        run.produce(str(model), kind="model")
    print(f"{time.monotonic() - begun:.3f}")
""")


def _entries(server: ServerProcess) -> list[dict[str, Any]]:
    return [json.loads(r["canonical"]) for r in server.json("GET", "/api/v1/journal")]


def _wait(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_run_outlives_the_server_and_its_events_arrive_once(tmp_path: Path) -> None:
    spool_root = tmp_path / "spool"
    with running_server(tmp_path / "project") as server:
        env = clean_env(FOREBEAR_STORE=server.url, FOREBEAR_TOKEN=server.tokens["write"],
                        FOREBEAR_SPOOL=str(spool_root))
        started, proceed = tmp_path / "started", tmp_path / "proceed"
        work = tmp_path / "work"
        work.mkdir()
        child = subprocess.Popen(
            [sys.executable, "-c", TRAIN, str(started), str(proceed), str(work / "model.pt")],
            env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait(started.exists, "the run to start")
            _wait(lambda: len(_entries(server)) == 1, "execution.start to reach the server")
            server.stop()  # the server goes down in the middle of the run
            proceed.write_text("go")
            out, err = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
        assert child.returncode == 0, err
        assert float(out.strip()) < 2.0  # recording never waits for the server

        status = cli("spool", "status", "--store", server.url, "--json", env=env)
        waiting = json.loads(status.stdout)
        assert waiting["entries"] == 1 and waiting["batches"] == 1
        assert waiting["blobs"] == 1  # the model's bytes wait too

        server.start()  # back on the same address
        flushed = cli("spool", "flush", "--store", server.url, "--json", env=env)
        assert json.loads(flushed.stdout) == {"sent": 1, "left": 0, "refused": [],
                                              "blobs_sent": 1, "blobs_left": 0,
                                              "blobs_refused": []}
        again = cli("spool", "flush", "--store", server.url, "--json", env=env)
        assert json.loads(again.stdout) == {"sent": 0, "left": 0, "refused": [], "blobs_sent": 0,
                                            "blobs_left": 0, "blobs_refused": []}

        entries = _entries(server)
        assert [e["type"] for e in entries] == ["execution.start", "execution.end"]
        assert entries[0]["run_id"] == entries[1]["run_id"]
        assert entries[1]["status"] == "succeeded"
        assert entries[1]["metrics"] == {"accuracy": 0.97}
        assert [o["kind"] for o in entries[1]["outputs"]] == ["model"]
        model = entries[1]["outputs"][0]["digest"]
        assert server.call("GET", f"/api/v1/blobs/{model}", token="read") == (200, b"weights")
        size = len(entries)
        runs = server.json("GET", f"/api/v1/log?wait_for={size}", token="read")
        assert [(r["run_id"], r["status"]) for r in runs] == [(entries[0]["run_id"],
                                                                "succeeded")]


def test_a_resent_batch_is_journaled_once(tmp_path: Path) -> None:
    with running_server(tmp_path / "project") as server:
        root = tmp_path / "spool"
        spool = Spool(root, server.url)
        batch = [make_run(run_id="01a217de-8245-7ff6-8ad3-a684e45146a1")]
        first = spool.put("key-1", batch)
        copy = first.read_bytes()
        store = RemoteStore(server.url, token=server.tokens["write"], spool_root=root,
                            sender=False)
        try:
            assert store.flush_spool() == (1, 0)
            # The same batch again, as if the answer to the first send had been lost.
            (spool.dir / first.name).write_bytes(copy)
            assert store.flush_spool() == (1, 0)
        finally:
            store.close()
        assert len(_entries(server)) == 1


def test_a_new_process_sends_what_an_earlier_one_spooled(tmp_path: Path) -> None:
    with running_server(tmp_path / "project") as server:
        root = tmp_path / "spool"
        Spool(root, server.url).put("key-2", [make_run()])
        store = RemoteStore(server.url, token=server.tokens["write"], spool_root=root)
        try:
            store.append(make_run())
            assert store.flush(timeout=30)
        finally:
            store.close()
        assert len(_entries(server)) == 2
        assert Spool(root, server.url).files() == []


def test_without_a_server_appends_are_spooled_at_once_and_in_order(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    store = RemoteStore("http://127.0.0.1:9", token="fbt_x_y", spool_root=root,
                        close_timeout=2.0)
    begun = time.monotonic()
    runs = [make_run(name=f"run-{i}") for i in range(20)]
    for entry in runs:
        store.append(entry)
    assert time.monotonic() - begun < 0.5
    store.close()
    spool = Spool(root, "http://127.0.0.1:9")
    sent = [entry["name"] for path in spool.files() for entry in spool.load(path)[1]]
    assert sent == [entry["name"] for entry in runs]


def test_a_batch_the_server_refuses_is_kept_not_dropped(tmp_path: Path) -> None:
    with running_server(tmp_path / "project") as server:
        root = tmp_path / "spool"
        spool = Spool(root, server.url)
        spool.put("key-3", [{"type": "execution", "run_id": "x"}])  # not a valid entry
        store = RemoteStore(server.url, token=server.tokens["write"], spool_root=root,
                            sender=False)
        try:
            assert store.flush_spool() == (0, 0)
        finally:
            store.close()
        [kept] = spool.rejected()
        assert "HTTP 400" in json.loads(kept.read_text())["reason"]
        assert _entries(server) == []


def test_batches_over_the_servers_body_limit_are_split_not_refused(tmp_path: Path) -> None:
    """A server run with a smaller --max-body than the SDK's batches still gets every
    entry, once and in order, whether they are sent live or from the spool."""
    with running_server(tmp_path / "project", "--max-body", "65536") as server:
        root = tmp_path / "spool"
        runs = [make_run(run_id=f"01a217de-8245-7ff6-8ad3-a684e4514{i:03d}", name=f"run-{i}",
                         params={"note": "x" * 10_000}) for i in range(24)]
        Spool(root, server.url).put("key-big", runs[:12])  # 120 kB, spooled by another run
        store = RemoteStore(server.url, token=server.tokens["write"], spool_root=root)
        try:
            store.append_batch(runs[12:])  # another 120 kB, sent live
            assert store.flush(timeout=30)
        finally:
            store.close()
        spool = Spool(root, server.url)
        assert spool.rejected() == [] and spool.files() == []
        assert [e["name"] for e in _entries(server)] == [r["name"] for r in runs]


def test_a_refused_token_fails_the_command_and_is_never_replayed_under_another(
    tmp_path: Path,
) -> None:
    """A write the server refuses for its token is an error at once; its batch waits in
    ``rejected/`` and goes only when the user sends it again on purpose (`spool retry`),
    never with the next process that happens to flush the spool under its own token."""
    with running_server(tmp_path / "project") as server:
        (tmp_path / "m1.bin").write_bytes(b"one")
        (tmp_path / "m2.bin").write_bytes(b"two")
        spool = str(tmp_path / "spool")

        def as_(scope: str) -> dict[str, str]:
            return clean_env(FOREBEAR_STORE=server.url, FOREBEAR_SPOOL=spool,
                             FOREBEAR_TOKEN=server.tokens[scope])

        refused = cli("alias", "set", "staging", str(tmp_path / "m1.bin"), "--reason", "r",
                      env=as_("read"), check=False, cwd=tmp_path)
        assert refused.returncode == 1, refused
        assert "refused" in refused.stderr and "HTTP 403" in refused.stderr
        assert "spool retry" in refused.stderr and "Traceback" not in refused.stderr
        cli("alias", "set", "dev", str(tmp_path / "m2.bin"), "--reason", "w",
            env=as_("write"), cwd=tmp_path)
        flushed = cli("spool", "flush", "--json", env=as_("admin"), cwd=tmp_path)
        assert json.loads(flushed.stdout)["refused"] == []
        history = cli("alias", "history", "staging", "--json", env=as_("read"))
        assert json.loads(history.stdout) == []
        status = json.loads(cli("spool", "status", "--json", env=as_("read")).stdout)
        assert status["rejected"] == 1 and status["batches"] == 0

        # Sent again on purpose, under a token that may write: journaled once.
        cli("spool", "retry", env=as_("write"))
        moved = json.loads(cli("alias", "history", "staging", "--json",
                               env=as_("read")).stdout)
        assert [entry["reason"] for entry in moved] == ["r"]
        status = json.loads(cli("spool", "status", "--json", env=as_("read")).stdout)
        assert status["rejected"] == 0 and status["batches"] == 0
