"""With a server as the store, a run's outputs reach the server's blob store too."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from forebear.artifacts.http import HttpBlobStore
from tests.serverkit import run_client, running_server

TRAIN = textwrap.dedent("""
    import pathlib
    import forebear

    with forebear.run("train", kind="train", capture=False, watch=False, code=False,
                      environment=False) as run:
        pathlib.Path("model.bin").write_bytes(b"weights from a remote run")
        model = run.produce("model.bin", kind="model")
        pathlib.Path("big.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MiB: streamed
        big = run.produce("big.bin", kind="model")
    print(model.digest, big.digest)
""")


def test_a_remote_run_uploads_its_outputs(tmp_path: Path) -> None:
    with running_server(tmp_path / "project") as server:
        work = tmp_path / "work"
        done = run_client(server, TRAIN, work, tmp_path / "spool")
        small, big = done.stdout.split()
        for digest, path in ((small, "model.bin"), (big, "big.bin")):
            status, body = server.call("GET", f"/api/v1/blobs/{digest}", token="read")
            assert status == 200 and body == (work / path).read_bytes()
        assert "spool" not in done.stderr


def test_blobs_wait_in_the_spool_while_the_server_is_down(tmp_path: Path) -> None:
    with running_server(tmp_path / "project") as server:
        blobs = HttpBlobStore(server.url, server.tokens["write"], spool_root=tmp_path / "spool")
        server.stop()
        digest = blobs.put_bytes(b"made while the server was away")
        assert [p.name for p in blobs.pending()] == [digest.hex]
        server.start()
        assert blobs.flush_pending() == 1 and blobs.pending() == []
        assert blobs.get_bytes(digest) == b"made while the server was away"
        later = blobs.put_bytes(b"later")  # the server is back: sent at once, not spooled
        assert blobs.pending() == []
        assert server.call("GET", f"/api/v1/blobs/{later}", token="read") == (200, b"later")


def test_a_refused_token_spools_instead_of_failing(tmp_path: Path) -> None:
    with running_server(tmp_path / "project") as server:
        blobs = HttpBlobStore(server.url, "not-a-token", spool_root=tmp_path / "spool")
        digest = blobs.put_bytes(b"bytes")
        assert [p.name for p in blobs.pending()] == [digest.hex]
        status, _ = server.call("GET", f"/api/v1/blobs/{digest}", token="read")
        assert status == 404
        fixed = HttpBlobStore(server.url, server.tokens["write"], spool_root=tmp_path / "spool")
        assert fixed.flush_pending() == 1
        status, body = server.call("GET", f"/api/v1/blobs/{digest}", token="read")
        assert status == 200 and body == b"bytes"


@contextmanager
def _server_with_blob_limit(project: Path, limit: int) -> Iterator[tuple[str, str]]:
    """A real server over a socket (uvicorn in a thread) whose blobs may be ``limit`` bytes."""
    import threading
    import time

    import uvicorn

    from forebear.artifacts.local import LocalBlobStore
    from forebear.server.app import create_app, state_of
    from forebear.server.state import ServerConfig
    from forebear.store.registry import init_store, open_store
    from tests.serverkit import free_port

    store = open_store(str(init_store(project)))
    app = create_app(store, blobs=LocalBlobStore(project / "blobs"),
                     config=ServerConfig(max_blob=limit))
    token = state_of(app).tokens.create("write")[1]
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        store.close()


def test_a_blob_refused_for_good_is_not_spooled_and_blocks_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    with _server_with_blob_limit(tmp_path / "project", 1 << 20) as (url, token):
        blobs = HttpBlobStore(url, token, spool_root=tmp_path / "spool")
        big = tmp_path / "model.safetensors"
        big.write_bytes(os.urandom(3 << 20))  # over the server's limit
        digest = blobs.put_file(big)
        err = capsys.readouterr().err
        assert f"refused blob {digest}" in err and "413" in err and "limit" in err, err
        assert blobs.pending() == []  # no copy of a blob the server will never take
        # One refused while it waited in the spool is set aside, not in the way of others.
        blobs.pending_dir.mkdir(parents=True)
        (blobs.pending_dir / digest.hex).write_bytes(big.read_bytes())
        small = blobs.put_bytes(b"small")
        assert blobs.pending() == []
        assert [d for d, _ in blobs.refused] == [digest, digest]  # when sent, from the spool
        assert [p.name for p in blobs.rejected_dir.iterdir()] == [digest.hex]
        assert blobs.get_bytes(small) == b"small"


def test_an_output_the_server_refused_is_not_recorded_as_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Else `verify --blobs` would report it missing for ever, with no backup to restore.
    import json

    import forebear
    from forebear.sdk.session import reset_default_session

    with _server_with_blob_limit(tmp_path / "project", 1 << 20) as (url, token):
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("FOREBEAR_STORE", url)
        monkeypatch.setenv("FOREBEAR_TOKEN", token)
        monkeypatch.setenv("FOREBEAR_SPOOL", str(tmp_path / "spool"))
        monkeypatch.delenv("FOREBEAR_BLOBS", raising=False)
        reset_default_session()
        (tmp_path / "big.bin").write_bytes(os.urandom(3 << 20))  # over the server's limit
        (tmp_path / "small.bin").write_bytes(b"small")
        try:
            with forebear.run("train", capture=False, watch=False, code=False,
                              environment=False) as run:
                big = run.produce("big.bin", kind="model")
                small = run.produce("small.bin", kind="model")
            session = forebear.sdk.session.default_session()
            assert session.store.flush(10)
        finally:
            reset_default_session()
        from forebear.store.remote import RemoteStore

        remote = RemoteStore(url, token=token, sender=False, spool_root=tmp_path / "spool")
        entries = [json.loads(r.canonical) for r in remote.records()]
        remote.close()
    (end,) = [e for e in entries if e["type"] == "execution.end"]
    stored = {ref["digest"]: ref.get("stored", False) for ref in end["outputs"]}
    assert stored == {big.digest: False, small.digest: True}
