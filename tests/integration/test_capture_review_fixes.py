"""Automatic capture keeps lineage true: inputs as they were read, each run's own outputs,
and never a cycle (a file read then rewritten, a file changed mid-run by another process,
runs side by side in threads, a byte-identical copy)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import forebear
from forebear.hashing import hash_file
from forebear.sdk.anchors import clear_caches
from forebear.store.registry import init_store, open_store


@pytest.fixture
def project(project_dir: Path) -> Path:
    init_store(project_dir)
    clear_caches()
    return project_dir


def _edges(store: Any, run_id: str) -> set[tuple[str, str]]:
    """(direction, artifact id) of a run's edges to files (anchors left out)."""
    rows = store.execute(
        "SELECT 'in', n.key, a.kind FROM edge e JOIN node n ON n.id = e.src "
        "JOIN artifact a ON a.node = n.id JOIN execution x ON x.node = e.dst WHERE x.run_id = ? "
        "UNION ALL SELECT 'out', n.key, a.kind FROM edge e JOIN node n ON n.id = e.dst "
        "JOIN artifact a ON a.node = n.id JOIN execution x ON x.node = e.src WHERE x.run_id = ?",
        (run_id, run_id),
    )
    return {(way, key) for way, key, kind in rows if kind not in ("code", "environment")}


def _exec(project: Path, *argv: str) -> str:
    """``forebear exec ARGV`` as a user runs it; the run id."""
    done = subprocess.run([sys.executable, "-m", "forebear", "exec", "--json", *argv],
                          cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["run_id"])


def _digest(path: Path) -> str:
    return str(hash_file(path))


# -- 1. a file read, then overwritten --------------------------------------------------


def test_a_model_read_then_rewritten_in_place_is_the_fine_tunes_input(project: Path) -> None:
    with forebear.run("train", kind="train", store=str(project)) as train:
        Path("model.pkl").write_text("base-weights")
    base = _digest(project / "model.pkl")
    with forebear.run("fine-tune", kind="fine_tune", store=str(project)) as tune:
        with open("model.pkl") as handle:
            weights = handle.read()
        with open("model.pkl", "w") as handle:  # the hook sees this before it truncates
            handle.write(weights + "+finetuned")
    tuned = _digest(project / "model.pkl")
    store = open_store(str(project))
    assert ("out", base) in _edges(store, train.run_id)
    assert _edges(store, tune.run_id) == {("in", base), ("out", tuned)}
    route = forebear.path(base, "model.pkl", store=str(project))
    assert {node["id"] for node in route["nodes"]} >= {base, tune.run_id, tuned}


def test_a_model_read_then_replaced_by_an_atomic_save_is_the_input(project: Path) -> None:
    Path("model.pkl").write_text("base-weights")
    base = _digest(project / "model.pkl")
    with forebear.run("fine-tune", kind="fine_tune", store=str(project)) as tune:
        weights = Path("model.pkl").read_text()
        Path("model.tmp").write_text(weights + "+finetuned")
        os.replace("model.tmp", "model.pkl")
    edges = _edges(open_store(str(project)), tune.run_id)
    assert edges == {("in", base), ("out", _digest(project / "model.pkl"))}


def test_exec_links_a_fine_tune_that_rewrites_its_base_model(project: Path) -> None:
    (project / "data.csv").write_text("x\n1\n")
    (project / "train.py").write_text(
        'open("data.csv").read(); open("model.pkl", "w").write("base-weights")\n')
    (project / "finetune.py").write_text(
        'w = open("model.pkl").read(); open("model.pkl", "w").write(w + "+finetuned")\n')
    _exec(project, "--kind", "train", "--", sys.executable, "train.py")
    shutil.copy(project / "model.pkl", project / "base.pkl")
    tune = _exec(project, "--kind", "fine_tune", "--", sys.executable, "finetune.py")
    base, tuned = _digest(project / "base.pkl"), _digest(project / "model.pkl")
    assert _edges(open_store(str(project)), tune) == {("in", base), ("out", tuned)}
    assert forebear.path("base.pkl", "model.pkl", store=str(project))["nodes"]


# -- 2. an input changed by another process while the run goes on ----------------------


# Not a Python child: what one writes is the run's own output, reported to it.
_CHANGE = ["sh", "-c", "echo version-2 > data.csv"]


def _tick() -> None:
    time.sleep(0.05)  # past a coarse file-system clock's tick, as a real mid-run change is


