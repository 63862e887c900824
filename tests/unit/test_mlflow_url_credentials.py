"""``forebear import mlflow http://user:password@host``: the credentials sign in, as with
MLflow's own client, and no message (an error, the import's report) prints them."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from forebear.errors import ForebearError
from forebear.importers._mlflow_rest import MlflowClient


@pytest.fixture
def refusing() -> Iterator[tuple[int, list[str | None]]]:
    """A loopback HTTP server that answers 401 to everything, noting what it was sent."""
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            body = b'{"error_code": "UNAUTHENTICATED", "message": "who are you?"}'
            self.send_response(401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def test_credentials_in_the_url_sign_in_and_are_never_printed(
    refusing: tuple[int, list[str | None]]
) -> None:
    port, seen = refusing
    client = MlflowClient(f"http://alice:hunter2@127.0.0.1:{port}", environ={})
    assert client.url == f"http://127.0.0.1:{port}"
    with pytest.raises(ForebearError) as caught:
        client.experiments()
    client.close()
    assert "hunter2" not in str(caught.value) and "hunter2" not in str(caught.value.hint)
    assert seen and seen[0] == "Basic " + base64.b64encode(b"alice:hunter2").decode()


def test_a_url_that_is_no_server_is_refused_without_its_password() -> None:
    with pytest.raises(ForebearError) as caught:
        MlflowClient("ftp://alice:hunter2@example.com/", environ={})
    assert "hunter2" not in str(caught.value)
