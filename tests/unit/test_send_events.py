"""``export --to``: OpenLineage events POSTed one by one to a real HTTP listener on
loopback, with the retries and refusals a flaky or strict consumer brings."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from forebear.cli._send import send_events
from forebear.errors import AuthError, InvalidInputError, TransportError


class Consumer:
    """Answers each POST with the next status of ``script`` (then 201), keeping bodies."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.received: list[tuple[str, dict[str, Any], str | None]] = []
        consumer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = consumer.script.pop(0) if consumer.script else 201
                if status < 300:
                    consumer.received.append((self.path, json.loads(body),
                                              self.headers.get("Authorization")))
                answer = b"" if status < 300 else json.dumps(
                    {"error": {"message": f"status {status} on purpose"}}).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def consumer() -> Iterator[Consumer]:
    found = Consumer()
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()


EVENTS = [{"eventType": t, "run": {"runId": f"run-{i}"}} for i, t in
          enumerate(["START", "COMPLETE", "START"])]


def test_every_event_is_posted_in_order_with_the_key(consumer: Consumer) -> None:
    ticks: list[int] = []
    sent = send_events(EVENTS, consumer.url + "/base/", api_key="k1",
                       advance=lambda: ticks.append(1))
    assert sent == 3 and len(ticks) == 3
    assert [body for _, body, _ in consumer.received] == EVENTS
    assert {(path, auth) for path, _, auth in consumer.received} == {
        ("/base/api/v1/lineage", "Bearer k1")}


def test_server_errors_are_tried_again_then_given_up(consumer: Consumer) -> None:
    pauses: list[float] = []
    consumer.script = [503, 502]  # the first event twice, then fine
    assert send_events(EVENTS, consumer.url, sleep=pauses.append) == 3
    assert pauses == [0.5, 1.0] and len(consumer.received) == 3
    consumer.received.clear()
    consumer.script = [201, 500, 500, 500, 500, 500]
    with pytest.raises(TransportError, match=r"event 2 of 3 .*HTTP 500: status 500 on purpose "
                       r"\(1 sent before it\)"):
        send_events(EVENTS, consumer.url, sleep=pauses.append)
    assert len(consumer.received) == 1


@pytest.mark.parametrize(("status", "error"), [(401, AuthError), (403, AuthError),
                                               (400, InvalidInputError),
                                               (422, InvalidInputError)])
def test_a_refusal_stops_at_once(consumer: Consumer, status: int, error: type) -> None:
    consumer.script = [201, status]
    with pytest.raises(error, match=f"event 2 of 3.*HTTP {status}"):
        send_events(EVENTS, consumer.url, sleep=lambda _: pytest.fail("no retry"))


def test_a_consumer_that_is_not_there(consumer: Consumer) -> None:
    url = consumer.url
    consumer.server.shutdown()
    consumer.server.server_close()
    with pytest.raises(TransportError, match="cannot reach the OpenLineage consumer at"):
        send_events(EVENTS, url, sleep=lambda _: None)
