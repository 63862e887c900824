"""The server's ingest and lineage routes, on every store backend: who sent an entry, one
event journaled once, out-of-order OpenLineage events, namespaced reads of datasets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from forebear.artifacts.local import LocalBlobStore
from forebear.server.app import close_app, create_app, state_of
from forebear.server.state import ServerConfig
from tests.conftest import make_run, ref
from tests.serverkit import Api, clean_env, cli, ol_event, running_server

RUN = "01a217de-8245-7ff6-8ad3-a684e4514601"
RUN2 = "01a217de-8245-7ff6-8ad3-a684e4514602"


@dataclass
class Served:
    app: Any
    store: Any
    tokens: dict[str, str]
    ids: dict[str, str]

    def api(self, who: str | None = "admin") -> Api:
        return Api(self.app, None if who is None else self.tokens[who])

    def journal(self) -> list[dict[str, Any]]:
        records = self.api("read").get("/api/v1/journal").json()
        return [json.loads(record["canonical"]) for record in records]

    def settle(self) -> int:
        """Wait until everything journaled is projected; the journal's size."""
        size: int = self.api("read").get("/api/v1/status").json()["journal_size"]
        assert self.api("read").get("/api/v1/log", params={"wait_for": size}).status_code \
            == 200
        return size

    def run(self, run_id: str = RUN) -> dict[str, Any]:
        self.settle()
        [found] = [r for r in self.api("read").get("/api/v1/log").json()
                   if r["run_id"] == run_id]
        return found


@pytest.fixture
def served(store: Any, tmp_path: Path) -> Iterator[Served]:
    app = create_app(store, blobs=LocalBlobStore(tmp_path / "blobs"),
                     config=ServerConfig(max_body=64 * 1024, wait_timeout=5.0))
    tokens = state_of(app).tokens
    texts, ids = {}, {}
    for who, scope, namespace in (("read", "read", None), ("write", "write", None),
                                  ("other", "write", None), ("admin", "admin", None),
                                  ("team-a", "read", "team-a")):
        info, texts[who] = tokens.create(scope, namespace=namespace)
        ids[who] = info.id
    try:
        yield Served(app, store, texts, ids)
    finally:
        close_app(app)


def _lineage(served: Served, event: dict[str, Any], who: str = "write",
             **options: Any) -> int:
    answer = served.api(who).post("/api/v1/lineage", json=event, **options)
    assert answer.status_code in (200, 201, 409), answer.text
    return answer.status_code


def _verified(served: Served) -> None:
    served.settle()
    report = served.store.verify()
    assert report.ok, report.problems


# -- 1. who sent an entry -------------------------------------------------------------------


def test_every_journaled_entry_names_the_token_that_sent_it(served: Served) -> None:
    own = f"token:{served.ids['write']}"
    model = ref("model", kind="model")
    answer = served.api("write").post("/api/v1/events", json=[
        {**make_run(run_id=RUN, outputs=[model]), "actor": "alice"}])
    assert answer.status_code == 201, answer.text
    _lineage(served, ol_event("START", RUN2))
    served.settle()
    assert served.api("write").put("/api/v1/aliases/staging", json={
        "target": model["id"]}).status_code == 201
    assert served.api("write").post("/api/v1/flags", json={
        "target": RUN, "reason": "bias"}).status_code == 201
    entries = served.journal()
    assert [e["type"] for e in entries] == ["execution", "openlineage", "alias.set", "flag"]
    assert {e["submitted_by"] for e in entries} == {own}
    # The client's claim of who ran it is kept, as a claim.
    assert entries[0]["actor"] == "alice"
    assert served.run()["actor"] == "alice"
    # Both show with each run: who claims to have run it, and the token it came from.
    assert served.run()["submitted_by"] == own
    assert served.run(RUN2)["submitted_by"] == own
    shown = served.api("read").get("/api/v1/show", params={"ref": model["id"]})
    assert shown.json()["transformation"]["submitted_by"] == own, shown.text
    _verified(served)


