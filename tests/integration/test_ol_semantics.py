"""OpenLineage semantics that do not depend on the order events arrive in: the terminal
event with the latest ``eventTime`` ends the run, a kind once known is kept, static
events (DatasetEvent, JobEvent) are taken and not recorded, and ``show`` tells a run's
engine and parent."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forebear.cli import main
from forebear.errors import InvalidInputError
from forebear.model.openlineage import static_event_type, to_entries
from forebear.store.registry import open_store
from tests.serverkit import ServerProcess, ol_client, ol_event, running_server

T = "2026-01-01T10:00:00.000000Z"
FACET = {"_producer": "https://example.com/producer", "_schemaURL": "https://example.com/f"}
JOB_TYPE = {**FACET, "processingType": "BATCH", "integration": "SPARK", "jobType": "TASK"}


def _entry(event: dict[str, Any]) -> dict[str, Any]:
    return {"type": "openlineage", "time": T, "actor": "tester", "event": event}


def _row(store: Any, run_id: str) -> dict[str, Any]:
    sql = ("SELECT status, ended_at, error, traceback, exit_code, kind, metrics "
           "FROM execution WHERE run_id = ?")
    if store.placeholder != "?":
        sql = sql.replace("?", "%s")
    status, ended, error, trace, code, kind, metrics = store.execute(sql, (run_id,))[0]
    return {"status": status, "ended_at": ended, "error": error, "traceback": trace,
            "exit_code": code, "kind": kind, "metrics": json.loads(metrics)}


def _lifecycle(run_id: str) -> list[dict[str, Any]]:
    """START, then COMPLETE at 09:06:10, then a FAIL stamped 09:06:05 (a late arrival)."""
    return [
        ol_event("START", run_id, eventTime="2026-01-01T09:00:00.000Z"),
        ol_event("COMPLETE", run_id, eventTime="2026-01-01T09:06:10.000Z",
                 run={"runId": run_id, "facets": {"forebear": {**FACET,
                                                               "metrics": {"acc": 0.9}}}}),
        ol_event("FAIL", run_id, eventTime="2026-01-01T09:06:05.000Z",
                 run={"runId": run_id, "facets": {
                     "errorMessage": {**FACET, "message": "out of memory",
                                      "programmingLanguage": "python",
                                      "stackTrace": "Traceback: ..."},
                     "forebear": {**FACET, "metrics": {"acc": 0.1, "loss": 7.0}}}}),
    ]


ORDERS = list(itertools.permutations(range(3)))


@pytest.mark.parametrize("order", ORDERS, ids=["".join(map(str, o)) for o in ORDERS])
def test_the_latest_terminal_event_ends_the_run_whatever_the_arrival_order(
    store: Any, order: tuple[int, ...]
) -> None:
    one_by_one, batched = (f"01a217de-8245-7ff6-8ad3-a684e451460{i}" for i in (1, 2))
    for index in order:
        store.append(_entry(_lifecycle(one_by_one)[index]))
    store.append_batch([_entry(_lifecycle(batched)[index]) for index in order])
    for run_id in (one_by_one, batched):
        row = _row(store, run_id)
        assert (row["status"], row["ended_at"]) == ("succeeded", "2026-01-01T09:06:10.000000Z")
        # What the losing FAIL said is not shown on a run that succeeded later.
        assert (row["error"], row["traceback"], row["metrics"]) == (None, None, {"acc": 0.9})
    assert store.verify().ok


@pytest.mark.parametrize("first", ["COMPLETE", "FAIL"])
def test_terminal_events_at_the_same_time_keep_the_first_recorded(store: Any,
                                                                  first: str) -> None:
    run_id = "01a217de-8245-7ff6-8ad3-a684e4514611"
    second = "FAIL" if first == "COMPLETE" else "COMPLETE"
    for kind in (first, second):
        store.append(_entry(ol_event(kind, run_id, eventTime="2026-01-01T09:06:10.000Z")))
    assert _row(store, run_id)["status"] == ("succeeded" if first == "COMPLETE" else "failed")
    assert store.verify().ok


def test_sdk_ends_still_set_status_error_and_exit_code(store: Any) -> None:
    run_id = "01a217de-8245-7ff6-8ad3-a684e4514621"
    store.append({"type": "execution.start", "run_id": run_id, "kind": "train", "name": "t",
                  "time": "2026-01-01T00:00:00.000000Z", "actor": "me"})
    store.append({"type": "execution.end", "run_id": run_id, "status": "failed",
                  "time": "2026-01-01T00:01:00.000000Z", "error": "boom", "traceback": "tb",
                  "exit_code": 3, "metrics": {"loss": 1.5}})
    row = _row(store, run_id)
    assert (row["status"], row["error"], row["traceback"], row["exit_code"], row["metrics"],
            row["kind"]) == ("failed", "boom", "tb", 3, {"loss": 1.5}, "train")
    assert store.verify().ok


def _typed_lifecycle(run_id: str) -> list[dict[str, Any]]:
    """START says the job is a TASK; RUNNING and COMPLETE carry no job facets."""
    start = ol_event("START", run_id, eventTime="2026-01-01T09:00:00.000Z")
    start["job"]["facets"] = {"jobType": JOB_TYPE}
    return [
        start,
        ol_event("RUNNING", run_id, eventTime="2026-01-01T09:01:00.000Z"),
        ol_event("COMPLETE", run_id, eventTime="2026-01-01T09:02:00.000Z"),
    ]


@pytest.mark.parametrize("order", ORDERS, ids=["".join(map(str, o)) for o in ORDERS])
def test_an_event_without_a_job_type_keeps_the_known_kind(store: Any,
                                                          order: tuple[int, ...]) -> None:
    one_by_one, batched, untyped = (f"01a217de-8245-7ff6-8ad3-a684e451463{i}"
                                    for i in (1, 2, 3))
    for index in order:
        store.append(_entry(_typed_lifecycle(one_by_one)[index]))
    store.append_batch([_entry(_typed_lifecycle(batched)[index]) for index in order])
    # A run no event gives a job type is a job.
    store.append_batch([_entry(ol_event(kind, untyped)) for kind in ("START", "COMPLETE")])
    assert _row(store, one_by_one)["kind"] == "task"
    assert _row(store, batched)["kind"] == "task"
    assert _row(store, untyped)["kind"] == "job"
    assert store.verify().ok


# -- static events: DatasetEvent and JobEvent ----------------------------------------------

DATASET_EVENT: dict[str, Any] = {
    "eventTime": "2026-01-01T00:00:00.000Z", "producer": "https://example.com/producer",
    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
    "dataset": {"namespace": "s3://datasets", "name": "imagenet/train", "facets": {}},
}
JOB_EVENT: dict[str, Any] = {
    "eventTime": "2026-01-01T00:00:00.000Z", "producer": "https://example.com/producer",
    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
    "job": {"namespace": "forebear-tests", "name": "train", "facets": {}},
    "inputs": [{"namespace": "s3://datasets", "name": "imagenet/train"}], "outputs": [],
}


def test_static_events_are_told_apart_and_not_mapped() -> None:
    assert static_event_type(DATASET_EVENT) == "DatasetEvent"
    assert static_event_type(JOB_EVENT) == "JobEvent"
    run_event = ol_event("START", "01a217de-8245-7ff6-8ad3-a684e4514641")
    assert static_event_type(run_event) is None
    # As Marquez, the schemaURL tells: a RunEvent that lost its run is still a RunEvent
    # (refused), and an event with a run is one whatever its URL says.
    assert static_event_type({k: v for k, v in JOB_EVENT.items() if k != "schemaURL"}) is None
    assert static_event_type({**run_event, "schemaURL": JOB_EVENT["schemaURL"]}) is None
    for event, name in ((DATASET_EVENT, "DatasetEvent"), (JOB_EVENT, "JobEvent")):
        with pytest.raises(InvalidInputError, match=f"a {name} has no run"):
            to_entries(event)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("olsem")) as found:
        yield found


def _journal_size(server: ServerProcess) -> int:
    return int(server.json("GET", "/api/v1/status", token="read")["journal_size"])


def test_the_openlineage_client_emits_static_events(server: ServerProcess) -> None:
    from openlineage.client.event_v2 import DatasetEvent, Job, JobEvent, StaticDataset

    client = ol_client(server)
    before = _journal_size(server)
    client.emit(DatasetEvent(eventTime="2026-01-01T00:00:00.000Z",
                             producer="https://example.com/tests",
                             dataset=StaticDataset(namespace="s3://datasets", name="imagenet")))
    client.emit(JobEvent(eventTime="2026-01-01T00:00:00.000Z",
                         producer="https://example.com/tests",
                         job=Job(namespace="forebear-tests", name="train")))
    assert _journal_size(server) == before


@pytest.mark.parametrize("event", [DATASET_EVENT, JOB_EVENT], ids=["dataset", "job"])
def test_a_static_event_is_answered_as_not_recorded(server: ServerProcess,
                                                    event: dict[str, Any]) -> None:
    before = _journal_size(server)
    status, body = server.call("POST", "/api/v1/lineage", json.dumps(event).encode(),
                               token="write")
    assert status == 202
    answer = json.loads(body)
    assert answer["recorded"] is False
    assert answer["event_type"] == static_event_type(event)
    assert "runs" in answer["detail"]
    assert _journal_size(server) == before


def test_a_malformed_static_event_is_refused(server: ServerProcess) -> None:
    bad = {**DATASET_EVENT, "dataset": {"namespace": "s3://datasets"}}  # no name
    status, body = server.call("POST", "/api/v1/lineage", json.dumps(bad).encode(),
                               token="write")
    assert status == 400, body


# -- show: engine and parent -----------------------------------------------------------------

PARENT, CHILD = "01a217de-8245-7ff6-8ad3-a684e4514651", "01a217de-8245-7ff6-8ad3-a684e4514652"


def test_show_prints_the_engine_and_the_parent_run(
    sqlite_store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = {**FACET, "version": "3.5.1", "name": "spark",
              "openlineageAdapterVersion": "1.20.0"}
    parent = {**FACET, "run": {"runId": PARENT}, "job": {"namespace": "ns", "name": "nightly"}}
    store = open_store(str(sqlite_store_dir))
    store.append_batch([
        _entry(ol_event("START", PARENT, job="nightly")),
        _entry(ol_event("COMPLETE", CHILD, job="nightly.aggregate",
                        run={"runId": CHILD, "facets": {"processing_engine": engine,
                                                        "parent": parent}})),
    ])
    store.close()
    assert main(["show", CHILD]) == 0
    human = capsys.readouterr().out
    assert "python ?" not in human
    assert "spark 3.5.1" in human
    [line] = [line for line in human.splitlines() if PARENT in line]
    assert "parent run" in line and "nightly" in line


def test_an_event_log_with_static_events_imports_its_runs_and_counts_the_rest(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A client's file transport writes every event it emits: one DatasetEvent refused the
    # whole log, all or nothing.
    from forebear.store.registry import init_store
    from tests.clikit import cli_fails, cli_ok

    project = tmp_path / "project"
    project.mkdir()
    init_store(project)
    run_id = "01a217de-8245-7ff6-8ad3-a684e45146c1"
    log = tmp_path / "events.jsonl"
    events = [DATASET_EVENT, ol_event("COMPLETE", run_id, namespace="ns"), JOB_EVENT]
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    store = f"sqlite:///{project / '.forebear' / 'forebear.db'}"
    report = cli_ok(capsys, "--store", store, "import", "openlineage", str(log), "--json")
    assert (report["read"], report["imported"], report["static"], report["known"]) == (3, 1, 2, 0)
    shown = cli_ok(capsys, "--store", store, "show", run_id, "--json")
    assert shown["id"] == run_id or shown.get("run_id") == run_id
    broken = {**DATASET_EVENT, "dataset": {"name": "no namespace"}}
    log.write_text(json.dumps(broken) + "\n")
    code, message = cli_fails(capsys, "--store", store, "import", "openlineage", str(log))
    assert code == 1 and "events.jsonl:1: not an OpenLineage DatasetEvent" in message
