"""``forebear import mlflow`` against a real MLflow 3.17 tracking server on loopback.

MLflow lives in its own venv (``make test`` makes ``.bench/mlflow-venv`` and names its
interpreter in FOREBEAR_TEST_MLFLOW); the runs are logged by MLflow's own client, as a
team's training scripts log them, then imported through the server's REST API. Without
FOREBEAR_TEST_MLFLOW these tests fail with the fix rather than skip.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forebear.hashing import hash_tree
from forebear.store.registry import init_store, open_store
from tests.clikit import cli_fails, cli_ok

SECRET = "s3cr3t-token"

LOG_RUNS = textwrap.dedent("""
    import json, sys
    import mlflow, pandas as pd
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(sys.argv[1])
    mlflow.set_experiment("fraud")
    frame = pd.DataFrame({"x": [0, 1, 2, 3], "y": [0, 0, 1, 1]})
    frame.to_csv("train.csv", index=False)
    ids = {}
    with mlflow.start_run(run_name="prepare") as run:
        mlflow.log_input(mlflow.data.from_pandas(frame, source="train.csv", name="digits"),
                         context="training")
        mlflow.log_artifact("train.csv", artifact_path="data")
        ids["prepare"] = run.info.run_id
    with mlflow.start_run(run_name="train") as run:
        mlflow.set_tags({"mlflow.source.git.commit": "a" * 40, "mlflow.source.git.branch": "main",
                         "mlflow.source.git.repoURL": "https://bot:%s@example.com/acme/fraud.git",
                         "team": "risk"})
        mlflow.log_params({"C": 0.5, "solver": "lbfgs"})
        mlflow.log_metric("loss", 0.9, step=1)
        mlflow.log_metric("loss", 0.4, step=2)
        mlflow.log_metric("diverged", float("nan"))
        model = LogisticRegression(C=0.5).fit(frame[["x"]], frame["y"])
        info = mlflow.sklearn.log_model(model, name="clf")
        ids["train"], ids["model"] = run.info.run_id, info.model_id
        with mlflow.start_run(run_name="fold-1", nested=True) as child:
            mlflow.log_param("fold", 1)
            ids["fold"] = child.info.run_id
    with mlflow.start_run(run_name="evaluate") as run:
        # OSS MLflow records no model input (log_inputs(models=...) is Databricks only)
        mlflow.log_metric("auc", 0.8, model_id=ids["model"])
        ids["evaluate"] = run.info.run_id
    with mlflow.start_run(run_name="broken") as run:
        ids["broken"] = run.info.run_id
    mlflow.MlflowClient().set_terminated(ids["broken"], status="FAILED")
    running = mlflow.MlflowClient().create_run(mlflow.get_experiment_by_name("fraud")
                                               .experiment_id, run_name="still going")
    ids["running"] = running.info.run_id
    # The Model Registry: a logged model with an alias; an MLflow 2 style version whose
    # source is a run's folder, with an alias and a stage.
    client = mlflow.MlflowClient()
    version = mlflow.register_model(f"models:/{ids['model']}", "fraud")
    client.set_registered_model_alias("fraud", "champion", version.version)
    client.create_registered_model("legacy")
    legacy = client.create_model_version("legacy", f"runs:/{ids['prepare']}/data",
                                         run_id=ids["prepare"])
    client.set_registered_model_alias("legacy", "prod", legacy.version)
    client.transition_model_version_stage("legacy", legacy.version, "Staging")
    # A name with a space, which MLflow allows and an alias does not.
    client.create_registered_model("legacy model")
    spaced = client.create_model_version("legacy model", f"runs:/{ids['prepare']}/data",
                                         run_id=ids["prepare"])
    client.set_registered_model_alias("legacy model", "prod", spaced.version)
    print(json.dumps(ids))
