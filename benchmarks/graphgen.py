"""Realistic synthetic lineage, written through the store's batch path.

Three shapes, each deterministic from a seed:

``chain``    one pretrained model fine-tuned ``steps`` times in a row, each step on a new
             data batch, with evaluations every 10 steps and a deployment every 100: the
             tip's upstream is the whole chain (thousands of hops).
``deep``     continuous training, ~``nodes`` nodes: every step ingests a batch,
             preprocesses it and trains the next model from the previous one, replaying an
             older batch and sometimes distilling from an older model (so it is a DAG, not
             a chain); most steps are evaluated, some deployed. The last model has ~80% of
             the graph upstream of it.
``shallow``  ~``nodes`` nodes of independent projects, each wide and shallow: hundreds of
             raw shards ingested and preprocessed, one feature set built from all of them,
             a hyperparameter sweep of models trained on it, each evaluated, the best one
             deployed and fine-tuned. Project 0 has 1,200 shards (its models have ~6,000
             ancestors); project 1 is a *pair*: the same pipeline run twice with 10% of
             the shards re-ingested, new preprocessing code, a new environment and new
             training parameters, so its two models (~1,000 ancestors each) have
             something to diff.

Every run is one whole ``execution`` entry carrying code and environment anchors, params,
metrics, an actor and times; they are appended 10,000 per batch. ``cached_store`` keeps
each generated store under ``.bench/<shape>-<size>-s<seed>/`` with ``probes.json``, the
ids of the nodes the benchmarks query.

    python benchmarks/graphgen.py shallow --nodes 1000000 --seed 7
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BATCH = 10_000
VERSION = 1  # part of the cache key: bump it when a shape changes
BENCH_DIR = Path(__file__).resolve().parent.parent / ".bench"
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

Entry = dict[str, Any]
Probes = dict[str, Any]


class Ids:
    """Deterministic run ids, digests and times from one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.runs = 0
        self.nodes = 0

    def run_id(self) -> str:
        """A UUIDv7-shaped id whose time part grows with every run."""
        self.runs += 1
        ms = int(_EPOCH.timestamp() * 1000) + self.runs * 1000
        rand = self.rng.getrandbits(74)
        value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (
            rand & ((1 << 62) - 1)
        )
        text = f"{value:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    def time(self) -> str:
        """The current run's time: one second per run since 2026-01-01."""
        moment = _EPOCH + timedelta(seconds=self.runs)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def digest(self, label: str) -> str:
        """A content digest standing for the bytes named ``label``."""
        return "sha256:" + hashlib.sha256(f"{self.seed}/{label}".encode()).hexdigest()

    def hex40(self, label: str) -> str:
        """A git commit id."""
        return hashlib.sha1(f"{self.seed}/{label}".encode()).hexdigest()


def artifact(
    ids: Ids,
    label: str,
    *,
    kind: str,
    name: str,
    role: str = "",
    uri: str | None = None,
    size: int | None = None,
) -> Entry:
    """An artifact ref with a content digest."""
    digest = ids.digest(label)
    return {"id": digest, "digest": digest, "kind": kind, "name": name, "uri": uri,
            "size": size, "role": role}


def dataset(namespace: str, name: str, *, role: str) -> Entry:
    """An artifact known only by name (an external table or bucket path)."""
    return {"id": f"dataset:{namespace}:{name}", "digest": None, "kind": "data", "name": name,
            "uri": None, "size": None, "role": role}


def as_input(ref: Entry, role: str) -> Entry:
    """The same artifact used in ``role``."""
    return {**ref, "role": role}


def code_record(ids: Ids, project: str, version: int) -> Entry:
    """A code anchor: one git commit of ``project``."""
    commit = ids.hex40(f"{project}/commit/{version}")
    return {"digest": ids.digest(f"{project}/code/{version}"), "commit": commit,
            "branch": "main", "remote": f"git@github.com:acme/{project}.git", "dirty": False,
            "name": f"{project}@{commit[:7]}"}


def env_record(ids: Ids, version: int) -> Entry:
    """An environment anchor: one package manifest."""
    torch = ["2.1.2", "2.2.1", "2.3.0", "2.4.1"][version % 4]
    return {"digest": ids.digest(f"env/{version}"), "python": "3.11.7",
            "implementation": "cpython", "platform": "Linux 6.1.0", "machine": "x86_64",
            "image_digest": None, "cuda": "12.1", "package_count": 180 + version,
            "name": f"torch-{torch}"}


