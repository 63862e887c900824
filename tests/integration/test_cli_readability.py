"""What a data scientist reads every day: a run's metric history (``forebear metrics``),
``log`` saying when it shows fewer runs than there are, ``show`` of long params, of a run
and of an interrupted one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import forebear
from forebear.cli import main
from forebear.sdk.anchors import clear_caches
from forebear.sdk.session import reset_default_session
from forebear.store.registry import init_store, open_store


@pytest.fixture
def project(project_dir: Path) -> Iterator[Path]:
    init_store(project_dir)
    clear_caches()
    reset_default_session()  # runs go to this test's store
    yield project_dir
    reset_default_session()


def _run(name: str, **options: Any) -> forebear.Run:
    return forebear.run(name, kind="train", capture=False, watch=False, **options)


def _out(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def _short_history() -> str:
    with _run("train") as run:
        for step in range(3):
            run.log_metrics({"loss": 1.0 / (step + 1), "acc": step / 4}, step=step)
        run.log_metric("loss", float("nan"), step=3)
        run.log_metric("acc", float("-inf"), step=3)
    return run.run_id


# -- forebear metrics ---------------------------------------------------------------------


def test_metrics_json_is_each_keys_points_by_step_non_finite_spelled(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = _short_history()
    out = json.loads(_out(capsys, "metrics", run_id[:13], "--json"))
    assert out == {"run": run_id, "metrics": {
        "acc": [[0, 0], [1, 0.25], [2, 0.5], [3, "-Infinity"]],
        "loss": [[0, 1], [1, 0.5], [2, 1.0 / 3], [3, "NaN"]],
    }}
    only = json.loads(_out(capsys, "metrics", run_id, "--key", "loss", "--json"))
    assert list(only["metrics"]) == ["loss"]


def test_metrics_prints_a_short_history_whole(project: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    run_id = _short_history()
    lines = _out(capsys, "metrics", run_id).splitlines()
    assert lines[0] == f"run {run_id}"
    at = lines.index("loss  4 points, steps 0 to 3")
    assert lines[at + 1:at + 6] == ["  step  value", "     0  1", "     1  0.5",
                                    "     2  0.333333", "     3  NaN"]
    assert "     3  -Infinity" in lines
    assert not any("--all" in line for line in lines)


def test_a_long_history_kept_as_a_blob_is_read_back_and_summarized(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    points = 50_000
    with _run("long") as run:
        for step in range(points):
            run.log_metrics({"loss": 2.0 - step / points, "lr": 0.1}, step=step)
        run.log_metric("loss", float("inf"), step=points)
        Path("model.pt").write_bytes(b"weights")
        run.produce("model.pt", kind="model")
    store: Any = open_store(str(project))
    roles = {role for (role,) in store.execute(
        "SELECT e.role FROM edge e JOIN execution x ON x.node = e.src WHERE x.run_id = ?",
        (run.run_id,))}
    assert "metric_history" in roles  # the history is a blob, not in the metric table
    assert store.execute("SELECT COUNT(*) FROM metric")[0][0] == 0
    store.close()

    out = json.loads(_out(capsys, "metrics", "model.pt", "--json"))  # the run that made it
    assert out["run"] == run.run_id
    assert len(out["metrics"]["loss"]) == points + 1 and len(out["metrics"]["lr"]) == points
    assert out["metrics"]["loss"][:2] == [[0, 2], [1, 2.0 - 1 / points]]
    assert out["metrics"]["loss"][-1] == [points, "Infinity"]

    text = _out(capsys, "metrics", run.run_id)
    assert len(text.splitlines()) < 15
    assert "loss  50,001 points, steps 0 to 50,000" in text
    assert "first 2 (step 0)  last Infinity (step 50,000)  min 1.00002 (step 49,999)  " \
           "max 2 (step 0)" in text
    assert "curve █" in text and "1 not finite (Infinity: 1)" in text
    assert "loss, lr: summarized; --all for every point" in text
    every = _out(capsys, "metrics", run.run_id, "--all", "--key", "loss").splitlines()
    assert len(every) == 1 + 1 + 1 + points + 1 and every[-1] == "  50,000  Infinity"

    from forebear.sdk.queries import metric_history

    found = metric_history("model.pt", keys=["lr"])
    assert list(found) == ["lr"] and found["lr"][0] == (0, 0.1) and len(found["lr"]) == points


def test_metrics_names_the_keys_there_are_and_says_when_there_is_no_history(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = _short_history()
    assert main(["metrics", run_id, "--key", "los"]) != 0
    err = capsys.readouterr().err
    assert "no history of metric 'los'" in err and "acc, loss" in err
    with _run("plain") as run:
        run.log_metrics({"accuracy": 0.9})
    assert "logged no metric history" in _out(capsys, "metrics", run.run_id)
    assert json.loads(_out(capsys, "metrics", run.run_id, "--json"))["metrics"] == {}


# -- log, show --------------------------------------------------------------------------


def test_log_says_how_many_runs_it_left_out(project: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    for index in range(3):
        with _run(f"run{index}") as run:
            run.log_metrics({"loss": 0.5})
    assert "2 of 3 runs; --limit N for more" in _out(capsys, "log", "--limit", "2")
    assert "--limit N" not in _out(capsys, "log", "--limit", "3")
    assert "--limit N" not in _out(capsys, "log")
    assert "loss=0.5" in _out(capsys, "log")
    assert len(json.loads(_out(capsys, "log", "--limit", "2", "--json"))) == 2


def test_show_cuts_a_long_param_but_not_its_json(project: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with _run("train", params={"vocabulary": "w" * 100_000, "lr": 0.1}) as run:
        pass
    text = _out(capsys, "show", run.run_id)
    assert max(len(line) for line in text.splitlines()) < 400
    assert "… (100,002 characters; --json for all)" in text and "lr=0.1" in text
    record = json.loads(_out(capsys, "show", run.run_id, "--json"))
    assert record["transformation"]["params"]["vocabulary"] == "w" * 100_000


def test_show_of_a_run_is_not_made_by_itself(project: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with _run("train") as run:
        Path("model.pt").write_bytes(b"weights")
        run.produce("model.pt", kind="model")
    of_run = _out(capsys, "show", run.run_id)
    assert "made by" not in of_run and "started" in of_run and "ended" in of_run
    assert "model.pt" in of_run  # its output
    assert f"made by      ⚙ train train  {run.run_id}" in _out(capsys, "show", "model.pt")


def test_an_interrupted_run_reads_keyboardinterrupt_without_a_colon(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(KeyboardInterrupt), _run("stopped") as run:
        raise KeyboardInterrupt
    assert run.status == "aborted"
    shown = _out(capsys, "show", run.run_id)
    assert "KeyboardInterrupt\n" in shown and "KeyboardInterrupt:" not in shown
    logged = _out(capsys, "log")
    assert "aborted  KeyboardInterrupt\n" in logged and "KeyboardInterrupt:" not in logged
