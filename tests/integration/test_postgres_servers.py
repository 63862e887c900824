"""Several ``forebear serve`` processes on one PostgreSQL database keep one journal.

Four real servers (subprocesses on loopback ports, each with its own projection worker)
take 20,000 OpenLineage events from 8 concurrent clients spread over all of them. Then:
none lost, none duplicated, sequence numbers contiguous, ``verify`` passes, and the
journal replayed into SQLite gives the same Merkle root.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from forebear.journal.keys import SigningKey
from forebear.store.migrate import migrate, open_target
from tests import pg

SERVERS = 4
CLIENTS = 8
EVENTS = 20_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _event(kind: str, run_id: str, i: int) -> bytes:
    return json.dumps({
        "eventType": kind,
        "eventTime": "2026-01-01T00:00:00.000Z",
        "run": {"runId": run_id, "facets": {}},
        "job": {"namespace": "servers", "name": f"job-{i % 50}", "facets": {}},
        "inputs": [{"namespace": "s3://data", "name": f"in/{i % 100}", "facets": {}}],
        "outputs": [{"namespace": "s3://data", "name": f"out/{i}", "facets": {}}],
        "producer": "https://example.com/test",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    }).encode()


def _request(port: int, token: str, method: str, path: str, body: bytes | None = None) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        conn.request(method, path, body, headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def _wait_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "forebear serve exited"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
        finally:
            conn.close()
    raise AssertionError("forebear serve did not start")


@pytest.mark.slow
def test_four_servers_eight_clients_one_contiguous_journal(tmp_path: Path) -> None:
    store = pg.fresh_postgres_store(tmp_path)
    url = store.url
    store.close()
    key = tmp_path / ".forebear" / "signing.key"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREBEAR_")}
    env |= {"FOREBEAR_STORE": url, "FOREBEAR_KEY": str(key)}
    python = sys.executable
    token = subprocess.run(
        [python, "-m", "forebear", "token", "create", "--scope", "admin"],
        check=True, env=env, capture_output=True, text=True, cwd=tmp_path,
    ).stdout.strip()
    ports = [_free_port() for _ in range(SERVERS)]
    servers = [
        subprocess.Popen([python, "-m", "forebear", "serve", "--port", str(port)], env=env,
                         cwd=tmp_path, stderr=subprocess.DEVNULL)
        for port in ports
    ]
    try:
        for port, server in zip(ports, servers, strict=True):
            _wait_up(port, server)
        runs = [str(uuid.uuid4()) for _ in range(EVENTS // 2)]
        failures: list[str] = []

        def client(number: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", ports[number % SERVERS], timeout=60)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            try:
                for i in range(number, len(runs), CLIENTS):
                    # A run's START and COMPLETE go to different servers.
                    for kind, port in (("START", ports[i % SERVERS]),
                                       ("COMPLETE", ports[(i + 1) % SERVERS])):
                        if conn.port != port:
                            conn.close()
                            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                        conn.request("POST", "/api/v1/lineage", _event(kind, runs[i], i),
                                     headers)
                        response = conn.getresponse()
                        response.read()
                        if response.status != 201:
                            failures.append(f"{kind} {runs[i]}: {response.status}")
            finally:
                conn.close()

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(f"sent in {time.monotonic() - started:.1f} s")
        assert failures == []
        deadline = time.monotonic() + 120
        while _request(ports[0], token, "GET", "/api/v1/status")[1]["lag"]:
            assert time.monotonic() < deadline, "the projections never caught up"
            time.sleep(0.1)
        print(f"projected in {time.monotonic() - started:.1f} s")
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)

    signer = SigningKey.load(key)
    store = open_target(url, signer)
    try:
        records = list(store.records())
        assert [r.seq for r in records] == list(range(len(records)))  # contiguous
        seen = Counter()
        for record in records:
            entry = json.loads(record.canonical)
            if entry["type"] == "openlineage":
                event = entry["event"]
                seen[(event["run"]["runId"], event["eventType"])] += 1
        expected = {(run, kind) for run in runs for kind in ("START", "COMPLETE")}
        assert set(seen) == expected  # none lost
        assert max(seen.values()) == 1  # none duplicated
        report = store.verify()
        assert report.ok, report.problems[:3]
        replay = open_target(f"sqlite:///{tmp_path / 'replay.db'}", signer)
        try:
            assert migrate(store, replay).ok
            assert replay.root() == store.root() == report.root
        finally:
            replay.close()
    finally:
        store.close()
        pg.drop_database(url)
