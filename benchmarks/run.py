"""``make bench``: run every benchmark, print its figures, save them to .bench/results.json.

    python benchmarks/run.py [NAME ...]      # default: all of them

Each benchmark module exposes ``run() -> dict[str, float]``; ratios against peer tools
(MLflow, ml-metadata) are computed inside the module, in the same run.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["journal", "hashing", "sdk", "queries", "online", "ingest", "postgres"]


def machine() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": str(os.cpu_count()),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(HERE))
    names = argv or BENCHMARKS
    results: dict[str, object] = {"machine": machine()}
    failed = []
    for name in names:
        try:
            module = importlib.import_module(f"bench_{name}")
        except ModuleNotFoundError as exc:
            print(f"== {name}: not available ({exc})")
            continue
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        try:
            figures = module.run()
        except Exception as exc:  # report and carry on: one broken bench must not hide others
            print(f"   FAILED: {type(exc).__name__}: {exc}")
            failed.append(name)
            continue
        for key, value in figures.items():
            shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
            print(f"   {key:44} {shown}")
        print(f"   ({time.perf_counter() - start:.0f} s)")
        results[name] = figures
    out = HERE.parent / ".bench" / "results.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"figures saved to {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