def execution(
    ids: Ids,
    *,
    kind: str,
    name: str,
    inputs: list[Entry],
    outputs: list[Entry],
    params: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    code: Entry | None = None,
    environment: Entry | None = None,
    actor: str = "pipeline",
    status: str = "succeeded",
) -> Entry:
    """A whole run as one ``execution`` entry."""
    run_id = ids.run_id()
    started = ids.time()
    entry: Entry = {
        "type": "execution",
        "run_id": run_id,
        "kind": kind,
        "name": name,
        "namespace": "bench",
        "time": started,
        "started_at": started,
        "status": status,
        "actor": actor,
        "params": params or {},
        "metrics": metrics or {},
        "inputs": inputs,
        "outputs": outputs,
    }
    if code is not None:
        entry["code"] = code
    if environment is not None:
        entry["environment"] = environment
    ids.nodes += 1 + len(outputs)
    return entry


def _metrics(rng: random.Random) -> dict[str, float]:
    loss = round(rng.uniform(0.05, 0.9), 4)
    return {"loss": loss, "accuracy": round(1 - loss / 2, 4)}


# -- shapes -------------------------------------------------------------------------------


def chain(seed: int, probes: Probes, *, steps: int = 1000) -> Iterator[Entry]:
    """A model fine-tuned ``steps`` times in a row (see the module docstring)."""
    ids = Ids(seed)
    rng = ids.rng
    codes = [code_record(ids, "assistant", v) for v in range(steps // 100 + 1)]
    envs = [env_record(ids, v) for v in range(steps // 250 + 1)]
    ids.nodes += len(codes) + len(envs) + 3
    corpus = artifact(ids, "corpus", kind="data", name="corpus.parquet", size=10**10)
    yield execution(ids, kind="ingest", name="ingest-corpus",
                    inputs=[dataset("warehouse", "web.pages", role="source")],
                    outputs=[corpus], code=codes[0], environment=envs[0])
    model = artifact(ids, "model/0", kind="model", name="model.pt", size=10**9)
    yield execution(ids, kind="train", name="pretrain",
                    inputs=[as_input(corpus, "training_data")], outputs=[model],
                    params={"lr": 3e-4, "epochs": 1, "batch_size": 512},
                    metrics=_metrics(rng), code=codes[0], environment=envs[0])
    evalset = artifact(ids, "evalset", kind="data", name="eval.parquet")
    for step in range(1, steps + 1):
        batch = artifact(ids, f"batch/{step}", kind="data", name=f"batch-{step:05}.parquet",
                         uri=f"s3://acme-data/batches/{step:05}.parquet", size=10**8)
        ids.nodes += 1
        tuned = artifact(ids, f"model/{step}", kind="model", name="model.pt", size=10**9)
        yield execution(
            ids, kind="finetune", name="finetune",
            inputs=[as_input(model, "base_model"), as_input(batch, "training_data")],
            outputs=[tuned],
            params={"lr": round(rng.uniform(1e-5, 1e-4), 7), "epochs": 1, "seed": step,
                    "batch_size": 64, "warmup_steps": 100},
            metrics=_metrics(rng), code=codes[step // 100], environment=envs[step // 250],
        )
        model = tuned
        if step % 10 == 0:
            yield execution(
                ids, kind="evaluate", name="evaluate",
                inputs=[as_input(model, "model"), as_input(evalset, "eval_data")],
                outputs=[artifact(ids, f"report/{step}", kind="report", name="report.json")],
                metrics=_metrics(rng), code=codes[step // 100], environment=envs[step // 250],
            )
        if step % 100 == 0:
            yield _deploy(ids, model, "assistant-prod")
    probes["chain_tip"] = model["id"]
    probes["chain_steps"] = steps


def _deploy(ids: Ids, model: Entry, target: str) -> Entry:
    endpoint = artifact(ids, f"endpoint/{target}/{model['id']}", kind="endpoint", name=target)
    return execution(ids, kind="deploy", name=f"deploy {target}",
                     inputs=[as_input(model, "model")], outputs=[endpoint],
                     params={"target": target}, actor="release-bot")


def deep(seed: int, probes: Probes, *, nodes: int = 100_000) -> Iterator[Entry]:
    """Continuous training as a deep DAG of about ``nodes`` nodes."""
    ids = Ids(seed)
    rng = ids.rng
    code = code_record(ids, "stream", 0)
    env = env_record(ids, 0)
    ids.nodes += 4
    holdout = artifact(ids, "holdout", kind="data", name="holdout.parquet")
    cleans: list[Entry] = []
    models: list[Entry] = []
    model: Entry | None = None
    step = 0
    while ids.nodes < nodes - 8:
        step += 1
        if step % 500 == 0:
            code = code_record(ids, "stream", step)
            ids.nodes += 1
        batch = artifact(ids, f"batch/{step}", kind="data", name="events.parquet")
        yield execution(ids, kind="ingest", name="ingest",
                        inputs=[dataset("kafka", "events", role="source")], outputs=[batch],
                        params={"offset": step * 100_000}, code=code, environment=env)
        clean = artifact(ids, f"clean/{step}", kind="data", name="clean.parquet")
        yield execution(ids, kind="preprocess", name="preprocess",
                        inputs=[as_input(batch, "raw")], outputs=[clean],
                        params={"dedupe": True}, code=code, environment=env)
        inputs = [as_input(clean, "training_data")]
        if model is not None:
            inputs.append(as_input(model, "base_model"))
        if len(cleans) > 10:
            inputs.append(as_input(cleans[rng.randrange(len(cleans) - 10)], "replay_data"))
        if len(models) > 50 and rng.random() < 0.2:
            inputs.append(as_input(models[-rng.randint(2, 50)], "teacher"))
        model = artifact(ids, f"model/{step}", kind="model", name="model.pt")
        yield execution(ids, kind="train", name="train-online", inputs=inputs, outputs=[model],
                        params={"lr": 1e-4, "step": step}, metrics=_metrics(rng),
                        code=code, environment=env)
        cleans.append(clean)
        models.append(model)
        if rng.random() < 0.75:
            yield execution(
                ids, kind="evaluate", name="evaluate",
                inputs=[as_input(model, "model"), as_input(holdout, "eval_data")],
                outputs=[artifact(ids, f"report/{step}", kind="report", name="report.json")],
                metrics=_metrics(rng), code=code, environment=env,
            )
        if step % 200 == 0:
            yield _deploy(ids, model, "recsys-prod")
    assert model is not None
    probes["deep_tip"] = model["id"]
    probes["deep_steps"] = step


def _project(
    ids: Ids,
    project: str,
    shards: int,
    sweep: int,
    probes: Probes,
    *,
    version: int = 0,
    reuse: list[Entry] | None = None,
    lr: float | None = None,
) -> Iterator[Entry]:
    """One wide, shallow project; fills probes[project] with its models and raw shards."""
    rng = ids.rng
    code = code_record(ids, project, version)
    env = env_record(ids, version)
    ids.nodes += 2
    raws: list[Entry] = []
    for i in range(shards):
        if reuse is not None and i < len(reuse) and rng.random() < 0.9:
            raws.append(reuse[i])  # unchanged shard: the same bytes, the same ingest run
            continue
        raw = artifact(ids, f"{project}/raw/{version}/{i}", kind="data",
                       name=f"part-{i:05}.parquet",
                       uri=f"s3://{project}-lake/raw/part-{i:05}.parquet", size=5 * 10**8)
        ids.nodes += 1  # the source dataset
        yield execution(ids, kind="ingest", name="ingest",
                        inputs=[dataset(f"s3://{project}-source", f"part-{i:05}", role="source")],
                        outputs=[raw], params={"format": "parquet"}, code=code,
                        environment=env)
        raws.append(raw)
    cleans = []
    for i, raw in enumerate(raws):
        clean = artifact(ids, f"{project}/clean/{version}/{i}", kind="data",
                         name=f"clean-{i:05}.parquet")
        yield execution(ids, kind="preprocess", name="preprocess",
                        inputs=[as_input(raw, "raw")], outputs=[clean],
                        params={"dedupe": True, "min_length": 16 + version},
                        metrics={"rows": rng.randint(10**5, 10**6)}, code=code, environment=env)
        cleans.append(clean)
    features = artifact(ids, f"{project}/features/{version}", kind="data",
                        name="features.parquet", size=10**10)
    yield execution(ids, kind="aggregate", name="build-features",
                    inputs=[as_input(c, "shard") for c in cleans], outputs=[features],
                    params={"window_days": 30}, code=code, environment=env)
    models = []
    for j in range(sweep):
        model = artifact(ids, f"{project}/model/{version}/{j}", kind="model", name="model.pkl")
        params = {"lr": lr if lr is not None else round(rng.choice([1e-3, 3e-3, 1e-2]), 4),
                  "max_depth": rng.randint(3, 12), "n_estimators": rng.choice([100, 300]),
                  "seed": j}
        yield execution(ids, kind="train", name="train",
                        inputs=[as_input(features, "training_data")], outputs=[model],
                        params=params, metrics=_metrics(rng), code=code, environment=env)
        models.append(model)
    holdout = artifact(ids, f"{project}/holdout", kind="data", name="holdout.parquet")
    ids.nodes += 1
    for j, model in enumerate(models):
        yield execution(
            ids, kind="evaluate", name="evaluate",
            inputs=[as_input(model, "model"), as_input(holdout, "eval_data")],
            outputs=[artifact(ids, f"{project}/report/{version}/{j}", kind="report",
                              name="report.json")],
            metrics=_metrics(rng), code=code, environment=env,
        )
    best = models[0]
    yield _deploy(ids, best, f"{project}-prod")
    for k in range(3):
        tuned = artifact(ids, f"{project}/tuned/{version}/{k}", kind="model", name="model.pkl")
        extra = artifact(ids, f"{project}/extra/{version}/{k}", kind="data",
                         name=f"extra-{k}.parquet")
        ids.nodes += 1
        yield execution(ids, kind="finetune", name="finetune",
                        inputs=[as_input(best, "base_model"), as_input(extra, "training_data")],
                        outputs=[tuned], params={"lr": 1e-4}, metrics=_metrics(rng),
                        code=code, environment=env)
        best = tuned
    yield _deploy(ids, best, f"{project}-prod")
    probes.setdefault("projects", {})[project] = {"models": [m["id"] for m in models],
                                                   "raws": raws}


def shallow(seed: int, probes: Probes, *, nodes: int = 1_000_000) -> Iterator[Entry]:
    """Independent wide, shallow projects, about ``nodes`` nodes in all."""
    ids = Ids(seed)
    rng = ids.rng
    found: Probes = {}
    yield from _project(ids, "p0000", 1200, 40, found)
    # The diff pair: one pipeline, run twice with changes everywhere.
    yield from _project(ids, "pair", 199, 1, found, version=0, lr=0.01)
    first = found["projects"]["pair"]["models"]
    yield from _project(ids, "pair", 199, 1, found, version=1, lr=0.02,
                        reuse=found["projects"]["pair"]["raws"])
    number = 1
    while ids.nodes < nodes:
        shards = min(int(rng.lognormvariate(5.5, 0.8)), 1500, max((nodes - ids.nodes) // 6, 5))
        yield from _project(ids, f"p{number:04}", max(shards, 5), rng.randint(10, 60), found)
        number += 1
    probes["shallow_model"] = found["projects"]["p0000"]["models"][7]
    probes["diff_a"] = first[0]
    probes["diff_b"] = found["projects"]["pair"]["models"][0]
    probes["projects"] = number


SHAPES: dict[str, Callable[..., Iterator[Entry]]] = {
    "chain": chain,
    "deep": deep,
    "shallow": shallow,
}


def write(store: Any, entries: Iterator[Entry], *, batch: int = BATCH,
          progress: Callable[[int], None] | None = None) -> int:
    """Append ``entries`` through ``append_batch``, ``batch`` at a time; return the count."""
    pending: list[Entry] = []
    count = 0
    for entry in entries:
        pending.append(entry)
        if len(pending) >= batch:
            store.append_batch(pending)
            count += len(pending)
            pending = []
            if progress is not None:
                progress(count)
    if pending:
        store.append_batch(pending)
        count += len(pending)
    return count


def cached_store(shape: str, seed: int = 7, *, size: int | None = None,
                 root: Path = BENCH_DIR, log: Callable[[str], None] | None = None,
                 ) -> tuple[Path, Probes]:
    """The store directory of ``shape`` at ``size`` from ``seed``, generated once."""
    from forebear.store.registry import init_store, open_store

    options = {} if size is None else {"steps" if shape == "chain" else "nodes": size}
    label = f"{shape}-{size if size is not None else 'default'}-s{seed}-v{VERSION}"
    folder = root / label
    done = folder / "probes.json"
    if done.is_file():
        return folder / ".forebear", json.loads(done.read_text())
    if folder.exists():
        shutil.rmtree(folder)  # an interrupted generation
    folder.mkdir(parents=True)
    store_dir = init_store(folder)
    store = open_store(str(store_dir))
    probes: Probes = {}
    started = time.perf_counter()

    def progress(count: int) -> None:
        if log is not None and count % 100_000 == 0:
            log(f"  {label}: {count:,} runs written ({time.perf_counter() - started:.0f} s)")

    try:
        runs = write(store, SHAPES[shape](seed, probes, **options), progress=progress)
        counts = store.execute("SELECT type, COUNT(*) FROM node GROUP BY type")  # type: ignore[attr-defined]
    finally:
        store.close()
    probes["runs"] = runs
    probes["nodes"] = {kind: int(n) for kind, n in counts}
    probes["seconds"] = round(time.perf_counter() - started, 1)
    done.write_text(json.dumps(probes, indent=1))
    return store_dir, probes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shape", choices=sorted(SHAPES))
    parser.add_argument("--nodes", type=int, default=None, help="size (chain: steps)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    path, probes = cached_store(args.shape, args.seed, size=args.nodes,
                                log=lambda text: print(text, file=sys.stderr))
    summary = {k: v for k, v in probes.items() if k != "projects"}
    print(path)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
