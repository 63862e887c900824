"""Lineage queries on every store backend: closures, depth, kinds, paging, flags, show, log."""

from __future__ import annotations

from typing import Any

import pytest

from forebear.errors import UsageError
from forebear.graph import flags, lineage
from forebear.graph.diff import diff
from forebear.graph.log import log
from forebear.graph.refs import resolve
from forebear.graph.show import show
from tests.conftest import make_run, ref

T0 = "2026-01-01T00:00:00.000000Z"
ARTIFACT_KEYS = {"type", "id", "digest", "kind", "name", "uris"}
EXECUTION_KEYS = {"type", "id", "run_id", "kind", "name", "status", "params", "metrics", "code",
                  "environment", "started_at", "ended_at", "actor"}


def _rid(n: int) -> str:
    return f"01a217de-8245-7ff6-8ad3-{n:012x}"


def _t(minute: int) -> str:
    return f"2026-01-01T{minute // 60:02}:{minute % 60:02}:00.000000Z"


CODE = {"digest": ref("code-v1")["id"], "commit": "a" * 40, "branch": "main",
        "remote": "git@example.com:acme/x.git", "dirty": False}
ENV = {"digest": ref("env-v1")["id"], "python": "3.11.7", "platform": "Linux"}


def _pipeline(store: Any) -> dict[str, str]:
    """raw -> preprocess -> clean -> train (+ base) -> model -> evaluate / deploy."""
    raw, clean = ref("raw", role="raw"), ref("clean", role="output")
    base = ref("base", kind="model", role="base_model")
    model = ref("model", kind="model", role="model")
    report = ref("report", kind="report")
    endpoint = ref("endpoint", kind="endpoint", name="fraud-prod")
    prep = make_run(run_id=_rid(1), kind="preprocess", name="preprocess", inputs=[raw],
                    outputs=[clean], time=_t(1), params={"dedupe": True})
    prep["code"], prep["environment"] = CODE, ENV
    train = make_run(run_id=_rid(2), kind="train", name="train", time=_t(2),
                     inputs=[{**clean, "role": "training_data"}, base], outputs=[model],
                     params={"lr": 0.1}, metrics={"accuracy": 0.9})
    train["code"], train["environment"] = CODE, ENV
    evaluate = make_run(run_id=_rid(3), kind="evaluate", name="evaluate", time=_t(3),
                        inputs=[{**model, "role": "model"}], outputs=[report])
    failed = make_run(run_id=_rid(4), kind="train", name="train", time=_t(4),
                      inputs=[{**clean, "role": "training_data"}], status="failed")
    failed["error"] = "CUDA out of memory"
    deploy = make_run(run_id=_rid(5), kind="deploy", name="deploy fraud-prod", time=_t(5),
                      inputs=[{**model, "role": "model"}], outputs=[endpoint],
                      params={"target": "fraud-prod"})
    store.append_batch([prep, train, evaluate, failed, deploy])
    return {"raw": raw["id"], "clean": clean["id"], "base": base["id"], "model": model["id"],
            "report": report["id"], "endpoint": endpoint["id"], "code": CODE["digest"],
            "env": ENV["digest"], "prep": _rid(1), "train": _rid(2), "evaluate": _rid(3),
            "failed": _rid(4), "deploy": _rid(5)}


def _node(store: Any, key: str) -> int:
    return resolve(store, key).node


def _ids(result: lineage.Lineage) -> set[str]:
    return {node["id"] for node in result.nodes}