""") % SECRET


def _mlflow_python() -> Path:
    named = os.environ.get("FOREBEAR_TEST_MLFLOW")
    if not named or not Path(named).exists():
        pytest.fail("FOREBEAR_TEST_MLFLOW does not name MLflow's python: run the suite with "
                    "`make test`, which installs MLflow 3.17.2 into .bench/mlflow-venv")
    return Path(named).absolute()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real ``mlflow server`` over SQLite, with the runs ``LOG_RUNS`` logs."""
    python = _mlflow_python()
    root = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(python.parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{root}/mlflow.db",
         "--default-artifact-root", str(root / "artifacts")],
        cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("mlflow server did not start: "
                                   + (server.stderr.read() if server.stderr else b"")
                                   .decode()[-2000:])
            time.sleep(0.3)
        logged = subprocess.run([str(python), "-c", LOG_RUNS, url], cwd=root,
                                capture_output=True, text=True, timeout=300)
        assert logged.returncode == 0, logged.stderr[-3000:]
        ids = json.loads(logged.stdout.strip().splitlines()[-1])
        yield {"url": url, "root": root, "ids": ids, "python": python}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr:
            server.stderr.close()


def _uuid(mlflow_id: str) -> str:
    return str(uuid.UUID(hex=mlflow_id))


