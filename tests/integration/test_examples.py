"""Each example in examples/ runs on its own store and leaves the lineage it promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from forebear import config
from forebear.artifacts.base import open_blob_store
from forebear.graph import lineage
from forebear.graph.refs import resolve
from forebear.sdk.proofs import find_aggregate, prove_update
from forebear.store.registry import init_store, open_store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(name: str, workdir: Path) -> tuple[dict[str, Any], Any]:
    """Run examples/<name>.py in ``workdir`` with a fresh store; its summary and the store."""
    init_store(workdir)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FOREBEAR_") or k == "FOREBEAR_ACTOR"}
    done = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py")], cwd=workdir,
                          env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    store = open_store(str(workdir))
    assert store.verify().ok
    return json.loads(done.stdout.strip().splitlines()[-1]), store


def _upstream(store: Any, key: str) -> dict[str, Any]:
    return lineage.upstream(store, resolve(store, key).node).to_json()


def test_transfer_learning(tmp_path: Path) -> None:
    summary, store = _example("transfer_learning", tmp_path)
    up = _upstream(store, summary["fine_tuned"])
    base = next(n for n in up["nodes"] if n["id"] == summary["base"])
    assert base["kind"] == "model" and "hf://distilbert/distilbert-base-uncased" in base["uris"]
    assert any(e["source"] == summary["base"] and e["role"] == "fine_tune" for e in up["edges"])
    quantized = _upstream(store, summary["quantized"])
    assert {summary["base"], summary["fine_tuned"]} <= {n["id"] for n in quantized["nodes"]}
    assert any(e["role"] == "quantize" for e in quantized["edges"])


def test_online_learning(tmp_path: Path) -> None:
    summary, store = _example("online_learning", tmp_path)
    assert summary["updates"] == 10_000
    aggregates = store.execute("SELECT run_id FROM execution WHERE kind = 'online_update'")
    assert len(aggregates) == len(summary["aggregates"]) == 4  # a handful, not 10,000
    assert store.execute("SELECT COUNT(*) FROM node")[0][0] < 40
    blobs = open_blob_store(config.resolve(str(tmp_path)).blob_url or "")
    for update in (0, 2499, 2500, 7777, 9999):
        run_id, index = find_aggregate(store, summary["aggregates"][0], update)
        proof = prove_update(store, blobs, run_id, index).to_json()
        assert proof["verified"] and proof["update_index"] == update


def test_federated_learning(tmp_path: Path) -> None:
    summary, store = _example("federated_learning", tmp_path)
    kinds = dict(store.execute("SELECT kind, COUNT(*) FROM execution GROUP BY kind"))
    assert kinds == {"federated": 1, "client_update": 12, "aggregate": 3}
    up = _upstream(store, summary["final_model"])
    steps = [n for n in up["nodes"] if n["type"] == "execution"]
    assert sum(n["kind"] == "aggregate" for n in steps) == 3
    assert sum(n["kind"] == "client_update" for n in steps) == 12
    for node in steps:
        if node["kind"] == "aggregate":
            assert node["params"]["algorithm"] == "fedavg"
            assert len(node["params"]["weights"]) == 4
    store.close()
    stored = b"".join(p.read_bytes() for p in (tmp_path / ".forebear").rglob("*") if p.is_file())
    for client in sorted((tmp_path / "clients").iterdir()):
        raw = client.read_bytes()
        rows = raw.decode().splitlines()[1:]
        assert raw not in stored
        assert not any(row.encode() in stored for row in rows)  # not even one row
        assert client.stem.encode() not in stored  # nor the client's real name


def test_human_relabel(tmp_path: Path) -> None:
    summary, store = _example("human_relabel", tmp_path)
    edit = store.execute("SELECT kind, actor, reason FROM execution WHERE run_id = ?",
                         (summary["edit"],))
    assert edit == [("human_edit", "dana@example.com", "rows 2 and 4 mislabeled")]
    up = _upstream(store, summary["relabeled"])
    assert {"source": summary["raw"], "target": summary["edit"], "role": "before"} in up["edges"]
    assert {"source": summary["edit"], "target": summary["relabeled"],
            "role": "after"} in up["edges"]
    # The raw data came from the ingest run, and the model trained on the relabeled data
    # has the person's edit in its upstream.
    assert any(n.get("kind") == "ingest" for n in up["nodes"])
    model_up = _upstream(store, summary["model"])
    person = [n for n in model_up["nodes"] if n["id"] == summary["edit"]]
    assert person and person[0]["actor"] == "dana@example.com"


@pytest.mark.parametrize("name", ["alias_deploy"])
def test_alias_moves_and_deploy(tmp_path: Path, name: str) -> None:
    summary, store = _example(name, tmp_path)
    history = store.alias_history("production")
    assert [h["digest"] for h in history] == [summary["v1"], summary["v2"]]
    assert [h["actor"] for h in history] == ["erin", "erin"]
    assert summary["scored_with"] == summary["v2"]
    for model in (summary["v1"], summary["v2"]):
        down = lineage.downstream(store, resolve(store, model).node).to_json()
        assert "dataset:endpoint:fraud-api" in {n["id"] for n in down["nodes"]}


def test_make_demo_runs_the_pipeline_end_to_end(tmp_path: Path) -> None:
    # What `make demo` runs: the digits pipeline, its log, lineage, paths and verify.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREBEAR_")}
    workdir = tmp_path / "demo"
    done = subprocess.run([sys.executable, str(EXAMPLES / "demo" / "pipeline.py"),
                           str(workdir)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "the failing run failed as intended" in out
    assert "7 nodes (3 runs) on the paths from data/digits.csv to models/model-ft.pkl" in out
    assert "ok: 14 entries" in out and "projections match the journal" in out
    store = open_store(str(workdir / ".forebear"))
    try:
        model = resolve(store, str(workdir / "models" / "model-ft.pkl"))
        tuned = lineage.upstream(store, model.node)
        names = {node.get("name") for node in tuned.nodes}
        assert {"ingest-digits", "split", "train", "fine-tune", "data/digits.csv"} <= names
        runs = set(store.execute("SELECT name, status FROM execution"))
        assert {("fine-tune", "succeeded"), ("train", "succeeded"), ("train", "failed")} <= runs
    finally:
        store.close()
