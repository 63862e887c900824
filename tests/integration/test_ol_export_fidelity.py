"""``forebear export --format openlineage`` says of each run what the store knows of it.

An integrator's pipeline, received as OpenLineage events: a scheduler run (``nightly``)
whose task ``prep_features`` runs on Spark and turns raw tables into a feature set with
a digest version, which ``train_model`` (one of several inputs) turns into a model and a
report. Exported one way or the other and imported into a fresh store, each run comes
back whole: all its inputs and outputs (not only those in the exported closure), its
datasets under their own namespaces, its engine, and its parent named by the parent's
own job. A run recorded through the SDK keeps its code and environment records as well.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from forebear.store.registry import init_store
from tests.clikit import cli_ok

FACET = {"_producer": "https://example.com/producer", "_schemaURL": "https://example.com/f"}
NIGHTLY = "01a217de-8245-7ff6-8ad3-a684e4514a01"
PREP = "01a217de-8245-7ff6-8ad3-a684e4514a02"
TRAIN = "01a217de-8245-7ff6-8ad3-a684e4514a03"
ORPHAN = "01a217de-8245-7ff6-8ad3-a684e4514a04"
GONE = "01a217de-8245-7ff6-8ad3-a684e45149ff"  # a parent run no event ever described


def _digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


FEATURES, MODEL, REPORT = _digest("features"), _digest("model"), _digest("report")
RAW = [f"raw/table_{i:02d}" for i in range(6)]
ENGINE = {**FACET, "name": "spark", "version": "3.5.1", "openlineageAdapterVersion": "1.20.0"}


def _dataset(namespace: str, name: str, version: str | None = None) -> dict[str, Any]:
    facets = {"version": {**FACET, "datasetVersion": version}} if version else {}
    return {"namespace": namespace, "name": name, "facets": facets}


def _run(run_id: str, namespace: str, job: str, inputs: list[dict[str, Any]],
         outputs: list[dict[str, Any]], facets: dict[str, Any] | None = None,
         job_facets: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    common = {"run": {"runId": run_id, "facets": facets or {}},
              "job": {"namespace": namespace, "name": job, "facets": job_facets or {}},
              "producer": "https://example.com/producer",
              "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"}
    index = int(run_id[-1])
    return [{**common, "eventType": "START", "eventTime": f"2026-01-01T0{index}:00:00.000Z",
             "inputs": inputs, "outputs": []},
            {**common, "eventType": "COMPLETE", "eventTime": f"2026-01-01T0{index}:30:00.000Z",
             "inputs": inputs, "outputs": outputs}]


def _parent(run_id: str, namespace: str, job: str) -> dict[str, Any]:
    return {**FACET, "run": {"runId": run_id}, "job": {"namespace": namespace, "name": job}}


def _events() -> list[dict[str, Any]]:
    code = {**FACET, "type": "git", "url": "https://github.com/acme/features",
            "version": "0123456789abcdef", "branch": "main"}
    return [
        *_run(NIGHTLY, "airflow", "nightly", [], []),
        *_run(PREP, "spark-jobs", "prep_features",
              [_dataset("s3://lake", name) for name in RAW[:2]],
              [_dataset("s3://features", "fs/customer_features", FEATURES)],
              facets={"processing_engine": ENGINE,
                      "parent": _parent(NIGHTLY, "airflow", "nightly")},
              job_facets={"sourceCodeLocation": code}),
        *_run(TRAIN, "ml", "train_model",
              [_dataset("s3://features", "fs/customer_features", FEATURES),
               *(_dataset("s3://lake", name) for name in RAW[2:])],
              [_dataset("s3://models", "churn/v1", MODEL),
               _dataset("s3://reports", "churn/v1.html", REPORT)]),
        *_run(ORPHAN, "ml", "orphan_task", [_dataset("s3://lake", RAW[0])], [],
              facets={"parent": _parent(GONE, "airflow", "gone_dag")}),
    ]


def _store_url(root: Path) -> str:
    return f"sqlite:///{root / '.forebear' / 'forebear.db'}"


@pytest.fixture
def source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A store that holds the integrator's events."""
    root = tmp_path / "source"
    root.mkdir()
    init_store(root)
    log = tmp_path / "received.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in _events()))
    cli_ok(capsys, "--store", _store_url(root), "import", "openlineage", str(log), "--json")
    return _store_url(root)


def _export(capsys: pytest.CaptureFixture[str], store: str, ref: str,
            direction: str = "upstream") -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = cli_ok(capsys, "--store", store, "export", ref, "--format",
                                          "openlineage", "--direction", direction, "--json")
    return events


