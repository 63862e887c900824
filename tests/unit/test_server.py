"""The HTTP API in-process (``httpx.ASGITransport``), on every store backend."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from forebear.artifacts.local import LocalBlobStore
from forebear.journal import merkle
from forebear.server.app import close_app, create_app, state_of
from forebear.server.state import ServerConfig
from tests.conftest import make_run, ref
from tests.serverkit import Api, ol_event

RUN = "01a217de-8245-7ff6-8ad3-a684e45146ae"
RUN2 = "01a217de-8245-7ff6-8ad3-a684e45146af"


@dataclass
class Served:
    app: Any
    store: Any
    tokens: dict[str, str]

    def api(self, who: str | None = "admin") -> Api:
        return Api(self.app, None if who is None else self.tokens[who])


@pytest.fixture
def served(store: Any, tmp_path: Path) -> Iterator[Served]:
    app = create_app(store, blobs=LocalBlobStore(tmp_path / "blobs"),
                     config=ServerConfig(max_body=64 * 1024, wait_timeout=5.0))
    tokens = state_of(app).tokens
    names = {scope: tokens.create(scope)[1] for scope in ("read", "write", "admin")}
    names["team-a"] = tokens.create("write", namespace="team-a")[1]
    try:
        yield Served(app, store, names)
    finally:
        close_app(app)


def _post(served: Served, event: dict[str, Any], who: str = "write", **options: Any) -> Any:
    return served.api(who).post("/api/v1/lineage", json=event, **options)


def _settle(served: Served) -> int:
    size: int = served.api().get("/api/v1/status").json()["journal_size"]
    return size


# -- OpenLineage ingest ---------------------------------------------------------------------


def test_a_run_event_is_journaled_as_received_and_projected_later(served: Served) -> None:
    answer = _post(served, ol_event("START", RUN))
    assert answer.status_code == 201
    assert answer.content == b""
    [record] = served.api().get("/api/v1/journal").json()
    entry = json.loads(record["canonical"])
    assert entry["type"] == "openlineage"
    assert entry["event"] == ol_event("START", RUN)
    assert entry["actor"].startswith("token:")
    log = served.api().get("/api/v1/log", params={"wait_for": 1}).json()
    assert [(r["run_id"], r["status"], r["name"]) for r in log] == [(RUN, "running", "job")]


def test_start_and_complete_make_one_succeeded_run_with_its_lineage(served: Served) -> None:
    _post(served, ol_event("START", RUN))
    _post(served, ol_event("COMPLETE", RUN, outputs=[{"namespace": "s3://m", "name": "model"}]))
    up = served.api().get("/api/v1/upstream", params={"ref": "dataset:s3://m:model",
                                                      "wait_for": 2}).json()
    ids = {node["id"] for node in up["nodes"]}
    assert ids == {"dataset:s3://m:model", RUN, "dataset:s3://in:data"}
    [run] = [n for n in up["nodes"] if n["type"] == "execution"]
    assert run["status"] == "succeeded"


def test_the_same_event_twice_is_journaled_once(served: Served) -> None:
    assert _post(served, ol_event("START", RUN)).status_code == 201
    assert _post(served, ol_event("START", RUN)).status_code == 200
    assert _settle(served) == 1


def test_an_idempotency_key_reused_for_another_event_is_a_conflict(served: Served) -> None:
    key = {"Idempotency-Key": "k-1"}
    assert _post(served, ol_event("START", RUN), headers=key).status_code == 201
    assert _post(served, ol_event("START", RUN), headers=key).status_code == 200
    answer = _post(served, ol_event("START", RUN2), headers=key)
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "conflict"
    assert _settle(served) == 1


def test_gzip_bodies_are_accepted(served: Served) -> None:
    body = gzip.compress(json.dumps(ol_event("START", RUN)).encode())
    answer = served.api("write").post("/api/v1/lineage", content=body, headers={
        "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert answer.status_code == 201


def test_a_namespaced_token_writes_only_its_namespace(served: Served) -> None:
    assert _post(served, ol_event("START", RUN, namespace="team-a"), who="team-a"
                 ).status_code == 201
    answer = _post(served, ol_event("START", RUN2, namespace="team-b"), who="team-a")
    assert answer.status_code == 403
    assert "team-a" in answer.json()["error"]["message"]
    assert served.api("team-a").get("/api/v1/log").status_code == 403


def test_a_namespaced_token_reads_no_job_of_a_namespace_with_a_colon(served: Served) -> None:
    # "job:team-a:secret:x" reads as job "secret:x" of team-a or job "x" of "team-a:secret".
    _post(served, ol_event("COMPLETE", RUN, namespace="team-a:secret", job="x",
                           outputs=[{"namespace": "vault", "name": "table"}]))
    _post(served, ol_event("COMPLETE", RUN2, namespace="team-a", job="secret:y"))
    size = _settle(served)
    admin = served.api().get("/api/v1/lineage", params={
        "nodeId": "job:team-a:secret:x", "wait_for": size})
    assert admin.status_code == 200
    assert admin.json()["graph"][0]["data"]["namespace"] == "team-a:secret"
    limited = served.api("team-a").get("/api/v1/lineage", params={
        "nodeId": "job:team-a:secret:x", "wait_for": size})
    assert limited.status_code == 404, limited.text
    assert "vault" not in limited.text
    own = served.api("team-a").get("/api/v1/lineage", params={"nodeId": "job:team-a:secret:y"})
    assert own.status_code == 200
    assert own.json()["graph"][0]["data"]["namespace"] == "team-a"


def test_marquez_lineage_graph(served: Served) -> None:
    _post(served, ol_event("START", RUN, namespace="etl", job="load"))
    _post(served, ol_event("COMPLETE", RUN, namespace="etl", job="load",
                           outputs=[{"namespace": "db", "name": "table"}]))
    _post(served, ol_event("COMPLETE", RUN2, namespace="ml", job="train",
                           inputs=[{"namespace": "db", "name": "table"}]))
    graph = served.api().get("/api/v1/lineage", params={
        "nodeId": "dataset:db:table", "depth": 20, "wait_for": 3}).json()["graph"]
    nodes = {node["id"]: node for node in graph}
    assert set(nodes) == {"dataset:db:table", "job:etl:load", "job:ml:train",
                          "dataset:s3://in:data"}
    table = nodes["dataset:db:table"]
    assert table["type"] == "DATASET"
    assert table["inEdges"] == [{"origin": "job:etl:load", "destination": "dataset:db:table"}]
    assert table["outEdges"] == [{"origin": "dataset:db:table", "destination": "job:ml:train"}]
    assert nodes["job:ml:train"]["data"]["latestRun"]["state"] == "COMPLETED"
    shallow = served.api().get("/api/v1/lineage", params={"nodeId": "job:ml:train",
                                                          "depth": 1}).json()["graph"]
    assert {node["id"] for node in shallow} == {"job:ml:train", "dataset:db:table"}
    missing = served.api().get("/api/v1/lineage", params={"nodeId": "job:nope:nope"})
    assert missing.status_code == 404


def test_forebear_artifacts_appear_under_their_runs_namespace(served: Served) -> None:
    model = ref("model", name="model.pkl", kind="model")
    served.api("write").post("/api/v1/events", json=[
        {**make_run(run_id=RUN, outputs=[model]), "namespace": "research"}])
    graph = served.api().get("/api/v1/lineage", params={
        "nodeId": "dataset:research:model.pkl", "wait_for": 1}).json()["graph"]
    assert {node["id"] for node in graph} == {"dataset:research:model.pkl", "job:research:train"}


# -- forebear's own ingest ------------------------------------------------------------------


def test_batched_entries_are_appended_atomically_with_idempotency(served: Served) -> None:
    batch = [make_run(run_id=RUN, inputs=[ref("a")]), make_run(run_id=RUN2)]
    first = served.api("write").post("/api/v1/events", json=batch,
                                     headers={"Idempotency-Key": "batch-1"})
    assert first.status_code == 201
    assert first.json() == {"seqs": [0, 1], "journal_size": 2}
    again = served.api("write").post("/api/v1/events", json=batch,
                                     headers={"Idempotency-Key": "batch-1"})
    assert (again.status_code, again.json()) == (200, first.json())
    other = served.api("write").post("/api/v1/events", json=batch[:1],
                                     headers={"Idempotency-Key": "batch-1"})
    assert other.status_code == 409
    bad = served.api("write").post("/api/v1/events", json=[batch[0], {"type": "nope"}])
    assert bad.status_code == 400
    assert "entry 1" in bad.json()["error"]["message"]
    assert _settle(served) == 2


def test_show_diff_and_wait_for_read_your_writes(served: Served) -> None:
    a, b = ref("model-a", kind="model"), ref("model-b", kind="model")
    answer = served.api("write").post("/api/v1/events", json=[
        make_run(run_id=RUN, params={"lr": 0.1}, inputs=[ref("data")], outputs=[a]),
        make_run(run_id=RUN2, params={"lr": 0.2}, inputs=[ref("data")], outputs=[b]),
    ]).json()
    wait = {"wait_for": answer["journal_size"]}
    shown = served.api("read").get("/api/v1/show", params={"ref": a["id"], **wait}).json()
    assert shown["id"] == a["id"]
    assert shown["transformation"]["run_id"] == RUN
    diff = served.api("read").get("/api/v1/diff", params={"a": a["id"], "b": b["id"]}).json()
    assert diff["params"]["changed"] == {"lr": [0.1, 0.2]}
    prefix = served.api("read").get("/api/v1/show", params={"ref": a["digest"][7:19]}).json()
    assert prefix["id"] == a["id"]


def test_refs_are_never_resolved_as_server_paths(served: Served, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    served.api("write").post("/api/v1/events", json=[make_run(
        run_id=RUN, outputs=[ref("x")])])
    for text in (str(secret), "/etc/passwd", "../../etc/passwd"):
        answer = served.api("read").get("/api/v1/show", params={"ref": text})
        assert answer.status_code == 404
        assert "hashes to" not in answer.text


def test_wait_for_beyond_the_journal_is_refused(served: Served) -> None:
    answer = served.api("read").get("/api/v1/log", params={"wait_for": 5})
    assert answer.status_code == 400


# -- aliases, flags, checkpoints, proofs ----------------------------------------------------


def test_an_alias_name_with_slashes_is_one_name_in_every_route(served: Served) -> None:
    a = ref("a", kind="model")
    served.api("write").post("/api/v1/events", json=[make_run(run_id=RUN, outputs=[a])])
    name = "team/fraud@champion"
    for path in (name, name.replace("/", "%2F")):  # as typed, or percent-encoded
        put = served.api("write").put(f"/api/v1/aliases/{path}", json={"target": a["id"]})
        assert put.status_code == 201, put.text
        shown = served.api("read").get(f"/api/v1/aliases/{path}", params={
            "wait_for": _settle(served)}).json()
        assert shown["name"] == name and shown["digest"] == a["id"]
    history = served.api("read").get(f"/api/v1/alias-history/{name}").json()
    assert [h["name"] for h in history] == [name, name]
    # "team" alone is another alias, never set.
    assert served.api("read").get("/api/v1/aliases/team").status_code == 404


def test_aliases_move_and_keep_history_and_protected_ones_need_admin(served: Served) -> None:
    a, b = ref("a", kind="model"), ref("b", kind="model")
    served.api("write").post("/api/v1/events", json=[make_run(run_id=RUN, outputs=[a, b])])
    put = served.api("write").put("/api/v1/aliases/staging", json={"target": a["id"],
                                                                   "reason": "first"})
    assert put.status_code == 201
    served.api("write").put("/api/v1/aliases/staging", json={"target": b["id"]})
    shown = served.api("read").get("/api/v1/aliases/staging", params={
        "wait_for": _settle(served)}).json()
    assert shown["digest"] == b["id"]
    history = served.api("read").get("/api/v1/alias-history/staging").json()
    assert [h["digest"] for h in history] == [a["id"], b["id"]]
    assert served.api("write").put("/api/v1/aliases/production", json={
        "target": a["id"]}).status_code == 403
    assert served.api("admin").put("/api/v1/aliases/production", json={
        "target": a["id"]}).status_code == 201
    _settle(served)
    moved = served.api("admin").put("/api/v1/aliases/production", json={"target": b["id"]})
    assert moved.status_code == 409
    forced = served.api("admin").put("/api/v1/aliases/production", json={
        "target": b["id"], "force": True, "reason": "new champion"})
    assert forced.status_code == 201
    assert served.api("write").put("/api/v1/aliases/staging", json={
        "target": RUN}).status_code == 400
    raw = {"type": "alias.set", "name": "production", "target": a["id"], "actor": "x",
           "time": "2026-01-01T00:00:00Z"}
    assert served.api("write").post("/api/v1/events", json=[raw]).status_code == 403
    assert served.api("admin").post("/api/v1/events", json=[raw]).status_code == 201
    assert served.api("read").get("/api/v1/aliases/nope").status_code == 404


def test_flags_are_entries_and_listed(served: Served) -> None:
    served.api("write").post("/api/v1/events", json=[make_run(run_id=RUN, outputs=[ref("m")])])
    answer = served.api("write").post("/api/v1/flags", json={"target": RUN, "reason": "bias"})
    assert answer.status_code == 201
    assert answer.json()["target_type"] == "execution"
    flags = served.api("read").get("/api/v1/flags", params={
        "wait_for": answer.json()["journal_size"]}).json()
    assert [(f["target"], f["reason"]) for f in flags] == [(RUN, "bias")]


def test_checkpoints_and_proofs_verify_against_the_root(served: Served) -> None:
    served.api("write").post("/api/v1/events", json=[make_run() for _ in range(5)])
    head = served.api("read").get("/api/v1/checkpoint").json()
    assert head["size"] == 5
    assert head["note"].startswith(head["origin"] + "\n5\n")
    made = served.api("write").post("/api/v1/checkpoints").json()
    assert made["size"] == 5
    assert [c["size"] for c in served.api("read").get("/api/v1/checkpoints").json()] == [5]
    records = served.api("read").get("/api/v1/journal").json()
    proof = served.api("read").get("/api/v1/proofs/inclusion", params={"index": 3}).json()
    root = bytes.fromhex(proof["root"][7:])
    leaf = merkle.leaf_hash(records[3]["canonical"].encode())
    assert proof["leaf_hash"] == "sha256:" + leaf.hex()
    merkle.verify_inclusion(leaf, 3, 5, [bytes.fromhex(p) for p in proof["proof"]], root)
    consistency = served.api("read").get("/api/v1/proofs/consistency", params={"old": 2}).json()
    merkle.verify_consistency(2, 5, [bytes.fromhex(p) for p in consistency["proof"]],
                              bytes.fromhex(consistency["old_root"][7:]), root)
    assert served.api("read").get("/api/v1/proofs/inclusion", params={
        "index": 9}).status_code == 400
    assert served.api("admin").get("/api/v1/verify").json()["ok"] is True


# -- blobs ----------------------------------------------------------------------------------


def test_blobs_round_trip_and_are_checked_against_their_digest(served: Served) -> None:
    data = b"weights" * 1000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    put = served.api("write").put(f"/api/v1/blobs/{digest}", content=data)
    assert put.status_code == 201
    assert served.api("write").put(f"/api/v1/blobs/{digest}", content=data).status_code == 200
    got = served.api("read").get(f"/api/v1/blobs/{digest}")
    assert (got.status_code, got.content) == (200, data)
    other = "sha256:" + hashlib.sha256(b"other").hexdigest()
    wrong = served.api("write").put(f"/api/v1/blobs/{other}", content=data)
    assert wrong.status_code == 400
    assert served.api("read").get(f"/api/v1/blobs/{other}").status_code == 404
    for bad in ("sha256:" + "AB" * 32, "sha256:abc", "md5:" + "ab" * 16):
        assert served.api("write").put(f"/api/v1/blobs/{bad}", content=data).status_code == 400


def test_a_missing_blob_is_404_without_the_servers_paths(served: Served,
                                                          tmp_path: Path) -> None:
    missing = served.api("read").get("/api/v1/blobs/sha256:" + "0" * 64)
    assert missing.status_code == 404
    assert str(tmp_path) not in missing.text and "blobs" not in missing.json()["error"][
        "message"].replace("/api/v1/blobs", "")


# -- tokens, status, limits -----------------------------------------------------------------


def test_admins_manage_tokens_and_revocation_is_immediate(served: Served) -> None:
    made = served.api("admin").post("/api/v1/tokens", json={"scope": "read", "name": "ci"})
    assert made.status_code == 201
    token = made.json()["token"]
    assert Api(served.app, token).get("/api/v1/status").status_code == 200
    listed = served.api("admin").get("/api/v1/tokens").json()
    assert "token" not in json.dumps(listed).replace('"tokens"', "")
    assert served.api("admin").delete(f"/api/v1/tokens/{made.json()['id']}").status_code == 200
    assert Api(served.app, token).get("/api/v1/status").status_code == 401


def test_status_reports_lag(served: Served) -> None:
    _post(served, ol_event("START", RUN))
    status = served.api("read").get("/api/v1/status", params={}).json()
    assert status["journal_size"] == 1
    assert status["lag"] == status["journal_size"] - status["projected_size"]


def test_bodies_over_the_limit_are_413_and_write_nothing(served: Served) -> None:
    huge = ol_event("START", RUN, job="x" * 1000)
    huge["run"]["facets"] = {"big": {"_producer": "p", "_schemaURL": "s", "x": "y" * 70_000}}
    answer = _post(served, huge)
    assert answer.status_code == 413
    bomb = gzip.compress(b" " * 200_000 + json.dumps(ol_event("START", RUN)).encode())
    answer = served.api("write").post("/api/v1/lineage", content=bomb, headers={
        "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert answer.status_code == 413
    assert _settle(served) == 0


def test_openapi_needs_a_token_and_describes_every_route(served: Served) -> None:
    assert served.api(None).get("/openapi.json").status_code == 401
    document = served.api("read").get("/openapi.json").json()
    assert "/api/v1/lineage" in document["paths"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert served.api(None).get("/health").json() == {"status": "ok"}


def test_exports_come_as_downloads_in_each_format(served: Served) -> None:
    from tests.unit.test_exporters import check_cyclonedx, check_slsa

    model = ref("model", kind="model")
    answer = served.api("write").post("/api/v1/events", json=[
        make_run(run_id=RUN, params={"lr": 0.1}, inputs=[ref("data")], outputs=[model]),
    ]).json()
    wait = {"wait_for": answer["journal_size"]}
    read = served.api("read")
    for fmt in ("prov", "cyclonedx", "slsa"):
        got = read.get("/api/v1/export", params={"ref": model["id"], "format": fmt, **wait})
        assert got.status_code == 200, got.text
        assert got.headers["content-disposition"].endswith(f'.{fmt}.json"')
        document = got.json()
        if fmt == "prov":
            assert any(RUN in key for key in document["activity"])
        elif fmt == "cyclonedx":
            check_cyclonedx(document)
            assert document["metadata"]["component"]["name"] == model["name"]
        else:
            assert check_slsa(document).build_definition.external_parameters["lr"] == 0.1
    # A run is not what a BOM describes; an unknown format or REF, and no token, are refused.
    assert read.get("/api/v1/export", params={"ref": RUN, "format": "slsa"}).status_code == 400
    assert read.get("/api/v1/export", params={"ref": model["id"], "format": "x"}).status_code \
        == 400
    assert read.get("/api/v1/export", params={"ref": "nope", "format": "prov"}).status_code \
        == 404
    assert served.api(None).get("/api/v1/export", params={"ref": model["id"],
                                                        "format": "prov"}).status_code == 401

