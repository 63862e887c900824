"""With a server as the store, a run's outputs reach the server's blob store too."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from forebear.artifacts.http import HttpBlobStore
from tests.serverkit import clean_env, running_server

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
        work.mkdir()
        env = clean_env(FOREBEAR_STORE=server.url, FOREBEAR_TOKEN=server.tokens["write"],
                        FOREBEAR_SPOOL=str(tmp_path / "spool"))
        done = subprocess.run([sys.executable, "-c", TRAIN], cwd=work, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
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
