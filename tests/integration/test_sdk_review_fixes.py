"""The SDK as a data scientist uses it: a long metric history, numpy values as params,
a run misused (never started, reused, wrong arguments), code typed at a prompt."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, SupportsFloat

import numpy as np
import pytest

import forebear
from forebear.artifacts.base import open_blob_store
from forebear.errors import InvalidInputError, UsageError
from forebear.sdk.anchors import clear_caches
from forebear.store.registry import init_store, open_store


@pytest.fixture
def project(project_dir: Path) -> Path:
    init_store(project_dir)
    clear_caches()
    return project_dir


def _store(project: Path) -> Any:
    return open_store(str(project))


def _execution(project: Path, run_id: str) -> dict[str, Any]:
    cols = ["status", "params", "metrics", "error", "code"]
    row = _store(project).execute(
        f"SELECT {', '.join(cols)} FROM execution WHERE run_id = ?", (run_id,))[0]
    record = dict(zip(cols, row, strict=True))
    for key in ("params", "metrics", "code"):
        record[key] = json.loads(record[key]) if record[key] else None
    return record


def _outputs(project: Path, run_id: str) -> dict[str, tuple[str, str, str]]:
    """Role -> (artifact name, kind, digest) of a run's outputs."""
    rows = _store(project).execute(
        "SELECT e.role, a.name, a.kind, n.key FROM edge e JOIN node n ON n.id = e.dst "
        "JOIN artifact a ON a.node = n.id JOIN execution x ON x.node = e.src "
        "WHERE x.run_id = ?", (run_id,))
    return {role: (name, kind, key) for role, name, kind, key in rows}


# -- 1. a long metric history, a param too large -----------------------------------------


def test_a_long_metric_history_never_costs_the_run_its_end_or_lineage(project: Path) -> None:
    # 1000 epochs of 60 batches, three metrics each: ~4.8 MB as [key, step, value] rows,
    # over the journal's 4 MiB entry limit.
    with forebear.run("train", kind="train", store=str(project)) as run:
        for step in range(60_000):
            run.log_metrics({"loss": 1.0 / (step + 1), "lr": 0.1, "grad_norm": step % 7},
                            step=step)
        Path("model.pkl").write_bytes(b"weights")
        run.produce("model.pkl", kind="model")
    record = _execution(project, run.run_id)
    assert record["status"] == "succeeded"
    assert record["metrics"] == {"loss": 1.0 / 60_000, "lr": 0.1, "grad_norm": 59_999 % 7}
    outputs = _outputs(project, run.run_id)
    assert outputs["output"][:2] == ("model.pkl", "model")
    name, kind, digest = outputs["metric_history"]
    assert (name, kind) == ("train.metric-history.json", "metrics")
    blob = open_blob_store(project / ".forebear" / "blobs").get_bytes(
        forebear.Digest.parse(digest))
    steps = json.loads(blob)["metric_steps"]
    assert len(steps) == 180_000
    assert steps[:3] == [["loss", 0, 1.0], ["lr", 0, 0.1], ["grad_norm", 0, 0]]
    assert forebear.show("model.pkl", store=str(project))["transformation"]["run_id"] == run.run_id
    assert _store(project).verify().ok


