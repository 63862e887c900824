"""The SDK end to end on a real embedded store: runs, failures, capture, anchors, exec."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import forebear
from forebear.artifacts.base import open_blob_store
from forebear.capture.git import restore
from forebear.errors import InvalidInputError
from forebear.hashing import hash_file
from forebear.sdk.anchors import clear_caches
from forebear.store.registry import init_store, open_store


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(project_dir: Path) -> Path:
    _git(project_dir, "init", "-q", "-b", "main")
    _git(project_dir, "remote", "add", "origin", "https://alice:s3cret@example.com/org/repo.git")
    (project_dir / "data").mkdir()
    (project_dir / "data" / "train.csv").write_text("x,y\n1,2\n")
    (project_dir / "train.py").write_text("print('train')\n")
    _git(project_dir, "add", ".")
    _git(project_dir, "commit", "-qm", "init")
    init_store(project_dir)
    clear_caches()
    return project_dir


def _execution(store: Any, run_id: str) -> dict[str, Any]:
    cols = ["status", "params", "metrics", "error", "traceback", "code", "environment", "actor"]
    row = store.execute(f"SELECT {', '.join(cols)} FROM execution WHERE run_id = ?", (run_id,))[0]
    return dict(zip(cols, row, strict=True))


def _edges(store: Any, run_id: str) -> list[tuple[str, str, str, str]]:
    """(direction, role, artifact kind, artifact key) of a run's edges."""
    rows = store.execute(
        "SELECT 'in', e.role, a.kind, n.key FROM edge e JOIN node n ON n.id = e.src "
        "JOIN artifact a ON a.node = n.id JOIN execution x ON x.node = e.dst WHERE x.run_id = ? "
        "UNION ALL SELECT 'out', e.role, a.kind, n.key FROM edge e JOIN node n ON n.id = e.dst "
        "JOIN artifact a ON a.node = n.id JOIN execution x ON x.node = e.src WHERE x.run_id = ?",
        (run_id, run_id),
    )
    return sorted(rows)


def test_a_run_records_params_metrics_inputs_outputs_and_anchors(repo: Path) -> None:
    with forebear.run("train", kind="train", params={"lr": 0.1}, store=str(repo)) as run:
        data = run.use("data/train.csv", role="training_data")
        run.log_params({"epochs": 3})
        run.log_metrics({"accuracy": 0.97}, step=3)
        run.set_tag("team", "fraud")
        Path("model.pkl").write_bytes(b"weights")
        model = run.produce("model.pkl", kind="model")
    assert data.digest == str(hash_file(repo / "data/train.csv"))
    store = open_store(str(repo))
    record = _execution(store, run.run_id)
    assert record["status"] == "succeeded"
    assert json.loads(record["params"]) == {"lr": 0.1, "epochs": 3}
    assert json.loads(record["metrics"]) == {"accuracy": 0.97}
    code = json.loads(record["code"])
    assert code["remote"] == "https://example.com/org/repo.git"  # credentials stripped
    assert "s3cret" not in json.dumps(code) and "alice" not in json.dumps(code)
    edges = _edges(store, run.run_id)
    assert ("in", "training_data", "data", data.digest) in edges
    assert ("out", "output", "model", model.digest) in edges
    assert {e[2] for e in edges if e[0] == "in"} >= {"code", "environment"}
    blobs = open_blob_store(repo / ".forebear" / "blobs")
    assert blobs.get_bytes(forebear.Digest.parse(model.digest)) == b"weights"
    assert store.verify().ok


def test_a_failed_run_is_kept_with_its_error_and_traceback(repo: Path) -> None:
    with pytest.raises(ZeroDivisionError), forebear.run("bad", store=str(repo)) as run:
        1 / 0  # noqa: B018
    record = _execution(open_store(str(repo)), run.run_id)
    assert record["status"] == "failed"
    assert record["error"].startswith("ZeroDivisionError")
    assert "1 / 0" in record["traceback"]


def test_keyboard_interrupt_is_an_aborted_run(repo: Path) -> None:
    with pytest.raises(KeyboardInterrupt), forebear.run("interrupted", store=str(repo)) as run:
        raise KeyboardInterrupt
    assert _execution(open_store(str(repo)), run.run_id)["status"] == "aborted"


@pytest.mark.parametrize(("code", "status"), [(0, "succeeded"), (None, "succeeded"),
                                             (3, "failed"), ("bad input", "failed")])
