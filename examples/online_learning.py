"""Online learning: a click-through model updated 10,000 times, recorded in four nodes.

Each update (the packet's digest, the new weights' digest, the loss) costs a line and a
Merkle leaf; every 2,500 updates they roll up into one ``online_update`` execution whose
Merkle root commits to each of them, so any one can be proven later::

    forebear prove <aggregate run id> 17       # or: forebear prove <run id> --update 5017

    python examples/online_learning.py        # in a project with .forebear/
"""

from __future__ import annotations

import hashlib
import json
import random
import struct

import forebear

UPDATES = 10_000


def main() -> dict[str, object]:
    rng = random.Random(5)
    weights = [0.0] * 8
    initial = "sha256:" + hashlib.sha256(struct.pack("8d", *weights)).hexdigest()
    with forebear.online("ctr-model", every=2500, seconds=300, base=initial,
                         params={"optimizer": "sgd", "lr": 0.05}) as stream:
        for _ in range(UPDATES):
            features = [rng.random() for _ in range(8)]
            clicked = 1.0 if rng.random() < 0.3 else 0.0
            packet = struct.pack("9d", *features, clicked)
            score = sum(w * x for w, x in zip(weights, features, strict=True))
            error = score - clicked
            weights = [w - 0.05 * error * x for w, x in zip(weights, features, strict=True)]
            stream.update(
                data_digest="sha256:" + hashlib.sha256(packet).hexdigest(),
                weights_digest="sha256:" + hashlib.sha256(struct.pack("8d", *weights)).hexdigest(),
                metrics={"loss": round(error * error, 6)},
            )
    return {"stream": stream.stream_id, "updates": stream.count, "aggregates": stream.aggregates}


if __name__ == "__main__":
    print(json.dumps(main()))
