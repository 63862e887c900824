"""Lineage query benchmarks, forebear against ml-metadata on the same graphs.

    python benchmarks/bench_queries.py [--seed 7] [--repeats 9] [--no-mlmd]

Graphs come from ``graphgen`` (cached under ``.bench/``): a 1,000-step fine-tune chain,
a 100,000-node deep DAG and a 1M-node shallow graph. forebear's figures are medians of
in-process calls that return the whole answer (every node with its details and every
edge, as ``forebear upstream --json`` prints them). Beside them: a bare recursive CTE
over the edge table returning only node ids (the floor), *rows only* (forebear's own
statements, their rows fetched and nothing built), and the CLI as a user waits for it
(``forebear upstream`` in a fresh process, output to a pipe, as JSON and as the tree),
and ``forebear path`` to the same node from two of its ancestors.
ml-metadata (installed by this script into its own venv, ``.bench/mlmd-venv``, as it
needs protobuf < 5) gets the same graphs through ``mlmd_worker.py`` and is timed in the
same run: its single ``get_lineage_subgraph`` call (which stops at 100 hops) and the
calls needed for a complete answer.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import graphgen

from forebear.graph import lineage
from forebear.graph.diff import diff
from forebear.graph.refs import resolve
from forebear.store.registry import open_store

HERE = Path(__file__).resolve().parent
MLMD_VENV = graphgen.BENCH_DIR / "mlmd-venv"
MLMD_PACKAGES = ["ml-metadata", "protobuf<5"]

# label -> (shape, probe(s), target ms)
QUERIES: dict[str, tuple[str, tuple[str, ...], float]] = {
    "upstream of a 1,000-step chain's tip": ("chain", ("chain_tip",), 10.0),
    "upstream, ~80k ancestors, 100k-node deep DAG": ("deep", ("deep_tip",), 300.0),
    "upstream, ~6k ancestors, 1M-node shallow graph": ("shallow", ("shallow_model",), 25.0),
    "diff of two models, ~1k ancestors each": ("shallow", ("diff_a", "diff_b"), 100.0),
}


def _median_ms(action: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    action()  # warm the page cache and the statement cache
    timings = []
    result = None
    for _ in range(repeats):
        result = None  # free the last answer outside the timed part
        began = time.perf_counter()
        result = action()
        timings.append(time.perf_counter() - began)
    return statistics.median(timings) * 1000, result


def rows_floor(store: Any, root: int) -> Callable[[], int]:
    """The statements ``lineage.upstream`` runs, their rows fetched and nothing built.

    The closure's edges, then the node details in the same batches; what is left of the
    answer's time above this is turning rows into NODEs and edges in Python.
    """
    from forebear.graph import _sql

    def fetch() -> int:
        rows = lineage.closure_edges(store, root, "upstream")
        ids = sorted({src for src, _, _ in rows} | {root})
        count = len(rows)
        for part in _sql.chunks(ids):
            artifacts, executions = _sql.node_rows(store, part)
            count += len(artifacts) + len(executions)
        return count

    return fetch


def _compiled() -> None:
    """Byte-compile forebear's sources, as installing its wheel does.

    An editable install imports from ``src/``; where PYTHONDONTWRITEBYTECODE is set (as
    on these machines) every fresh process would compile each module again, about
    45 ms that no installed copy pays.
    """
    import compileall

    import forebear

    compileall.compile_dir(str(Path(forebear.__file__).parent), quiet=1)


def cli_ms(store_dir: Path, ref: str, *extra: str, repeats: int = 3) -> float:
    """Median wall time of ``forebear upstream REF`` as a user runs it: a fresh process,
    output to a pipe (``--json``, or the tree as plain lines)."""
    command = [sys.executable, "-m", "forebear", "upstream", ref, "--store", str(store_dir),
               *extra]
    _compiled()
    timings = []
    for _ in range(repeats):
        began = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        timings.append(time.perf_counter() - began)
    return statistics.median(timings) * 1000


def mlmd_python(log: Callable[[str], None]) -> tuple[Path | None, str]:
    """The ml-metadata venv's python, created on first use; or None and why not."""
    python = MLMD_VENV / "bin" / "python"
    probe = [str(python), "-c", "import ml_metadata.metadata_store.metadata_store"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python, ""
    log(f"installing {' '.join(MLMD_PACKAGES)} into {MLMD_VENV} ...")
    steps = [[sys.executable, "-m", "venv", "--clear", str(MLMD_VENV)],
             [str(python), "-m", "pip", "install", "--quiet", *MLMD_PACKAGES], probe]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return None, f"`{' '.join(step)}` failed: " + " / ".join(tail)
    return python, ""


def bench_forebear(shape: str, probes: dict[str, Any], store_dir: Path, repeats: int,
                   ) -> dict[str, Any]:
    """forebear's figures for the queries on one graph."""
    store = open_store(str(store_dir))
    out: dict[str, Any] = {}
    try:
        for label, (query_shape, keys, target) in QUERIES.items():
            if query_shape != shape:
                continue
            ids = [probes[key] for key in keys]
            if len(ids) == 1:
                ms, result = _median_ms(
                    lambda key=ids[0]: lineage.upstream(store, resolve(store, key).node),
                    repeats)
                nodes = len(result.nodes)
                cte, params = lineage.closure_cte("upstream", None)
                root = resolve(store, ids[0]).node
                bare = cte + "SELECT id FROM c"
                floor, _ = _median_ms(
                    lambda sql=bare, args=[root, *params]: store.execute(sql, args), repeats)
                rows_ms, _ = _median_ms(rows_floor(store, root), repeats)
                out[label] = {"ms": ms, "nodes": nodes, "edges": len(result.edges),
                              "floor_ms": floor, "rows_ms": rows_ms, "target_ms": target,
                              "cli_json_ms": cli_ms(store_dir, ids[0], "--json"),
                              "cli_tree_ms": cli_ms(store_dir, ids[0])}
                if nodes <= 20_000:
                    out[label]["paths"] = bench_paths(store, root, result.nodes, repeats)
            else:
                ms, _ = _median_ms(
                    lambda a=ids[0], b=ids[1]: diff(store, resolve(store, a).node,
                                                    resolve(store, b).node), repeats)
                sizes = [len(lineage.upstream(store, resolve(store, k).node).nodes) for k in ids]
                out[label] = {"ms": ms, "nodes": sizes, "target_ms": target}
    finally:
        store.close()
    return out


def bench_paths(store: Any, root: int, closure: list[dict[str, Any]], repeats: int,
                ) -> dict[str, Any]:
    """``forebear path`` to ``root`` from two of its ancestors: the raw dataset recorded
    first, and the environment, a hub that most of the graph's runs used."""
    starts = {
        "data": min((n for n in closure if n["type"] == "artifact" and n["kind"] == "data"),
                    key=lambda n: resolve(store, n["id"]).node, default=None),
        "environment": next((n for n in closure if n["kind"] == "environment"), None),
    }
    out: dict[str, Any] = {}
    for name, node in starts.items():
        if node is None:
            continue
        source = resolve(store, node["id"]).node
        ms, found = _median_ms(lambda s=source: lineage.between(store, s, root), repeats)
        out[name] = {"ms": ms, "nodes": len(found.nodes), "edges": len(found.edges)}
    return out


def bench_mlmd(python: Path, shape: str, probes: dict[str, Any], store_dir: Path,
               repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    """ml-metadata's figures for the same queries, from the worker in its venv."""
    queries = [
        {"label": label, "kind": "upstream" if len(keys) == 1 else "diff",
         "keys": [probes[key] for key in keys]}
        for label, (query_shape, keys, _) in QUERIES.items() if query_shape == shape
    ]
    request = {"forebear_db": str(store_dir / "forebear.db"),
               "mlmd_db": str(store_dir.parent / "mlmd.sqlite"),
               "repeats": repeats, "queries": queries}
    log(f"ml-metadata: loading and querying the {shape} graph ...")
    done = subprocess.run([str(python), str(HERE / "mlmd_worker.py"), json.dumps(request)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["worker failed"]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(*, seed: int = 7, repeats: int = 9, mlmd: bool = True,
            log: Callable[[str], None] = lambda text: print(text, file=sys.stderr),
            ) -> dict[str, Any]:
    """Every figure, keyed by query label; ``mlmd_unavailable`` says why when it is."""
    results: dict[str, Any] = {"forebear": {}, "mlmd": {}, "graphs": {}}
    python, why = mlmd_python(log) if mlmd else (None, "skipped (--no-mlmd)")
    if python is None:
        results["mlmd_unavailable"] = why
    for shape in ("chain", "deep", "shallow"):
        log(f"graph {shape}: generating or reusing the cached store ...")
        store_dir, probes = graphgen.cached_store(shape, seed, log=log)
        results["graphs"][shape] = {"nodes": probes["nodes"], "runs": probes["runs"],
                                    "generate_seconds": probes["seconds"]}
        results["forebear"].update(bench_forebear(shape, probes, store_dir, repeats))
        if python is not None:
            figures = bench_mlmd(python, shape, probes, store_dir, max(3, repeats // 3), log)
            if "error" in figures:
                results["mlmd"][shape] = figures
                continue
            results["graphs"][shape]["mlmd_load_seconds"] = figures.pop("load_seconds")
            results["mlmd"].update(figures)
    return results


_SHORT = {
    "upstream of a 1,000-step chain's tip": "chain",
    "upstream, ~80k ancestors, 100k-node deep DAG": "deep",
    "upstream, ~6k ancestors, 1M-node shallow graph": "shallow",
    "diff of two models, ~1k ancestors each": "diff",
}


def flatten(results: dict[str, Any]) -> dict[str, Any]:
    """The figures as one flat mapping (what ``benchmarks/run.py`` prints and saves)."""
    flat: dict[str, Any] = {}
    for label, mine in results["forebear"].items():
        name = _SHORT[label]
        flat[f"{name}_ms"] = mine["ms"]
        flat[f"{name}_target_ms"] = mine["target_ms"]
        if "floor_ms" in mine:
            flat[f"{name}_bare_cte_ms"] = mine["floor_ms"]
            flat[f"{name}_over_bare_cte"] = mine["ms"] / mine["floor_ms"]
            flat[f"{name}_rows_only_ms"] = mine["rows_ms"]
            flat[f"{name}_cli_json_ms"] = mine["cli_json_ms"]
            flat[f"{name}_cli_tree_ms"] = mine["cli_tree_ms"]
        for start, path in mine.get("paths", {}).items():
            flat[f"{name}_path_from_{start}_ms"] = path["ms"]
            flat[f"{name}_path_from_{start}_nodes"] = path["nodes"]
        theirs = results["mlmd"].get(label)
        if theirs:
            if "one_call_ms" in theirs:
                flat[f"{name}_mlmd_one_call_ms"] = theirs["one_call_ms"]
                flat[f"{name}_mlmd_one_call_nodes"] = theirs["one_call_nodes"]
            flat[f"{name}_mlmd_complete_ms"] = theirs["complete_ms"]
            flat[f"{name}_mlmd_complete_over_forebear"] = theirs["complete_ms"] / mine["ms"]
    if "mlmd_unavailable" in results:
        flat["mlmd_unavailable"] = results["mlmd_unavailable"]
    return flat


def run() -> dict[str, Any]:
    """Run every query benchmark at full size; print the table; return flat figures."""
    results = measure()
    print(report(results), file=sys.stderr)
    return flatten(results)


def report(results: dict[str, Any]) -> str:
    """The figures as a table, with ratios."""
    lines = []
    for shape, graph in results["graphs"].items():
        nodes = sum(graph["nodes"].values())
        extra = (f", ml-metadata load {graph['mlmd_load_seconds']} s"
                 if "mlmd_load_seconds" in graph else "")
        lines.append(f"graph {shape}: {nodes:,} nodes, {graph['runs']:,} runs "
                     f"(generated in {graph['generate_seconds']} s{extra})")
    lines.append("")
    for label, mine in results["forebear"].items():
        verdict = "ok" if mine["ms"] <= mine["target_ms"] else "OVER TARGET"
        lines.append(f"{label}")
        lines.append(f"  forebear      {mine['ms']:9.1f} ms  (target <= {mine['target_ms']:g} ms: "
                     f"{verdict}); nodes {mine['nodes']}"
                     + (f", edges {mine['edges']:,}" if "edges" in mine else ""))
        if "floor_ms" in mine:
            lines.append(f"  bare CTE      {mine['floor_ms']:9.1f} ms  (node ids only); "
                         f"forebear / floor = {mine['ms'] / mine['floor_ms']:.2f}")
            lines.append(f"  rows only     {mine['rows_ms']:9.1f} ms  (forebear's statements, "
                         "rows fetched, no answer built)")
            lines.append(f"  CLI           {mine['cli_json_ms']:9.1f} ms  `forebear upstream "
                         f"--json` in a fresh process; the tree {mine['cli_tree_ms']:.1f} ms")
        for start, path in mine.get("paths", {}).items():
            lines.append(f"  path          {path['ms']:9.1f} ms  `forebear path` from the "
                         f"{start} node, {path['nodes']:,} nodes and {path['edges']:,} edges "
                         "on the paths")
        theirs = results["mlmd"].get(label)
        if theirs:
            if "one_call_ms" in theirs:
                lines.append(f"  ml-metadata   {theirs['one_call_ms']:9.1f} ms  one call, "
                             f"{theirs['one_call_nodes']:,} nodes (stops at 100 hops); "
                             f"ml-metadata / forebear = {theirs['one_call_ms'] / mine['ms']:.1f}")
            lines.append(f"  ml-metadata   {theirs['complete_ms']:9.1f} ms  complete answer, "
                         f"nodes {theirs['complete_nodes']}; "
                         f"ml-metadata / forebear = {theirs['complete_ms'] / mine['ms']:.1f}")
        lines.append("")
    if "mlmd_unavailable" in results:
        lines.append(f"ml-metadata not measured: {results['mlmd_unavailable']}")
    for shape, figures in results["mlmd"].items():
        if isinstance(figures, dict) and "error" in figures:
            lines.append(f"ml-metadata failed on the {shape} graph: {figures['error']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--no-mlmd", action="store_true", help="skip ml-metadata")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    results = measure(seed=args.seed, repeats=args.repeats, mlmd=not args.no_mlmd)
    print(json.dumps(results, indent=1) if args.json else report(results))


if __name__ == "__main__":
    main()
