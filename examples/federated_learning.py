"""Federated learning: 3 rounds of FedAvg over 4 hospitals whose data never leaves them.

The coordinator records, per round, each client's update by digest under a pseudonym
(HMAC of the client id with this run's secret salt) with a salted commitment to the
client's data, and the FedAvg aggregation (code, algorithm, weights) that makes the next
global model. The clients' data stays in ``clients/``; nothing of it is in the store.

    python examples/federated_learning.py     # in a project with .forebear/
"""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import forebear

CLIENTS = ["st-marys", "general", "childrens", "royal-infirmary"]
ROUNDS = 3


def client_data(name: str) -> list[tuple[float, float]]:
    """Each client's private rows (written to clients/, as if on the client's machine)."""
    rng = random.Random(name)
    rows = [(rng.random(), rng.random()) for _ in range(20 + 10 * CLIENTS.index(name))]
    Path("clients").mkdir(exist_ok=True)
    Path(f"clients/{name}.csv").write_text(
        f"# private to {name}\n" + "".join(f"{x:.6f},{y:.6f}\n" for x, y in rows))
    return rows


def local_train(weights: list[float], rows: list[tuple[float, float]]) -> list[float]:
    w, b = weights
    for x, y in rows:
        error = w * x + b - y
        w, b = w - 0.1 * error * x, b - 0.1 * error
    return [w, b]


def fedavg(updates: list[list[float]], sizes: list[int]) -> list[float]:
    total = sum(sizes)
    return [sum(u[i] * n for u, n in zip(updates, sizes, strict=True)) / total
            for i in range(len(updates[0]))]


def pack(weights: list[float]) -> bytes:
    return struct.pack(f"{len(weights)}d", *weights)


def main() -> dict[str, object]:
    data = {name: client_data(name) for name in CLIENTS}
    weights = [0.0, 0.0]
    with forebear.federated("readmission-fl", params={"rounds": ROUNDS}) as fl:
        fl.start(pack(weights))
        for _ in range(ROUNDS):
            rnd = fl.round()
            updates, sizes = [], []
            for name in CLIENTS:
                local = local_train(weights, data[name])
                updates.append(local)
                sizes.append(len(data[name]))
                rnd.client_update(name, update=pack(local), data=Path(f"clients/{name}.csv"),
                                  num_examples=len(data[name]))
            weights = fedavg(updates, sizes)
            rnd.aggregate(pack(weights), aggregator=fedavg)
    return {"run_id": fl.run_id, "final_model": fl.global_model, "rounds": len(fl.rounds)}


if __name__ == "__main__":
    print(json.dumps(main()))
