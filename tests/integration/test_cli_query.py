"""The query commands end to end through ``forebear.cli.main``: JSON shapes and human output."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from forebear.cli import main
from forebear.store.registry import open_store
from tests.conftest import make_run, ref

T = "2026-01-01T00:00:00.000000Z"
PREP, TRAIN, FAILED, DEPLOY = (f"01a217de-8245-7ff6-8ad3-00000000000{i}" for i in range(1, 5))
ARTIFACT_KEYS = {"type", "id", "digest", "kind", "name", "uris"}
EXECUTION_KEYS = {"type", "id", "run_id", "kind", "name", "status", "params", "metrics", "code",
                  "environment", "started_at", "ended_at", "actor"}


@pytest.fixture
def project(sqlite_store_dir: Path, project_dir: Path) -> dict[str, Any]:
    """A store in the working directory: a data file, preprocess, train, a failed run, deploy."""
    data = project_dir / "train.csv"
    data.write_bytes(b"x,y\n1,2\n")
    digest = "sha256:" + hashlib.sha256(data.read_bytes()).hexdigest()
    raw = {"id": digest, "digest": digest, "kind": "data", "name": "train.csv", "uri": None,
           "size": 8, "role": "raw"}
    clean = ref("clean", role="output")
    model = ref("model", kind="model", role="model")
    endpoint = ref("endpoint", kind="endpoint", name="fraud-prod")
    code = {"digest": ref("code")["id"], "commit": "c" * 40, "branch": "main", "dirty": False}
    prep = make_run(run_id=PREP, kind="preprocess", name="preprocess", inputs=[raw],
                    outputs=[clean], time="2026-01-01T00:01:00.000000Z")
    train = make_run(run_id=TRAIN, inputs=[{**clean, "role": "training_data"}], outputs=[model],
                     params={"lr": 0.1}, metrics={"accuracy": 0.9},
                     time="2026-01-01T00:02:00.000000Z")
    train["code"] = code
    failed = make_run(run_id=FAILED, inputs=[{**clean, "role": "training_data"}],
                      status="failed", time="2026-01-01T00:03:00.000000Z", params={"lr": 9.0})
    failed["error"] = "loss is NaN"
    deploy = make_run(run_id=DEPLOY, kind="deploy", name="deploy fraud-prod",
                      inputs=[{**model, "role": "model"}], outputs=[endpoint],
                      time="2026-01-01T00:04:00.000000Z")
    store = open_store(str(sqlite_store_dir))
    store.append_batch([prep, train, failed, deploy,
                        {"type": "alias.set", "time": T, "name": "production",
                         "target": model["id"], "actor": "ana", "reason": "v1"}])
    store.close()
    return {"data": digest, "clean": clean["id"], "model": model["id"],
            "endpoint": endpoint["id"], "code": code["digest"]}


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_upstream_json_has_the_design_shape(project: dict[str, Any],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, "upstream", "production", "--json")
    assert set(out) == {"root", "nodes", "edges"} and out["root"] == project["model"]
    nodes = {node["id"]: node for node in out["nodes"]}
    assert set(nodes) == {project["model"], TRAIN, project["clean"], PREP, project["data"],
                          project["code"]}
    assert set(nodes[project["data"]]) == ARTIFACT_KEYS
    assert set(nodes[TRAIN]) == EXECUTION_KEYS and nodes[TRAIN]["code"]["commit"] == "c" * 40
    assert {"source": project["code"], "target": TRAIN, "role": "code"} in out["edges"]
    assert all(set(edge) == {"source", "target", "role"} for edge in out["edges"])


def test_options_are_accepted_after_the_ref(project: dict[str, Any],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, "downstream", "train.csv", "--kind", "model", "--kind", "endpoint",
                "--format", "json")
    assert {n["id"] for n in out["nodes"]} == {project["data"], project["model"],
                                               project["endpoint"]}
    page = _json(capsys, "downstream", "train.csv", "--limit", "2", "--json")
    assert len(page["nodes"]) == 2 and page["page"]["next_offset"] == 2
    assert page["page"]["total"] == 8
    shallow = _json(capsys, "upstream", project["model"][7:17], "--depth", "1", "--json")
    assert {n["id"] for n in shallow["nodes"]} == {project["model"], TRAIN}


def test_upstream_tree_dot_and_mermaid(project: dict[str, Any],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upstream", "production"]) == 0
    tree = capsys.readouterr().out
    assert "model" in tree and "training_data ←" in tree and "5 ancestors" in tree
    assert main(["upstream", "production", "--format", "dot"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith("digraph lineage {") and f'"{PREP}" -> "{project["clean"]}"' in dot
    assert main(["upstream", "production", "--format", "mermaid"]) == 0
    mermaid = capsys.readouterr().out
    assert mermaid.startswith("flowchart LR") and '-->|"training_data"|' in mermaid


def test_path_draws_every_path_from_a_dataset_to_what_it_reached(
        project: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, "path", "train.csv", project["endpoint"], "--json")
    assert out["from"] == project["data"] and out["root"] == project["endpoint"]
    assert out["nodes"][0]["id"] == project["endpoint"]
    # The failed run used the data too, but produced nothing the endpoint came from; the
    # code anchor is upstream of the endpoint but not downstream of the data.
    assert {n["id"] for n in out["nodes"]} == {project["endpoint"], DEPLOY, project["model"],
                                               TRAIN, project["clean"], PREP, project["data"]}
    assert len(out["edges"]) == 6
    assert main(["path", "train.csv", project["endpoint"]]) == 0
    tree = capsys.readouterr().out
    assert "raw ← train.csv" in tree and "7 nodes (3 runs) on the paths from train.csv" in tree
    assert main(["path", "train.csv", "production", "--format", "dot"]) == 0
    assert capsys.readouterr().out.count("->") == 4


def test_path_says_when_there_is_none_and_when_it_goes_the_other_way(
        project: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, "path", "production", "train.csv", "--json")
    assert out == {"root": project["data"], "from": project["model"], "nodes": [], "edges": []}
    assert main(["path", "production", "train.csv"]) == 0
    assert "no path: train.csv does not come from production (it is the other way round: " \
        "swap FROM and TO)" in capsys.readouterr().out.replace("\n", " ")
    assert main(["path", project["code"], FAILED]) == 0
    said = capsys.readouterr().out.replace("\n", " ")
    assert f"no path: {FAILED} does not come from" in said and "other way" not in said
    same = _json(capsys, "path", TRAIN, TRAIN, "--json")
    assert [n["id"] for n in same["nodes"]] == [TRAIN] and same["edges"] == []


def test_the_sdk_answers_what_the_cli_prints(project: dict[str, Any],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    import forebear

    for call, argv in (
        (lambda: forebear.show("production"), ["show", "production"]),
        (lambda: forebear.upstream("production"), ["upstream", "production"]),
        (lambda: forebear.upstream(project["model"], depth=1),
         ["upstream", project["model"], "--depth", "1"]),
        (lambda: forebear.downstream("train.csv", kinds=["model"], limit=2),
         ["downstream", "train.csv", "--kind", "model", "--limit", "2"]),
        (lambda: forebear.path("train.csv", project["endpoint"]),
         ["path", "train.csv", project["endpoint"]]),
        (lambda: forebear.diff(TRAIN, FAILED), ["diff", TRAIN, FAILED]),
        (lambda: forebear.log(status="failed"), ["log", "--status", "failed"]),
        (lambda: forebear.flagged(), ["flagged"]),
    ):
        assert call() == _json(capsys, *argv, "--json"), argv
    # The CLI prints what these return: check the answers themselves too.
    up = forebear.upstream("production")
    assert up["root"] == project["model"] and {n["id"] for n in up["nodes"]} == {
        project["model"], TRAIN, project["clean"], PREP, project["data"], project["code"]}
    near = forebear.upstream(project["model"], depth=1)
    assert {n["id"] for n in near["nodes"]} == {project["model"], TRAIN}
    route = [n["id"] for n in forebear.path("train.csv", "production")["nodes"]]
    assert route[0] == project["model"] and set(route) == {
        project["model"], project["clean"], PREP, project["data"], TRAIN}  # no code anchor
    assert [r["run_id"] for r in forebear.log(status="failed")] == [FAILED]
    assert forebear.diff(TRAIN, FAILED)["params"]["changed"] == {"lr": [0.1, 9.0]}
    with pytest.raises(forebear.ForebearError, match="matches nothing"):
        forebear.upstream("no-such-thing")


def test_show_json_and_human(project: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    record = _json(capsys, "show", "production", "--json")
    assert record["id"] == project["model"] and record["transformation"]["run_id"] == TRAIN
    assert [p["id"] for p in record["parents"]] == [project["clean"]]
    assert record["aliases"][0]["name"] == "production"
    assert record["deployments"][0]["target"] == "fraud-prod"
    assert main(["show", "production"]) == 0
    human = capsys.readouterr().out
    for text in ("made by", "lr=0.1", "accuracy=0.9", "production", "fraud-prod", "c" * 40):
        assert text in human


def test_log_json_and_human(project: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    runs = _json(capsys, "log", "--json")
    assert [r["run_id"] for r in runs] == [DEPLOY, FAILED, TRAIN, PREP]
    assert set(runs[1]) >= EXECUTION_KEYS and runs[1]["error"] == "loss is NaN"
    failed = _json(capsys, "log", "--status", "failed", "--json")
    assert [r["run_id"] for r in failed] == [FAILED]
    assert _json(capsys, "log", "--since", "2026-01-01T00:03", "--limit", "1",
                 "--json")[0]["run_id"] == DEPLOY
    assert main(["log"]) == 0
    human = capsys.readouterr().out
    assert FAILED in human and "failed" in human and "loss is NaN" in human


def test_diff_json_and_human(project: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, "diff", TRAIN, FAILED, "--json")
    assert set(out) >= {"params", "inputs", "code", "environment", "metrics", "steps"}
    assert out["params"]["changed"] == {"lr": [0.1, 9]}  # RFC 8785 writes 9.0 as 9
    assert set(out["environment"]) == {"packages", "added", "removed", "changed"}
    assert out["code"]["removed"]["commit"] == "c" * 40
    assert main(["diff", TRAIN, FAILED]) == 0
    human = capsys.readouterr().out
    assert "~ lr 0.1 → 9" in human and "- commit" in human


def test_flag_then_flagged_then_show_warns(project: dict[str, Any],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    record = _json(capsys, "flag", "train.csv", "--reason", "mislabelled rows", "--actor",
                   "auditor", "--json")
    assert record["target"] == project["data"] and record["actor"] == "auditor"
    listed = _json(capsys, "flagged", "--json")
    assert [(f["target"], f["reason"]) for f in listed] == [(project["data"],
                                                             "mislabelled rows")]
    assert main(["show", "production"]) == 0
    assert "flagged" in capsys.readouterr().out
    reached = _json(capsys, "downstream", "train.csv", "--kind", "model", "--kind", "deploy",
                    "--json")
    assert {n["id"] for n in reached["nodes"]} == {project["data"], project["model"], DEPLOY}
    assert main(["flagged"]) == 0
    assert "mislabelled rows" in capsys.readouterr().out


def test_every_node_of_a_page_is_in_its_tree(project: dict[str, Any],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    # A page's nodes hang from parents on other pages: the tree showed the root alone.
    from forebear.graph.render import short

    offset: int | None = 0
    pages = 0
    while offset is not None:
        page = _json(capsys, "upstream", "production", "--limit", "2", "--offset",
                     str(offset), "--json")
        assert main(["upstream", "production", "--limit", "2", "--offset", str(offset)]) == 0
        tree = capsys.readouterr().out
        for node in page["nodes"]:
            assert short(node["id"]) in tree, (offset, node["id"], tree)
        offset, pages = page["page"]["next_offset"], pages + 1
    assert pages == 3  # six nodes upstream of the model, root included


def test_a_flag_without_actor_is_by_the_same_user_at_host_as_every_write(
    project: dict[str, Any], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from forebear.sdk.session import default_actor

    monkeypatch.delenv("FOREBEAR_ACTOR", raising=False)
    record = _json(capsys, "flag", "train.csv", "--reason", "leak", "--json")
    alias = _json(capsys, "alias", "set", "staging", "train.csv", "--json")
    assert record["actor"] == alias["actor"] == default_actor() and "@" in record["actor"]


@pytest.mark.parametrize(
    ("argv", "code", "text"),
    [
        (["show", "nothing-like-this"], 1, "matches nothing"),
        (["upstream", "01a217de"], 1, "matches 4"),
        (["upstream", "production", "--depth", "-2"], 2, "--depth"),
        (["log", "--since", "last tuesday"], 2, "ISO 8601"),
        (["flag", "production", "--reason", "  "], 1, "needs a reason"),
    ],
    ids=["unknown", "ambiguous", "bad-depth", "bad-time", "empty-reason"],
)
def test_errors_are_one_line(project: dict[str, Any], capsys: pytest.CaptureFixture[str],
                             argv: list[str], code: int, text: str) -> None:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and text in err and err.count("\n") == 1


@pytest.mark.parametrize("command", ["show", "upstream", "downstream", "path", "diff", "log",
                                     "flag", "flagged"])
def test_every_query_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    assert "--store" in capsys.readouterr().out


def test_human_output_never_shows_markup(project: dict[str, Any],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    # The deploy run has no params and no metrics: "none", dimmed, not "[dim]none[/]";
    # and text that looks like markup in a name is shown as it is.
    store = open_store()
    store.append(make_run(run_id="01a217de-8245-7ff6-8ad3-0000000000ff", name="[bold]odd[/]",
                          outputs=[ref("odd", name="[red]x[/]")], params={"tag": "[i]"}))
    store.close()
    for argv in (["show", "production"], ["show", ref("odd")["id"]], ["log"],
                 ["upstream", "production"], ["downstream", "train.csv"], ["flagged"],
                 ["path", "train.csv", ref("odd")["id"]], ["path", "train.csv", "production"],
                 ["diff", TRAIN, FAILED]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "[dim]" not in out and "[/]" not in out.replace("[bold]odd[/]", "").replace(
            "[red]x[/]", ""), (argv, out)
    assert main(["show", ref("odd")["id"]]) == 0
    shown = capsys.readouterr().out
    assert "[red]x[/]" in shown and 'tag="[i]"' in shown and "metrics      none" in shown
    assert main(["flag", ref("odd")["id"], "--reason", "[red]leaked[/] labels"]) == 0
    assert "[red]leaked[/] labels" in capsys.readouterr().out
    assert main(["flagged"]) == 0
    assert "[red]leaked[/] labels" in capsys.readouterr().out


def test_a_path_ref_is_looked_up_through_the_hash_cache_without_writing_it(
    project: dict[str, Any], project_dir: Path, sqlite_store_dir: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os
    import time

    from forebear import config, hashing

    data = project_dir / "train.csv"
    past = time.time_ns() - 60 * 10**9  # old enough for the cache to remember it
    os.utime(data, ns=(past, past))
    with hashing.HashCache(sqlite_store_dir / config.HASH_CACHE_FILE) as cache:
        assert str(cache.digest(data)) == project["data"]  # what a run does when it uses it
    cache_file = sqlite_store_dir / config.HASH_CACHE_FILE
    before = cache_file.read_bytes()

    def no_reading(*_: Any) -> Any:
        raise AssertionError("an unchanged file was read again")

    monkeypatch.setattr(hashing, "_hash_regular_file", no_reading)
    assert _json(capsys, "show", str(data), "--json")["id"] == project["data"]
    monkeypatch.undo()
    other = project_dir / "never-recorded.csv"
    other.write_text("z\n")
    os.utime(other, ns=(past, past))
    assert main(["show", str(other)]) != 0
    capsys.readouterr()
    assert cache_file.read_bytes() == before  # a query writes nothing, not even the cache
