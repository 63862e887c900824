"""Appends survive SIGKILL: every append that returned is there, and the log verifies."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from forebear.store.registry import init_store, open_store

CHILD = r"""
import sys
from forebear.store.registry import open_store
store = open_store(sys.argv[1])
i = 0
while True:
    entries = [
        {"type": "artifact", "time": "2026-01-01T00:00:00.000000Z",
         "artifact": {"id": None, "digest": None, "kind": "data", "name": f"d{i}-{j}",
                      "uri": None, "size": None, "role": ""}}
        for j in range(1 + i % 3)
    ]
    for e in entries:
        e["artifact"]["id"] = "dataset:crash:" + e["artifact"]["name"]
    seqs = store.append_batch(entries) if len(entries) > 1 else [store.append(entries[0])]
    sys.stdout.write(" ".join(str(s) for s in seqs) + "\n")
    sys.stdout.flush()
    i += 1
"""


def test_sigkill_at_random_moments_loses_no_returned_append(tmp_path: Path) -> None:
    store_dir = init_store(tmp_path)
    rng = random.Random(1234)
    acknowledged: set[int] = set()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for _ in range(50):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(store_dir)],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert child.stdout is not None
        # Wait for the child to start appending, then kill it at a random moment.
        first = child.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.05))
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read()
        child.stdout.close()
        child.wait()
        for line in (first + rest).decode().splitlines():
            acknowledged.update(int(s) for s in line.split())
    store = open_store(str(store_dir))
    try:
        seqs = [r.seq for r in store.records()]
        assert seqs == list(range(len(seqs)))
        assert acknowledged <= set(seqs)
        report = store.verify()
        assert report.ok, report.problems
    finally:
        store.close()