def test_upstream_is_the_whole_closure_in_the_design_shape(store: Any) -> None:
    g = _pipeline(store)
    result = lineage.upstream(store, _node(store, g["model"]))
    assert result.root == g["model"] and result.nodes[0]["id"] == g["model"]
    assert _ids(result) == {g[k] for k in ("model", "train", "clean", "base", "prep", "raw",
                                           "code", "env")}
    assert set(result.edges) == {
        (g["train"], g["model"], "model"),
        (g["clean"], g["train"], "training_data"), (g["base"], g["train"], "base_model"),
        (g["code"], g["train"], "code"), (g["env"], g["train"], "environment"),
        (g["prep"], g["clean"], "output"), (g["raw"], g["prep"], "raw"),
        (g["code"], g["prep"], "code"), (g["env"], g["prep"], "environment"),
    }
    shape = result.to_json()
    assert set(shape) == {"root", "nodes", "edges"}
    assert all(set(edge) == {"source", "target", "role"} for edge in shape["edges"])
    by_id = {node["id"]: node for node in shape["nodes"]}
    assert set(by_id[g["model"]]) == ARTIFACT_KEYS
    assert set(by_id[g["train"]]) == EXECUTION_KEYS
    assert by_id[g["train"]]["params"] == {"lr": 0.1}
    assert by_id[g["train"]]["code"]["commit"] == "a" * 40
    assert by_id[g["code"]]["kind"] == "code" and by_id[g["env"]]["kind"] == "environment"


def test_downstream_reaches_every_model_and_deployment(store: Any) -> None:
    g = _pipeline(store)
    result = lineage.downstream(store, _node(store, g["raw"]))
    assert _ids(result) == {g[k] for k in ("raw", "prep", "clean", "train", "failed", "model",
                                           "evaluate", "report", "deploy", "endpoint")}
    assert (g["model"], g["deploy"], "model") in result.edges
    assert (g["deploy"], g["endpoint"], "data") in result.edges


@pytest.mark.parametrize(
    ("depth", "expected"),
    [(0, {"model"}), (1, {"model", "train"}),
     (2, {"model", "train", "clean", "base", "code", "env"})],
    ids=["0", "1", "2"],
)
def test_depth_counts_edges_from_the_root(store: Any, depth: int, expected: set[str]) -> None:
    g = _pipeline(store)
    result = lineage.upstream(store, _node(store, g["model"]), depth=depth)
    assert _ids(result) == {g[k] for k in expected}
    ids = _ids(result)
    assert all(s in ids and t in ids for s, t, _ in result.edges)
    assert len(result.edges) == {0: 0, 1: 1, 2: 5}[depth]


def test_kind_filter_keeps_the_root_and_walks_through_other_kinds(store: Any) -> None:
    g = _pipeline(store)
    result = lineage.downstream(store, _node(store, g["raw"]), kinds=["model", "endpoint"])
    assert _ids(result) == {g["raw"], g["model"], g["endpoint"]}
    assert result.edges == []
    runs = lineage.upstream(store, _node(store, g["model"]), kinds=["train", "preprocess"])
    assert _ids(runs) == {g["model"], g["train"], g["prep"]}
    assert (g["train"], g["model"], "model") in runs.edges


@pytest.mark.parametrize("size", [1, 3, 4, 100], ids=["1", "3", "4", "100"])
def test_pages_add_up_to_the_whole_answer(store: Any, size: int) -> None:
    g = _pipeline(store)
    root = _node(store, g["raw"])
    whole = lineage.downstream(store, root)
    nodes: list[str] = []
    edges: set[tuple[str, str, str]] = set()
    offset: int | None = 0
    while offset is not None:
        page = lineage.downstream(store, root, limit=size, offset=offset)
        assert page.total == whole.total and len(page.nodes) <= size
        assert page.to_json()["page"]["next_offset"] == page.next_offset
        nodes.extend(node["id"] for node in page.nodes)
        assert not edges & set(page.edges)  # each edge on exactly one page
        edges.update(page.edges)
        offset = page.next_offset
    assert nodes[0] == g["raw"] and len(nodes) == len(set(nodes))
    assert set(nodes) == _ids(whole) and edges == set(whole.edges)


