"""The query commands against a server (``--store http://...``) answer what they answer on
the server's own store: the same JSON, the same tree, the same picture."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from tests.serverkit import clean_env, cli, run_client, running_server

PIPELINE = textwrap.dedent("""
    import pathlib
    import forebear

    options = dict(capture=False, watch=False, code=False, environment=False)
    pathlib.Path("data.csv").write_text("x,y\\n1,2\\n")
    with forebear.run("train", kind="train", params={"lr": 0.1}, **options) as run:
        run.use("data.csv", role="training_data")
        pathlib.Path("model.bin").write_bytes(b"weights")
        run.produce("model.bin", kind="model")
        run.log_metrics({"accuracy": 0.9})
    with forebear.run("tune", kind="finetune", params={"lr": 0.01}, **options) as run:
        run.use("model.bin", role="base_model")
        pathlib.Path("tuned.bin").write_bytes(b"tuned weights")
        tuned = run.produce("tuned.bin", kind="model")
    print(tuned.digest)
""")


def _projected(server: object, size: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = server.json("GET", "/api/v1/status", token="read")  # type: ignore[attr-defined]
        if status["projected_size"] >= size:
            return
        time.sleep(0.05)
    raise AssertionError("the server did not project the runs")


def test_queries_over_http_answer_as_the_local_store_does(tmp_path: Path) -> None:
    project = tmp_path / "project"
    with running_server(project) as server:
        work = tmp_path / "work"
        tuned = run_client(server, PIPELINE, work, tmp_path / "spool").stdout.strip()
        data = str(work / "data.csv")  # a path: hashed by the CLI, sent as its digest
        _projected(server, 4)
        remote = clean_env(FOREBEAR_TOKEN=server.tokens["read"])
        local = clean_env()

        def both(*args: str) -> tuple[str, str]:
            over_http = cli(*args, "--store", server.url, env=remote).stdout
            on_disk = cli(*args, "--store", str(project / ".forebear"), env=local).stdout
            return over_http, on_disk

        for direction in ("upstream", "downstream"):
            ref = tuned if direction == "upstream" else data
            over_http, on_disk = both(direction, ref, "--json")
            answer = json.loads(over_http)
            assert answer == json.loads(on_disk)
            assert len(answer["edges"]) >= 4
            assert all(set(edge) == {"source", "target", "role"} for edge in answer["edges"])
            ids = {node["id"] for node in answer["nodes"]}
            assert all(e["source"] in ids and e["target"] in ids for e in answer["edges"])
            tree, local_tree = both(direction, ref)
            assert tree == local_tree and tree.count("\n") >= 4
            dot, local_dot = both(direction, ref, "--format", "dot")
            assert dot == local_dot and dot.count("->") == len(answer["edges"])
        for args in (("path", data, tuned), ("path", tuned, data),
                     ("path", data, tuned, "--format", "mermaid")):
            over_http, on_disk = both(*args)
            assert over_http == on_disk and over_http.strip(), args
        path = json.loads(both("path", data, tuned, "--json")[0])
        assert len(path["nodes"]) == 5 and path["root"] == tuned  # data, train, model, tune
        for args in (("show", tuned, "--json"), ("log", "--json"), ("flagged", "--json"),
                     ("path", data, tuned, "--json"), ("path", tuned, data, "--json"),
                     ("diff", str(work / "model.bin"), tuned, "--json")):
            over_http, on_disk = both(*args)
            assert json.loads(over_http) == json.loads(on_disk), args



def test_the_sdks_queries_over_http_answer_as_the_local_store_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import forebear

    project = tmp_path / "project"
    with running_server(project) as server:
        work = tmp_path / "work"
        tuned = run_client(server, PIPELINE, work, tmp_path / "spool").stdout.strip()
        _projected(server, 4)
        data = str(work / "data.csv")  # hashed here, sent as its digest
        monkeypatch.setenv("FOREBEAR_TOKEN", server.tokens["read"])
        local = str(project / ".forebear")
        for name, args in (("upstream", (tuned,)), ("downstream", (data,)),
                           ("path", (data, tuned)), ("show", (tuned,)),
                           ("diff", (str(work / "model.bin"), tuned))):
            call = getattr(forebear, name)
            assert call(*args, store=server.url) == call(*args, store=local), name
        assert forebear.log(store=server.url) == forebear.log(store=local)


def test_prove_over_http_is_checked_by_the_client(tmp_path: Path) -> None:
    from forebear import config
    from forebear.sdk.online import online
    from forebear.sdk.session import Session

    project = tmp_path / "project"
    cli("init", str(project), env=clean_env())
    session = Session.from_settings(config.resolve(str(project / ".forebear")))
    with online("ctr-model", store=session, code=False, every=50) as stream:
        for i in range(120):
            digest = "sha256:" + f"{i:064x}"
            stream.update(data_digest=digest, weights_digest=digest, metrics={"loss": 1 / (i + 1)})
    session.store.close()
    aggregate = stream.aggregates[1]
    local = json.loads(cli("prove", aggregate, "7", "--json", "--store",
                           str(project / ".forebear"), env=clean_env()).stdout)
    with running_server(project, init=False) as server:
        remote = clean_env(FOREBEAR_TOKEN=server.tokens["read"])
        over_http = json.loads(cli("prove", aggregate[:13], "--update", "57", "--json",
                                   "--store", server.url, env=remote).stdout)
        assert over_http == local and over_http["update_index"] == 57
        text = cli("prove", aggregate, "7", "--store", server.url, env=remote).stdout
        assert "update 57" in text and "signed" in text
        missing = cli("prove", aggregate, "--update", "999", "--store", server.url,
                      env=remote, check=False)
        assert missing.returncode == 1 and missing.stderr.startswith("error:")
        assert "Traceback" not in missing.stderr


def test_write_commands_through_a_server_take_any_ref_the_server_resolves(
        tmp_path: Path) -> None:
    # `alias set NAME <digest prefix>` and `deploy <prefix>` worked on a local store and
    # were refused through a server ("not a file, a digest or an alias").
    project = tmp_path / "project"
    with running_server(project) as server:
        work = tmp_path / "work"
        tuned = run_client(server, PIPELINE, work, tmp_path / "spool").stdout.strip()
        _projected(server, 4)
        writer = clean_env(FOREBEAR_TOKEN=server.tokens["write"])
        reader = clean_env(FOREBEAR_TOKEN=server.tokens["read"])
        prefix = tuned.removeprefix("sha256:")[:12]
        cli("alias", "set", "staging", prefix, "--store", server.url, env=writer)
        shown = json.loads(cli("alias", "show", "staging", "--json", "--store", server.url,
                               env=reader).stdout)
        assert shown["digest"] == tuned
        run_id = json.loads(cli("log", "--json", "--store", server.url, env=reader).stdout)[0][
            "run_id"]
        refused = cli("alias", "set", "staging", run_id, "--store", server.url,
                      env=writer, check=False)
        assert refused.returncode != 0 and "not an artifact" in refused.stderr
        unknown = cli("alias", "set", "staging", "feedbeef00", "--store", server.url,
                      env=writer, check=False)
        assert unknown.returncode != 0 and unknown.stderr.count("\n") == 1