def test_without_a_blob_store_a_long_history_keeps_its_last_values(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _store(project)  # a store object: a session with no blob store
    with forebear.run("train", store=store, capture=False, watch=False) as run:
        for step in range(60_000):
            run.log_metrics({"loss": 1.0 / (step + 1), "lr": 0.1, "grad_norm": 1.5},
                            step=step)
        Path("model.pkl").write_bytes(b"weights")
        run.produce("model.pkl", kind="model")
    record = _execution(project, run.run_id)
    assert record["status"] == "succeeded"
    assert record["metrics"] == {"loss": 1.0 / 60_000, "lr": 0.1, "grad_norm": 1.5}
    assert "model.pkl" in {name for name, _, _ in _outputs(project, run.run_id).values()}
    assert "only each metric's last value is kept" in capsys.readouterr().err


def test_a_short_metric_history_stays_in_the_end_entry(project: Path) -> None:
    with forebear.run("train", store=str(project)) as run:
        for step in range(3):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
    rows = _store(project).execute(
        "SELECT key, step, value FROM metric ORDER BY step")
    assert [tuple(row) for row in rows] == [("loss", 0, 1.0), ("loss", 1, 0.5),
                                            ("loss", 2, 1.0 / 3)]
    assert "metric_history" not in _outputs(project, run.run_id)


def test_a_param_too_large_to_record_is_named(project: Path) -> None:
    with pytest.raises(InvalidInputError) as raised, forebear.run(
            "train", store=str(project), params={"lr": 0.1, "vocabulary": "w" * 5_000_000}):
        pass
    assert "'vocabulary'" in raised.value.message
    assert "digest" in raised.value.hint or "file" in raised.value.hint


# -- 2. numpy values and objects as params -------------------------------------------------


class Trainer:
    """A class whose instances have Python's default repr (with an address)."""

    @forebear.track(kind="train")
    def fit(self, lr: SupportsFloat) -> SupportsFloat:
        return lr


def test_numpy_values_and_objects_are_params_as_json_not_repr(project: Path) -> None:
    params = {"lr": np.float32(0.1), "epochs": np.int64(50), "shuffle": np.bool_(True),
              "rate": np.float64(0.25), "X": np.zeros((150, 4)), "trainer": Trainer(),
              "grid": [np.int32(1), np.int32(2)], "classes": {"spam", "ham", "eggs"}}
    with forebear.run("train", store=str(project), params=params) as run:
        run.log_params({"seed": np.int64(7)})
    recorded = _execution(project, run.run_id)["params"]
    assert recorded == {
        "lr": 0.1, "epochs": 50, "shuffle": True, "rate": 0.25, "seed": 7,
        "X": "<ndarray shape=(150, 4) dtype=float64>",
        "trainer": f"<{__name__}.Trainer object>", "grid": [1, 2],
        "classes": ["eggs", "ham", "spam"],  # a set, in the same order on every run
    }
    assert type(run.params["epochs"]) is int and type(run.params["shuffle"]) is bool


def test_a_tracked_methods_self_is_left_out_of_its_params(project: Path) -> None:
    forebear.sdk.session.reset_default_session()
    assert Trainer().fit(np.float32(0.5)) == np.float32(0.5)
    run_id = _store(project).execute(
        "SELECT run_id FROM execution WHERE name = 'fit'")[0][0]
    assert _execution(project, run_id)["params"] == {"lr": 0.5}


def test_a_numpy_metric_keeps_the_value_as_written(project: Path) -> None:
    with forebear.run("train", store=str(project)) as run:
        run.log_metrics({"acc": np.float32(0.97), "n": np.int64(3)}, step=np.int64(1))
    assert run.metrics == {"acc": 0.97, "n": 3.0}


# -- 3. a run used outside its lifetime ------------------------------------------------------


def test_a_run_never_started_refuses_to_log(project: Path) -> None:
    run = forebear.run("train", store=str(project))
    for call in (lambda: run.log_metrics({"loss": 0.5}), lambda: run.log_param("lr", 0.1),
                 lambda: run.set_tag("team", "fraud"), lambda: run.produce("x")):
        with pytest.raises(UsageError, match=r"with forebear\.run"):
            call()
    assert run.metrics == {} and run.params == {} and run.tags == {}


def test_an_ended_run_refuses_to_log_or_start_again(project: Path) -> None:
    with forebear.run("train", store=str(project)) as run:
        run.log_metric("loss", 0.5)
    with pytest.raises(UsageError, match="has ended"):
        run.log_metric("loss", 0.1)
    with pytest.raises(UsageError, match="has ended"), run:
        pass
    assert run.metrics == {"loss": 0.5}
    assert _execution(project, run.run_id)["metrics"] == {"loss": 0.5}


def test_inputs_declared_before_start_are_recorded(project: Path) -> None:
    # As `forebear exec --input` does: declared, then started.
    Path("data.csv").write_text("x\n1\n")
    run = forebear.run("train", store=str(project))
    run.use("data.csv")
    run.start()
    run.end()
    rows = _store(project).execute(
        "SELECT a.name FROM edge e JOIN artifact a ON a.node = e.src "
        "JOIN execution x ON x.node = e.dst WHERE x.run_id = ? AND e.role = 'input'",
        (run.run_id,))
    assert [row[0] for row in rows] == ["data.csv"]


# -- 4. wrong arguments ----------------------------------------------------------------------


def test_params_that_are_not_a_mapping_are_refused_with_the_fix(project: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"params=\{"):
        forebear.run("train", store=str(project), params="lr=0.1")
    with pytest.raises(InvalidInputError, match="tags"):
        forebear.run("train", store=str(project), tags=["a"])


@pytest.mark.parametrize(("metrics", "step"), [
    (0.5, None),
    ({"loss": 0.5, "acc": "high"}, None),
    ({"loss": 0.5}, "epoch-1"),
    ({"loss": 0.5}, 1.5),
    ({"loss": 0.5}, True),
    ({"": 0.5}, None),
], ids=["not-a-mapping", "not-a-number", "text-step", "fractional-step", "bool-step",
        "empty-key"])
def test_bad_metrics_are_refused_before_anything_is_updated(
        project: Path, metrics: Any, step: Any) -> None:
    with forebear.run("train", store=str(project)) as run:
        with pytest.raises(InvalidInputError) as raised:
            run.log_metrics(metrics, step=step)
        assert run.metrics == {}
        assert "\n" not in str(raised.value) and raised.value.hint
    assert _execution(project, run.run_id)["status"] == "succeeded"


def test_an_integral_float_step_is_accepted(project: Path) -> None:
    with forebear.run("train", store=str(project)) as run:
        run.log_metric("loss", 0.5, step=2.0)
    rows = _store(project).execute("SELECT step FROM metric")
    assert [tuple(row) for row in rows] == [(2,)]


def test_log_params_of_a_non_mapping_is_refused(project: Path) -> None:
    with forebear.run("train", store=str(project)) as run, \
            pytest.raises(InvalidInputError, match="log_param"):
        run.log_params(["lr", 0.1])  # type: ignore[arg-type]


# -- 5. code typed at a prompt ---------------------------------------------------------------


_SESSION = (
    "import forebear\n"
    "with forebear.run('typed', store='.') as run:\n"
    "    pass\n"
    "\n"
    "print('RUN', run.run_id)\n"
)


@pytest.mark.parametrize(("flags", "note"), [
    (["-i"], "interactive session: the code typed is not recorded"),
    ([], "no script file"),
], ids=["interactive", "stdin"])
@pytest.mark.parametrize("in_git", [False, True], ids=["no-git", "git"])
def test_code_from_a_prompt_says_it_is_not_recorded(
        project: Path, flags: list[str], note: str, in_git: bool) -> None:
    if in_git:
        subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    done = subprocess.run([sys.executable, "-q", *flags], input=_SESSION, cwd=project,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split("RUN ")[1].split()[0]
    code = _execution(project, run_id)["code"]
    assert code is not None
    assert any(text.startswith(note) for text in code["notes"]), code


def test_diff_of_two_models_made_by_code_typed_at_a_prompt_warns_it_cannot_tell(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Different code, no code recorded on either side: diff said "no differences".
    from tests.clikit import cli_ok

    for name, model in (("a", "upper"), ("b", "lower")):
        session = ("import forebear\n"
                   f"with forebear.run('fit', store='.') as run:\n"
                   f"    open('model_{name}.txt', 'w').write('x'.{model}())\n")
        done = subprocess.run([sys.executable, "-q"], input=session, cwd=project,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    store = str(project / ".forebear")
    result = cli_ok(capsys, "--store", store, "diff", str(project / "model_a.txt"),
                    str(project / "model_b.txt"), "--json")
    assert len(result["warnings"]) == 2
    assert all("the code run is not recorded" in w for w in result["warnings"])
    shown = cli_ok(capsys, "--store", store, "diff", str(project / "model_a.txt"),
                   str(project / "model_b.txt"))
    assert "cannot be told" in shown and "no differences in lineage that the records" in shown


# -- runs side by side in a thread pool ------------------------------------------------


def test_runs_side_by_side_in_threads_keep_only_their_own_outputs(project: Path) -> None:
    # Each run's watch sees every file appear; a run ending while another one was between
    # stopping its capture and handing its files over took them as its own (2 to 8 of 8
    # runs, in the review's reproduction).
    import random
    import time
    from concurrent.futures import ThreadPoolExecutor

    shards = project / "shards"
    shards.mkdir()
    for i in range(8):
        (shards / f"s{i}.txt").write_text(str(i))

    def work(rnd: int, i: int) -> tuple[int, list[str]]:
        with forebear.run(f"w{i}", kind="step") as run:
            time.sleep(random.random() * 0.02)
            (shards / f"s{i}.txt").read_text()
            (shards / f"o{rnd}_{i}.json").write_text(str(i))
            time.sleep(random.random() * 0.02)
        return i, sorted(Path(ref["name"]).name for ref in run._outputs.values())

    for rnd in range(4):
        with ThreadPoolExecutor(8) as pool:
            found = list(pool.map(lambda i, r=rnd: work(r, i), range(8)))
        assert found == [(i, [f"o{rnd}_{i}.json"]) for i in range(8)]


_SEARCH = """
import json, multiprocessing, os, random, sys, time
from concurrent.futures import ProcessPoolExecutor
import forebear

def trial(i):
    with forebear.run(f"trial{i}", kind="train") as run:
        time.sleep(random.random() * 0.05)
        open(f"shards/s{i}.txt").read()
        with open(f"shards/o{i}.json", "w") as out:
            out.write(f"[{i}]")
        time.sleep(random.random() * 0.05)
    return run.run_id

if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    with forebear.run("sweep", kind="search") as sweep:
        with ProcessPoolExecutor(4, mp_context=context) as pool:
            trials = list(pool.map(trial, range(8)))
    print(json.dumps({"sweep": sweep.run_id, "trials": trials}))
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_trials_in_a_process_pool_keep_only_their_own_outputs(project: Path,
                                                             method: str) -> None:
    # Each trial's watch saw its siblings' files appear in other processes and took them
    # (5 to 7 of 8 trials), and the sweep took all of them too.
    (project / "shards").mkdir()
    for i in range(8):
        (project / "shards" / f"s{i}.txt").write_text(str(i))
    (project / "search.py").write_text(_SEARCH)
    done = subprocess.run([sys.executable, "search.py", method], cwd=project,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ids = json.loads(done.stdout.strip().splitlines()[-1])
    store = _store(project)

    def outputs(run_id: str) -> list[str]:
        rows = store.execute(
            "SELECT a.name FROM edge e JOIN artifact a ON a.node = e.dst JOIN execution x "
            "ON x.node = e.src WHERE x.run_id = ?", (run_id,))
        return sorted(Path(name).name for (name,) in rows)

    assert [outputs(run_id) for run_id in ids["trials"]] == [[f"o{i}.json"] for i in range(8)]
    assert outputs(ids["sweep"]) == []
