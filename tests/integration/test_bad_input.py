"""Bad input over a real socket: every payload is a 4xx, nothing is written, the server lives.

The payloads come from the issue and from the table of inputs that hurt peer projects
(``shared/REFERENCES.md``): malformed and hostile JSON, wrong types, unknown event types,
missing run ids, oversized and deeply nested bodies, compression bombs, path traversal and
URL tricks where a path or digest is expected, bad media types, missing, wrong and
insufficient tokens, replays with a reused key, and HTTP framing tricks.
"""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_run
from tests.serverkit import ServerProcess, ol_event, running_server

RUN = "01a217de-8245-7ff6-8ad3-a684e45146ae"
OK_EVENT = ol_event("START", RUN)


def _raw(event: Any) -> bytes:
    return json.dumps(event).encode()


def _with(**change: Any) -> bytes:
    event = json.loads(json.dumps(OK_EVENT))
    event.update(change)
    return _raw(event)


def _nested(depth: int) -> bytes:
    facet = b'{"_producer": "p", "_schemaURL": "s", "x": ' + b"[" * depth + b"]" * depth + b"}"
    body = _raw(OK_EVENT)[:-1] + b', "extra": ' + facet + b"}"
    return body


JSON: dict[str, str | None] = {"Content-Type": "application/json"}
LINEAGE = "/api/v1/lineage"
EVENTS = "/api/v1/events"
ZERO = "sha256:" + "0" * 64