def test_paging_with_depth_and_kinds(store: Any) -> None:
    g = _pipeline(store)
    root = _node(store, g["model"])
    page = lineage.upstream(store, root, depth=2, kinds=["data", "model"], limit=2, offset=0)
    assert page.total == 3 and page.nodes[0]["id"] == g["model"]
    rest = lineage.upstream(store, root, depth=2, kinds=["data", "model"], limit=2, offset=2)
    assert {n["id"] for n in page.nodes + rest.nodes} == {g["model"], g["clean"], g["base"]}
    assert rest.next_offset is None
    assert lineage.upstream(store, root, limit=5, offset=50).nodes == []


@pytest.mark.parametrize(
    "options", [{"depth": -1}, {"limit": 0}, {"offset": -3}], ids=["depth", "limit", "offset"]
)
def test_bad_options_are_usage_errors(store: Any, options: dict[str, int]) -> None:
    g = _pipeline(store)
    with pytest.raises(UsageError):
        lineage.upstream(store, _node(store, g["model"]), **options)


def test_a_2000_step_fine_tune_chain_is_returned_whole(store: Any) -> None:
    steps = 2000
    entries = []
    previous = ref("model-0", kind="model")
    for step in range(1, steps + 1):
        tuned = ref(f"model-{step}", kind="model", role="output")
        entries.append(make_run(
            run_id=_rid(1000 + step), kind="finetune", name="finetune",
            inputs=[{**previous, "role": "base_model"}, ref(f"batch-{step}", role="data")],
            outputs=[tuned], params={"step": step},
        ))
        previous = tuned
    store.append_batch(entries)
    tip = _node(store, previous["id"])
    result = lineage.upstream(store, tip)
    kinds = [node["kind"] for node in result.nodes]
    assert kinds.count("finetune") == steps
    assert kinds.count("model") == steps + 1 and kinds.count("data") == steps
    assert len(result.edges) == 3 * steps
    assert ref("model-0")["id"] in _ids(result)
    assert len(lineage.downstream(store, _node(store, ref("model-0")["id"])).nodes) == 2 * steps + 1


def test_flags_reach_everything_downstream(store: Any) -> None:
    g = _pipeline(store)
    raw = resolve(store, g["raw"])
    record = flags.flag(store, raw, reason="contains PII", actor="auditor")
    assert record["target"] == g["raw"] and record["target_type"] == "artifact"
    reached = lineage.downstream(store, raw.node, kinds=["model", "deploy", "endpoint"])
    assert _ids(reached) == {g["raw"], g["model"], g["deploy"], g["endpoint"]}
    warned = show(store, resolve(store, g["model"]))["flags"]
    assert [(f["target"], f["inherited"], f["reason"]) for f in warned] == [
        (g["raw"], True, "contains PII")
    ]
    assert show(store, resolve(store, g["endpoint"]))["flags"][0]["target"] == g["raw"]
    assert show(store, resolve(store, g["base"]))["flags"] == []
    flags.flag(store, resolve(store, g["train"]), reason="wrong labels", actor="ana")
    listed = flags.flagged(store)
    assert [f["target"] for f in listed] == [g["train"], g["raw"]]
    assert listed[0]["target_type"] == "execution" and listed[0]["kind"] == "train"
    own = show(store, resolve(store, g["train"]))["flags"]
    assert {(f["target"], f["inherited"]) for f in own} == {(g["raw"], True), (g["train"], False)}
    assert store.verify().ok


