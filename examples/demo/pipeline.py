"""The forebear demo: a real pipeline on scikit-learn's bundled digits, tracked end to end.

ingest -> split -> train -> evaluate -> fine-tune from the trained model -> a run that
fails on purpose (kept, as failed). No step declares its files: forebear sees what each
run reads and writes. It ends by printing the final model's lineage, the paths by which
the raw data reached it, and verifying the journal. Run it with ``make demo`` (or
``python examples/demo/pipeline.py [WORKDIR]``).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score

import forebear
from forebear.cli import main as cli


def ingest() -> None:
    with forebear.run("ingest-digits", kind="ingest", params={"source": "sklearn.load_digits"}):
        digits = load_digits()
        table = np.column_stack([digits.data, digits.target])
        np.savetxt("data/digits.csv", table, delimiter=",", fmt="%g")


def split(test_fraction: float = 0.25, seed: int = 7) -> None:
    with forebear.run("split", kind="preprocess",
                      params={"test_fraction": test_fraction, "seed": seed}):
        table = np.loadtxt("data/digits.csv", delimiter=",")
        order = np.random.default_rng(seed).permutation(len(table))
        cut = int(len(table) * (1 - test_fraction))
        np.savetxt("data/train.csv", table[order[:cut]], delimiter=",", fmt="%g")
        np.savetxt("data/test.csv", table[order[cut:]], delimiter=",", fmt="%g")


@forebear.track(kind="train")
def train(data: str, alpha: float, epochs: int, out: str) -> None:
    table = np.loadtxt(data, delimiter=",")
    model = SGDClassifier(alpha=alpha, max_iter=epochs, tol=None, random_state=0)
    model.fit(table[:, :-1], table[:, -1])
    with open(out, "wb") as handle:
        pickle.dump(model, handle)


def evaluate(model_path: str, name: str = "evaluate") -> float:
    with forebear.run(name, kind="evaluate") as run:
        with open(model_path, "rb") as handle:
            model = pickle.load(handle)
        table = np.loadtxt("data/test.csv", delimiter=",")
        accuracy = float(accuracy_score(table[:, -1], model.predict(table[:, :-1])))
        run.log_metrics({"accuracy": accuracy})
        Path("reports").mkdir(exist_ok=True)
        Path(f"reports/{name}.json").write_text(json.dumps({"accuracy": accuracy}))
    return accuracy


def fine_tune(base: str, out: str, epochs: int = 5) -> None:
    # Reading the base model's bytes is what links this run to the one that made them.
    with forebear.run("fine-tune", kind="fine_tune", params={"epochs": epochs}) as run:
        with open(base, "rb") as handle:
            model = pickle.load(handle)
        table = np.loadtxt("data/train.csv", delimiter=",")
        for epoch in range(epochs):
            model.partial_fit(table[:, :-1], table[:, -1])
            run.log_metrics({"train_accuracy": model.score(table[:, :-1], table[:, -1])},
                            step=epoch)
        with open(out, "wb") as handle:
            pickle.dump(model, handle)


def failing_run() -> None:
    try:
        train("data/train.csv", alpha=-1.0, epochs=3, out="models/broken.pkl")
    except ValueError as exc:
        print(f"  (the failing run failed as intended: {str(exc).splitlines()[0][:200]})")


def main() -> int:
    workdir = Path(sys.argv[1] if len(sys.argv) > 1 else ".demo").resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    (workdir / "data").mkdir(parents=True)
    (workdir / "models").mkdir()
    os.chdir(workdir)
    os.environ.pop("FOREBEAR_STORE", None)
    cli(["init", "."])
    print("1. ingest, split, train, evaluate, fine-tune, and one run that fails")
    ingest()
    split()
    train("data/train.csv", alpha=1e-4, epochs=20, out="models/model.pkl")
    print(f"  accuracy of the trained model:    {evaluate('models/model.pkl'):.3f}")
    fine_tune("models/model.pkl", "models/model-ft.pkl")
    print(f"  accuracy of the fine-tuned model: "
          f"{evaluate('models/model-ft.pkl', 'evaluate-ft'):.3f}")
    failing_run()
    print("\n2. the recorded executions (forebear log)")
    cli(["log"])
    print("\n3. where the fine-tuned model came from (forebear upstream models/model-ft.pkl)")
    cli(["upstream", "models/model-ft.pkl"])
    print("\n4. how the raw digits reached it (forebear path data/digits.csv "
          "models/model-ft.pkl)")
    cli(["path", "data/digits.csv", "models/model-ft.pkl"])
    print("\n5. the journal verifies (forebear verify)")
    return cli(["verify"])


if __name__ == "__main__":
    sys.exit(main())