# (id, method, path, body, headers, token, expected statuses)
Case = tuple[str, str, str, bytes | None, dict[str, str | None], str | None, tuple[int, ...]]
CASES: list[Case] = [
    ("malformed-json", "POST", LINEAGE, b'{"eventType": ', JSON, "write", (400,)),
    ("not-an-object", "POST", LINEAGE, b"[1, 2, 3]", JSON, "write", (400,)),
    ("empty-body", "POST", LINEAGE, b"", JSON, "write", (400,)),
    ("run-id-a-number", "POST", LINEAGE, _with(run={"runId": 42}), JSON, "write", (400,)),
    ("event-time-a-number", "POST", LINEAGE, _with(eventTime=1), JSON, "write", (400,)),
    ("unknown-event-type", "POST", LINEAGE, _with(eventType="FINISHED"), JSON, "write",
     (400,)),
    ("missing-run", "POST", LINEAGE, _raw({k: v for k, v in OK_EVENT.items() if k != "run"}),
     JSON, "write", (400,)),
    ("missing-run-id", "POST", LINEAGE, _with(run={"facets": {}}), JSON, "write", (400,)),
    ("run-id-traversal", "POST", LINEAGE, _with(run={"runId": "../../etc/passwd"}), JSON,
     "write", (400,)),
    ("missing-job-name", "POST", LINEAGE, _with(job={"namespace": "ns"}), JSON, "write",
     (400,)),
    ("nul-in-job-name", "POST", LINEAGE, _with(job={"namespace": "ns", "name": "a\x00b"}),
     JSON, "write", (400,)),
    ("lone-surrogate", "POST", LINEAGE,
     _raw(OK_EVENT).replace(b'"name": "job"', b'"name": "a\\ud800b"'), JSON, "write", (400,)),
    ("lone-surrogate-in-an-invalid-event", "POST", LINEAGE, b'{"eventType": "\\ud800"}',
     JSON, "write", (400,)),
    ("events-lone-surrogate", "POST", EVENTS, b'[{"type": "\\udc00", "time": "x"}]', JSON,
     "write", (400,)),
    ("invalid-utf8", "POST", LINEAGE, _raw(OK_EVENT).replace(b"job", b"j\xff\xfeb"), JSON,
     "write", (400,)),
    ("zero-width-joiner-name", "POST", LINEAGE,
     _with(job={"namespace": "ns", "name": "model\u200d"}), JSON, "write", (400,)),
    ("no-time-zone", "POST", LINEAGE, _with(eventTime="2026-01-01T00:00:00"), JSON, "write",
     (400,)),
    ("time-overflow", "POST", LINEAGE, _with(eventTime="9999-12-31T23:59:59-14:00"), JSON,
     "write", (400,)),
    ("nan", "POST", LINEAGE, _raw(OK_EVENT)[:-1] + b', "x": NaN}', JSON, "write", (400,)),
    ("infinity", "POST", LINEAGE, _raw(OK_EVENT)[:-1] + b', "x": -Infinity}', JSON, "write",
     (400,)),
    # forebear's own entries refuse an integer a double cannot hold (an OpenLineage event
    # keeps it as text: tests/integration/test_ol_big_numbers.py).
    ("10k-digit-integer", "POST", EVENTS, b'[{"type": "flag", "time": "2026-01-01T00:00:00Z",'
     b' "x": ' + b"9" * 10_000 + b"}]", JSON, "write", (400,)),
    ("integer-beyond-2-53", "POST", EVENTS, b'[{"type": "flag", "time": "2026-01-01T00:00:00Z",'
     b' "x": 9007199254740993}]', JSON, "write", (400,)),
    ("duplicate-keys", "POST", LINEAGE, _raw(OK_EVENT)[:-1] + b', "eventType": "COMPLETE"}',
     JSON, "write", (400,)),
    ("nested-100-deep", "POST", LINEAGE, _nested(100), JSON, "write", (400,)),
    ("nested-100000-deep", "POST", LINEAGE, _nested(100_000), JSON, "write", (400,)),
    ("11-mib-body", "POST", LINEAGE, _raw({**OK_EVENT, "x": "y" * (11 * 1024 * 1024)}), JSON,
     "write", (413,)),
    ("gzip-bomb", "POST", LINEAGE, gzip.compress(b" " * (20 * 1024 * 1024) + _raw(OK_EVENT)),
     {**JSON, "Content-Encoding": "gzip"}, "write", (413,)),
    ("corrupt-gzip", "POST", LINEAGE, b"\x1f\x8b\x08\x00garbage", {**JSON,
                                                                   "Content-Encoding": "gzip"},
     "write", (400,)),
    ("brotli", "POST", LINEAGE, _raw(OK_EVENT), {**JSON, "Content-Encoding": "br"}, "write",
     (415,)),
    ("100k-datasets", "POST", LINEAGE, _with(inputs=[{"namespace": "n", "name": str(i)}
                                                     for i in range(100_000)]), JSON, "write",
     (400,)),
    ("job-event-without-run", "POST", LINEAGE,
     _raw({k: v for k, v in OK_EVENT.items() if k not in ("run", "eventType")}), JSON,
     "write", (400,)),
    ("dataset-event", "POST", LINEAGE, _raw({"eventTime": "2026-01-01T00:00:00Z",
                                             "producer": "p", "schemaURL": "s",
                                             "dataset": {"namespace": "a", "name": "b"}}),
     JSON, "write", (400,)),
    ("digest-not-a-digest", "POST", LINEAGE, _with(inputs=[{
        "namespace": "a", "name": "b", "facets": {"forebear": {"digest": "file:///etc/passwd"}}}]),
     JSON, "write", (400,)),
    ("uppercase-digest", "POST", LINEAGE, _with(inputs=[{
        "namespace": "a", "name": "b", "facets": {"forebear": {"digest": "sha256:" + "AB" * 32}}}]),
     JSON, "write", (400,)),
    ("text-plain", "POST", LINEAGE, _raw(OK_EVENT), {"Content-Type": "text/plain"}, "write",
     (415,)),
    ("script-content-type", "POST", LINEAGE, _raw(OK_EVENT),
     {"Content-Type": "<script>alert(1)</script>"}, "write", (415,)),
    ("no-content-type", "POST", LINEAGE, _raw(OK_EVENT), {"Content-Type": None}, "write",
     (415,)),
    ("latin1-charset", "POST", LINEAGE, _raw(OK_EVENT),
     {"Content-Type": "application/json; charset=latin-1"}, "write", (415,)),
    ("no-token", "POST", LINEAGE, _raw(OK_EVENT), JSON, None, (401,)),
    ("wrong-token", "POST", LINEAGE, _raw(OK_EVENT), JSON, "fbt_000000000000_wrong", (401,)),
    ("bearer-null", "POST", LINEAGE, _raw(OK_EVENT), {**JSON, "Authorization": "Bearer null"},
     None, (401,)),
    ("jwt-alg-none", "POST", LINEAGE, _raw(OK_EVENT), {
        **JSON, "Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzY29wZSI6ImFkbWluIn0."}, None,
     (401,)),
    ("read-token-writes", "POST", LINEAGE, _raw(OK_EVENT), JSON, "read", (403,)),
    ("another-namespace", "POST", LINEAGE, _raw(ol_event("START", RUN, namespace="team-b")),
     JSON, "team-a", (403,)),
    ("events-not-a-list", "POST", EVENTS, b'{"type": "flag"}', JSON, "write", (400,)),
    ("events-empty", "POST", EVENTS, b"[]", JSON, "write", (400,)),
    ("events-unknown-type", "POST", EVENTS, b'[{"type": "drop_table", "time": "x"}]', JSON,
     "write", (400,)),
    ("events-bad-digest", "POST", EVENTS, _raw([{
        "type": "artifact", "time": "2026-01-01T00:00:00Z",
        "artifact": {"id": "sha256:abc", "digest": "sha256:abc", "kind": "data"}}]), JSON,
     "write", (400,)),
    ("nul-in-a-facet", "POST", LINEAGE, _with(run={
        "runId": RUN, "facets": {"custom": {"_producer": "p", "_schemaURL": "s",
                                            "note": "a\u0000b"}}}), JSON, "write", (400,)),
    ("events-nul-in-params", "POST", EVENTS, _raw([{
        **make_run(run_id=RUN), "params": {"lr": "0.1\u0000"}}]), JSON, "write", (400,)),
    ("events-metric-steps-not-a-list", "POST", EVENTS, _raw([{
        **make_run(run_id=RUN), "metric_steps": 5}]), JSON, "write", (400,)),
    ("events-metric-step-short", "POST", EVENTS, _raw([{
        **make_run(run_id=RUN), "metric_steps": [["loss", 1]]}]), JSON, "write", (400,)),
    ("events-metric-step-text-value", "POST", EVENTS, _raw([{
        **make_run(run_id=RUN), "metric_steps": [["loss", 1, "low"]]}]), JSON, "write", (400,)),
    ("events-metric-step-bool-step", "POST", EVENTS, _raw([{
        **make_run(run_id=RUN), "metric_steps": [["loss", True, 0.1]]}]), JSON, "write", (400,)),
    ("events-key-reused", "POST", EVENTS, _raw([{"type": "flag", "time": "2026-01-01T00:00:00Z",
                                                 "target": "y", "reason": "other"}]),
     {**JSON, "Idempotency-Key": "reused"}, "write", (409,)),
    ("events-key-control-chars", "POST", EVENTS, b"[]",
     {**JSON, "Idempotency-Key": "a b\tc"}, "write", (400,)),
    ("blob-digest-mismatch", "PUT", f"/api/v1/blobs/{ZERO}", b"not zero", {}, "write", (400,)),
    ("blob-uppercase-digest", "PUT", "/api/v1/blobs/sha256:" + "AB" * 32, b"x", {}, "write",
     (400,)),
    ("blob-short-digest", "PUT", "/api/v1/blobs/sha256:abc", b"x", {}, "write", (400,)),
    ("blob-traversal", "GET", "/api/v1/blobs/..%2F..%2F..%2Fetc%2Fpasswd", None, {}, "read",
     (400, 404)),
    ("blob-double-encoded", "GET", "/api/v1/blobs/%252E%252E%252Fetc", None, {}, "read",
     (400, 404)),
    ("blob-backslashes", "GET", "/api/v1/blobs/..%5C..%5Cwindows%5Cwin.ini", None, {}, "read",
     (400, 404)),
    ("blob-file-url", "PUT", "/api/v1/blobs/file:%2F%2F%2Fetc%2Fpasswd", b"x", {}, "write",
     (400, 404)),
    ("show-absolute-path", "GET", "/api/v1/show?ref=/etc/passwd", None, {}, "read", (404,)),
    ("show-file-url", "GET", "/api/v1/show?ref=file:///etc/passwd", None, {}, "read", (404,)),
    ("show-traversal", "GET", "/api/v1/show?ref=..%2F..%2Fetc%2Fpasswd", None, {}, "read",
     (404,)),
    ("lineage-bad-node-id", "GET", "/api/v1/lineage?nodeId=file:///etc/passwd", None, {},
     "read", (400,)),
    ("lineage-huge-depth", "GET", "/api/v1/lineage?nodeId=job:a:b&depth=100000", None, {},
     "read", (400,)),
    ("alias-target-traversal", "PUT", "/api/v1/aliases/staging",
     _raw({"target": "../../etc/passwd"}), JSON, "write", (404,)),
    ("protected-alias", "PUT", "/api/v1/aliases/production", _raw({"target": ZERO}), JSON,
     "write", (403,)),
    ("inclusion-out-of-range", "GET", "/api/v1/proofs/inclusion?index=5&size=1", None, {},
     "read", (400,)),
    ("consistency-time-travel", "GET", "/api/v1/proofs/consistency?old=9&new=1", None, {},
     "read", (400,)),
    ("negative-index", "GET", "/api/v1/proofs/inclusion?index=-1", None, {}, "read", (400,)),
    ("wait-for-the-future", "GET", "/api/v1/log?wait_for=1000000", None, {}, "read", (400,)),
    ("unknown-status", "GET", "/api/v1/log?status=exploded", None, {}, "read", (400,)),
    ("token-admin-route-with-write", "POST", "/api/v1/tokens", _raw({"scope": "admin"}), JSON,
     "write", (403,)),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("bad")) as found:
        found.tokens["team-a"] = found.json("POST", "/api/v1/tokens", {
            "scope": "write", "namespace": "team-a"})["token"]
        # The first use of a key, so that its reuse below is the bad input.
        found.json("POST", EVENTS, [{"type": "flag", "time": "2026-01-01T00:00:00Z",
                                     "target": "x", "reason": "first"}], token="write",
                   headers={"Idempotency-Key": "reused"})
        yield found