def test_show_an_artifact(store: Any) -> None:
    g = _pipeline(store)
    store.append({"type": "alias.set", "time": T0, "name": "prod", "target": g["model"],
                  "actor": "ana", "reason": "ship it"})
    record = show(store, resolve(store, "prod"))
    assert record["id"] == g["model"] and record["type"] == "artifact"
    assert {(p["role"], p["id"]) for p in record["parents"]} == {
        ("training_data", g["clean"]), ("base_model", g["base"])
    }
    step = record["transformation"]
    assert (step["run_id"], step["kind"], step["params"], step["actor"]) == (
        g["train"], "train", {"lr": 0.1}, "tester"
    )
    assert step["code"]["commit"] == "a" * 40
    assert record["environment"]["python"] == "3.11.7"
    assert record["metrics"] == {"accuracy": 0.9}
    assert record["time"] == _t(2)
    assert [a["name"] for a in record["aliases"]] == ["prod"]
    assert record["alias_history"][0]["current"] is True
    assert [(d["target"], d["run_id"]) for d in record["deployments"]] == [
        ("fraud-prod", g["deploy"])
    ]
    assert record["produced_by"] == [g["train"]] and record["used_by"] == 2


def test_show_a_run(store: Any) -> None:
    g = _pipeline(store)
    record = show(store, resolve(store, g["failed"]))
    assert record["type"] == "execution" and record["node"]["status"] == "failed"
    assert record["error"] == "CUDA out of memory"
    assert [p["id"] for p in record["parents"]] == [g["clean"]]
    assert record["outputs"] == [] and record["transformation"]["run_id"] == g["failed"]
    external = show(store, resolve(store, g["raw"]))
    assert external["transformation"] is None and external["parents"] == []


def test_log_is_newest_first_and_filters(store: Any) -> None:
    g = _pipeline(store)
    runs = log(store)
    assert [r["id"] for r in runs] == [g[k] for k in ("deploy", "failed", "evaluate", "train",
                                                      "prep")]
    assert set(runs[1]) >= EXECUTION_KEYS and runs[1]["error"] == "CUDA out of memory"
    assert [r["id"] for r in log(store, limit=2)] == [g["deploy"], g["failed"]]
    assert [r["id"] for r in log(store, status="failed")] == [g["failed"]]
    assert [r["id"] for r in log(store, kind="train")] == [g["failed"], g["train"]]
    assert [r["id"] for r in log(store, name="evaluate")] == [g["evaluate"]]
    window = log(store, since="2026-01-01T00:02:00Z", until="2026-01-01 00:04")
    assert [r["id"] for r in window] == [g["evaluate"], g["train"]]
    with pytest.raises(UsageError):
        log(store, since="yesterday")
    with pytest.raises(UsageError):
        log(store, status="exploded")


def test_diff_of_two_trainings(store: Any) -> None:
    g = _pipeline(store)
    env2 = {**ENV, "digest": ref("env-v2")["id"], "python": "3.12.1"}
    retrain = make_run(run_id=_rid(9), kind="train", name="train", time=_t(9),
                       inputs=[ref("clean-v2", role="training_data", name="clean"),
                               ref("base", kind="model", role="base_model")],
                       outputs=[ref("model-v2", kind="model")],
                       params={"lr": 0.2, "epochs": 3}, metrics={"accuracy": 0.95})
    retrain["code"] = {**CODE, "digest": ref("code-v2")["id"], "commit": "b" * 40, "dirty": True}
    retrain["environment"] = env2
    store.append(retrain)
    result = diff(store, _node(store, g["model"]), _node(store, ref("model-v2")["id"]))
    assert result["params"] == {"added": {"epochs": 3}, "removed": {},
                                "changed": {"lr": [0.1, 0.2]}}
    assert result["inputs"]["changed"] == {
        "training_data": {"clean": [g["clean"], ref("clean-v2")["id"]]}
    }
    assert result["code"]["changed"]["commit"] == ["a" * 40, "b" * 40]
    assert result["code"]["changed"]["dirty"] == [False, True]
    assert result["environment"]["changed"]["python"] == ["3.11.7", "3.12.1"]
    assert result["metrics"]["changed"] == {"accuracy": [0.9, 0.95]}
    assert result["steps"] == {"added": {}, "removed": {"preprocess": 1}, "changed": {}}
    same = diff(store, _node(store, g["model"]), _node(store, g["model"]))
    assert all(not section for key in ("params", "inputs", "code", "metrics", "steps")
               for section in same[key].values())
