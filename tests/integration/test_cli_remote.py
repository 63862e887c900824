"""The query commands against a server (``--store http://...``) answer what they answer on
the server's own store: the same JSON, the same tree, the same picture."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.serverkit import clean_env, cli, running_server

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
        work.mkdir()
        env = clean_env(FOREBEAR_STORE=server.url, FOREBEAR_TOKEN=server.tokens["write"],
                        FOREBEAR_SPOOL=str(tmp_path / "spool"))
        done = subprocess.run([sys.executable, "-c", PIPELINE], cwd=work, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        tuned = done.stdout.strip()
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
        for args in (("show", tuned, "--json"), ("log", "--json"), ("flagged", "--json")):
            over_http, on_disk = both(*args)
            assert json.loads(over_http) == json.loads(on_disk), args