def test_a_token_cannot_claim_another_tokens_entries(served: Served) -> None:
    other = f"token:{served.ids['other']}"
    for claim in ({"submitted_by": other}, {"actor": other}):
        answer = served.api("write").post("/api/v1/events", json=[
            {**make_run(run_id=RUN), **claim}])
        assert answer.status_code == 400, answer.text
        message = answer.json()["error"]["message"]
        assert other in message and f"token:{served.ids['write']}" in message
        assert answer.json()["error"]["hint"]
    # Claiming itself is no lie.
    own = f"token:{served.ids['write']}"
    answer = served.api("write").post("/api/v1/events", json=[
        {**make_run(run_id=RUN), "submitted_by": own}])
    assert answer.status_code == 201, answer.text
    assert [e["submitted_by"] for e in served.journal()] == [own]


def test_an_idempotent_resend_is_one_entry_whoever_resends_it(served: Served) -> None:
    batch = [{**make_run(run_id=RUN), "actor": "alice"}, make_run(run_id=RUN2)]
    key = {"Idempotency-Key": "batch-7"}
    first = served.api("write").post("/api/v1/events", json=batch, headers=key)
    assert first.status_code == 201
    for who in ("write", "other"):  # the SDK's spool may resend with a newer token
        again = served.api(who).post("/api/v1/events", json=batch, headers=key)
        assert (again.status_code, again.json()) == (200, first.json())
    changed = served.api("write").post("/api/v1/events", json=batch[:1], headers=key)
    assert changed.status_code == 409
    assert [e["submitted_by"] for e in served.journal()] == [
        f"token:{served.ids['write']}"] * 2
    _verified(served)


