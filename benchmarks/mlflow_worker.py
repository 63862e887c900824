"""The MLflow side of ``bench_sdk``: the same tracked run, timed inside MLflow's own venv.

    <mlflow venv>/bin/python benchmarks/mlflow_worker.py [--runs N] [--warmup N]

Runs in a temporary directory that is a small git repository (like forebear's side),
with a SQLite tracking store (``sqlite:///.../mlflow.db``) and a local artifact folder.
Each timed run: ``start_run``, 10 params, 5 metrics, ``log_input`` of a dataset built
once beforehand, write and ``log_artifact`` a 1 KiB file, ``set_tag``, end. Measured
twice: one call per value (``log_param`` x10, ``log_metric`` x5) and batched
(``log_params``, ``log_metrics``). Prints one JSON object: medians in milliseconds.
Imports nothing from forebear: it runs in a venv that has only MLflow.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _git_repo(root: Path) -> None:
    (root / "train.py").write_text("print('train')\n")
    (root / ".gitignore").write_text("outputs/\nmlruns/\nmlflow.db*\nartifacts/\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=root, check=True, env=env, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()

    # No phoning home (there is no network here anyway) and no stray prompts.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

    with tempfile.TemporaryDirectory(prefix="mlflow-bench-") as tmp:
        root = Path(tmp)
        _git_repo(root)
        os.chdir(root)
        (root / "data").mkdir()
        (root / "outputs").mkdir()
        csv = root / "data" / "train.csv"
        csv.write_text("a,b,c,label\n" + "".join(f"{i}.5,{i * 2}.0,{i % 7}.25,{i % 2}.0\n"
                                                 for i in range(1000)))

        import mlflow
        import mlflow.data
        import pandas as pd

        mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
        experiment = mlflow.create_experiment(
            "bench", artifact_location=(root / "artifacts").as_uri()
        )
        mlflow.set_experiment(experiment_id=experiment)
        # Built once, like forebear's dataset that is already in the hash cache.
        dataset = mlflow.data.from_pandas(pd.read_csv(csv), source=str(csv), name="train")
        output = root / "outputs" / "model.bin"
        params = {f"p{k}": k * 0.1 for k in range(10)}
        metrics = {f"m{k}": 0.5 + k for k in range(5)}

        def single(i: int) -> None:
            with mlflow.start_run():
                for key, value in params.items():
                    mlflow.log_param(key, value)
                for key, value in metrics.items():
                    mlflow.log_metric(key, value, step=1)
                mlflow.log_input(dataset, context="training")
                output.write_bytes(i.to_bytes(8, "big") * 128)  # 1 KiB, new bytes each run
                mlflow.log_artifact(str(output))
                mlflow.set_tag("team", "bench")

        def batched(i: int) -> None:
            with mlflow.start_run():
                mlflow.log_params(params)
                mlflow.log_metrics(metrics, step=1)
                mlflow.log_input(dataset, context="training")
                output.write_bytes(i.to_bytes(8, "big") * 128)
                mlflow.log_artifact(str(output))
                mlflow.set_tag("team", "bench")

        results: dict[str, object] = {"version": mlflow.__version__}
        counter = 0
        for name, action in (("single", single), ("batched", batched)):
            times = []
            for n in range(args.warmup + args.runs):
                counter += 1
                start = time.perf_counter()
                action(counter)
                elapsed = time.perf_counter() - start
                if n >= args.warmup:
                    times.append(elapsed)
            results[f"{name}_ms"] = statistics.median(times) * 1e3
            results[f"{name}_runs"] = len(times)
        client = mlflow.MlflowClient()
        results["runs_recorded"] = len(client.search_runs([experiment], max_results=50000))
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