def test_sys_exit_in_a_run_is_recorded_as_exec_records_it(
    repo: Path, code: int | str | None, status: str
) -> None:
    # The same as a command under `forebear exec` exiting with that code.
    with pytest.raises(SystemExit), forebear.run("exits", store=str(repo)) as run:
        sys.exit(code)
    record = _execution(open_store(str(repo)), run.run_id)
    assert record["status"] == status
    if status == "failed":
        assert record["error"] == f"SystemExit: {code}"


def test_a_crash_mid_run_leaves_the_started_execution(repo: Path) -> None:
    script = (
        "import os, forebear\n"
        "r = forebear.run('doomed', kind='train', store='.')\n"
        "r.start()\n"
        "print(r.run_id, flush=True)\n"
        "os._exit(9)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=repo, capture_output=True, text=True)
    run_id = done.stdout.strip()
    assert _execution(open_store(str(repo)), run_id)["status"] == "running"


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_runs_data_loader_workers_are_captured_however_they_start(
        repo: Path, method: str) -> None:
    # Workers are new interpreters under spawn (macOS, Windows) and forkserver (Linux from
    # Python 3.14): what they read is still the run's input, undeclared.
    (repo / "data" / "part1.csv").write_text("a\n")
    (repo / "data" / "part2.csv").write_text("b\n")
    (repo / "fit.py").write_text(
        "import multiprocessing, forebear\n"
        "def load(path):\n"
        "    with open(path) as handle:\n"
        "        return handle.read()\n"
        "if __name__ == '__main__':\n"
        "    with forebear.run('fit', kind='train', store='.') as run:\n"
        f"        with multiprocessing.get_context({method!r}).Pool(2) as pool:\n"
        "            rows = pool.map(load, ['data/part1.csv', 'data/part2.csv'])\n"
        "        open('model.txt', 'w').write(''.join(rows))\n"
        "    print(run.run_id)\n"
    )
    done = subprocess.run([sys.executable, "fit.py"], cwd=repo, capture_output=True,
                          text=True, check=True)
    edges = _edges(open_store(str(repo)), done.stdout.strip())
    for part in ("part1.csv", "part2.csv"):
        assert ("in", "input", "data", str(hash_file(repo / "data" / part))) in edges, part
    assert ("out", "output", "data", str(hash_file(repo / "model.txt"))) in edges
    assert done.stderr == ""


def test_track_turns_arguments_into_params(repo: Path) -> None:
    @forebear.track(kind="train", store=str(repo))
    def fit(data_path: str, lr: float = 0.5) -> int:
        Path("out.txt").write_text(Path(data_path).read_text().upper())
        return 1

    fit("data/train.csv", lr=0.25)
    store = open_store(str(repo))
    (params, run_id) = store.execute("SELECT params, run_id FROM execution WHERE name = 'fit'")[0]
    assert json.loads(params) == {"data_path": "data/train.csv", "lr": 0.25}
    edges = _edges(store, run_id)
    assert any(e[0] == "in" and e[3] == str(hash_file(repo / "data/train.csv")) for e in edges)
    assert any(e[0] == "out" and e[3] == str(hash_file(repo / "out.txt")) for e in edges)


def test_track_runs_a_function_whose_arguments_are_big_data(repo: Path) -> None:
    # Arguments are often the data itself: the call must run and be recorded, its params
    # summarized, not refused as an entry too large to journal (which stopped the call).
    @forebear.track(store=str(repo), capture=False, watch=False)
    def fit(rows: list[list[float]], vocabulary: dict[str, int], prompt: str,
            lr: float = 0.5) -> int:
        return len(rows)

    rows = [[float(i)] * 10 for i in range(500_000)]
    assert fit(rows, {f"w{i}": i for i in range(300_000)}, "x" * 5_000_000) == 500_000
    store = open_store(str(repo))
    status, params = store.execute("SELECT status, params FROM execution")[0]
    recorded = json.loads(params)
    assert status == "succeeded" and recorded["lr"] == 0.5
    assert recorded["rows"] == "<list of 500,000 items>"
    assert recorded["vocabulary"] == "<dict of 300,000 items>"
    assert recorded["prompt"].endswith("... (5,000,000 characters)")
    assert len(recorded["prompt"]) < 200_000
    assert fit([[1.0, 2.0]], {"a": 1}, "hi") == 1  # small arguments are kept whole
    rows_params = [json.loads(p) for (p,) in store.execute("SELECT params FROM execution")]
    assert {"rows": [[1.0, 2.0]], "vocabulary": {"a": 1}, "prompt": "hi",
            "lr": 0.5} in rows_params


def test_track_lasts_as_long_as_coroutines_and_generators_do(repo: Path) -> None:
    import asyncio

    @forebear.track(kind="train", store=str(repo))
    async def fit_async(steps: int) -> int:
        await asyncio.sleep(0)
        Path("async.txt").write_text("weights")  # written after the first await
        return steps

    @forebear.track(kind="evaluate", store=str(repo), capture=False)
    def batches(count: int) -> Any:
        yield from range(count)
        return "done"

    @forebear.track(kind="stream", store=str(repo), capture=False)
    async def stream(count: int) -> Any:
        for i in range(count):
            await asyncio.sleep(0)
            yield i

    @forebear.track(kind="train", store=str(repo), capture=False)
    async def diverges() -> None:
        await asyncio.sleep(0)
        raise FloatingPointError("loss is NaN")

    async def collect() -> list[int]:
        return [i async for i in stream(3)]

    assert asyncio.run(fit_async(3)) == 3
    assert list(batches(4)) == [0, 1, 2, 3]
    assert asyncio.run(collect()) == [0, 1, 2]
    with pytest.raises(FloatingPointError):
        asyncio.run(diverges())
    early = batches(10)
    next(early)
    early.close()  # the consumer stopped: the run is aborted, not failed

    store = open_store(str(repo))
    rows = store.execute("SELECT name, status, params, run_id FROM execution "
                         "ORDER BY start_seq")
    assert [(name, status) for name, status, _, _ in rows] == [
        ("fit_async", "succeeded"), ("batches", "succeeded"), ("stream", "succeeded"),
        ("diverges", "failed"), ("batches", "aborted")]
    assert json.loads(rows[0][2]) == {"steps": 3}
    # The coroutine's run ended after its work: the file written after the await is its
    # output.
    assert ("out", "output", "data", str(hash_file(repo / "async.txt"))) in _edges(
        store, rows[0][3])


def test_concurrent_tracked_coroutines_are_siblings_not_nested(repo: Path) -> None:
    import asyncio

    @forebear.track(kind="evaluate", store=str(repo), capture=False, watch=False)
    async def evaluate(split: str) -> str:
        await asyncio.sleep(0.01)  # both are running at once
        run = forebear.current_run()
        assert run is not None
        return run.parent.run_id if run.parent else ""

    async def both() -> list[str]:
        return list(await asyncio.gather(evaluate("val"), evaluate("test")))

    with forebear.run("pipeline", store=str(repo), capture=False, watch=False) as outer:
        parents = asyncio.run(both())
        assert forebear.current_run() is outer
    assert parents == [outer.run_id, outer.run_id]
    assert forebear.current_run() is None


def test_automatic_capture_links_a_fine_tune_to_the_run_that_made_its_base(repo: Path) -> None:
    with forebear.run("train", kind="train", store=str(repo)) as first:
        Path("base.bin").write_bytes(Path("data/train.csv").read_bytes() + b"weights")
    with forebear.run("fine-tune", kind="fine_tune", store=str(repo)) as second:
        base = Path("base.bin").read_bytes()
        Path("tuned.bin").write_bytes(base + b"more")
    store = open_store(str(repo))
    base_digest = str(hash_file(repo / "base.bin"))
    assert ("out", "output", "model", base_digest) in _edges(store, first.run_id)
    assert ("in", "input", "model", base_digest) in _edges(store, second.run_id)


def test_capture_ignores_the_interpreter_and_the_store(repo: Path) -> None:
    with forebear.run("quiet", store=str(repo)) as run:
        import json as _json  # noqa: F401

        Path(sys.prefix, "pyvenv.cfg").exists()
        open(os.__file__).close()
    inputs = [e for e in _edges(open_store(str(repo)), run.run_id) if e[0] == "in"]
    assert {e[2] for e in inputs} == {"code", "environment"}


def test_the_diff_blob_restores_the_exact_working_tree(repo: Path, tmp_path: Path) -> None:
    (repo / "train.py").write_text("print('changed')\n")
    (repo / "config.yaml").write_text("untracked\n")
    (repo / "data" / "train.csv").unlink()
    with forebear.run("dirty", store=str(repo)) as run:
        pass
    code = json.loads(_execution(open_store(str(repo)), run.run_id)["code"])
    assert code["dirty"] is True
    diff = open_blob_store(repo / ".forebear" / "blobs").get_bytes(
        forebear.Digest.parse(code["diff_digest"])
    )
    dest = tmp_path / "restored"
    restore(code["commit"], diff, dest, repo=repo)
    for name in ("train.py", "config.yaml"):
        assert (dest / name).read_bytes() == (repo / name).read_bytes()
    assert not (dest / "data" / "train.csv").exists()


def test_exec_tracks_an_unmodified_script(repo: Path) -> None:
    (repo / "fit.py").write_text(
        "import sys\n"
        "rows = open('data/train.csv').read()\n"
        "open('model.txt', 'w').write(rows.upper())\n"
        "sys.exit(0)\n"
    )
    _git(repo, "add", "fit.py")
    _git(repo, "commit", "-qm", "fit")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "forebear",
            "exec",
            "--kind",
            "train",
            "--json",
            "--",
            sys.executable,
            "fit.py",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    store = open_store(str(repo))
    edges = _edges(store, run_id)
    ins = {(e[1], e[3]) for e in edges if e[0] == "in"}
    assert ("input", str(hash_file(repo / "data/train.csv"))) in ins
    assert ("out", "output", "data", str(hash_file(repo / "model.txt"))) in edges
    record = _execution(store, run_id)
    code = json.loads(record["code"])
    assert code["entry_point"] == "fit.py"
    assert code["entry_digest"] == str(hash_file(repo / "fit.py"))
    assert len(code["commit"]) == 40
    env = json.loads(record["environment"])
    assert env["digest"].startswith("sha256:")
    assert {"code", "environment"} <= {e[2] for e in edges if e[0] == "in"}
    # The child's environment is named as an SDK run's is, not left as a bare digest.
    named = store.execute("SELECT name FROM artifact WHERE digest = ?", (env["digest"],))
    assert named == [(f"python-{env['python']}-{env['digest'][7:19]}",)]


def test_exec_sees_what_the_commands_python_children_read_and_write(repo: Path) -> None:
    # A driver script running steps as Python subprocesses, run under a capture of its
    # own elsewhere: the steps' files are this run's, reported through the driver.
    (repo / "step.py").write_text(
        "import sys\n"
        "rows = open('data/train.csv').read()\n"
        "open(sys.argv[1], 'w').write(rows[::-1])\n"
    )
    (repo / "driver.py").write_text(
        "import subprocess, sys\n"
        "for out in ('a.txt', 'b.txt'):\n"
        "    subprocess.run([sys.executable, 'step.py', out], check=True)\n"
    )
    from forebear.capture.files import FileCapture

    outer = FileCapture(cwd=str(repo))  # `forebear exec` is itself a Python child of it
    outer.start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "forebear", "exec", "--json", "--", sys.executable,
             "driver.py"], cwd=repo, capture_output=True, text=True)
    finally:
        seen = outer.stop()
    assert done.returncode == 0, done.stderr
    edges = _edges(open_store(str(repo)), json.loads(done.stdout)["run_id"])
    assert ("in", "input", "data", str(hash_file(repo / "data/train.csv"))) in edges
    for out in ("a.txt", "b.txt"):
        assert ("out", "output", "data", str(hash_file(repo / out))) in edges, out
    # The command's files and forebear's own reads of them are that run's, not the caller's.
    assert not {str(repo / n) for n in ("a.txt", "b.txt", "data/train.csv")} & {
        *seen.reads, *seen.writes}, seen


