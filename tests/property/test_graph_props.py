"""On random DAGs written as runs, upstream, downstream, path and diff agree with naive
references.

The references below work on the entries in memory (breadth-first search over edges built
from the runs' inputs, anchors and outputs) and restate the diff rules of
``forebear.graph.diff`` directly, with no SQL and no shared code.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import deque
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forebear.graph import lineage
from forebear.graph.diff import diff
from forebear.graph.refs import resolve

Edge = tuple[str, str, str]
NAMES = ["data.csv", "model.pt", "features.parquet"]
ROLES = ["data", "base_model", "training_data"]
STEP_NAMES = ["prep", "train", "eval"]


def _digest(salt: str, label: str) -> str:
    return "sha256:" + hashlib.sha256(f"{salt}/{label}".encode()).hexdigest()


@st.composite
def dags(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Runs whose inputs come only from earlier runs' outputs or outside: a DAG by build."""
    salt = uuid.uuid4().hex  # examples share one store: keep their graphs apart
    artifacts = [(_digest(salt, f"ext{i}"), draw(st.sampled_from(NAMES)))
                 for i in range(draw(st.integers(0, 3)))]
    runs = []
    for i in range(draw(st.integers(1, 9))):
        chosen = draw(st.lists(st.sampled_from(artifacts), unique=True, max_size=3)
                      ) if artifacts else []
        inputs = [{"id": d, "digest": d, "kind": "data", "name": n, "uri": None, "size": None,
                   "role": draw(st.sampled_from(ROLES))} for d, n in chosen]
        outputs = []
        for j in range(draw(st.integers(0, 2))):
            digest, name = _digest(salt, f"out{i}.{j}"), draw(st.sampled_from(NAMES))
            outputs.append({"id": digest, "digest": digest, "kind": "model", "name": name,
                            "uri": None, "size": None, "role": "output"})
            artifacts.append((digest, name))
        small = st.dictionaries(st.sampled_from(["lr", "seed", "epochs"]), st.integers(0, 2),
                                max_size=2)
        run: dict[str, Any] = {
            "type": "execution", "run_id": str(uuid.UUID(int=uuid.uuid4().int)),
            "kind": "step", "name": draw(st.sampled_from(STEP_NAMES)),
            "time": f"2026-01-01T00:00:{i:02}.000000Z", "status": "succeeded",
            "actor": "prop", "params": draw(small), "metrics": draw(small),
            "inputs": inputs, "outputs": outputs,
        }
        code = draw(st.sampled_from([None, "c1", "c2"]))
        if code is not None:
            run["code"] = {"digest": _digest(salt, code), "commit": code * 20, "dirty": False}
        env = draw(st.sampled_from([None, "e1", "e2"]))
        if env is not None:
            run["environment"] = {"digest": _digest(salt, env), "python": env}
        runs.append(run)
    return runs


def _edges(runs: list[dict[str, Any]]) -> set[Edge]:
    edges: set[Edge] = set()
    for run in runs:
        for anchor in ("code", "environment"):
            if run.get(anchor):
                edges.add((run[anchor]["digest"], run["run_id"], anchor))
        edges.update((ref["id"], run["run_id"], ref["role"]) for ref in run["inputs"])
        edges.update((run["run_id"], ref["id"], ref["role"]) for ref in run["outputs"])
    return edges


def _walk(edges: set[Edge], root: str, up: bool) -> dict[str, int]:
    """Node -> fewest edges from ``root``, walking against (up) or along the data."""
    step: dict[str, list[str]] = {}
    for src, dst, _ in edges:
        near, far = (dst, src) if up else (src, dst)
        step.setdefault(near, []).append(far)
    distance = {root: 0}
    queue = deque([root])
    while queue:
        here = queue.popleft()
        for there in step.get(here, ()):
            if there not in distance:
                distance[there] = distance[here] + 1
                queue.append(there)
    return distance


def _nodes(runs: list[dict[str, Any]]) -> list[str]:
    """Every node, in the order the runs name them.

    Not sorted by id: ids carry a random salt, and hypothesis replays an example's choices
    expecting the same lists to choose from (sorting made replays draw differently).
    """
    order: dict[str, None] = {}
    for run in runs:
        for anchor in ("code", "environment"):
            if run.get(anchor):
                order.setdefault(run[anchor]["digest"])
        order.update(dict.fromkeys(ref["id"] for ref in run["inputs"]))
        order.setdefault(run["run_id"])
        order.update(dict.fromkeys(ref["id"] for ref in run["outputs"]))
    return list(order)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=dags(), data=st.data())
