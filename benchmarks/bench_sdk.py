"""SDK benchmarks: a typical tracked run against MLflow, import cost, hashing, capture overhead.

    python benchmarks/bench_sdk.py [--runs 200] [--mlflow-runs 100] [--hash-size-mib 1024]
                                   [--files 10000] [--skip-mlflow] [--skip-mlmd]
                                   [--skip-hashing]

Everything is measured in one go, and every ratio comes from figures of the same run:

1. A tracked run doing what a typical training script logs: start, 10 params, 5 metrics,
   one dataset input already in the hash cache, one 1 KiB output, a tag, end, durably
   committed (the embedded SQLite store of a temporary project that is a small git repo).
   Median of ``--runs`` after a warm-up; target <= 1 ms. The same work in MLflow on its
   SQLite backend runs in MLflow's own virtualenv (``.bench/mlflow-venv``, created on
   first use with ``python -m venv`` + ``pip install mlflow``; ``FOREBEAR_BENCH_MLFLOW_VENV``
   points elsewhere) through ``benchmarks/mlflow_worker.py``; goal: forebear >= 50x faster.
   Beside it, ml-metadata recording the same run as one atomic ``put_execution`` (its venv
   from ``bench_queries``; ``mlmd_worker.put_runs``), which hashes and signs nothing.
2. ``import forebear`` in a fresh interpreter: wall time of the import statement and peak
   RSS growth (``VmHWM`` after minus ``VmRSS`` before, from /proc/self/status), medians;
   targets <= 100 ms and <= 30 MiB. The same for ``import mlflow`` in its venv.
3. Hashing: ``bench_hashing.run`` (1 GiB by default) and its ratios.
4. Automatic capture: a script that opens and reads ``--files`` small files, timed with
   no audit hook at all and inside a tracked run with capture on (target < 5% overhead),
   in a fresh interpreter; the work capture leaves for the run's end (classifying the
   opens, hashing every input, writing the entry) is reported apart from that overhead.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MLFLOW_WORKER = HERE / "mlflow_worker.py"
DEFAULT_MLFLOW_VENV = REPO / ".bench" / "mlflow-venv"

_GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
            "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
_PAST_NS = 3600 * 10**9  # files older than HashCache's racy window may be cached at once


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1e3


def _project(root: Path, *, data_files: int = 0) -> Path:
    """A small git project: a script, an ignored outputs/ folder, a data file or many."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.py").write_text("print('train')\n")
    (root / ".gitignore").write_text("outputs/\n")
    (root / "outputs").mkdir(exist_ok=True)
    data = root / "data"
    data.mkdir(exist_ok=True)
    past = time.time_ns() - _PAST_NS
    if data_files:
        for i in range(data_files):
            path = data / f"f{i:05d}.bin"
            path.write_bytes(b"%05d" % i * 50)  # 250 bytes
            os.utime(path, ns=(past, past))
    else:
        path = data / "train.csv"
        path.write_bytes(os.urandom(1 << 20))
        os.utime(path, ns=(past, past))
    env = {**os.environ, **_GIT_ENV}
    # No automatic gc: committing 10,000 files would start a detached `git gc` that may
    # still be writing into .git when the temporary project is removed.
    quiet = ["-c", "gc.auto=0", "-c", "maintenance.auto=false"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "init"]):
        subprocess.run(["git", *quiet, *args], cwd=root, check=True, env=env, capture_output=True)
    return root


def _fsync_us(folder: Path, count: int = 200) -> float:
    """Median latency of one fsync of a small write here: the floor under every commit."""
    path = folder / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    times = []
    try:
        for _ in range(count):
            os.write(fd, b"x" * 100)
            start = time.perf_counter()
            os.fsync(fd)
            times.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(times) * 1e6


