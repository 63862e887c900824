"""Human in the loop: a reviewer relabels a dataset, and the retrained model shows it.

An ingest run writes the raw labels; a person fixes two of them by hand; the edit is
recorded as a ``human_edit`` execution (actor, reason, before -> after), so the model
trained on the relabeled data has the person and the reason in its upstream.

    python examples/human_relabel.py          # in a project with .forebear/
"""

from __future__ import annotations

import json
from pathlib import Path

import forebear


def main() -> dict[str, str]:
    Path("data").mkdir(exist_ok=True)
    with forebear.run("ingest-tickets", kind="ingest"):
        Path("data/raw.csv").write_text(
            "id,text,label\n1,refund please,billing\n2,app crashes,billing\n"
            "3,wrong charge,billing\n4,cannot log in,billing\n")

    # A reviewer opens the file and fixes the labels of rows 2 and 4.
    fixed = Path("data/raw.csv").read_text().replace("app crashes,billing", "app crashes,bug")
    fixed = fixed.replace("cannot log in,billing", "cannot log in,account")
    Path("data/relabeled.csv").write_text(fixed)
    edit = forebear.human_edit(before="data/raw.csv", after="data/relabeled.csv",
                               actor="dana@example.com", reason="rows 2 and 4 mislabeled",
                               name="relabel-tickets")

    with forebear.run("train-router", kind="train") as run:
        rows = Path("data/relabeled.csv").read_text().splitlines()[1:]
        Path("router.json").write_text(json.dumps({r.split(",")[1]: r.split(",")[2]
                                                   for r in rows}))
        model = run.produce("router.json", kind="model")
    return {"edit": edit.run_id, "raw": edit.before, "relabeled": edit.after,
            "model": str(model.digest)}


if __name__ == "__main__":
    print(json.dumps(main()))
