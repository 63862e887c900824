"""Online-learning benchmark: updates recorded per second, metadata bytes per update.

    python benchmarks/bench_online.py [--updates 200000] [--every 1000]

Targets (issue 5): >= 20,000 updates/s recorded; amortized metadata growth (journal and
projections in the SQLite file, after a WAL checkpoint; the update-list blobs excluded)
<= 64 bytes per update. Digests are precomputed: hashing the user's data is not the
recorder's cost.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from forebear import config
from forebear.sdk.online import online
from forebear.sdk.session import Session
from forebear.store.registry import init_store

TARGET_RATE = 20_000
TARGET_BYTES = 64.0


def _db_bytes(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    wal = db.with_name(db.name + "-wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def run(updates: int = 200_000, every: int = 1000) -> dict[str, Any]:
    """Record ``updates`` updates on a fresh store; return the figures."""
    pool = ["sha256:" + hashlib.sha256(b"%d" % i).hexdigest() for i in range(4096)]
    with tempfile.TemporaryDirectory() as tmp:
        store_dir = init_store(Path(tmp))
        db = store_dir / config.DB_FILE
        session = Session.from_settings(config.resolve(str(store_dir)))
        try:
            # Warm up: anchors recorded, first pages allocated.
            with online("warm-up", every=every, store=session) as warm:
                for i in range(every):
                    warm.update(data_digest=pool[i % 2048], weights_digest=pool[2048 + i % 2048])
            before = _db_bytes(db)
            journal_before = session.store.size()
            started = time.perf_counter()
            with online("ctr-model", every=every, seconds=60, store=session) as stream:
                update = stream.update
                for i in range(updates):
                    update(data_digest=pool[i & 2047], weights_digest=pool[2048 + (i & 2047)],
                           metrics={"loss": 0.25, "auc": 0.81})
            elapsed = time.perf_counter() - started
            after = _db_bytes(db)
            entries = list(session.store.records(journal_before))
        finally:
            session.store.close()
        blob_bytes = sum(
            os.path.getsize(os.path.join(root, name))
            for root, _, names in os.walk(store_dir / config.BLOBS_DIR) for name in names
        )
    rate = updates / elapsed
    per_update = (after - before) / updates
    return {
        "updates": updates,
        "every": every,
        "aggregates": len(entries),
        "seconds": round(elapsed, 3),
        "updates_per_second": round(rate),
        "metadata_bytes_per_update": round(per_update, 2),
        "journal_bytes_per_update": round(sum(len(e.canonical) for e in entries) / updates, 2),
        "blob_bytes_per_update": round(blob_bytes / updates, 1),
        "meets_rate": rate >= TARGET_RATE,
        "meets_bytes": per_update <= TARGET_BYTES,
    }


def main() -> None:
    """Print the figures as JSON; exit 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=200_000)
    parser.add_argument("--every", type=int, default=1000)
    args = parser.parse_args()
    figures = run(args.updates, args.every)
    print(json.dumps(figures, indent=2))
    if not (figures["meets_rate"] and figures["meets_bytes"]):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
