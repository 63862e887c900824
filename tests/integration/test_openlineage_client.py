"""The real ``openlineage-python`` client, configured as its users configure it, against a
real ``forebear serve``; the lineage is then read through the API and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serverkit import ServerProcess, clean_env, cli, ol_client, running_server

pytest.importorskip("openlineage.client")

NAMESPACE = "forebear-tests"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("ol")) as found:
        yield found


def _emit_with_http_config(server: ServerProcess, run_id: str) -> None:
    """START and COMPLETE through ``HttpConfig`` + ``ApiKeyTokenProvider`` (in-process)."""
    from openlineage.client.event_v2 import (
        InputDataset,
        Job,
        OutputDataset,
        Run,
        RunEvent,
        RunState,
    )
    client = ol_client(server)
    job = Job(namespace=NAMESPACE, name="train_resnet")
    inputs = [InputDataset(namespace="s3://datasets", name="imagenet/train")]
    outputs = [OutputDataset(namespace="s3://models", name="resnet50")]
    for state, time in ((RunState.START, "2026-01-01T00:00:00.000Z"),
                        (RunState.COMPLETE, "2026-01-01T01:00:00.000Z")):
        client.emit(RunEvent(eventType=state, eventTime=time, run=Run(runId=run_id), job=job,
                             producer="https://example.com/tests", inputs=inputs,
                             outputs=outputs))


EMIT_FROM_ENVIRONMENT = textwrap.dedent("""
    import sys
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent
    from openlineage.client.event_v2 import RunState

    client = OpenLineageClient()  # OPENLINEAGE_URL and OPENLINEAGE_API_KEY
    job = Job(namespace=sys.argv[2], name="evaluate")
    for state in (RunState.START, RunState.COMPLETE):
        client.emit(RunEvent(eventType=state, eventTime="2026-01-01T02:00:00.000Z",
                             run=Run(runId=sys.argv[1]), job=job,
                             producer="https://example.com/tests",
                             inputs=[InputDataset(namespace="s3://models", name="resnet50")],
                             outputs=[OutputDataset(namespace="s3://reports",
                                                    name="eval.json")]))
""")


def _emit_from_environment(server: ServerProcess, run_id: str) -> None:
    """START and COMPLETE from a separate program configured by OPENLINEAGE_* variables."""
    env = clean_env(OPENLINEAGE_URL=server.url, OPENLINEAGE_API_KEY=server.tokens["write"])
    subprocess.run([sys.executable, "-c", EMIT_FROM_ENVIRONMENT, run_id, NAMESPACE],
                   env=env, check=True, capture_output=True, timeout=120)


def _query(server: ServerProcess, *args: str) -> Any:
    env = clean_env(FOREBEAR_TOKEN=server.tokens["read"])
    answer = cli(*args, "--store", server.url, "--json", env=env, check=False)
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)


@pytest.fixture(scope="module")
def emitted(server: ServerProcess) -> dict[str, str]:
    train, evaluate = "01a217de-8245-7ff6-8ad3-a684e45146a1", "01a217de-8245-7ff6-8ad3-a684e45146a2"
    _emit_with_http_config(server, train)
    _emit_from_environment(server, evaluate)
    return {"train": train, "evaluate": evaluate}


def test_every_event_is_journaled_once(server: ServerProcess, emitted: dict[str, str]) -> None:
    records = server.json("GET", "/api/v1/journal", token="read")
    events = [json.loads(r["canonical"])["event"] for r in records]
    assert sorted((e["run"]["runId"], e["eventType"]) for e in events) == sorted(
        (run, kind) for run in emitted.values() for kind in ("START", "COMPLETE"))
    assert all(e["producer"] == "https://example.com/tests" for e in events)


def test_lineage_in_marquez_shape(server: ServerProcess, emitted: dict[str, str]) -> None:
    size = server.json("GET", "/api/v1/status", token="read")["journal_size"]
    graph = server.json(
        "GET", f"/api/v1/lineage?nodeId=dataset:s3://models:resnet50&depth=20&wait_for={size}",
        token="read")["graph"]
    nodes = {node["id"]: node for node in graph}
    assert set(nodes) == {
        f"job:{NAMESPACE}:train_resnet", f"job:{NAMESPACE}:evaluate",
        "dataset:s3://datasets:imagenet/train", "dataset:s3://models:resnet50",
        "dataset:s3://reports:eval.json",
    }
    model = nodes["dataset:s3://models:resnet50"]
    assert model["inEdges"] == [{"origin": f"job:{NAMESPACE}:train_resnet",
                                 "destination": "dataset:s3://models:resnet50"}]
    assert model["outEdges"] == [{"origin": "dataset:s3://models:resnet50",
                                  "destination": f"job:{NAMESPACE}:evaluate"}]
    run = nodes[f"job:{NAMESPACE}:train_resnet"]["data"]["latestRun"]
    assert (run["id"], run["state"]) == (emitted["train"], "COMPLETED")


def test_lineage_through_the_cli_against_the_server(server: ServerProcess,
                                                    emitted: dict[str, str]) -> None:
    up = _query(server, "upstream", "dataset:s3://reports:eval.json")
    ids = {node["id"] for node in up["nodes"]}
    assert ids == {"dataset:s3://reports:eval.json", emitted["evaluate"],
                   "dataset:s3://models:resnet50", emitted["train"],
                   "dataset:s3://datasets:imagenet/train"}
    down = _query(server, "downstream", "dataset:s3://datasets:imagenet/train", "--depth", "2")
    assert {node["id"] for node in down["nodes"]} == {
        "dataset:s3://datasets:imagenet/train", emitted["train"], "dataset:s3://models:resnet50"}
    runs = _query(server, "log")
    assert {(r["run_id"], r["status"]) for r in runs} == {
        (emitted["train"], "succeeded"), (emitted["evaluate"], "succeeded")}
    shown = _query(server, "show", emitted["train"])
    assert shown["node"]["name"] == "train_resnet"


def test_the_cli_refuses_a_wrong_token(server: ServerProcess, tmp_path: Path) -> None:
    env = clean_env(FOREBEAR_TOKEN="fbt_000000000000_wrong")
    answer = cli("log", "--store", server.url, env=env, check=False, cwd=tmp_path)
    assert answer.returncode == 1
    assert "unknown, revoked or expired" in answer.stderr


def test_the_journal_commands_work_against_the_server(server: ServerProcess,
                                                      emitted: dict[str, str]) -> None:
    env = clean_env(FOREBEAR_TOKEN=server.tokens["admin"])
    records = json.loads(cli("journal", "--store", server.url, "--json", env=env).stdout)
    assert [r["seq"] for r in records] == [0, 1, 2, 3]
    report = json.loads(cli("verify", "--store", server.url, "--json", env=env).stdout)
    assert report["ok"] is True and report["entries"] == 4
    checkpoint = json.loads(cli("checkpoint", "--store", server.url, "--json", env=env).stdout)
    assert checkpoint["size"] == 4 and checkpoint["key"]