def _file_us(folder: Path, count: int = 200) -> dict[str, float]:
    """Median cost of the file operations a tracked run cannot avoid, no fsync: creating
    a new 1 KiB file (what the blob store does for a new output before its fsync) and
    rewriting an existing one (what the script itself does to its output each run)."""
    created, rewritten = [], []
    path = folder / "write-probe"
    made = []
    try:
        for i in range(count):
            made.append(folder / f"create-probe-{i}")  # kept until the end, like blobs
            start = time.perf_counter()
            fd = os.open(made[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, b"x" * 1024)
            os.close(fd)
            created.append(time.perf_counter() - start)
            start = time.perf_counter()
            path.write_bytes(i.to_bytes(8, "big") * 128)
            rewritten.append(time.perf_counter() - start)
    finally:
        for done in [path, *made]:
            done.unlink(missing_ok=True)
    return {"file_create_us": statistics.median(created) * 1e6,
            "output_rewrite_us": statistics.median(rewritten) * 1e6}


# -- 1. a typical tracked run ----------------------------------------------------------


def _typical_run(forebear: Any, project: Path, i: int) -> None:
    output = project / "outputs" / "model.bin"
    with forebear.run("train", kind="train", entry_point=str(project / "train.py")) as run:
        run.log_params({f"p{k}": k * 0.1 for k in range(10)})
        for k in range(5):
            run.log_metric(f"m{k}", 0.5 + k, step=1)
        run.use("data/train.csv", role="training_data")
        output.write_bytes(i.to_bytes(8, "big") * 128)  # 1 KiB, new bytes each run
        run.produce(output, kind="model")
        run.set_tag("team", "bench")


def bench_tracked_run(
    runs: int = 200, warmup: int = 20, established: int = 1000
) -> dict[str, float]:
    """Median wall time of ``_typical_run`` in a fresh project, durable; and diagnostics.

    Then again once the store holds ``established`` more runs (by then the blob store's
    256 shard folders exist, so a new output no longer creates one), and once with fsync
    turned off, to show what the durable commits cost on this disk.
    """
    import forebear
    from forebear.sdk.session import default_session, reset_default_session
    from forebear.store.registry import init_store

    results: dict[str, float] = {}
    old_cwd = os.getcwd()
    old_store = os.environ.pop("FOREBEAR_STORE", None)
    with tempfile.TemporaryDirectory(prefix="forebear-bench-sdk-") as tmp:
        project = _project(Path(tmp) / "project")
        os.chdir(project)
        try:
            init_store(project)
            reset_default_session()
            session = default_session()  # what forebear.run() finds on its own: .forebear/
            session.hash_cache.digest(str(project / "data" / "train.csv"))  # "already cached"
            size_before = session.store.size()
            times = []
            for i in range(warmup + runs):
                start = time.perf_counter()
                _typical_run(forebear, project, i)
                times.append(time.perf_counter() - start)
            written = session.store.size() - size_before
            if written != 2 * (warmup + runs):
                raise AssertionError(f"expected {2 * (warmup + runs)} entries, got {written}")
            results["tracked_run_ms"] = _median_ms(times[warmup:])
            results["tracked_run_p90_ms"] = statistics.quantiles(times[warmup:], n=10)[-1] * 1e3
            results["tracked_run_first_ms"] = times[0] * 1e3
            for i in range(established):
                _typical_run(forebear, project, 100_000 + i)
            times = []
            for i in range(runs):
                start = time.perf_counter()
                _typical_run(forebear, project, 200_000 + i)
                times.append(time.perf_counter() - start)
            results["tracked_run_established_ms"] = _median_ms(times)
            results["fsync_us"] = _fsync_us(project)
            results.update(_file_us(project))
            results["tracked_run_unsynced_ms"] = _unsynced(
                session, lambda i: _typical_run(forebear, project, i), runs, warmup
            )
        finally:
            os.chdir(old_cwd)
            reset_default_session()
            if old_store is not None:
                os.environ["FOREBEAR_STORE"] = old_store
    return results


def _unsynced(session: Any, action: Callable[[int], None], runs: int, warmup: int) -> float:
    """Diagnostic only: the same run with every fsync skipped (CPU and file system cost)."""
    real_fsync = os.fsync
    conn = getattr(session.store, "_conn", None)
    os.fsync = lambda fd: None  # the blob store's fsyncs
    if conn is not None:
        conn.execute("PRAGMA synchronous = OFF")  # SQLite's
    try:
        times = []
        for i in range(warmup + runs):
            start = time.perf_counter()
            action(1_000_000 + i)
            times.append(time.perf_counter() - start)
    finally:
        os.fsync = real_fsync
        if conn is not None:
            conn.execute("PRAGMA synchronous = FULL")
    return _median_ms(times[warmup:])


def mlflow_python() -> tuple[Path | None, str]:
    """MLflow's venv interpreter, creating the venv on first use; or None and why not."""
    venv = Path(os.environ.get("FOREBEAR_BENCH_MLFLOW_VENV") or DEFAULT_MLFLOW_VENV)
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import mlflow, sys; sys.stdout.write(mlflow.__version__)"]
    if python.exists():
        done = subprocess.run(check, capture_output=True, text=True)
        if done.returncode == 0:
            return python, done.stdout.strip()
    else:
        print(f"creating {venv} with MLflow (first run only) ...", flush=True)
        base = getattr(sys, "_base_executable", sys.executable)
        made = subprocess.run([base, "-m", "venv", str(venv)], capture_output=True, text=True)
        if made.returncode != 0:
            return None, f"`python -m venv {venv}` failed: {made.stderr.strip()[-2000:]}"
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "mlflow"], capture_output=True, text=True
    )
    if pip.returncode != 0:
        return None, f"`pip install mlflow` failed: {pip.stderr.strip()[-2000:]}"
    done = subprocess.run(check, capture_output=True, text=True)
    if done.returncode != 0:
        return None, f"mlflow installed but does not import: {done.stderr.strip()[-2000:]}"
    return python, done.stdout.strip()