def test_forebear_verify_passes_on_a_real_server(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        server.json("POST", "/api/v1/events", [{**make_run(run_id=RUN), "actor": "bob"}],
                    token="write")
        server.json("POST", "/api/v1/lineage", ol_event("COMPLETE", RUN2), token="write")
        records = server.json("GET", "/api/v1/journal?wait_for=2", token="read")
        assert all(json.loads(r["canonical"])["submitted_by"].startswith("token:")
                   for r in records)
    done = cli("verify", "--store", str(tmp_path / ".forebear"), "--json", env=clean_env(),
               check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["ok"] is True


# -- 2. one event, journaled once -----------------------------------------------------------


def test_the_same_event_with_an_idempotency_key_is_journaled_once(served: Served) -> None:
    event = ol_event("START", RUN)
    assert _lineage(served, event) == 201
    assert _lineage(served, event, headers={"Idempotency-Key": "a"}) == 200
    assert _lineage(served, event, headers={"Idempotency-Key": "b"}) == 200
    assert len(served.journal()) == 1
    # The keys are bound all the same: reused for another event, they are a conflict.
    answer = served.api("write").post("/api/v1/lineage", json=ol_event("START", RUN2),
                                      headers={"Idempotency-Key": "a"})
    assert answer.status_code == 409
    message = answer.json()["error"]["message"]
    assert "'a'" in message and "h:" not in message
    assert len(served.journal()) == 1


def test_a_new_key_and_an_old_event_in_one_batch_of_requests(served: Served) -> None:
    # Concurrent requests share one commit: the same event under two keys is still one.
    import asyncio

    import httpx

    event = ol_event("START", RUN)

    async def send() -> list[int]:
        transport = httpx.ASGITransport(app=served.app)
        headers = {"Authorization": f"Bearer {served.tokens['write']}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answers = await asyncio.gather(*(
                client.post("/api/v1/lineage", json=event,
                            headers={**headers, "Idempotency-Key": f"k{i % 3}"})
                for i in range(9)))
        return [a.status_code for a in answers]

    codes = asyncio.run(send())
    assert sorted(codes) == [200] * 8 + [201]
    assert len(served.journal()) == 1
    for i in range(3):
        assert _lineage(served, ol_event("START", RUN2),
                        headers={"Idempotency-Key": f"k{i}"}) == 409


def test_the_conflict_message_shows_the_key_as_sent_to_events(served: Served) -> None:
    key = {"Idempotency-Key": "abc"}
    served.api("write").post("/api/v1/events", json=[make_run(run_id=RUN)], headers=key)
    answer = served.api("write").post("/api/v1/events", json=[make_run(run_id=RUN2)],
                                      headers=key)
    assert answer.status_code == 409
    assert "Idempotency-Key 'abc' " in answer.json()["error"]["message"]


# -- 3. out-of-order OpenLineage events -----------------------------------------------------


def _at(kind: str, time: str, run_id: str = RUN) -> dict[str, Any]:
    return ol_event(kind, run_id, eventTime=f"2026-01-01T{time}Z")


@pytest.mark.parametrize(("order", "started", "ended", "status"), [
    (["START 00:00", "COMPLETE 00:10"], "00:00", "00:10", "succeeded"),
    (["COMPLETE 00:10", "START 00:00"], "00:00", "00:10", "succeeded"),
    (["COMPLETE 00:10", "RUNNING 00:05", "START 00:01"], "00:01", "00:10", "succeeded"),
    (["START 00:00", "COMPLETE 00:10", "RUNNING 00:05"], "00:00", "00:10", "succeeded"),
    (["RUNNING 00:05", "START 00:07"], "00:07", None, "running"),
    (["COMPLETE 00:10", "RUNNING 00:05"], "00:05", "00:10", "succeeded"),
    (["RUNNING 00:05", "OTHER 00:02", "FAIL 00:09"], "00:02", "00:09", "failed"),
    (["START 00:03", "START 00:01", "START 00:02"], "00:01", None, "running"),
], ids=["in-order", "complete-first", "three-reversed", "late-running", "running-first",
        "no-start", "earliest-guess", "earliest-start"])
@pytest.mark.parametrize("together", [False, True], ids=["one-by-one", "one-commit"])
def test_out_of_order_events_give_the_runs_start_and_end(
    served: Served, order: list[str], started: str, ended: str | None, status: str,
    together: bool,
) -> None:
    events = [_at(*item.split()) for item in order]
    if together:
        # Journaled first, projected in one batch: grouping must not change the outcome.
        served.store.append_batch([{"type": "openlineage", "time": "2026-01-02T00:00:00Z",
                                    "event": event} for event in events], project=False)
    else:
        for event in events:
            assert _lineage(served, event) == 201
            served.settle()  # each projected on its own
    run = served.run()
    assert (run["started_at"], run["ended_at"], run["status"]) == (
        f"2026-01-01T{started}:00.000000Z",
        None if ended is None else f"2026-01-01T{ended}:00.000000Z", status)
    _verified(served)


# -- 4. namespaced tokens read datasets of their namespace ----------------------------------


def test_a_namespaced_token_reads_datasets_of_its_namespace(served: Served) -> None:
    _lineage(served, ol_event("COMPLETE", RUN, namespace="etl", job="load",
                              outputs=[{"namespace": "team-a", "name": "scores"}]))
    _lineage(served, ol_event("COMPLETE", RUN2, namespace="etl", job="hide",
                              outputs=[{"namespace": "team-a:secret", "name": "x"}]))
    size = served.settle()
    team = served.api("team-a")
    own = team.get("/api/v1/lineage", params={"nodeId": "dataset:team-a:scores",
                                              "wait_for": size})
    assert own.status_code == 200, own.text
    assert own.json()["graph"][0]["id"] == "dataset:team-a:scores"
    other = team.get("/api/v1/lineage", params={"nodeId": "dataset:s3://in:data"})
    assert other.status_code == 403
    message = other.json()["error"]["message"]
    assert "None" not in message
    assert "dataset:team-a:<name>" in message and "job:team-a:<name>" in message
    # Namespaces hold colons: this is dataset "x" of namespace "team-a:secret".
    hidden = team.get("/api/v1/lineage", params={"nodeId": "dataset:team-a:secret:x"})
    assert hidden.status_code == 404, hidden.text
    assert served.api("read").get("/api/v1/lineage", params={
        "nodeId": "dataset:team-a:secret:x"}).status_code == 200


# -- a damaged blob -------------------------------------------------------------------------

def test_a_damaged_small_blob_is_an_integrity_error_not_a_cut_download(
    served: Served, tmp_path: Path
) -> None:
    import hashlib

    data = b"model weights"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert served.api("write").put(f"/api/v1/blobs/{digest}", content=data).status_code == 201
    assert served.api("read").get(f"/api/v1/blobs/{digest}").content == data
    (path,) = (p for p in (tmp_path / "blobs").rglob("*") if p.is_file()
               and p.name == digest.split(":")[1][2:])
    path.chmod(0o644)
    path.write_bytes(b"model weightZ")
    answer = served.api("read").get(f"/api/v1/blobs/{digest}")
    assert answer.status_code == 500, answer.text
    assert answer.json()["error"]["code"] == "integrity"