def _reimport(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str,
              *exports: list[dict[str, Any]]) -> str:
    """A fresh store holding ``exports``, imported through the CLI."""
    root = tmp_path / name
    root.mkdir()
    init_store(root)
    for number, events in enumerate(exports):
        path = tmp_path / f"{name}-{number}.json"
        path.write_text(json.dumps(events))
        cli_ok(capsys, "--store", _store_url(root), "import", "openlineage", str(path),
               "--json")
    return _store_url(root)


def _terminal(events: list[dict[str, Any]], run_id: str) -> dict[str, Any]:
    (event,) = [e for e in events if e["run"]["runId"] == run_id and e["eventType"] != "START"]
    return event


def _role(dataset: dict[str, Any]) -> str:
    holder = dataset.get("inputFacets") or dataset.get("outputFacets") or {}
    return str(holder["forebear"]["role"])


def _names(datasets: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """The data a run read or wrote (its code and environment anchors left out)."""
    return {(d["namespace"], d["name"]) for d in datasets
            if _role(d) not in ("code", "environment")}


def _edges(closure: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(e["source"], e["target"], e["role"]) for e in closure["edges"]}


def _show(capsys: pytest.CaptureFixture[str], store: str, ref: str) -> dict[str, Any]:
    shown: dict[str, Any] = cli_ok(capsys, "--store", store, "show", ref, "--json")
    return shown


# -- 1: each run's events carry all its inputs and outputs ----------------------------------

def test_every_exported_run_carries_all_its_inputs_and_outputs(
        source: str, capsys: pytest.CaptureFixture[str]) -> None:
    train_inputs = {("s3://features", "fs/customer_features"),
                    *(("s3://lake", name) for name in RAW[2:])}
    train_outputs = {("s3://models", "churn/v1"), ("s3://reports", "churn/v1.html")}
    # Upstream of the run itself: its outputs are outside that closure.
    train = _terminal(_export(capsys, source, TRAIN), TRAIN)
    assert _names(train["outputs"]) == train_outputs
    # Upstream of the model: the report made beside it is too.
    up = _export(capsys, source, MODEL)
    assert _names(_terminal(up, TRAIN)["outputs"]) == train_outputs
    # Downstream of one raw table: every run keeps every input.
    down = _export(capsys, source, "dataset:s3://lake:" + RAW[0], "downstream")
    assert {e["run"]["runId"] for e in down} == {PREP, TRAIN, ORPHAN}
    assert _names(_terminal(down, TRAIN)["inputs"]) == train_inputs
    assert _names(_terminal(down, PREP)["inputs"]) == {("s3://lake", n) for n in RAW[:2]}
    # Downstream of a run: the root run's inputs too.
    root = _terminal(_export(capsys, source, PREP, "downstream"), PREP)
    assert _names(root["inputs"]) == {("s3://lake", n) for n in RAW[:2]}


def test_exports_imported_into_a_fresh_store_give_back_every_edge(
        source: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    exports = [_export(capsys, source, TRAIN),
               _export(capsys, source, "dataset:s3://lake:" + RAW[0], "downstream")]
    copy = _reimport(capsys, tmp_path, "copy", *exports)
    for ref in (MODEL, REPORT, PREP, TRAIN):
        here = cli_ok(capsys, "--store", source, "upstream", ref, "--json")
        there = cli_ok(capsys, "--store", copy, "upstream", ref, "--json")
        assert _edges(there) == _edges(here), ref
    for ref in (FEATURES, "dataset:s3://lake:" + RAW[3]):
        here = cli_ok(capsys, "--store", source, "downstream", ref, "--json")
        there = cli_ok(capsys, "--store", copy, "downstream", ref, "--json")
        assert _edges(there) == _edges(here), ref


# -- 2: a dataset keeps its namespace --------------------------------------------------------

def test_a_dataset_with_a_digest_keeps_the_namespace_it_came_with(
        source: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    events = _export(capsys, source, MODEL)
    (features,) = [d for d in _terminal(events, PREP)["outputs"]]
    assert (features["namespace"], features["name"]) == ("s3://features",
                                                           "fs/customer_features")
    assert features["facets"]["version"]["datasetVersion"] == FEATURES
    (model,) = [d for d in _terminal(events, TRAIN)["outputs"] if d["name"] == "churn/v1"]
    assert model["namespace"] == "s3://models"
    copy = _reimport(capsys, tmp_path, "copy", events)
    for ref in (FEATURES, MODEL):
        assert _show(capsys, copy, ref)["meta"] == _show(capsys, source, ref)["meta"]


# -- 3: the engine goes out as processing_engine and comes back as the environment ----------

def test_a_spark_runs_engine_is_the_processing_engine_facet_and_comes_back(
        source: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    events = _export(capsys, source, MODEL)
    for event in [e for e in events if e["run"]["runId"] == PREP]:
        engine = event["run"]["facets"]["processing_engine"]
        assert (engine["name"], engine["version"]) == ("spark", "3.5.1")
        assert engine["openlineageAdapterVersion"] == "1.20.0"
    before = _show(capsys, source, PREP)
    assert before["environment"]["engine"] == "spark"
    # The anchor an environment input stands for is the run's own environment node.
    (anchor,) = [d for d in _terminal(events, PREP)["inputs"] if _role(d) == "environment"]
    assert anchor["facets"]["forebear"]["digest"] == before["environment"]["digest"]
    copy = _reimport(capsys, tmp_path, "copy", events)
    after = _show(capsys, copy, PREP)
    assert after["environment"] == before["environment"]
    assert after["transformation"]["code"] == before["transformation"]["code"]
    # No second code or environment node beside the ones exported: the same anchors.
    here = cli_ok(capsys, "--store", source, "upstream", FEATURES, "--json")
    there = cli_ok(capsys, "--store", copy, "upstream", FEATURES, "--json")
    assert _edges(there) == _edges(here)
    assert len(there["nodes"]) == len(here["nodes"])
    # Imported twice over (again, into the same store), nothing is added.
    again = _reimport(capsys, tmp_path, "again", events, events)
    assert len(cli_ok(capsys, "--store", again, "upstream", FEATURES, "--json")["nodes"]) \
        == len(here["nodes"])


def test_an_sdk_runs_code_and_environment_come_back_from_an_export(
        project_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from tests.integration.test_cli_export import TUNED, _pipeline, _repository

    _repository(project_dir)
    init_store(project_dir)
    facts = _pipeline(project_dir)
    here = _store_url(project_dir)
    events = _export(capsys, here, TUNED)
    copy = _reimport(capsys, tmp_path, "copy", events)
    for run_id in (facts["train"], facts["tune"]):
        before, after = _show(capsys, here, run_id), _show(capsys, copy, run_id)
        assert before["environment"] and before["transformation"]["code"]
        assert after["environment"] == before["environment"]
        assert after["transformation"]["code"] == before["transformation"]["code"]
    upstream = [cli_ok(capsys, "--store", store, "upstream", facts["tuned"], "--json")
                for store in (here, copy)]
    assert _edges(upstream[1]) == _edges(upstream[0])
    assert len(upstream[1]["nodes"]) == len(upstream[0]["nodes"])


# -- 4: the parent facet names the parent's own job ------------------------------------------

def test_the_parent_facet_names_the_parents_own_job(
        source: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    events = _export(capsys, source, MODEL)
    for event in [e for e in events if e["run"]["runId"] == PREP]:
        parent = event["run"]["facets"]["parent"]
        assert parent["run"] == {"runId": NIGHTLY}
        assert parent["job"] == {"namespace": "airflow", "name": "nightly"}
    # A parent no event described is known by its id alone, in forebear's namespace, not
    # under the child's namespace as if it were a job there.
    orphan = _terminal(_export(capsys, source, ORPHAN), ORPHAN)["run"]["facets"]["parent"]
    assert orphan["run"] == {"runId": GONE}
    assert orphan["job"] == {"namespace": "forebear", "name": GONE}
    copy = _reimport(capsys, tmp_path, "copy", events)
    assert _show(capsys, copy, PREP)["parent_run_id"] == NIGHTLY


# -- every backend ---------------------------------------------------------------------------

def test_each_backend_exports_the_runs_whole_edges_namespaces_and_parents(store: Any) -> None:
    from forebear.graph.export import export_document
    from forebear.graph.refs import resolve

    store.append_batch([{"type": "openlineage", "time": "2026-01-02T00:00:00.000000Z",
                         "actor": "tester", "event": event} for event in _events()])
    events = export_document(store, resolve(store, TRAIN, files=False), "openlineage",
                             "upstream", version="0.0.0")[1]
    train = _terminal(events, TRAIN)
    assert _names(train["outputs"]) == {("s3://models", "churn/v1"),
                                        ("s3://reports", "churn/v1.html")}
    assert ("s3://features", "fs/customer_features") in _names(train["inputs"])
    prep = _terminal(events, PREP)
    assert prep["run"]["facets"]["parent"]["job"] == {"namespace": "airflow", "name": "nightly"}
    assert prep["run"]["facets"]["processing_engine"]["name"] == "spark"
