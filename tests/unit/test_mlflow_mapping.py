"""The pure half of ``forebear import mlflow``: MLflow's run records (``runs/search``'s
shape) as journal entries, and a remote folder's digest as on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forebear.errors import InvalidInputError
from forebear.hashing import Digest, hash_file, hash_tree, manifest_of
from forebear.importers.mlflow import Fetched, forebear_run_id, run_entries
from forebear.model.entries import validate_entry

RUN = "274a88c53ce54c90896dfd3025c470ea"
MODEL = {"id": "m-1", "digest": "sha256:" + "ab" * 32, "name": "clf", "size": 10, "uri": None}


def _run(status: str = "FINISHED", end: int | None = 1795759274735, **extra: object) -> dict:
    info = {"run_id": RUN, "run_name": "train", "user_id": "ana", "status": status,
            "start_time": 1795759273993, "experiment_id": "1"}
    if end is not None:
        info["end_time"] = end
    return {"info": info, "data": {
        "params": [{"key": "lr", "value": "0.1"}],
        "metrics": [{"key": "loss", "value": "NaN"}, {"key": "acc", "value": 0.9}],
        "tags": [{"key": "mlflow.source.git.repoURL",
                  "value": "https://ci:tok@example.com/acme/x.git"},
                 {"key": "mlflow.source.git.commit", "value": "c" * 40},
                 {"key": "note", "value": "see https://example.com/a?b=1"}]},
        **extra}


def test_a_finished_run_is_one_valid_execution_entry() -> None:
    entry = run_entries(_run(), "fraud", Fetched(models={"m-1": MODEL}))
    validate_entry(entry)
    assert entry["type"] == "execution" and entry["status"] == "succeeded"
    assert entry["run_id"] == "274a88c5-3ce5-4c90-896d-fd3025c470ea"
    assert (entry["started_at"], entry["time"]) == ("2026-11-27T06:01:13.993000Z",
                                                    "2026-11-27T06:01:14.735000Z")
    assert entry["metrics"] == {"loss": "NaN", "acc": 0.9}
    assert entry["code"]["remote"] == "https://example.com/acme/x.git"
    assert entry["tags"]["mlflow.source.git.repoURL"] == "https://example.com/acme/x.git"
    assert entry["tags"]["note"] == "see https://example.com/a?b=1"  # not a credential
    assert entry["namespace"] == "fraud" and entry["actor"] == "ana"


def test_model_inputs_and_outputs_are_the_models_by_content() -> None:
    # Databricks records the models a run used; OSS MLflow records the ones it logged.
    run = _run(inputs={"model_inputs": [{"model_id": "m-1"}]},
               outputs={"model_outputs": [{"model_id": "m-2", "step": 0}]})
    other = {**MODEL, "id": "m-2", "digest": "sha256:" + "cd" * 32}
    entry = run_entries(run, None, Fetched(models={"m-1": MODEL, "m-2": other}))
    validate_entry(entry)
    assert [(i["id"], i["role"]) for i in entry["inputs"]] == [(MODEL["digest"], "model")]
    assert [(o["id"], o["role"]) for o in entry["outputs"]] == [(other["digest"], "output")]
    unfetched = run_entries(run, None, Fetched(models={"m-1": {"id": "m-1", "digest": None}}))
    assert unfetched["inputs"][0]["id"] == "dataset:mlflow-models:m-1"


def test_a_run_still_going_is_a_start() -> None:
    entry = run_entries(_run(status="RUNNING", end=None), "fraud", Fetched())
    validate_entry(entry)
    assert entry["type"] == "execution.start" and "status" not in entry


def test_run_ids() -> None:
    assert forebear_run_id(RUN) == "274a88c5-3ce5-4c90-896d-fd3025c470ea"
    odd = forebear_run_id("not-hex")
    assert odd == forebear_run_id("not-hex") and len(odd) == 36


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.lists(st.sampled_from(["a", "b", "é", "model.pkl", "x y"]),
                                min_size=1, max_size=3).map("/".join),
                       st.binary(max_size=64), min_size=1, max_size=6))
def test_a_remote_folder_has_the_digest_it_has_on_disk(files: dict[str, bytes]) -> None:
    import tempfile

    # a path that is also a folder of another: the tree cannot hold both
    if any(other.startswith(name + "/") for name in files for other in files):
        return
    with tempfile.TemporaryDirectory() as root:
        listed = []
        for name, data in files.items():
            path = Path(root, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            listed.append((name, hash_file(path)))
        assert Digest.of_bytes(manifest_of(listed)) == hash_tree(root)


def test_a_remote_folder_path_that_is_not_relative_is_refused() -> None:
    digest = Digest.of_bytes(b"x")
    for bad in ("", "/abs", "../up", "a/../../up", "a\nb"):
        with pytest.raises(InvalidInputError, match="not a relative file path"):
            manifest_of([(bad, digest)])


def test_a_metric_logged_more_than_once_keeps_its_curve() -> None:
    history = {"loss": [{"value": 0.4, "step": 2, "timestamp": 20},
                        {"value": 0.9, "step": 1, "timestamp": 10}],
               "acc": [{"value": 0.9, "step": 0, "timestamp": 5}]}
    entry = run_entries(_run(), None, Fetched(history=history))
    validate_entry(entry)
    assert entry["metric_steps"] == [["loss", 1, 0.9], ["loss", 2, 0.4]]


def test_non_finite_metrics_are_spelled_as_forebear_keeps_them() -> None:
    run = _run()
    run["data"]["metrics"] = [{"key": "a", "value": float("inf")},
                              {"key": "b", "value": float("-inf")},
                              {"key": "c", "value": float("nan")}, {"key": "d", "value": "inf"}]
    entry = run_entries(run, None, Fetched())
    validate_entry(entry)
    assert entry["metrics"] == {"a": "Infinity", "b": "-Infinity", "c": "NaN", "d": "Infinity"}
