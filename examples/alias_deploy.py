"""Aliases and deployment: staging and production over immutable digests, then serving.

Two models are trained; ``production`` points at v1 and is deployed to ``fraud-api``;
then v2 replaces it (``production`` is protected, so the move needs force and a reason)
and is deployed too. A scoring run that uses ``production`` records the digest it got.

    python examples/alias_deploy.py           # in a project with .forebear/
    forebear alias history production
    forebear downstream model-v1.pkl          # reaches the fraud-api endpoint
"""

from __future__ import annotations

import json
from pathlib import Path

import forebear


def train(version: int) -> str:
    with forebear.run(f"train-v{version}", kind="train", params={"version": version}) as run:
        Path(f"model-v{version}.pkl").write_bytes(b"fraud model v%d" % version)
        return str(run.produce(f"model-v{version}.pkl", kind="model").digest)


def main() -> dict[str, object]:
    v1, v2 = train(1), train(2)
    forebear.set_alias("staging", "model-v1.pkl", reason="candidate", actor="ci")
    forebear.set_alias("production", "staging", reason="passed review", actor="erin")
    first = forebear.deploy("production", target="fraud-api", actor="erin")

    forebear.set_alias("staging", "model-v2.pkl", reason="retrained", actor="ci")
    forebear.set_alias("production", "model-v2.pkl", force=True, actor="erin",
                       reason="v2 beats v1 on last week's fraud")
    second = forebear.deploy("production", target="fraud-api", actor="erin")

    with forebear.run("score-batch", kind="evaluate") as run:
        used = run.use("production", role="model")
    return {"v1": v1, "v2": v2, "deployments": [first.run_id, second.run_id],
            "scored_with": str(used.digest)}


if __name__ == "__main__":
    print(json.dumps(main()))
