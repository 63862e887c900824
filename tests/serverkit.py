"""Helpers for server tests: an in-process client over ASGI, and a real `forebear serve`."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

RUN_EVENT_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def ol_event(kind: str, run_id: str, *, namespace: str = "ns", job: str = "job",
             inputs: list[dict[str, Any]] | None = None,
             outputs: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """An OpenLineage RunEvent."""
    event: dict[str, Any] = {
        "eventType": kind,
        "eventTime": "2026-01-01T00:00:00.000Z",
        "run": {"runId": run_id},
        "job": {"namespace": namespace, "name": job},
        "inputs": inputs if inputs is not None else [{"namespace": "s3://in", "name": "data"}],
        "outputs": outputs if outputs is not None else [],
        "producer": "https://example.com/producer",
        "schemaURL": RUN_EVENT_URL,
    }
    event.update(extra)
    return event


class Api:
    """A synchronous client of an ASGI app, in-process (``httpx.ASGITransport``)."""

    def __init__(self, app: Any, token: str | None = None) -> None:
        self.app = app
        self.token = token

    def as_(self, token: str | None) -> Api:
        """The same client with another token (None: no Authorization header)."""
        return Api(self.app, token)

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        headers = dict(options.pop("headers", None) or {})
        if self.token is not None and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.token}"

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://forebear.test"
                                         ) as client:
                return await client.request(method, url, headers=headers, **options)

        return asyncio.run(send())

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> httpx.Response:
        return self.request("POST", url, **options)

    def put(self, url: str, **options: Any) -> httpx.Response:
        return self.request("PUT", url, **options)

    def delete(self, url: str, **options: Any) -> httpx.Response:
        return self.request("DELETE", url, **options)


def ol_client(server: ServerProcess, scope: str = "write") -> Any:
    """The real ``openlineage-python`` client, sending to ``server`` over HTTP with a
    token of ``scope`` as its API key (``HttpConfig`` + ``ApiKeyTokenProvider``)."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.http import (
        ApiKeyTokenProvider,
        HttpConfig,
        HttpTransport,
    )

    config = HttpConfig(url=server.url, endpoint="api/v1/lineage",
                        auth=ApiKeyTokenProvider({"apiKey": server.tokens[scope]}))
    return OpenLineageClient(transport=HttpTransport(config))


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cli(*args: str, env: dict[str, str] | None = None, check: bool = True,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m forebear ARGS``."""
    return subprocess.run([sys.executable, "-m", "forebear", *args], env=env, check=check,
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without forebear settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREBEAR_")
           and not k.startswith("OPENLINEAGE_")}
    env.update(extra)
    return env


@dataclass
class ServerProcess:
    """A real ``forebear serve`` on a loopback port, with tokens of every scope."""

    store: Path
    port: int = field(default_factory=free_port)
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def create_tokens(self) -> None:
        env = clean_env()
        for scope in ("read", "write", "admin"):
            self.tokens[scope] = cli("token", "create", "--scope", scope, "--store",
                                     str(self.store), env=env).stdout.strip()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "forebear", "serve", "--port", str(self.port),
             "--store", str(self.store), *self.args],
            env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"forebear serve exited: {err}")
            if self.healthy():
                return
            time.sleep(0.05)
        raise RuntimeError("forebear serve did not come up")

    def healthy(self) -> bool:
        try:
            status, _ = self.call("GET", "/health", token=None)
        except OSError:
            return False
        return status == 200

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None

    def call(self, method: str, path: str, body: bytes | None = None, *,
             token: str | None = "admin", headers: dict[str, str | None] | None = None,
             ) -> tuple[int, bytes]:
        """One request; (status, body). ``token`` is a scope name, raw text or None; a
        header given as None is not sent (not even the default Content-Type)."""
        given = dict(headers or {})
        sent = {k: v for k, v in given.items() if v is not None}
        if token is not None:
            sent.setdefault("Authorization", f"Bearer {self.tokens.get(token, token)}")
        if body is not None and "Content-Type" not in given:
            sent["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, payload: Any = None, **options: Any) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        status, answer = self.call(method, path, body, **options)
        assert status < 300, (status, answer[:500])
        return json.loads(answer) if answer else None


@contextmanager
def running_server(project: Path, *args: str, init: bool = True) -> Iterator[ServerProcess]:
    """``forebear init`` in ``project`` (unless ``init=False``: the store is there
    already), tokens, and a server on it until the block ends."""
    if init:
        cli("init", str(project), env=clean_env())
    server = ServerProcess(store=project / ".forebear", args=args)
    server.create_tokens()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run_client(server: ServerProcess, script: str, work: Path,
               spool: Path) -> subprocess.CompletedProcess[str]:
    """Run the Python ``script`` in ``work`` with the server as its store (a write token,
    its own spool); fails the test unless it exits 0."""
    env = clean_env(FOREBEAR_STORE=server.url, FOREBEAR_TOKEN=server.tokens["write"],
                    FOREBEAR_SPOOL=str(spool))
    work.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-c", script], cwd=work, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done