def _size(server: ServerProcess) -> int:
    size: int = server.json("GET", "/api/v1/status", token="read")["journal_size"]
    return size


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 30
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize(("method", "path", "body", "headers", "token", "expected"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_a_4xx_with_a_json_error_and_writes_nothing(
    server: ServerProcess, method: str, path: str, body: bytes | None,
    headers: dict[str, str | None], token: str | None, expected: tuple[int, ...],
) -> None:
    before = _size(server)
    status, answer = server.call(method, path, body, token=token, headers=headers)
    assert status in expected, answer[:300]
    error = json.loads(answer)["error"]
    assert error["message"]
    assert b"<script>" not in answer
    assert _size(server) == before
    assert server.healthy()


def _raw_request(server: ServerProcess, head: bytes, body: bytes = b"") -> int:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0


@pytest.mark.parametrize("head", [
    b"POST /api/v1/lineage HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
    b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n",
    b"POST /api/v1/lineage HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 40\r\n"
    b"Content-Type: application/json\r\n\r\n",
    b"POST /api/v1/lineage HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\nX-Evil: a\rb\r\n\r\n",
    b"POST /api/v1/lineage HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data\r\n"
    b"Content-Length: 2\r\n\r\n",
], ids=["cl-and-te", "two-content-lengths", "negative-length", "bare-cr-in-header",
        "multipart-without-boundary"])
def test_http_framing_tricks_are_refused(server: ServerProcess, head: bytes) -> None:
    before = _size(server)
    status = _raw_request(server, head, b"{}\r\n0\r\n\r\n")
    assert status == 0 or 400 <= status < 500
    assert _size(server) == before
    assert server.healthy()


def test_names_that_look_like_paths_are_stored_as_data(server: ServerProcess,
                                                       tmp_path: Path) -> None:
    event = ol_event("START", "01a217de-8245-7ff6-8ad3-a684e45146b0", inputs=[
        {"namespace": "file:///etc", "name": "../../passwd"},
        {"namespace": "s3://bucket/../other", "name": "..\\..\\windows\\win.ini"}])
    status, _ = server.call("POST", LINEAGE, _raw(event), token="write")
    assert status == 201
    size = _size(server)
    graph = server.json("GET", f"/api/v1/lineage?nodeId=dataset:file:///etc:../../passwd"
                        f"&wait_for={size}", token="read")["graph"]
    assert {n["id"] for n in graph} >= {"dataset:file:///etc:../../passwd"}


def test_the_server_still_takes_good_events(server: ServerProcess) -> None:
    status, _ = server.call("POST", LINEAGE, _raw(ol_event("START", RUN)), token="write")
    assert status in (200, 201)