def test_runs_params_metrics_code_datasets_artifacts_and_models_come_in(
        tracking: dict[str, Any], project_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    init_store(project_dir)
    ids = tracking["ids"]
    report = cli_ok(capsys, "import", "mlflow", tracking["url"], "--experiment", "fraud",
                  "--json")
    assert report["experiments"] == ["fraud"]
    assert (report["runs"], report["imported"], report["skipped"]) == (6, 6, 0)
    runs = {r["name"]: r for r in cli_ok(capsys, "log", "--kind", "mlflow", "--json")}
    assert set(runs) == {"prepare", "train", "fold-1", "evaluate", "broken", "still going"}
    assert {name: r["status"] for name, r in runs.items()} == {
        "prepare": "succeeded", "train": "succeeded", "fold-1": "succeeded",
        "evaluate": "succeeded", "broken": "failed", "still going": "running"}
    assert all(runs[n]["run_id"] == _uuid(ids[k]) for n, k in
               (("prepare", "prepare"), ("train", "train"), ("evaluate", "evaluate")))

    train = cli_ok(capsys, "show", _uuid(ids["train"]), "--json")
    assert train["transformation"]["params"] == {"C": "0.5", "solver": "lbfgs"}
    assert train["metrics"] == {"loss": 0.4, "diverged": "NaN"}
    curve = open_store(str(project_dir)).execute(
        "SELECT m.step, m.value FROM metric m JOIN execution x ON x.node = m.run_node "
        "WHERE x.run_id = ? AND m.key = 'loss' ORDER BY m.seq, m.step", (_uuid(ids["train"]),))
    assert curve == [(1, 0.9), (2, 0.4)]  # the whole loss curve, not just its end
    code = train["transformation"]["code"]
    assert code["commit"] == "a" * 40 and code["branch"] == "main"
    assert code["remote"] == "https://example.com/acme/fraud.git"  # the token is gone
    assert SECRET not in json.dumps(train)

    # The logged model is the folder MLflow stored, by content: the same digest the
    # folder has on disk, so a forebear run that loads it from there links to "train".
    model_dir = next((tracking["root"] / "artifacts").glob(f"*/models/{ids['model']}/artifacts"))
    model = str(hash_tree(model_dir))
    made = cli_ok(capsys, "upstream", model, "--json")
    assert {n["id"] for n in made["nodes"]} >= {model, _uuid(ids["train"])}
    import forebear

    with forebear.run("score", kind="evaluate", store=str(project_dir), capture=False,
                      watch=False, code=False, environment=False) as scoring:
        scoring.use(model_dir, role="model")
    lineage = cli_ok(capsys, "upstream", scoring.run_id, "--json")
    assert {model, _uuid(ids["train"])} <= {n["id"] for n in lineage["nodes"]}
    # An artifact file is an output by its bytes, which the blob store holds.
    csv = next((tracking["root"] / "artifacts").glob(f"*/{ids['prepare']}/artifacts/data/"
                                                     "train.csv"))
    digest = "sha256:" + hashlib.sha256(csv.read_bytes()).hexdigest()
    prepare = cli_ok(capsys, "show", _uuid(ids["prepare"]), "--json")
    assert [o["id"] for o in prepare["outputs"]] == [digest]
    assert (project_dir / ".forebear" / "blobs" / "sha256" / digest[7:9] / digest[9:]).exists()
    assert [p["role"] for p in prepare["parents"]] == ["training"]
    assert prepare["parents"][0]["id"] == "dataset:train.csv:digits"
    # The registry's aliases and stages, over the models by content.
    champion = cli_ok(capsys, "alias", "show", "fraud@champion", "--json")
    assert champion["digest"] == model and "fraud version 1" in champion["reason"]
    folder = csv.parent
    for alias in ("legacy@prod", "legacy@staging", "legacy-model@prod"):
        assert cli_ok(capsys, "alias", "show", alias, "--json")["digest"] == str(
            hash_tree(folder))
    # A version registered from a run's folder reaches that run: a `register` step used
    # the run's files under the folder and made it.
    up = cli_ok(capsys, "upstream", "legacy@prod", "--json")
    ids_up = {node["id"] for node in up["nodes"]}
    assert _uuid(ids["prepare"]) in ids_up and digest in ids_up
    assert [n["kind"] for n in up["nodes"] if n["type"] == "execution"].count("register") == 1
    assert report["aliases"] == 4 and report["aliases_skipped"] == []
    fold = cli_ok(capsys, "show", _uuid(ids["fold"]), "--json")
    assert fold["parent_run_id"] == _uuid(ids["train"]) and fold["namespace"] == "fraud"
    assert train["tags"]["team"] == "risk" and train["tags"]["mlflow.run_id"] == ids["train"]
    assert cli_ok(capsys, "verify", "--json")["ok"]


def test_importing_again_brings_only_what_changed(
        tracking: dict[str, Any], project_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    init_store(project_dir)
    cli_ok(capsys, "import", "mlflow", tracking["url"], "--experiment", "fraud")
    before = open_store(str(project_dir)).size()
    again = cli_ok(capsys, "import", "mlflow", tracking["url"], "--experiment", "fraud", "--json")
    assert (again["imported"], again["ended"], again["skipped"]) == (0, 0, 6)
    assert (again["aliases"], again["aliases_unchanged"], again["files"]) == (0, 4, 0)
    assert open_store(str(project_dir)).size() == before
    subprocess.run([str(tracking["python"]), "-c",
                    "import mlflow, sys; mlflow.set_tracking_uri(sys.argv[1]); "
                    "mlflow.MlflowClient().log_metric(sys.argv[2], 'rows', 10); "
                    "mlflow.MlflowClient().set_terminated(sys.argv[2])",
                    tracking["url"], tracking["ids"]["running"]], check=True, timeout=120)
    try:
        later = cli_ok(capsys, "import", "mlflow", tracking["url"], "--experiment", "fraud",
                     "--json")
        assert (later["imported"], later["ended"], later["skipped"]) == (0, 1, 5)
        done = cli_ok(capsys, "show", _uuid(tracking["ids"]["running"]), "--json")
        assert done["transformation"]["status"] == "succeeded"
        assert done["metrics"] == {"rows": 10}
        assert cli_ok(capsys, "verify", "--json")["ok"]
    finally:  # the module's other tests see the run as it was logged
        subprocess.run([str(tracking["python"]), "-c",
                        "import mlflow, sys; mlflow.set_tracking_uri(sys.argv[1]); "
                        "mlflow.MlflowClient().update_run(sys.argv[2], status='RUNNING')",
                        tracking["url"], tracking["ids"]["running"]], check=True, timeout=120)


def test_without_artifacts_models_are_known_by_their_mlflow_id(
        tracking: dict[str, Any], project_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    init_store(project_dir)
    report = cli_ok(capsys, "import", "mlflow", tracking["url"], "--no-artifacts", "--json")
    assert report["files"] == 0 and set(report["experiments"]) == {"fraud", "Default"}
    model = f"dataset:mlflow-models:{tracking['ids']['model']}"
    made = cli_ok(capsys, "upstream", model, "--json")
    assert _uuid(tracking["ids"]["train"]) in {n["id"] for n in made["nodes"]}


def test_bad_input_is_one_line_and_writes_nothing(
        tracking: dict[str, Any], project_dir: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    init_store(project_dir)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for argv, code, words in (
        ([tracking["url"], "--experiment", "nope"], 1, "no MLflow experiment named 'nope'"),
        (["sqlite:///mlflow.db"], 1, "mlflow server --backend-store-uri"),
        ([f"http://127.0.0.1:{_free_port()}"], 1, "cannot reach the MLflow server"),
        ([tracking["url"] + "/not-mlflow"], 1, "HTTP 404"),
        ([], 2, "MLFLOW_TRACKING_URI"),
    ):
        got, err = cli_fails(capsys, "import", "mlflow", *argv)
        assert got == code and words in err, err
    assert open_store(str(project_dir)).size() == 0


def test_a_postgresql_store_imports_the_same_runs(
        tracking: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.pg import cli_store

    monkeypatch.chdir(tmp_path)  # where the signing key is
    with cli_store(tmp_path) as url:
        first = cli_ok(capsys, "import", "mlflow", tracking["url"], "--experiment", "fraud",
                       "--no-artifacts", "--store", url, "--json")
        again = cli_ok(capsys, "import", "mlflow", tracking["url"], "--experiment", "fraud",
                       "--no-artifacts", "--store", url, "--json")
        assert (first["imported"], again["imported"], again["skipped"]) == (6, 0, 6)
        assert (first["aliases"], again["aliases_unchanged"]) == (1, 1)  # champion only:
        # legacy's runs:/ folder is known by its content alone, not downloaded here
        names = {r["name"] for r in cli_ok(capsys, "log", "--store", url, "--json")}
        assert {"prepare", "train", "evaluate"} <= names
        assert cli_ok(capsys, "verify", "--store", url, "--json")["ok"]


LOG_MANY = textwrap.dedent("""
    import pathlib, sys
    import mlflow

    mlflow.set_tracking_uri(sys.argv[1])
    mlflow.set_experiment("bulk")
    root = pathlib.Path("bulk-files")
    for index in range(40):
        path = root / f"shard-{index % 4}" / f"part-{index:03}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"rows of part {index}\\n" * (index + 1))
    with mlflow.start_run(run_name="many") as run:
        mlflow.log_artifacts(str(root), artifact_path="parts")
    print(run.info.run_id, mlflow.get_experiment_by_name("bulk").experiment_id)
""")


def test_files_download_side_by_side_into_the_same_record(
        tracking: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    python = str(tracking["python"])
    logged = subprocess.run([python, "-c", LOG_MANY, tracking["url"]], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, check=True)
    run_id, experiment = logged.stdout.split()[-2:]  # after MLflow's own messages
    try:
        expected = sorted(
            (str(path.relative_to(tmp_path / "bulk-files")),
             "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest())
            for path in (tmp_path / "bulk-files").rglob("*.txt"))
        answers = []
        for jobs in ("1", "8"):
            project = tmp_path / f"jobs-{jobs}"
            project.mkdir()
            init_store(project)
            monkeypatch.chdir(project)
            report = cli_ok(capsys, "import", "mlflow", tracking["url"], "--experiment",
                            "bulk", "--jobs", jobs, "--json")
            assert (report["imported"], report["files"]) == (1, 40)
            assert report["bytes"] == sum(
                p.stat().st_size for p in (tmp_path / "bulk-files").rglob("*.txt"))
            shown = cli_ok(capsys, "show", _uuid(run_id), "--json")
            outputs = [(o["name"].removeprefix("parts/"), o["id"]) for o in shown["outputs"]]
            assert sorted(outputs) == expected
            for _, digest in outputs:
                blob = project / ".forebear" / "blobs" / "sha256" / digest[7:9] / digest[9:]
                assert blob.exists()
            assert cli_ok(capsys, "verify", "--json")["ok"]
            answers.append(outputs)
        assert answers[0] == answers[1]  # the same entry, in the listing's order
        from forebear.cli import main

        assert main(["import", "mlflow", tracking["url"], "--jobs", "0"]) == 2  # usage
        assert "Invalid value for '--jobs'" in capsys.readouterr().err
    finally:  # the module's other tests import every active experiment
        subprocess.run([python, "-c", "import mlflow, sys; mlflow.set_tracking_uri(sys.argv[1]); "
                        "mlflow.MlflowClient().delete_experiment(sys.argv[2])",
                        tracking["url"], experiment], check=True, timeout=120)
