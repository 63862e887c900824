"""PostgreSQL benchmarks: appends, verify and proofs, and lineage queries on the query graphs.

    python benchmarks/bench_postgres.py [--entries 1000000] [--repeats 9] [--no-graphs]

Runs against the server that ``make bench`` starts (FOREBEAR_TEST_POSTGRES, from
``scripts/services.sh``), each figure beside its floor measured in the same run:

- appends: single durable appends (one COMMIT each) against bare durable single-row
  commits; batched appends (10,000 per transaction, Merkle hashing and projections
  included) against bare bulk inserts; four processes appending at once;
- a journal of ``--entries`` entries: inclusion and consistency proofs, and ``verify``
  (every hash recomputed, every projection rebuilt in the server and compared);
- OpenLineage ingest over HTTP as deployed (docs/deployment.md): four ``forebear serve
  --worker none`` processes on one database and one ``forebear worker`` projecting,
  32 keep-alive clients spread over the four (``bench_ingest.load``);
- the graphs of ``bench_queries`` (``graphgen``: a 1,000-step chain, a 100k-node deep
  DAG, a 1M-node shallow graph), migrated once into databases of their own and kept
  while the server runs: forebear's upstream (every node with its details, every edge)
  against a bare recursive CTE returning only node ids, the ratio being the overhead.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_journal import append_proof_verify_figures, bench_single, typical_entry

from forebear.journal.keys import SigningKey
from forebear.store.postgres import PostgresStore, create

GRAPH_SHAPES = ("chain", "deep", "shallow")


def server_url() -> str:
    url = os.environ.get("FOREBEAR_TEST_POSTGRES")
    if not url:
        raise RuntimeError(
            "FOREBEAR_TEST_POSTGRES is not set: run `make bench` (it starts PostgreSQL)"
        )
    return url


def _database_url(name: str) -> str:
    return urlunsplit(urlsplit(server_url())._replace(path=f"/{name}"))


def _admin() -> Any:
    import psycopg

    return psycopg.connect(server_url(), autocommit=True)


def fresh_database(name: str) -> str:
    """(Re)create database ``name``; return its URL."""
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    return _database_url(name)


def drop_database(name: str) -> None:
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_exists(name: str) -> bool:
    with _admin() as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return found is not None


def fresh_store(name: str, signer: SigningKey) -> PostgresStore:
    url = fresh_database(name)
    create(url, signer=signer)
    return PostgresStore(url, signer=signer)


# -- floors ----------------------------------------------------------------------------------


def postgres_floor() -> dict[str, float]:
    """Bare PostgreSQL on the same server in the same run: what our figures are judged by."""
    url = fresh_database("forebear_bench_floor")
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (a BIGINT PRIMARY KEY, b BYTEA)")
            payload = b"x" * 600
            start = time.perf_counter()
            for i in range(1000):
                conn.execute("INSERT INTO t VALUES (%s, %s)", (i, payload))
            commits = 1000 / (time.perf_counter() - start)
            count = 200_000
            ids = list(range(1000, 1000 + count))
            start = time.perf_counter()
            with conn.transaction():
                conn.execute("INSERT INTO t SELECT * FROM unnest(%b::bigint[], %b::bytea[])",
                             (ids, [payload] * count))
            bulk = count / (time.perf_counter() - start)
            start = time.perf_counter()
            with conn.transaction(), conn.cursor().copy("COPY t FROM STDIN") as copy:
                for i in range(count):
                    copy.write_row((10_000_000 + i, payload))
            copied = count / (time.perf_counter() - start)
    finally:
        drop_database("forebear_bench_floor")
    return {
        "pg_durable_commits_per_s": commits,
        "pg_rows_per_s_one_txn": bulk,
        "pg_copy_rows_per_s": copied,
    }


# -- appends, proofs, verify -----------------------------------------------------------------


def _writer(url: str, key: str, worker: int, count: int, start_at: float) -> float:
    store = PostgresStore(url, signer=SigningKey.load(key))
    try:
        time.sleep(max(0.0, start_at - time.time()))  # everyone starts together
        for i in range(count):
            store.append(typical_entry(50_000_000 + worker * 1_000_000 + i))
        return time.time()
    finally:
        store.close()


def concurrent_appends(url: str, key: Path, writers: int = 4, each: int = 500) -> float:
    """Single durable appends from ``writers`` processes at once: entries per second."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(writers) as pool:
        start_at = time.time() + 5.0  # after every process has imported and connected
        ends = pool.starmap(_writer, [(url, str(key), w, each, start_at) for w in range(writers)])
    return writers * each / (max(ends) - start_at)


def journal_figures(entries: int) -> dict[str, float]:
    """Append rates, proof times and verify rate on a journal of ``entries`` entries."""
    results: dict[str, float] = {}
    signer = SigningKey.generate("bench.forebear/postgres")
    store = fresh_store("forebear_bench_journal", signer)
    try:
        results["single_durable_appends_per_s"] = statistics.median(
            bench_single(store, 1000) for _ in range(3)
        )
        with tempfile.TemporaryDirectory() as tmp:
            key = Path(tmp) / "signing.key"
            signer.save(key)
            results["four_writers_durable_appends_per_s"] = concurrent_appends(store.url, key)
        results.update(append_proof_verify_figures(store, entries))
    finally:
        store.close()
        drop_database("forebear_bench_journal")
    return results