def test_an_input_changed_after_it_was_read_is_recorded_by_name_not_by_new_bytes(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    Path("data.csv").write_text("version-1\n")
    Path("labels.csv").write_text("version-1\n")
    with forebear.run("train", kind="train", store=str(project)) as run:
        assert Path("data.csv").read_text() == "version-1\n"
        _tick()
        subprocess.run(_CHANGE, check=True)  # another process, not the run's own write
        subprocess.run(["sh", "-c", "echo version-2 > labels.csv"], check=True)
        _tick()
        Path("labels.csv").read_text()  # changed before it was read: read as it is
        Path("model.pkl").write_text("weights")
    data = str(project / "data.csv")
    assert _edges(open_store(str(project)), run.run_id) == {
        ("in", f"dataset:file:{data}"), ("in", _digest(project / "labels.csv")),
        ("out", _digest(project / "model.pkl"))}
    err = capfd.readouterr().err
    assert "data.csv changed after this run read it" in err
    assert "labels.csv" not in err


def test_exec_records_an_input_changed_mid_run_by_name(project: Path) -> None:
    (project / "data.csv").write_text("version-1\n")
    (project / "fit.py").write_text(
        "import subprocess, time\n"
        "open('data.csv').read()\n"
        "time.sleep(0.05)\n"
        "subprocess.run(['sh', '-c', 'echo version-2 > data.csv'], check=True)\n"
        "open('model.pkl', 'w').write('weights')\n")
    run_id = _exec(project, "--", sys.executable, "fit.py")
    data = str(project / "data.csv")
    assert _edges(open_store(str(project)), run_id) == {
        ("in", f"dataset:file:{data}"), ("out", _digest(project / "model.pkl"))}


# -- 3. runs going on at the same time --------------------------------------------------


def test_a_run_ending_first_does_not_claim_a_live_runs_outputs(project: Path) -> None:
    # README: of runs side by side in threads, each keeps the files its own thread opened.
    a_started, b_wrote, a_ended = threading.Event(), threading.Event(), threading.Event()
    runs: dict[str, forebear.Run] = {}

    def a() -> None:
        with forebear.run("A", store=str(project)) as run:
            runs["A"] = run
            a_started.set()
            b_wrote.wait(5)
            Path("a.txt").write_text("a")
        a_ended.set()

    def b() -> None:
        a_started.wait(5)  # A's watch has looked at the tree: b.txt is new to it
        with forebear.run("B", store=str(project)) as run:
            runs["B"] = run
            Path("b.txt").write_text("b")
            b_wrote.set()
            a_ended.wait(5)  # still going when A ends

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store = open_store(str(project))
    assert _edges(store, runs["A"].run_id) == {("out", _digest(project / "a.txt"))}
    assert _edges(store, runs["B"].run_id) == {("out", _digest(project / "b.txt"))}


# -- 4. a byte-identical copy -------------------------------------------------------------


@pytest.mark.parametrize(("content", "name"), [(b"x,y\n1,2\n", "copy"), (b"", "empty")])
def test_a_copy_of_an_input_is_a_further_place_of_it_not_a_cycle(
    project: Path, content: bytes, name: str
) -> None:
    (project / "raw").mkdir()
    (project / "data").mkdir()
    (project / "raw" / "d.csv").write_bytes(content)
    with forebear.run("ingest", kind="ingest", store=str(project)) as run:
        shutil.copy("raw/d.csv", "data/d.csv")
    digest = _digest(project / "raw" / "d.csv")
    assert _edges(open_store(str(project)), run.run_id) == {("in", digest)}
    shown = forebear.show("data/d.csv", store=str(project))
    assert shown["id"] == digest and shown["produced_by"] == [], name
    assert set(shown["node"]["uris"]) == {str(project / "raw" / "d.csv"),
                                          str(project / "data" / "d.csv")}
    assert forebear.downstream(digest, store=str(project))["edges"] == [
        {"source": digest, "target": run.run_id, "role": "input"}]


def test_parallel_execs_in_one_folder_keep_their_own_outputs(project: Path) -> None:
    # B writes early and runs past A's end; A's working-tree watch sees b.out change, but
    # B's command published that it opened it for writing: it is B's alone, and a.out A's.
    (project / "in.csv").write_text("x\n")
    (project / "w.py").write_text(
        "import sys, time\ntime.sleep(float(sys.argv[2]))\nopen('in.csv').read()\n"
        "open(sys.argv[1], 'w').write(sys.argv[1])\ntime.sleep(float(sys.argv[3]))\n")
    command = [sys.executable, "-m", "forebear", "exec", "--json", "--name"]
    b = subprocess.Popen([*command, "B", "--", sys.executable, "w.py", "b.out", "0", "2"],
                         cwd=project, stdout=subprocess.PIPE, text=True)
    a = subprocess.Popen([*command, "A", "--", sys.executable, "w.py", "a.out", "0.8", "0"],
                         cwd=project, stdout=subprocess.PIPE, text=True)
    runs = {name: json.loads(proc.communicate(timeout=60)[0])["run_id"]
            for name, proc in (("A", a), ("B", b))}
    store = open_store(str(project))
    outputs = {name: {key for way, key in _edges(store, run_id) if way == "out"}
               for name, run_id in runs.items()}
    assert outputs == {"A": {_digest(project / "a.out")}, "B": {_digest(project / "b.out")}}
