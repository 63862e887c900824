"""OpenLineage ingest over HTTP: events per second, acknowledgement latency, projection lag.

    python benchmarks/bench_ingest.py [--events 20000] [--clients 32] [--processes 2]

A real ``forebear serve`` (a subprocess on a free loopback port, SQLite store, durable
commits) receives OpenLineage RunEvents (START then COMPLETE per run, one input and one
output dataset each) from several concurrent clients: ``--processes`` client processes
with ``--clients`` keep-alive connections in total, each sending one event per request
as the OpenLineage client does. An event counts when its 201 arrived, which the server
sends only after the event is durable. Reported (medians of ``--repeats`` runs): events/s
over the whole run, median and p99 acknowledgement latency, the largest projection lag
seen while the load ran (from ``/api/v1/status``), how long the projection took to catch
up after the last ack, and CPU per event of the server (with its projection worker) and
of the clients.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any


def _event(kind: str, run_id: str, i: int) -> bytes:
    event = {
        "eventType": kind,
        "eventTime": "2026-01-01T00:00:00.000Z",
        "run": {"runId": run_id, "facets": {}},
        "job": {"namespace": "bench", "name": f"job-{i % 50}", "facets": {}},
        "inputs": [{"namespace": "s3://bench", "name": f"in/{i % 200}", "facets": {}}],
        "outputs": [{"namespace": "s3://bench", "name": f"out/{i}", "facets": {}}],
        "producer": "https://example.com/bench",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    }
    return json.dumps(event, sort_keys=True).encode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _request(body: bytes, token: str) -> bytes:
    """One ``POST /api/v1/lineage`` as the OpenLineage HTTP transport sends it."""
    return (b"POST /api/v1/lineage HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nAuthorization: Bearer " + token.encode()
            + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def _status_of(sock: socket.socket, pending: bytearray) -> int:
    """Read one response off a keep-alive connection; return its status code."""
    while b"\r\n\r\n" not in pending:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        pending += chunk
    head, _, rest = bytes(pending).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += sock.recv(65536)
    pending[:] = rest[length:]
    return int(head.split(b" ", 2)[1])


def _client(ports: list[int], token: str, first: int, count: int, threads: int,
            out: Any) -> None:
    """One client process: ``threads`` keep-alive connections sending ``count`` events,
    spread over the servers on ``ports`` (connection ``t`` talks to ``ports[t % n]``).

    A lean HTTP/1.1 client (pre-built requests on raw sockets): the load generator shares
    the machine with the server, so it should spend as little CPU as it can.
    """
    events: list[bytes] = []
    for i in range(first, first + count // 2):
        run_id = str(uuid.uuid4())
        events += [_request(_event(kind, run_id, i), token) for kind in ("START", "COMPLETE")]
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def work(part: list[bytes], port: int) -> None:
        mine = []
        failed = 0
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pending = bytearray()
            # START and COMPLETE of a run go in order on one connection.
            for request in part:
                start = time.perf_counter()
                sock.sendall(request)
                status = _status_of(sock, pending)
                mine.append(time.perf_counter() - start)
                failed += status != 201
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    pairs = [events[i : i + 2] for i in range(0, len(events), 2)]
    parts = [[e for pair in pairs[t::threads] for e in pair] for t in range(threads)]
    workers = [threading.Thread(target=work, args=(p, ports[t % len(ports)]))
               for t, p in enumerate(parts)]
    cpu = time.process_time()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put((latencies, errors[0], time.process_time() - cpu))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its children (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else ():
        total += _cpu_seconds(int(child))
    return total


def _get(port: int, token: str, path: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return json.loads(body)


def _wait_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("forebear serve exited")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("forebear serve did not start")


def run(events: int = 20_000, clients: int = 32, processes: int = 2,
        serve_args: tuple[str, ...] = (), repeats: int = 3) -> dict[str, float]:
    """Run the benchmark ``repeats`` times on fresh stores; the median of each figure."""
    return medians([run_once(events, clients, processes, serve_args)
                     for _ in range(repeats)])


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    figures = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    figures["events_per_s_best"] = max(r["events_per_s"] for r in runs)
    return figures


def _forebear(*args: str, env: dict[str, str]) -> str:
    return subprocess.run([sys.executable, "-m", "forebear", *args], check=True, env=env,
                          capture_output=True, text=True).stdout.strip()


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("FOREBEAR_STORE", "FOREBEAR_KEY")}


def run_once(events: int, clients: int, processes: int,
             serve_args: tuple[str, ...]) -> dict[str, float]:
    """One run on a fresh SQLite store and one server; its figures."""
    with tempfile.TemporaryDirectory() as tmp:
        env = clean_env()
        _forebear("init", tmp, env=env)
        env["FOREBEAR_STORE"] = str(Path(tmp) / ".forebear")
        return load(env, events, clients, processes, [serve_args])


def load(env: dict[str, str], events: int, clients: int, processes: int,
         servers: list[tuple[str, ...]], workers: int = 0) -> dict[str, float]:
    """Start one ``forebear serve`` per entry of ``servers`` (its extra arguments) and
    ``workers`` ``forebear worker`` processes on the store ``env`` names, send ``events``
    events spread over the servers, and measure (``/api/v1/status`` of the first server
    gives the projection lag, which is the store's, whoever projects)."""
    python = sys.executable
    token = _forebear("token", "create", "--scope", "admin", env=env)
    ports = [_free_port() for _ in servers]
    procs_up = [
        subprocess.Popen([python, "-m", "forebear", "serve", "--port", str(port), *args],
                         env=env, stderr=subprocess.DEVNULL)
        for port, args in zip(ports, servers, strict=True)
    ]
    procs_up += [subprocess.Popen([python, "-m", "forebear", "worker"], env=env,
                                  stderr=subprocess.DEVNULL) for _ in range(workers)]
    try:
        for port, server in zip(ports, procs_up, strict=False):
            _wait_up(port, server)
        port = ports[0]
        queue: Any = multiprocessing.Queue()
        per = events // processes
        procs = [
            multiprocessing.Process(
                target=_client,
                args=(ports, token, k * per, per, max(1, clients // processes), queue))
            for k in range(processes)
        ]
        lag_max = [0]
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                status = _get(port, token, "/api/v1/status")
                lag_max[0] = max(lag_max[0], int(status["lag"]))
                done.wait(0.05)

        watcher = threading.Thread(target=watch)
        server_cpu = sum(_cpu_seconds(p.pid) for p in procs_up)
        start = time.perf_counter()
        for p in procs:
            p.start()
        watcher.start()
        results = [queue.get() for _ in procs]
        elapsed = time.perf_counter() - start
        server_cpu = sum(_cpu_seconds(p.pid) for p in procs_up) - server_cpu
        for p in procs:
            p.join()
        done.set()
        watcher.join()
        acked = time.perf_counter()
        while _get(port, token, "/api/v1/status")["lag"]:
            time.sleep(0.01)
        catch_up = time.perf_counter() - acked
        status = _get(port, token, "/api/v1/status")
    finally:
        for proc in procs_up:
            proc.terminate()
        for proc in procs_up:
            proc.wait(timeout=30)
    latencies = sorted(x for lat, _, _ in results for x in lat)
    errors = sum(e for _, e, _ in results)
    client_cpu = sum(c for _, _, c in results)
    return {
        "events": float(len(latencies)),
        "errors": float(errors),
        "events_per_s": len(latencies) / elapsed,
        "ack_p50_ms": statistics.median(latencies) * 1000,
        "ack_p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "projection_lag_max_events": float(lag_max[0]),
        "projection_catch_up_ms": catch_up * 1000,
        "server_cpu_us_per_event": server_cpu / len(latencies) * 1e6,
        "client_cpu_us_per_event": client_cpu / len(latencies) * 1e6,
        "commits": float(status["ingest"]["commits"]),
        "journal_size": float(status["journal_size"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--worker", choices=["process", "thread"], default="process",
                        help="where `forebear serve` projects (default: a child process)")
    args = parser.parse_args()
    figures = run(args.events, args.clients, args.processes, ("--worker", args.worker),
                  args.repeats)
    for name, value in figures.items():
        print(f"{name:28} {value:12.1f}")


if __name__ == "__main__":
    main()