def bench_mlflow(python: Path, runs: int) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), str(MLFLOW_WORKER), "--runs", str(runs)],
        capture_output=True, text=True, timeout=3600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mlflow_worker failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    expected = 2 * (runs + 5)  # two modes, each with 5 warm-up runs (the worker's default)
    if result["runs_recorded"] != expected:
        raise AssertionError(f"MLflow recorded {result['runs_recorded']} runs, not {expected}")
    return result


def bench_mlmd_put(runs: int) -> dict[str, float]:
    """ml-metadata recording the same run in one atomic put, in its own venv (the one
    ``bench_queries`` uses), on a fresh SQLite file in the same folder kind as ours."""
    sys.path.insert(0, str(HERE))
    try:
        import bench_queries
    finally:
        sys.path.remove(str(HERE))
    python, why = bench_queries.mlmd_python(lambda line: print(line, flush=True))
    if python is None:
        NOTES.append(f"ml-metadata skipped: {why}")
        return {"mlmd_unavailable": 1.0}
    with tempfile.TemporaryDirectory(prefix="forebear-bench-mlmd-") as tmp:
        request = {"mlmd_db": str(Path(tmp) / "mlmd.sqlite"), "put_runs": runs}
        done = subprocess.run([str(python), str(HERE / "mlmd_worker.py"), json.dumps(request)],
                              capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"mlmd_worker failed: {done.stderr.strip()[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"mlmd_put_ms": float(result["put_ms"])}


# -- 2. import cost --------------------------------------------------------------------

_IMPORT_PROBE = r"""
import json, sys, time
def status():
    with open("/proc/self/status") as f:
        pairs = (line.split(":", 1) for line in f)
        return {k: int(v.split()[0]) for k, v in pairs if k in ("VmRSS", "VmHWM")}
before = status()
start = time.perf_counter()
import {module}
{extra}
elapsed = time.perf_counter() - start
after = status()
print(json.dumps({"s": elapsed, "peak_kib": after["VmHWM"] - before["VmRSS"],
                  "rss_kib": after["VmRSS"] - before["VmRSS"], "modules": len(sys.modules)}))
"""

_TRACEMALLOC_PROBE = r"""
import tracemalloc
tracemalloc.start()
import {module}
{extra}
print(tracemalloc.get_traced_memory()[1])
"""


def bench_import(python: str, module: str, extra: str = "", repeat: int = 7) -> dict[str, float]:
    """Medians over fresh interpreters: import wall time, peak RSS growth, tracemalloc peak."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    rows = []
    with tempfile.TemporaryDirectory(prefix="forebear-bench-import-") as tmp:
        code = _IMPORT_PROBE.replace("{module}", module).replace("{extra}", extra)
        for _ in range(repeat + 1):  # the first warms the OS's caches
            done = subprocess.run([python, "-c", code], capture_output=True, text=True,
                                  cwd=tmp, env=env, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        rows = rows[1:]
        code = _TRACEMALLOC_PROBE.replace("{module}", module).replace("{extra}", extra)
        done = subprocess.run([python, "-c", code], capture_output=True, text=True,
                              cwd=tmp, env=env, check=True)
        traced = int(done.stdout.strip().splitlines()[-1])
    return {
        "ms": statistics.median(r["s"] for r in rows) * 1e3,
        "peak_rss_mib": statistics.median(r["peak_kib"] for r in rows) / 1024,
        "tracemalloc_peak_mib": traced / (1 << 20),
        "modules": float(statistics.median(r["modules"] for r in rows)),
    }


# -- 4. automatic capture --------------------------------------------------------------


def capture_worker(project: str, mode: str, repeat: int) -> dict[str, Any]:
    """One fresh interpreter: the script ``repeat`` times, plain or each in a tracked run.

    ``plain`` never imports forebear, so no audit hook exists; ``tracked`` first times
    the script ``repeat`` times before importing forebear (``before``: the same process
    untracked, so drift between processes cancels out), then runs each repetition inside
    ``forebear.run`` with capture on, then once more outside any run (the hook stays
    installed, idle). Which audit hook capture used comes back as ``hook``.
    """
    os.chdir(project)
    os.environ.pop("FOREBEAR_STORE", None)
    paths = sorted(os.path.join("data", name) for name in os.listdir("data"))

    def script() -> None:
        for path in paths:
            with open(path, "rb") as f:
                f.read()

    def timed(action: Callable[[], Any]) -> float:
        start = time.perf_counter()
        action()
        return time.perf_counter() - start

    for _ in range(2):
        script()  # page cache, dentry cache
    if mode == "plain":
        return {"loops": [timed(script) for _ in range(repeat)]}
    before = [timed(script) for _ in range(repeat)]

    import forebear
    from forebear.capture import files
    from forebear.store.registry import init_store

    if not (Path(project) / ".forebear").exists():
        init_store(Path(project))
    out: dict[str, Any] = {"loops": [], "idle": [], "start": [], "end": [], "inputs": [],
                           "before": before}
    for _ in range(repeat):
        run = forebear.run("read-files", kind="preprocess",
                           entry_point=os.path.join(project, "train.py"))
        out["start"].append(timed(run.start))
        out["loops"].append(timed(script))
        out["end"].append(timed(run.end))
        out["inputs"].append(float(len(run._inputs)))
        out["idle"].append(timed(script))
    out["hook"] = files.hook_kind
    return out


def bench_capture(files: int = 10_000, pairs: int = 5, repeat: int = 5) -> dict[str, float]:
    """Fresh plain and tracked interpreters, alternated so drift hits both alike."""
    with tempfile.TemporaryDirectory(prefix="forebear-bench-capture-") as tmp:
        project = _project(Path(tmp) / "project", data_files=files)
        os.sync()  # no writeback of the new files during the first timings

        def worker(mode: str, hook: str = "") -> dict[str, Any]:
            env = {**os.environ, "FOREBEAR_CAPTURE_HOOK": hook}
            done = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--capture-worker", str(project),
                 "--mode", mode, "--repeat", str(repeat)],
                capture_output=True, text=True, check=False, env=env,
            )
            if done.returncode != 0:
                raise RuntimeError(f"capture worker failed: {done.stderr.strip()[-2000:]}")
            result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
            return result

        plain: list[float] = []
        tracked: dict[str, list[float]] = {}
        paired: list[float] = []  # per neighbouring pair of processes: drift cancels out
        within: list[float] = []  # per tracked process, against its own untracked loops
        python_hook: dict[str, list[float]] = {}  # the pure-Python hook, for comparison
        python_within: list[float] = []
        for _ in range(pairs):
            loops = worker("plain")["loops"]
            plain += loops
            for hook, into, ratios in (("", tracked, within),
                                       ("python", python_hook, python_within)):
                found = worker("tracked", hook)
                expected = hook or "c"
                if found.pop("hook") != expected:
                    raise AssertionError(f"capture did not use its {expected} audit hook")
                for key, values in found.items():
                    into.setdefault(key, []).extend(values)
                untracked = statistics.median(found["before"])
                ratios.append(statistics.median(found["loops"]) / untracked)
            paired.append(statistics.median(tracked["loops"][-repeat:]) / statistics.median(loops))
    if any(n != files for n in tracked["inputs"] + python_hook["inputs"]):
        raise AssertionError(f"capture recorded {tracked['inputs']} inputs, not {files} each")
    result = {
        "files": float(files),
        "plain_ms": _median_ms(plain),
        "in_run_ms": _median_ms(tracked["loops"]),
        "idle_hook_ms": _median_ms(tracked["idle"]),
        "plain_min_ms": min(plain) * 1e3,
        "in_run_min_ms": min(tracked["loops"]) * 1e3,
        "run_start_ms": _median_ms(tracked["start"]),
        # The very first run hashes every input; later ones find them in the hash cache.
        "run_end_first_ms": tracked["end"][0] * 1e3,
        "run_end_cached_ms": _median_ms(tracked["end"][1:]),
    }
    result["overhead_pct"] = (result["in_run_ms"] / result["plain_ms"] - 1) * 100
    result["overhead_paired_pct"] = (statistics.median(paired) - 1) * 100
    result["overhead_min_pct"] = (result["in_run_min_ms"] / result["plain_min_ms"] - 1) * 100
    result["idle_hook_overhead_pct"] = (result["idle_hook_ms"] / result["plain_ms"] - 1) * 100
    result["overhead_same_process_pct"] = (statistics.median(within) - 1) * 100
    result["python_hook_in_run_ms"] = _median_ms(python_hook["loops"])
    result["python_hook_overhead_same_process_pct"] = (statistics.median(python_within) - 1) * 100
    result["end_cached_us_per_input"] = result["run_end_cached_ms"] * 1e3 / files
    return result


def bench_children(children: int = 20, rounds: int = 5) -> dict[str, float]:
    """What a run costs the Python processes it starts (DataLoader workers under spawn or
    forkserver, a driver's steps): ``python -c pass`` started outside any run, inside a
    ``forebear.run`` (the spool hook loads at start-up), and from a script run by
    ``forebear exec`` (the script's children report through it), in alternating rounds."""
    import forebear

    child = [sys.executable, "-c", "pass"]

    def per_child() -> float:
        start = time.perf_counter()
        for _ in range(children):
            subprocess.run(child, check=True)
        return (time.perf_counter() - start) / children

    driver = ("import subprocess, sys, time\n"
              f"start = time.perf_counter()\n"
              f"for _ in range({children}):\n"
              f"    subprocess.run({child!r}, check=True)\n"
              f"print((time.perf_counter() - start) / {children})\n")
    plain: list[float] = []
    in_run: list[float] = []
    under_exec: list[float] = []
    with tempfile.TemporaryDirectory(prefix="forebear-bench-children-") as tmp:
        project = _project(Path(tmp) / "project")
        (project / "driver.py").write_text(driver)
        old_cwd = os.getcwd()
        os.chdir(project)
        try:
            from forebear.store.registry import init_store

            init_store(project)
            for _ in range(rounds):
                plain.append(per_child())
                with forebear.run("children", store=str(project), watch=False, code=False,
                                  environment=False):
                    in_run.append(per_child())
                done = subprocess.run(
                    [sys.executable, "-m", "forebear", "exec", "--", sys.executable,
                     "driver.py"], capture_output=True, text=True, check=True)
                under_exec.append(float(done.stdout.strip().splitlines()[-1]))
        finally:
            os.chdir(old_cwd)
    return {"plain_ms": _median_ms(plain), "in_run_ms": _median_ms(in_run),
            "under_exec_ms": _median_ms(under_exec),
            "in_run_extra_ms": _median_ms(in_run) - _median_ms(plain),
            "under_exec_extra_ms": _median_ms(under_exec) - _median_ms(plain)}


# -- all of it -------------------------------------------------------------------------


def run(
    runs: int = 200,
    mlflow_runs: int = 100,
    hash_size_mib: int = 1024,
    files: int = 10_000,
    with_mlflow: bool = True,
    with_hashing: bool = True,
    with_mlmd: bool = True,
) -> dict[str, float]:
    """Measure everything; flat figures (ms, MiB, GiB/s, ratios, %). See the module doc."""
    out: dict[str, float] = {}

    for key, value in bench_tracked_run(runs).items():
        out[f"forebear_{key}"] = value

    fb_import = bench_import(sys.executable, "forebear")
    for key, value in fb_import.items():
        out[f"import_forebear_{key}"] = value
    fb_sdk = bench_import(sys.executable, "forebear", extra="forebear.run")
    for key, value in fb_sdk.items():
        out[f"import_forebear_sdk_{key}"] = value

    if with_mlflow:
        python, version = mlflow_python()
        if python is None:
            NOTES.append(f"MLflow skipped: {version}")
            out["mlflow_unavailable"] = 1.0
        else:
            NOTES.append(f"MLflow {version} (the newest pip could install), SQLite backend")
            mlf = bench_mlflow(python, mlflow_runs)
            out["mlflow_run_single_calls_ms"] = mlf["single_ms"]
            out["mlflow_run_batched_ms"] = mlf["batched_ms"]
            out["mlflow_vs_forebear_single_x"] = mlf["single_ms"] / out["forebear_tracked_run_ms"]
            out["mlflow_vs_forebear_batched_x"] = mlf["batched_ms"] / out["forebear_tracked_run_ms"]
            ml_import = bench_import(str(python), "mlflow", repeat=5)
            for key, value in ml_import.items():
                out[f"import_mlflow_{key}"] = value
            out["import_mlflow_vs_forebear_time_x"] = ml_import["ms"] / fb_import["ms"]
            out["import_mlflow_vs_forebear_peak_rss_x"] = (
                ml_import["peak_rss_mib"] / fb_import["peak_rss_mib"]
            )

    if with_mlmd:
        for key, value in bench_mlmd_put(runs).items():
            out[key] = value
        if "mlmd_put_ms" in out:
            out["mlmd_put_vs_forebear_x"] = out["mlmd_put_ms"] / out["forebear_tracked_run_ms"]

    if with_hashing:
        sys.path.insert(0, str(HERE))
        try:
            import bench_hashing
        finally:
            sys.path.remove(str(HERE))
        for key, value in bench_hashing.run(hash_size_mib).items():
            out[f"hash_{key}"] = value

    for key, value in bench_capture(files).items():
        out[f"capture_{key}"] = value
    for key, value in bench_children().items():
        out[f"python_child_{key}"] = value
    return out


NOTES: list[str] = []  # lines for main() to print besides the figures

_TARGETS: dict[str, tuple[str, float]] = {
    "forebear_tracked_run_ms": ("<=", 1.0),
    "mlflow_vs_forebear_single_x": (">=", 50.0),
    "mlflow_vs_forebear_batched_x": (">=", 50.0),
    "import_forebear_ms": ("<=", 100.0),
    "import_forebear_peak_rss_mib": ("<=", 30.0),
    "hash_sha256_vs_file_digest": (">=", 0.90),
    "hash_blake3_vs_raw_read": (">=", 0.80),
    "hash_cache_recheck_us": ("<", 1000.0),
    "capture_overhead_pct": ("<", 5.0),
    "capture_overhead_paired_pct": ("<", 5.0),
    "capture_overhead_min_pct": ("<", 5.0),
    "capture_overhead_same_process_pct": ("<", 5.0),
}


def main() -> None:
    """Print every figure of ``run``, each with its target where it has one."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=200, help="tracked runs timed (200)")
    parser.add_argument("--mlflow-runs", type=int, default=100, help="MLflow runs per mode")
    parser.add_argument("--hash-size-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=10_000, help="files the capture script reads")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--skip-mlmd", action="store_true")
    parser.add_argument("--skip-hashing", action="store_true")
    parser.add_argument("--capture-worker", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="tracked", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.capture_worker:
        print(json.dumps(capture_worker(args.capture_worker, args.mode, args.repeat)))
        return
    results = run(
        runs=args.runs, mlflow_runs=args.mlflow_runs, hash_size_mib=args.hash_size_mib,
        files=args.files, with_mlflow=not args.skip_mlflow, with_hashing=not args.skip_hashing,
        with_mlmd=not args.skip_mlmd,
    )
    for name, value in results.items():
        line = f"{name:44} {value:12.3f}"
        target = _TARGETS.get(name)
        if target is not None:
            op, goal = target
            ok = {"<=": value <= goal, ">=": value >= goal, "<": value < goal}[op]
            line += f"   target {op} {goal:g}: {'ok' if ok else 'MISSED'}"
        print(line)
    for note in NOTES:
        print(note)


if __name__ == "__main__":
    main()
