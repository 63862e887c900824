"""The ml-metadata side of ``bench_queries``: runs inside its own venv (protobuf < 5).

    python mlmd_worker.py REQUEST_JSON

REQUEST is ``{"forebear_db", "mlmd_db", "probes": {label: node key}, "repeats",
"queries": [{"label", "kind": "upstream"|"diff", "keys": [...]}]}``, or ``{"mlmd_db",
"put_runs": N}`` for ``bench_sdk``'s write comparison (``put_runs``). The worker copies the
forebear store's graph (its ``node``/``artifact``/``execution``/``edge`` tables, read with
the standard library's sqlite3) into an ml-metadata SQLite store once (kept at
``mlmd_db``), then times each query and prints one JSON object on stdout.

ml-metadata's lineage call, ``get_lineage_subgraph``, stops at 100 hops. Each query is
timed two ways: ``one_call`` (that single call, as a user would make it; its node count
shows how much it missed) and ``complete`` (calls repeated from the frontier at the hop
limit until nothing new comes back, so the answer is whole). ``diff`` has no counterpart
in ml-metadata: it is timed as fetching both complete closures, the least a diff needs.
Only this file imports ml_metadata; forebear never does.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

BATCH = 10_000
MAX_HOPS = 100  # ml-metadata refuses more


def _connect(path: str) -> metadata_store.MetadataStore:
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return metadata_store.MetadataStore(config)


def _types(store: metadata_store.MetadataStore) -> tuple[int, int]:
    artifact_type = pb.ArtifactType(name="Artifact")
    for prop in ("key", "digest", "kind", "name"):
        artifact_type.properties[prop] = pb.STRING
    execution_type = pb.ExecutionType(name="Execution")
    for prop in ("run_id", "kind", "name", "status", "params", "metrics", "code",
                 "environment", "actor"):
        execution_type.properties[prop] = pb.STRING
    return store.put_artifact_type(artifact_type), store.put_execution_type(execution_type)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def load(forebear_db: str, mlmd_db: str, keys: list[str]) -> dict[str, Any]:
    """Copy the graph into ml-metadata once; return {key: [mlmd id, type]} for ``keys``."""
    marker = Path(mlmd_db + ".ids.json")
    if marker.is_file():
        known = json.loads(marker.read_text())
        if all(key in known["ids"] for key in keys):
            return dict(known)
    for stale in (Path(mlmd_db), marker):
        stale.unlink(missing_ok=True)
    started = time.perf_counter()
    store = _connect(mlmd_db)
    artifact_type, execution_type = _types(store)
    source = sqlite3.connect(f"file:{forebear_db}?mode=ro", uri=True)
    artifact_ids: dict[int, int] = {}
    execution_ids: dict[int, int] = {}
    rows = source.execute(
        "SELECT n.id, n.key, a.digest, a.kind, a.name FROM node n JOIN artifact a ON a.node = n.id"
    )
    while batch := rows.fetchmany(BATCH):
        protos = []
        for _, key, digest, kind, name in batch:
            artifact = pb.Artifact(type_id=artifact_type, state=pb.Artifact.LIVE)
            for prop, value in (("key", key), ("digest", digest), ("kind", kind), ("name", name)):
                artifact.properties[prop].string_value = _text(value)
            protos.append(artifact)
        for (node, *_), mlmd_id in zip(batch, store.put_artifacts(protos), strict=True):
            artifact_ids[node] = mlmd_id
    rows = source.execute(
        "SELECT n.id, x.run_id, x.kind, x.name, x.status, x.params, x.metrics, x.code, "
        "x.environment, x.actor FROM node n JOIN execution x ON x.node = n.id"
    )
    state = {"succeeded": pb.Execution.COMPLETE, "failed": pb.Execution.FAILED,
             "running": pb.Execution.RUNNING, "aborted": pb.Execution.CANCELED}
    while batch := rows.fetchmany(BATCH):
        protos = []
        for _, run_id, kind, name, status, params, metrics, code, env, actor in batch:
            execution = pb.Execution(type_id=execution_type,
                                     last_known_state=state.get(status, pb.Execution.UNKNOWN))
            for prop, value in (("run_id", run_id), ("kind", kind), ("name", name),
                                ("status", status), ("params", params), ("metrics", metrics),
                                ("code", code), ("environment", env), ("actor", actor)):
                execution.properties[prop].string_value = _text(value)
            protos.append(execution)
        for (node, *_), mlmd_id in zip(batch, store.put_executions(protos), strict=True):
            execution_ids[node] = mlmd_id
    rows = source.execute("SELECT src, dst, role FROM edge")
    while batch := rows.fetchmany(BATCH):
        events = []
        for src, dst, role in batch:
            if src in artifact_ids:  # artifact -> the run that used it
                event = pb.Event(artifact_id=artifact_ids[src], execution_id=execution_ids[dst],
                                 type=pb.Event.INPUT)
            else:  # run -> the artifact it produced
                event = pb.Event(artifact_id=artifact_ids[dst], execution_id=execution_ids[src],
                                 type=pb.Event.OUTPUT)
            event.path.steps.add().key = role
            events.append(event)
        store.put_events(events)
    wanted = {}
    for key in keys:
        (node, kind), = source.execute("SELECT id, type FROM node WHERE key = ?", (key,))
        ids = artifact_ids if kind == "artifact" else execution_ids
        wanted[key] = [ids[node], kind]
    source.close()
    known = {"ids": wanted, "load_seconds": round(time.perf_counter() - started, 1),
             "artifacts": len(artifact_ids), "executions": len(execution_ids)}
    marker.write_text(json.dumps(known))
    return known


def _one_call(store: metadata_store.MetadataStore, artifact_ids: list[int]) -> pb.LineageGraph:
    options = pb.LineageSubgraphQueryOptions(max_num_hops=MAX_HOPS,
                                             direction=pb.LineageSubgraphQueryOptions.UPSTREAM)
    options.starting_artifacts.filter_query = (
        "id IN (" + ", ".join(str(i) for i in artifact_ids) + ")"
    )
    return store.get_lineage_subgraph(options)


def _frontier(graph: pb.LineageGraph, start: list[int]) -> list[int]:
    """Artifacts exactly MAX_HOPS upstream of ``start``: where the call stopped."""
    inputs: dict[int, list[int]] = {}  # execution -> artifacts it used
    producers: dict[int, list[int]] = {}  # artifact -> executions that produced it
    for event in graph.events:
        if event.type == pb.Event.INPUT:
            inputs.setdefault(event.execution_id, []).append(event.artifact_id)
        elif event.type == pb.Event.OUTPUT:
            producers.setdefault(event.artifact_id, []).append(event.execution_id)
    hops = {("a", i): 0 for i in start}
    queue = deque(hops)
    edge: list[int] = []
    while queue:
        node = queue.popleft()
        here = hops[node]
        if here == MAX_HOPS:
            edge.append(node[1])
            continue
        kind, ident = node
        nexts = ([("e", e) for e in producers.get(ident, ())] if kind == "a"
                 else [("a", a) for a in inputs.get(ident, ())])
        for other in nexts:
            if other not in hops:
                hops[other] = here + 1
                queue.append(other)
    return edge


def complete_upstream(store: metadata_store.MetadataStore, artifact_id: int) -> int:
    """Call again from the frontier until the closure is whole; return its node count."""
    seen_artifacts: set[int] = set()
    seen_executions: set[int] = set()
    start = [artifact_id]
    while start:
        graph = pb.LineageGraph()
        for part in range(0, len(start), 100):  # at most 100 starting nodes per call
            graph.MergeFrom(_one_call(store, start[part:part + 100]))
        before = len(seen_artifacts) + len(seen_executions)
        seen_artifacts.update(a.id for a in graph.artifacts)
        seen_executions.update(e.id for e in graph.executions)
        if len(seen_artifacts) + len(seen_executions) == before:
            break
        start = sorted(set(_frontier(graph, start)))
    return len(seen_artifacts) + len(seen_executions)


def _median_ms(action: Any, repeats: int) -> tuple[float, Any]:
    timings, result = [], None
    for _ in range(repeats):
        began = time.perf_counter()
        result = action()
        timings.append(time.perf_counter() - began)
    return statistics.median(timings) * 1000, result


def put_runs(mlmd_db: str, runs: int, warmup: int = 20) -> dict[str, Any]:
    """Time ``bench_sdk``'s typical run as ml-metadata records it: one atomic
    ``put_execution`` of an execution (10 params, 5 metrics and a tag as custom properties)
    with its input and output artifacts and their events. Nothing is hashed, nothing is
    copied, nothing is signed: ml-metadata stores what it is told."""
    store = _connect(mlmd_db)
    artifact_type = store.put_artifact_type(pb.ArtifactType(name="Artifact"))
    execution_type = store.put_execution_type(pb.ExecutionType(name="Execution"))
    timings = []
    for i in range(warmup + runs):
        began = time.perf_counter()
        execution = pb.Execution(type_id=execution_type, name=f"train-{i}",
                                 last_known_state=pb.Execution.COMPLETE)
        for k in range(10):
            execution.custom_properties[f"p{k}"].double_value = k * 0.1
        for k in range(5):
            execution.custom_properties[f"m{k}"].double_value = 0.5 + k
        execution.custom_properties["team"].string_value = "bench"
        data = pb.Artifact(type_id=artifact_type, uri="data/train.csv",
                           name=f"train-{i}.csv")
        data.custom_properties["digest"].string_value = f"sha256:{i:064x}"
        model = pb.Artifact(type_id=artifact_type, uri="outputs/model.bin",
                            name=f"model-{i}.bin")
        model.custom_properties["digest"].string_value = f"sha256:{i + 1:064x}"
        store.put_execution(execution, [(data, pb.Event(type=pb.Event.INPUT)),
                                        (model, pb.Event(type=pb.Event.OUTPUT))], [])
        timings.append(time.perf_counter() - began)
    recorded = len(store.get_executions())
    if recorded != warmup + runs:
        raise AssertionError(f"ml-metadata recorded {recorded} executions, not {warmup + runs}")
    return {"put_ms": statistics.median(timings[warmup:]) * 1000, "recorded": recorded}


def main() -> None:
    request = json.loads(sys.argv[1])
    if "put_runs" in request:
        sys.stdout.write(json.dumps(put_runs(request["mlmd_db"], request["put_runs"])) + "\n")
        return
    keys = sorted({key for query in request["queries"] for key in query["keys"]})
    loaded = load(request["forebear_db"], request["mlmd_db"], keys)
    store = _connect(request["mlmd_db"])
    repeats = int(request.get("repeats", 5))
    results: dict[str, Any] = {"load_seconds": loaded["load_seconds"]}
    for query in request["queries"]:
        ids = [loaded["ids"][key][0] for key in query["keys"]]
        out: dict[str, Any] = {}
        if query["kind"] == "upstream":
            ms, graph = _median_ms(lambda i=ids[0]: _one_call(store, [i]), repeats)
            out["one_call_ms"] = ms
            out["one_call_nodes"] = len(graph.artifacts) + len(graph.executions)
        ms, counts = _median_ms(lambda ids=ids: [complete_upstream(store, i) for i in ids],
                                repeats)
        out["complete_ms"] = ms
        out["complete_nodes"] = counts
        results[query["label"]] = out
    sys.stdout.write(json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