# -- HTTP ingest with four servers ---------------------------------------------------------


def ingest_figures(events: int = 20_000, servers: int = 4, repeats: int = 3,
                   ) -> dict[str, float]:
    """``bench_ingest`` against ``servers`` replicas on one fresh PostgreSQL database."""
    import bench_ingest

    runs = []
    for _ in range(repeats):
        signer = SigningKey.generate("bench.forebear/ingest")
        fresh_store("forebear_bench_ingest", signer).close()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                key = Path(tmp) / "signing.key"
                signer.save(key)
                env = bench_ingest.clean_env() | {
                    "FOREBEAR_STORE": _database_url("forebear_bench_ingest"),
                    "FOREBEAR_KEY": str(key)}
                figures = bench_ingest.load(env, events, 32, 2,
                                            [("--worker", "none")] * servers, workers=1)
        finally:
            drop_database("forebear_bench_ingest")
        del figures["commits"]  # the first server's group commits only: not the store's
        runs.append(figures)
    return {f"ingest_{servers}_servers_{key}": value
            for key, value in bench_ingest.medians(runs).items()}


# -- lineage queries on the query benchmark's graphs -----------------------------------------


def graph_store(shape: str, seed: int, log: Any) -> tuple[PostgresStore, dict[str, Any]]:
    """The ``graphgen`` graph of ``shape`` in PostgreSQL, migrated once and then reused."""
    import graphgen

    from forebear.store.migrate import migrate, open_target
    from forebear.store.sqlite import SqliteStore

    store_dir, probes = graphgen.cached_store(shape, seed, log=log)
    signer = SigningKey.load(store_dir / "signing.key")
    source = SqliteStore(store_dir / "forebear.db", signer=signer)
    name = f"forebear_bench_{shape}_s{seed}_v{graphgen.VERSION}"
    try:
        if database_exists(name):
            target = PostgresStore(_database_url(name), signer=signer)
            if target.size() == source.size() and target.root() == source.root():
                return target, probes
            target.close()
        log(f"graph {shape}: migrating {source.size():,} entries into PostgreSQL ...")
        fresh_database(name)
        target = open_target(_database_url(name), signer)
        started = time.perf_counter()
        report = migrate(source, target, batch=10_000)
        assert report.ok, report.problems[:3]
        target.execute("ANALYZE")
        probes = {**probes, "migrate_seconds": round(time.perf_counter() - started, 1)}
        return target, probes
    finally:
        source.close()


def query_figures(seed: int, repeats: int, log: Any) -> dict[str, Any]:
    """forebear's upstream on PostgreSQL against a bare recursive CTE, on every graph."""
    import bench_queries

    from forebear.graph import lineage
    from forebear.graph.refs import resolve

    out: dict[str, Any] = {}
    for shape in GRAPH_SHAPES:
        store, probes = graph_store(shape, seed, log)
        try:
            edges = store.execute("SELECT COUNT(*) FROM edge")[0][0]
            out[f"{shape}_graph_edges"] = int(edges)
            if "migrate_seconds" in probes:
                out[f"{shape}_migrate_seconds"] = probes["migrate_seconds"]
            for label, (query_shape, keys, target) in bench_queries.QUERIES.items():
                if query_shape != shape or len(keys) != 1:
                    continue
                short = bench_queries._SHORT[label]
                root = resolve(store, probes[keys[0]]).node
                ms, result = bench_queries._median_ms(
                    lambda store=store, root=root: lineage.upstream(store, root), repeats
                )
                cte, params = lineage.closure_cte("upstream", None)
                bare = cte.replace("?", "%s") + "SELECT id FROM c"
                floor, ids = bench_queries._median_ms(
                    lambda store=store, sql=bare, args=[root, *params]: store.execute(sql, args),
                    repeats,
                )
                assert len(ids) == len(result.nodes), (len(ids), len(result.nodes))
                rows_ms, _ = bench_queries._median_ms(
                    bench_queries.rows_floor(store, root), repeats)
                out[f"{short}_rows_only_ms"] = rows_ms
                out[f"{short}_upstream_nodes"] = len(result.nodes)
                out[f"{short}_ms"] = ms
                out[f"{short}_bare_cte_ms"] = floor
                out[f"{short}_over_bare_cte"] = ms / floor
                out[f"{short}_target_ms"] = target
        finally:
            store.close()
    return out


def run(entries: int = 1_000_000, repeats: int = 9, graphs: bool = True,
        seed: int = 7) -> dict[str, Any]:
    """Every PostgreSQL figure, flat (what ``benchmarks/run.py`` prints and saves)."""

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    results: dict[str, Any] = {}
    with _admin() as conn:
        results["postgres_version"] = conn.execute("SHOW server_version").fetchone()[0]
        results["synchronous_commit"] = conn.execute("SHOW synchronous_commit").fetchone()[0]
    results.update(postgres_floor())
    results.update(journal_figures(entries))
    results.update(ingest_figures())
    if graphs:
        try:
            results.update(query_figures(seed, repeats, log))
        except ImportError as exc:  # the query layer is optional for this benchmark
            results["queries_unavailable"] = str(exc)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-graphs", action="store_true", help="skip the query graphs")
    args = parser.parse_args()
    figures = run(args.entries, args.repeats, not args.no_graphs, args.seed)
    for key, value in figures.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        print(f"{key:40} {shown}")


if __name__ == "__main__":
    main()
