"""Transfer learning: fine-tune an external base model, then quantize the result.

The base model comes from a hub (here a stand-in file, as if downloaded from
``hf://distilbert/distilbert-base-uncased`` at a pinned revision). It is recorded by its
content digest with its origin, so the fine-tuned model's upstream reaches it, and the
typed derivation roles (``fine_tune``, ``quantize``) say how each model came from the last.

    python examples/transfer_learning.py      # in a project with .forebear/ (forebear init)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import forebear

HUB_URI = "hf://distilbert/distilbert-base-uncased"
REVISION = "043235d6088ecd3dd5fb5ca3592b6913fd516027"


def download_base() -> tuple[Path, str]:
    """Stand-in for a hub download: the weights file and its digest."""
    path = Path("cache/distilbert-base-uncased.safetensors")
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"pretend these are 66M parameters of distilbert\n")
    return path, "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> dict[str, str]:
    Path("data").mkdir(exist_ok=True)
    Path("data/reviews.csv").write_text("text,label\ngreat film,1\nawful plot,0\n")
    base_path, base_digest = download_base()

    with forebear.run("fine-tune-sentiment", kind="fine_tune",
                      params={"lr": 3e-5, "epochs": 2}) as run:
        run.use_external(HUB_URI, digest=base_digest, revision=REVISION, role="fine_tune")
        run.use("data/reviews.csv", role="training_data")
        weights = base_path.read_bytes() + Path("data/reviews.csv").read_bytes()
        Path("sentiment.safetensors").write_bytes(weights)
        tuned = run.produce("sentiment.safetensors", kind="model")
        run.log_metrics({"accuracy": 0.91})

    with forebear.run("quantize-int8", kind="quantize", params={"bits": 8}) as run:
        run.use("sentiment.safetensors", role="quantize", kind="model")
        Path("sentiment-int8.safetensors").write_bytes(weights[::2])
        small = run.produce("sentiment-int8.safetensors", kind="model")

    return {"base": base_digest, "fine_tuned": str(tuned.digest), "quantized": str(small.digest)}


if __name__ == "__main__":
    print(json.dumps(main()))
