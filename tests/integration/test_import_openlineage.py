"""``forebear import openlineage``: lineage rebuilt after the fact from OpenLineage event
files, written by the real ``openlineage-python`` client's file transport and by
``forebear export``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from forebear.store.registry import init_store, open_store
from tests.clikit import cli_fails, cli_ok
from tests.integration.test_cli_export import TUNED, _pipeline, _repository, _skeleton

RUN_A, RUN_B = "01a217de-8245-7ff6-8ad3-000000000a01", "01a217de-8245-7ff6-8ad3-000000000b02"


def _emit_to_file(path: Path, *, append: bool = True) -> None:
    """Two jobs through the OpenLineage client's file transport, as an integration logs
    them: train reads a table and writes a model; evaluate reads the model."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import (
        InputDataset,
        Job,
        OutputDataset,
        Run,
        RunEvent,
        RunState,
    )
    from openlineage.client.transport.file import FileConfig, FileTransport

    client = OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=str(path),
                                                                  append=append)))
    table = InputDataset(namespace="postgres://warehouse:5432", name="public.transactions")
    model = OutputDataset(namespace="s3://models", name="fraud/v3")
    for run_id, job, inputs, outputs in (
        (RUN_A, "train_fraud", [table], [model]),
        (RUN_B, "evaluate_fraud", [InputDataset(namespace="s3://models", name="fraud/v3")], []),
    ):
        for state, time in ((RunState.START, "2026-01-01T00:00:00.000Z"),
                            (RunState.COMPLETE, "2026-01-01T01:00:00.000Z")):
            client.emit(RunEvent(eventType=state, eventTime=time, run=Run(runId=run_id),
                                 job=Job(namespace="airflow", name=job),
                                 producer="https://example.com/airflow", inputs=inputs,
                                 outputs=outputs))


def test_a_clients_event_log_becomes_lineage_once(
        project_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    init_store(project_dir)
    log = tmp_path / "events.jsonl"
    _emit_to_file(log)
    assert len(log.read_text().splitlines()) == 4
    report = cli_ok(capsys, "import", "openlineage", str(log), "--json")
    assert report == {"read": 4, "imported": 4, "known": 0, "static": 0, "schema_checked": True}
    runs = {r["run_id"]: r for r in cli_ok(capsys, "log", "--json")}
    assert {r["name"] for r in runs.values()} == {"train_fraud", "evaluate_fraud"}
    assert {r["status"] for r in runs.values()} == {"succeeded"}
    # evaluate used what train made: the model, known by namespace and name
    lineage = cli_ok(capsys, "upstream", RUN_B, "--json")
    assert {n["id"] for n in lineage["nodes"]} >= {
        "dataset:s3://models:fraud/v3", RUN_A, "dataset:postgres://warehouse:5432:public.transactions"}
    size = open_store(str(project_dir)).size()
    again = cli_ok(capsys, "import", "openlineage", str(log), "--json")
    assert (again["imported"], again["known"]) == (0, 4)
    assert open_store(str(project_dir)).size() == size
    # one file per event (the transport's default) and stdin work alike
    each = tmp_path / "each"
    each.mkdir()
    _emit_to_file(each / "event", append=False)
    files = sorted(str(p) for p in each.iterdir())
    assert len(files) == 4
    assert cli_ok(capsys, "import", "openlineage", *files, "--json")["known"] == 4
    assert cli_ok(capsys, "verify", "--json")["ok"]


def test_an_export_imported_elsewhere_is_the_same_lineage(
        project_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _repository(project_dir)
    init_store(project_dir)
    _pipeline(project_dir)
    capsys.readouterr()
    exported = tmp_path / "events.json"
    cli_ok(capsys, "export", TUNED, "--format", "openlineage", "--output", str(exported))
    here = cli_ok(capsys, "upstream", TUNED, "--json")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    init_store(elsewhere)
    monkeypatch.chdir(elsewhere)
    report = cli_ok(capsys, "import", "openlineage", str(exported), "--json")
    assert report["imported"] == report["read"] == 4
    there = cli_ok(capsys, "upstream", str(project_dir / TUNED), "--json")
    kinds = {"model", "data", "train", "fine_tune"}
    assert _skeleton(there, kinds) == _skeleton(here, kinds)


def test_one_bad_event_writes_nothing_and_says_where(
        project_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    init_store(project_dir)
    log = tmp_path / "events.jsonl"
    _emit_to_file(log)
    lines = log.read_text().splitlines()
    broken = json.loads(lines[2])
    del broken["job"]
    first = lines[0]
    cases = {
        "not-json.jsonl": "\n".join([*lines[:2], "{not json", *lines[3:]]),
        "no-job.jsonl": "\n".join([*lines[:2], json.dumps(broken), *lines[3:]]),
        "not-object.json": json.dumps([json.loads(lines[0]), 42]),
        # As strict as the server with a request body: a duplicate key (canonical JSON
        # would keep one), NaN, a lone surrogate, nesting 100,000 deep (a traceback).
        "duplicate.jsonl": "\n".join([*lines[:1], first[:-1] + ', "eventType": "FAIL"}']),
        "nan.json": "[" + first[:-1] + ', "x": NaN}]',
        "surrogate.jsonl": first[:-1] + ', "x": "\\ud800"}',
        "deep.jsonl": '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}",
    }
    expected = {"not-json.jsonl": "not-json.jsonl:3: invalid JSON",
                "no-job.jsonl": "no-job.jsonl:3:", "not-object.json": "item 2: an Open",
                "duplicate.jsonl": "duplicate.jsonl:2: duplicate JSON object key "
                "'eventType'", "nan.json": "NaN is not a JSON number",
                "surrogate.jsonl": "surrogate.jsonl:1: string contains a lone UTF-16 "
                "surrogate", "deep.jsonl": "deep.jsonl:1: JSON is nested too deeply"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        code, err = cli_fails(capsys, "import", "openlineage", str(tmp_path / name))
        assert code == 1 and expected[name] in err, err
    (tmp_path / "latin1.jsonl").write_bytes(b"\xff\xfe")
    code, err = cli_fails(capsys, "import", "openlineage", str(tmp_path / "latin1.jsonl"))
    assert code == 2 and "UTF-8" in err
    code, err = cli_fails(capsys, "import", "openlineage", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "cannot read" in err
    code, err = cli_fails(capsys, "import", "openlineage", str(log), "--store",
                          "http://127.0.0.1:9")
    assert code == 2 and "not through a server" in err
    assert open_store(str(project_dir)).size() == 0
    assert os.listdir(project_dir / ".forebear")


def test_a_postgresql_store_imports_the_same_way(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.pg import cli_store

    monkeypatch.chdir(tmp_path)  # where the signing key is
    with cli_store(tmp_path) as url:
        log = tmp_path / "events.jsonl"
        _emit_to_file(log)
        first = cli_ok(capsys, "import", "openlineage", str(log), "--store", url, "--json")
        again = cli_ok(capsys, "import", "openlineage", str(log), "--store", url, "--json")
        assert (first["imported"], again["imported"], again["known"]) == (4, 0, 4)
        lineage = cli_ok(capsys, "upstream", RUN_B, "--store", url, "--json")
        assert RUN_A in {n["id"] for n in lineage["nodes"]}
        assert cli_ok(capsys, "verify", "--store", url, "--json")["ok"]