def test_closures_agree_with_breadth_first_search(store: Any, runs: list[dict[str, Any]],
                                                   data: st.DataObject) -> None:
    store.append_batch(runs)
    edges = _edges(runs)
    root = data.draw(st.sampled_from(_nodes(runs)))
    node = resolve(store, root).node
    for direction, up in (("upstream", True), ("downstream", False)):
        distance = _walk(edges, root, up)
        result = lineage.closure(store, node, direction)  # type: ignore[arg-type]
        assert result.nodes[0]["id"] == root
        assert {n["id"] for n in result.nodes} == set(distance)
        inner = {e for e in edges if e[1 if up else 0] in distance}
        assert set(result.edges) == inner and len(result.edges) == len(inner)
        depth = data.draw(st.integers(0, 4))
        near = {k for k, d in distance.items() if d <= depth}
        limited = lineage.closure(store, node, direction, depth=depth)  # type: ignore[arg-type]
        assert {n["id"] for n in limited.nodes} == near
        assert set(limited.edges) == {e for e in edges if e[0] in near and e[1] in near}


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=dags(), data=st.data())
def test_paths_are_what_is_downstream_of_one_end_and_upstream_of_the_other(
        store: Any, runs: list[dict[str, Any]], data: st.DataObject) -> None:
    store.append_batch(runs)
    edges = _edges(runs)
    nodes = _nodes(runs)
    source = data.draw(st.sampled_from(nodes))
    # Mostly a target that comes from the source, to test more than empty answers.
    reach = _walk(edges, source, up=False)
    below = [n for n in nodes if n in reach]
    target = data.draw(st.sampled_from(below) | st.sampled_from(nodes))
    on_path = set(_walk(edges, source, up=False)) & set(_walk(edges, target, up=True))
    result = lineage.between(store, resolve(store, source).node, resolve(store, target).node)
    assert result.source == source and result.root == target
    assert {n["id"] for n in result.nodes} == on_path
    assert not on_path or result.nodes[0]["id"] == target
    inner = {e for e in edges if e[0] in on_path and e[1] in on_path}
    assert set(result.edges) == inner and len(result.edges) == len(inner)


def _changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    def same(a: Any, b: Any) -> bool:
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)

    return {"added": {k: v for k, v in new.items() if k not in old},
            "removed": {k: v for k, v in old.items() if k not in new},
            "changed": {k: [old[k], new[k]] for k in old if k in new and not same(old[k], new[k])}}


def _naive_diff(runs: list[dict[str, Any]], a: str, b: str) -> dict[str, Any]:
    edges = _edges(runs)
    by_run = {run["run_id"]: run for run in runs}
    names = {ref["id"]: ref["name"] for run in runs for ref in run["inputs"] + run["outputs"]}
    sides = []
    for root in (a, b):
        distance = _walk(edges, root, up=True)
        in_closure = {k for k in distance if k in by_run}
        producers = sorted(s for s, d, _ in edges if d == root and s in by_run)
        step = root if root in by_run else (producers[0] if producers else None)
        sides.append((distance, in_closure, step))
    shared = sides[0][1] & sides[1][1]
    steps = {s[2] for s in sides if s[2] is not None}
    pairs = []
    if sides[0][2] is not None and sides[1][2] is not None:
        pairs.append(("", sides[0][2], sides[1][2]))
    nearest = []
    for distance, in_closure, _ in sides:
        best: dict[str, str] = {}
        for run_id in sorted(in_closure - shared - steps, key=lambda r: (distance[r], r)):
            best.setdefault(by_run[run_id]["name"], run_id)
        nearest.append(best)
    common = sorted(set(nearest[0]) & set(nearest[1]))
    pairs += [(n + ".", nearest[0][n], nearest[1][n]) for n in common]
    flat: dict[str, list[dict[str, Any]]] = {k: [{}, {}] for k in ("params", "metrics", "code",
                                                                    "env")}
    inputs: list[dict[str, dict[str, Any]]] = [{}, {}]
    for prefix, *pair in pairs:
        for side, run_id in enumerate(pair):
            run = by_run[run_id]
            for section, record in (("params", run["params"]), ("metrics", run["metrics"]),
                                    ("code", run.get("code") or {}),
                                    ("env", run.get("environment") or {})):
                flat[section][side].update({prefix + k: v for k, v in record.items()})
            roles: dict[str, dict[str, list[str]]] = {}
            for ref in run["inputs"]:
                roles.setdefault(prefix + ref["role"], {}).setdefault(names[ref["id"]], []).append(
                    ref["id"])
            for role, by_name in roles.items():
                inputs[side][role] = {n: v[0] if len(v) == 1 else sorted(v)
                                      for n, v in by_name.items()}
    nested: dict[str, dict[str, Any]] = {"added": {}, "removed": {}, "changed": {}}
    for role in set(inputs[0]) | set(inputs[1]):
        for section, values in _changes(inputs[0].get(role, {}), inputs[1].get(role, {})).items():
            if values:
                nested[section][role] = values
    counts = [{}, {}]  # type: list[dict[str, int]]
    for side, (_, in_closure, _) in enumerate(sides):
        for run_id in in_closure:
            name = by_run[run_id]["name"]
            counts[side][name] = counts[side].get(name, 0) + 1
    return {"params": _changes(*flat["params"]), "metrics": _changes(*flat["metrics"]),
            "code": _changes(*flat["code"]), "environment": _changes(*flat["env"]),
            "inputs": nested, "steps": _changes(*counts)}


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=dags(), data=st.data())
def test_diff_agrees_with_the_naive_reference(store: Any, runs: list[dict[str, Any]],
                                              data: st.DataObject) -> None:
    store.append_batch(runs)
    nodes = _nodes(runs)
    a, b = data.draw(st.sampled_from(nodes)), data.draw(st.sampled_from(nodes))
    result = diff(store, resolve(store, a).node, resolve(store, b).node)
    expected = _naive_diff(runs, a, b)
    environment = dict(result["environment"])
    assert environment.pop("packages") == {"added": {}, "removed": {}, "changed": {}}
    assert (result["from"], result["to"]) == (a, b)
    for key in ("params", "metrics", "code", "inputs", "steps"):
        assert _normal(result[key]) == _normal(expected[key]), key
    assert _normal(environment) == _normal(expected["environment"])
