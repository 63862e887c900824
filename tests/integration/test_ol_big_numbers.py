"""OpenLineage events whose facets hold integers beyond ±(2**53 - 1) (a Spark/Iceberg
``snapshotId``) are accepted, over HTTP and from event logs, the integers kept as their
exact decimal text; everything else stays as strict. And a large request body is parsed
off the event loop, so that a few of them cannot stall every other request."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forebear._json import strict_loads
from forebear.server import bodies
from forebear.server.errors import HttpError
from forebear.store.registry import init_store, open_store
from tests.clikit import cli_fails, cli_ok
from tests.serverkit import ServerProcess, ol_event, running_server

SNAPSHOT = 4236560510546011815  # a real Iceberg snapshot id: 62 bits
NEGATIVE = -(2**63)
RUN = "01a217de-8245-7ff6-8ad3-00000000b16a"
TABLE = {"namespace": "iceberg://warehouse", "name": "sales.orders"}
OUTPUT = {"namespace": "s3://reports", "name": "daily.parquet"}


def _iceberg_event(kind: str, run_id: str = RUN) -> dict[str, Any]:
    """A Spark RunEvent reading an Iceberg table, with the scan report Spark attaches."""
    scan = {
        "_producer": "https://github.com/OpenLineage/OpenLineage/tree/1.30.0/integration/spark",
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-0/"
        "IcebergScanReportInputDatasetFacet.json",
        "snapshotId": SNAPSHOT,
        "filterDescription": "",
        "schemaId": 0,
        "scanMetrics": {"totalPlanningDuration": 12, "totalFileSizeInBytes": 2**63 - 1,
                        "lowWatermark": NEGATIVE},
    }
    return ol_event(kind, run_id, namespace="spark", job="daily_orders",
                    inputs=[{**TABLE, "inputFacets": {"icebergScanReport": scan}}],
                    outputs=[OUTPUT])


def _line(event: dict[str, Any]) -> str:
    # json.dumps writes Python ints as JSON numbers of any size, as the JVM writes longs.
    text = json.dumps(event, separators=(",", ":"))
    assert f'"snapshotId":{SNAPSHOT},' in text
    return text


def _scan_facet(event: dict[str, Any]) -> dict[str, Any]:
    facet: dict[str, Any] = event["inputs"][0]["inputFacets"]["icebergScanReport"]
    return facet


def _assert_kept_as_text(event: dict[str, Any], canonical: str) -> None:
    facet = _scan_facet(event)
    assert facet["snapshotId"] == str(SNAPSHOT)
    assert facet["scanMetrics"] == {"totalPlanningDuration": 12,
                                    "totalFileSizeInBytes": str(2**63 - 1),
                                    "lowWatermark": str(NEGATIVE)}
    assert f'"snapshotId":"{SNAPSHOT}"' in canonical


# -- over HTTP ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("bignum")) as found:
        yield found


def test_the_server_keeps_big_integers_of_an_event_as_text(server: ServerProcess) -> None:
    for kind in ("START", "COMPLETE"):
        status, answer = server.call("POST", "/api/v1/lineage",
                                     _line(_iceberg_event(kind)).encode(), token="write")
        assert status == 201, answer
    # The same event again is recognised: the text form has one digest.
    status, _ = server.call("POST", "/api/v1/lineage",
                            _line(_iceberg_event("COMPLETE")).encode(), token="write")
    assert status == 200
    records = server.json("GET", "/api/v1/journal", token="read")
    assert len(records) == 2
    for record in records:
        _assert_kept_as_text(json.loads(record["canonical"])["event"], record["canonical"])
    size = server.json("GET", "/api/v1/status", token="read")["journal_size"]
    graph = server.json("GET", "/api/v1/lineage?nodeId=dataset:iceberg://warehouse:"
                        f"sales.orders&depth=5&wait_for={size}", token="read")["graph"]
    nodes = {node["id"]: node for node in graph}
    assert nodes["dataset:iceberg://warehouse:sales.orders"]["outEdges"] == [
        {"origin": "dataset:iceberg://warehouse:sales.orders",
         "destination": "job:spark:daily_orders"}]
    assert "dataset:s3://reports:daily.parquet" in nodes
    run = nodes["job:spark:daily_orders"]["data"]["latestRun"]
    assert (run["id"], run["state"]) == (RUN, "COMPLETED")


@pytest.mark.parametrize(("spelling", "message"), [
    ("1e999", "does not fit a double"),
    ("NaN", "NaN is not a JSON number"),
    ("Infinity", "Infinity is not a JSON number"),
], ids=["overflow", "nan", "infinity"])
def test_the_server_still_refuses_what_no_double_holds(server: ServerProcess, spelling: str,
                                                       message: str) -> None:
    body = _line(_iceberg_event("RUNNING")).replace('"schemaId":0', f'"schemaId":{spelling}')
    status, answer = server.call("POST", "/api/v1/lineage", body.encode(), token="write")
    assert status == 400
    assert message in json.loads(answer)["error"]["message"]


def test_the_server_still_refuses_duplicate_keys_in_an_event(server: ServerProcess) -> None:
    body = _line(_iceberg_event("RUNNING")).replace('"schemaId":0', '"schemaId":0,"schemaId":1')
    status, answer = server.call("POST", "/api/v1/lineage", body.encode(), token="write")
    assert status == 400
    assert "duplicate JSON object key 'schemaId'" in json.loads(answer)["error"]["message"]


def test_forebears_own_routes_still_refuse_big_integers(server: ServerProcess) -> None:
    entry = {"type": "openlineage", "time": "2026-01-01T00:00:00Z",
             "event": _iceberg_event("OTHER")}
    status, answer = server.call("POST", "/api/v1/events",
                                 json.dumps([entry]).encode(), token="write")
    assert status == 400
    assert f"integer {SNAPSHOT} is outside" in json.loads(answer)["error"]["message"]


# -- from an event log ----------------------------------------------------------------


def test_an_event_log_with_big_integers_is_imported(
        project_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    init_store(project_dir)
    log = tmp_path / "spark.jsonl"
    log.write_text("".join(_line(_iceberg_event(kind)) + "\n" for kind in ("START", "COMPLETE")))
    report = cli_ok(capsys, "import", "openlineage", str(log), "--json")
    assert (report["read"], report["imported"]) == (2, 2)
    records = cli_ok(capsys, "journal", "--json")
    assert len(records) == 2
    for record in records:
        _assert_kept_as_text(json.loads(record["canonical"])["event"], record["canonical"])
    lineage = cli_ok(capsys, "upstream", "dataset:s3://reports:daily.parquet", "--json")
    assert {node["id"] for node in lineage["nodes"]} == {
        "dataset:s3://reports:daily.parquet", RUN, "dataset:iceberg://warehouse:sales.orders"}
    # Read again, the events have the same digests: nothing is journaled twice.
    again = cli_ok(capsys, "import", "openlineage", str(log), "--json")
    assert (again["imported"], again["known"]) == (0, 2)
    # An array (forebear export's form) reads the same way.
    array = tmp_path / "events.json"
    array.write_text(json.dumps([_iceberg_event("START"), _iceberg_event("COMPLETE")]))
    assert cli_ok(capsys, "import", "openlineage", str(array), "--json")["known"] == 2
    assert cli_ok(capsys, "verify", "--json")["ok"]


@pytest.mark.parametrize(("spelling", "message"), [
    ("1e999", "number 1e999 does not fit a double"),
    ("NaN", "NaN is not a JSON number"),
], ids=["overflow", "nan"])
def test_an_event_log_with_a_non_number_still_imports_nothing(
        project_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        spelling: str, message: str) -> None:
    store_dir = init_store(project_dir)
    bad = _line(_iceberg_event("COMPLETE")).replace('"schemaId":0', f'"schemaId":{spelling}')
    log = tmp_path / "spark.jsonl"
    log.write_text(_line(_iceberg_event("START")) + "\n" + bad + "\n")
    code, err = cli_fails(capsys, "import", "openlineage", str(log))
    assert code != 0
    assert f"spark.jsonl:2: {message}" in err
    assert open_store(str(store_dir)).size() == 0


# -- large bodies off the event loop --------------------------------------------------


def _parse_on(body: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, bool]:
    """What ``parse_json_async`` makes of ``body``, and whether it parsed on the loop's
    thread."""
    threads: list[int] = []

    def spy(text: str, **options: Any) -> Any:
        threads.append(threading.get_ident())
        return strict_loads(text, **options)

    monkeypatch.setattr("forebear.server.bodies.strict_loads", spy)

    async def parse() -> tuple[Any, int]:
        return await bodies.parse_json_async(body), threading.get_ident()

    value, loop_thread = asyncio.run(parse())
    assert len(threads) == 1
    return value, threads[0] == loop_thread


def test_small_bodies_are_parsed_inline_large_ones_in_a_thread(
        monkeypatch: pytest.MonkeyPatch) -> None:
    small = b"[" + b",".join([b"{}"] * 1000) + b"]"
    large = b"[" + b",".join([b"{}"] * (bodies.INLINE_PARSE_MAX // 3 + 1)) + b"]"
    assert len(small) <= bodies.INLINE_PARSE_MAX < len(large)
    assert _parse_on(small, monkeypatch) == ([{}] * 1000, True)
    value, inline = _parse_on(large, monkeypatch)
    assert (len(value), inline) == (bodies.INLINE_PARSE_MAX // 3 + 1, False)
    # What the thread refuses comes back as the same 400.
    with pytest.raises(HttpError) as refused:
        _parse_on(large[:-1] + b",NaN]", monkeypatch)
    assert refused.value.status == 400


def _post(server: ServerProcess, body: bytes, statuses: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    try:
        conn.request("POST", "/api/v1/lineage", body=body, headers={
            "Authorization": f"Bearer {server.tokens['write']}",
            "Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        statuses.append(response.status)
    finally:
        conn.close()


def test_large_bodies_being_parsed_do_not_stall_other_requests(server: ServerProcess) -> None:
    # Three 8 MiB bodies of empty objects: about two seconds' parsing each. Parsed on the
    # event loop, they kept /health waiting for all of them (5 s on a 2-core machine);
    # parsed in threads, /health waits only for its turns at the GIL (0.1-0.3 s there,
    # at most 0.6 s on one core). The server holds some 500 MB while they are parsed.
    body = b"[" + b",".join([b"{}"] * (8 * bodies.MIB // 3)) + b"]"
    statuses: list[int] = []
    posters = [threading.Thread(target=_post, args=(server, body, statuses))
               for _ in range(3)]
    started = time.monotonic()
    for poster in posters:
        poster.start()
    waits: list[float] = []
    while any(poster.is_alive() for poster in posters):
        asked = time.monotonic()
        status, _ = server.call("GET", "/health", token=None)
        waits.append(time.monotonic() - asked)
        assert status == 200
        time.sleep(0.05)
    for poster in posters:
        poster.join()
    busy = time.monotonic() - started
    assert statuses == [400, 400, 400]  # a list is not one RunEvent
    assert len(waits) >= 2, f"the bodies took only {busy:.2f}s"
    assert max(waits) < 1.5, (f"/health waited {max(waits):.2f}s ({len(waits)} asked in "
                              f"{busy:.2f}s)")