def test_exec_passes_the_exit_code_through_and_records_a_failure(repo: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "forebear",
            "exec",
            "--json",
            "--",
            sys.executable,
            "-c",
            "import sys; sys.exit(3)",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 3
    run_id = json.loads(done.stdout)["run_id"]
    assert _execution(open_store(str(repo)), run_id)["status"] == "failed"


def test_exec_declared_files_and_watch_for_other_programs(repo: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "forebear",
            "exec",
            "--no-capture",
            "--input",
            "data/train.csv",
            "--json",
            "--",
            "cp",
            "data/train.csv",
            "copy.csv",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    store = open_store(str(repo))
    edges = _edges(store, run_id)
    digest = str(hash_file(repo / "copy.csv"))
    assert any(e[0] == "in" and e[1] == "input" and e[3] == digest for e in edges)
    # A byte-identical copy is the same artifact in a further place, not a new output
    # (which would make the run both use and produce it: a cycle).
    assert not any(e[0] == "out" for e in edges)
    uris = store.execute("SELECT u.uri FROM artifact_uri u JOIN artifact a ON a.node = u.node "
                         "WHERE a.digest = ?", (digest,))
    assert (str(repo / "copy.csv"),) in uris


def test_a_diverged_metric_is_recorded_not_refused(repo: Path) -> None:
    import math

    with forebear.run("train", kind="train", capture=False, store=str(repo)) as run:
        run.log_metrics({"loss": float("nan"), "grad": math.inf, "acc": 0.5}, step=3)
        run.log_metric("floor", -math.inf)
        with pytest.raises(InvalidInputError, match="not a number"):
            run.log_metric("label", "high")  # type: ignore[arg-type]
    assert run.status == "succeeded"  # a NaN loss does not fail the run, nor training
    store = open_store(str(repo))
    record = _execution(store, run.run_id)
    assert json.loads(record["metrics"]) == {"loss": "NaN", "grad": "Infinity", "acc": 0.5,
                                             "floor": "-Infinity"}
    steps = store.execute("SELECT key, step, value FROM metric ORDER BY key")
    assert steps == [("acc", 3, 0.5), ("grad", 3, None), ("loss", 3, None)]
    assert store.verify().ok


def test_a_nul_in_an_error_does_not_lose_the_failed_run(repo: Path) -> None:
    with pytest.raises(RuntimeError), forebear.run("train", capture=False,
                                                   store=str(repo)) as run:
        raise RuntimeError("bad byte \x00 in the output")
    record = _execution(open_store(str(repo)), run.run_id)
    assert record["status"] == "failed" and "bad byte \ufffd in the output" in record["error"]


def test_a_run_whose_end_cannot_be_journaled_ends_failed_not_running(repo: Path) -> None:
    from forebear.store.sql import MAX_ENTRY_BYTES

    with pytest.raises(InvalidInputError, match="over the"), \
            forebear.run("huge", capture=False, store=str(repo)) as run:
        run.log_params({f"p{i}": "x" * 1000 for i in range(MAX_ENTRY_BYTES // 1000 + 10)})
    record = _execution(open_store(str(repo)), run.run_id)
    assert record["status"] == "failed" and run.status == "failed"
    assert "could not record this run's end" in record["error"]


def test_nul_characters_in_logged_values_never_cost_the_run_its_end(repo: Path) -> None:
    with forebear.run("odd", capture=False, store=str(repo)) as run:
        run.log_params({"note\x00": "a\x00b", "nested": {"k": ["\x00"]}})
        run.set_tag("t", "x\x00")
        run.log_metric("m\x00", 1.0, step=1)
    record = _execution(open_store(str(repo)), run.run_id)
    assert record["status"] == "succeeded"
    assert json.loads(record["params"]) == {"note\ufffd": "a\ufffdb", "nested": {"k": ["\ufffd"]}}
    assert json.loads(record["metrics"]) == {"m\ufffd": 1.0}


def _exec_at_a_terminal(repo: Path, script: str) -> tuple[int, str]:
    """``forebear exec -- python SCRIPT`` at a pseudo-terminal, Ctrl-C typed once the
    script prints "ready"; return its exit code and what it printed."""
    import pty
    import select
    import time

    pid, master = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(repo)
        os.execv(sys.executable, [sys.executable, "-m", "forebear", "exec", "--", sys.executable,
                                  "-c", script])
    seen, typed, deadline = b"", False, time.monotonic() + 60
    while time.monotonic() < deadline:
        if not typed and b"ready" in seen:
            os.write(master, b"\x03")  # the terminal signals its foreground group
            typed = True
        if select.select([master], [], [], 0.1)[0]:
            try:
                data = os.read(master, 4096)
            except OSError:  # the terminal closed: everything has exited
                break
            if not data:
                break
            seen += data
    _, status = os.waitpid(pid, 0)
    os.close(master)
    return os.waitstatus_to_exitcode(status), seen.decode(errors="replace")


def test_ctrl_c_under_exec_lets_the_script_save_its_checkpoint(repo: Path) -> None:
    # The terminal delivers Ctrl-C to the script itself: a second SIGINT from exec would
    # interrupt the clean-up that training scripts do on the first.
    script = (
        "import time\n"
        "try:\n"
        "    print('ready', flush=True); time.sleep(30)\n"
        "except KeyboardInterrupt:\n"
        "    time.sleep(0.5); open('ckpt.txt', 'w').write('saved')\n"
    )
    code, seen = _exec_at_a_terminal(repo, script)
    assert code == 0, seen
    assert (repo / "ckpt.txt").read_text() == "saved"
    assert "Traceback" not in seen
    store = open_store(str(repo))
    run_id = store.execute("SELECT run_id FROM execution")[0][0]
    record = _execution(store, run_id)
    assert record["status"] == "aborted" and record["error"] == "interrupted, exit code 0"
    assert ("out", "output", "data", str(hash_file(repo / "ckpt.txt"))) in _edges(store, run_id)


def test_ctrl_c_under_exec_exits_130_like_the_script_alone(repo: Path) -> None:
    code, seen = _exec_at_a_terminal(repo, "import time; print('ready', flush=True); "
                                           "time.sleep(30)")
    assert code == 130, seen
    store = open_store(str(repo))
    record = _execution(store, store.execute("SELECT run_id FROM execution")[0][0])
    assert record["status"] == "aborted" and record["error"] == "killed by SIGINT"


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (["./job.sh"], "./job.sh is not an executable file (chmod +x ./job.sh"),
        (["job.sh"], "command not found: job.sh (to run the file here, write ./job.sh)"),
        (["data"], "command not found: data"),
        (["./data"], "./data is a folder, not a command"),
    ],
    ids=["not-executable", "bare-name-in-folder", "unknown", "folder"],
)
def test_exec_refuses_what_cannot_run_in_one_line_recording_nothing(
    repo: Path, command: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from forebear.cli import main

    (repo / "job.sh").write_text("echo hi > out.txt\n")
    assert main(["exec", "--", *command]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and len(err.splitlines()) == 1, err
    assert open_store(str(repo)).size() == 0


def test_exec_of_a_script_without_a_shebang_is_a_failed_run_not_a_success(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from forebear.cli import main

    (repo / "job.sh").write_text("echo hi > out.txt\n")
    (repo / "job.sh").chmod(0o755)
    assert main(["exec", "--", "./job.sh"]) == 2
    err = capsys.readouterr().err
    assert "cannot run ./job.sh: Exec format error" in err and "Traceback" not in err
    assert _execution(open_store(str(repo)), open_store(str(repo)).execute(
        "SELECT run_id FROM execution")[0][0])["status"] == "failed"


def test_a_nested_runs_outputs_are_its_own_not_the_outer_runs(repo: Path) -> None:
    # The outer run's working-tree watch sees the inner run's files appear; the audit
    # hook already gives them to the innermost run, and the watch must agree.
    with forebear.run("pipeline", store=str(repo)) as outer:
        with forebear.run("step", store=str(repo)) as inner:
            (repo / "step.txt").write_text("step")
            (repo / "later.txt").write_text("v1")
        (repo / "later.txt").write_text("v2, rewritten by the outer run")
        (repo / "own.txt").write_text("own")
    store = open_store(str(repo))
    made = {str(hash_file(repo / name)): name for name in ("step.txt", "later.txt", "own.txt")}
    outer_out = {made.get(e[3]) for e in _edges(store, outer.run_id) if e[0] == "out"}
    inner_out = {made.get(e[3]) for e in _edges(store, inner.run_id) if e[0] == "out"}
    assert inner_out == {"step.txt", None}  # None: later.txt as the inner run left it
    assert outer_out == {"later.txt", "own.txt"}


def test_outside_git_the_entry_script_is_the_code_anchor(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No repository: without the script's own digest, two runs of different code would
    # share one anchor and `forebear diff` would call their code the same.
    from forebear.cli import main

    init_store(project_dir)
    clear_caches()
    script = project_dir / "train.py"
    runs = []
    for lr in ("0.1", "0.9"):
        script.write_text(f"open('model.txt', 'w').write('lr={lr}')\n")
        done = subprocess.run([sys.executable, "-m", "forebear", "exec", "--json", "--",
                               sys.executable, "train.py"], cwd=project_dir,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout)["run_id"])
    store = open_store(str(project_dir))
    code = json.loads(_execution(store, runs[1])["code"])
    assert code["commit"] is None and code["entry_point"] == str(script)
    assert code["entry_digest"] == str(hash_file(script))
    assert ("in", "code", "code", code["digest"]) in _edges(store, runs[1])
    assert main(["diff", *runs, "--json"]) == 0
    changed = json.loads(capsys.readouterr().out)["code"]["changed"]
    assert set(changed) >= {"digest", "entry_digest"}


def test_a_file_name_that_is_not_utf8_does_not_cost_the_run_its_record(repo: Path) -> None:
    # Linux file names are bytes; Python hands a non-UTF-8 one over as lone surrogates,
    # which the journal (JSON) cannot hold. The run used to end "failed", its lineage lost.
    latin1 = os.fsdecode(b"caf\xe9.csv")
    with forebear.run("legacy", store=str(repo), watch=False) as run:
        with open(latin1, "w") as handle:
            handle.write("x\n")
        with open("plain.csv", "w") as handle:
            handle.write("y\n")
    assert run.status == "succeeded"
    store = open_store(str(repo))
    assert _execution(store, run.run_id)["status"] == "succeeded"
    names = {name for (name,) in store.execute("SELECT name FROM artifact")}
    assert {"caf\\xe9.csv", "plain.csv"} <= names
    assert ("out", "output", "data", str(hash_file(repo / latin1))) in _edges(store, run.run_id)


def test_exec_records_into_the_store_found_now_not_a_cached_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # main() called again in another project (tests, tools embedding the CLI) used the
    # process's default session, opened for the first project, and wrote there.
    from forebear.cli import main
    from forebear.sdk.session import reset_default_session

    monkeypatch.delenv("FOREBEAR_STORE", raising=False)
    reset_default_session()
    sizes = []
    for name in ("first", "second"):
        project = tmp_path / name
        project.mkdir()
        init_store(project)
        monkeypatch.chdir(project)
        assert main(["exec", "--no-capture", "--", "true"]) == 0
        sizes.append(open_store(str(project)).size())
    assert sizes == [2, 2]  # each project holds its own run's start and end
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    assert main(["exec", "--", "no-such-command"]) == 2
    assert not (empty / ".forebear").exists()  # a refused command creates no store
    capsys.readouterr()
    reset_default_session()


def test_exec_refuses_a_watch_that_is_no_folder_and_says_a_declared_output_is_missing(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from forebear.cli import main

    for folder in ("nowhere", "train.py"):  # watching them would silently see nothing
        assert main(["exec", "--watch", folder, "--", "true"]) == 2
        err = capsys.readouterr().err
        assert err == f"error: --watch {folder}: no such folder (give a folder whose new " \
            "or changed files are outputs)\n"
    assert open_store(str(repo)).size() == 0
    assert main(["exec", "--no-capture", "--output", "model.bin", "--", "touch",
                 "models.bin"]) == 0
    err = capsys.readouterr().err
    assert "forebear: declared output model.bin was not written: not recorded" in err


def test_sigterm_to_exec_alone_reaches_the_command_and_the_run_is_recorded(
    repo: Path,
) -> None:
    # `docker stop`, Kubernetes and `kill PID` signal forebear exec alone: it used to die
    # at once, leaving the run "running", the command orphaned and its last save unseen.
    import signal

    script = ("import signal, sys, time\n"
              "def stop(*_):\n"
              "    open('last.ckpt', 'w').write('saved'); sys.exit(143)\n"
              "signal.signal(signal.SIGTERM, stop)\n"
              "print('ready', flush=True); time.sleep(30)\n")
    wrapper = subprocess.Popen([sys.executable, "-m", "forebear", "exec", "--json", "--",
                                sys.executable, "-c", script], cwd=repo,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wrapper.stdout is not None
    assert wrapper.stdout.readline() == "ready\n"
    wrapper.send_signal(signal.SIGTERM)  # to forebear alone, not to its process group
    out, err = wrapper.communicate(timeout=60)
    assert wrapper.returncode == 143, err
    run_id = json.loads(out)["run_id"]
    store = open_store(str(repo))
    record = _execution(store, run_id)
    assert record["status"] == "aborted" and record["error"] == "interrupted, exit code 143"
    assert ("out", "output", "model", str(hash_file(repo / "last.ckpt"))) in \
        _edges(store, run_id)
