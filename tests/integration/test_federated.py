"""Federated learning: the round shape, pseudonyms, commitments, and no client data stored."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from forebear import config
from forebear.errors import InvalidInputError
from forebear.sdk.federated import data_commitment, federated, open_commitment, pseudonym
from forebear.sdk.session import Session

CLIENTS = {f"hospital-{c}": f"patient records of hospital {c}: secret-{c}".encode()
           for c in "abcd"}


def fedavg(updates: list[bytes]) -> bytes:
    """A stand-in aggregator."""
    return hashlib.sha256(b"".join(updates)).digest()


@pytest.fixture
def session(sqlite_store_dir: Path) -> Session:
    return Session.from_settings(config.resolve(str(sqlite_store_dir)))


def _train(session: Session, rounds: int = 3, **options: Any) -> Any:
    with federated("fraud-fl", store=session, code=False, **options) as fl:
        model = b"global-0"
        fl.start(model)
        for r in range(rounds):
            rnd = fl.round()
            updates = []
            for i, (client, data) in enumerate(CLIENTS.items()):
                update = hashlib.sha256(model + data).digest()
                updates.append(update)
                rnd.client_update(client, update=update, data=data, num_examples=100 * (i + 1),
                                  metrics={"loss": 0.5 / (r + 1)})
            model = fedavg(updates)
            rnd.aggregate(model, aggregator=fedavg)
    return fl


def test_three_rounds_of_four_clients_have_the_right_shape(session: Session) -> None:
    fl = _train(session)
    store = session.store
    kinds = store.execute("SELECT kind, COUNT(*) FROM execution GROUP BY kind ORDER BY kind")
    assert kinds == [("aggregate", 3), ("client_update", 12), ("federated", 1)]
    parents = store.execute("SELECT DISTINCT parent_run_id FROM execution "
                            "WHERE kind IN ('aggregate', 'client_update')")
    assert parents == [(fl.run_id,)]
    rounds = store.execute("SELECT run_id, params FROM execution WHERE kind = 'aggregate' "
                           "ORDER BY start_seq")
    previous = None
    for number, (run_id, params_text) in enumerate(rounds):
        params = json.loads(params_text)
        assert params["round"] == number and params["algorithm"] == "fedavg"
        assert params["aggregator"].endswith(":fedavg") and params["aggregator_digest"]
        assert sorted(params["weights"].values()) == pytest.approx([0.1, 0.2, 0.3, 0.4])
        edges = store.execute(
            "SELECT e.role, n.key FROM edge e JOIN node n ON n.id = e.src "
            "JOIN execution x ON x.node = e.dst WHERE x.run_id = ? AND e.role NOT IN "
            "('code', 'environment')", (run_id,))
        roles = sorted(role for role, _ in edges)
        assert roles == ["client_update"] * 4 + ["global_model"]
        global_in = next(key for role, key in edges if role == "global_model")
        if previous is not None:
            assert global_in == previous  # each round starts from the last one's model
        (previous,) = store.execute(
            "SELECT n.key FROM edge e JOIN node n ON n.id = e.dst "
            "JOIN execution x ON x.node = e.src WHERE x.run_id = ?", (run_id,))[0]
        # each client update was produced by a client run that used the same global model
        for role, key in edges:
            if role == "client_update":
                producer = store.execute(
                    "SELECT x.kind, x.actor FROM edge e JOIN node n ON n.id = e.dst "
                    "JOIN execution x ON x.node = e.src WHERE n.key = ?", (key,))
                assert producer[0][0] == "client_update"
                assert producer[0][1].startswith("client:")
    assert previous == fl.global_model
    assert store.verify().ok


def test_no_client_data_and_no_client_id_in_the_store(session: Session) -> None:
    fl = _train(session)
    store_dir = session.settings.store_dir  # type: ignore[union-attr]
    session.store.close()
    everything = b"".join(p.read_bytes() for p in store_dir.rglob("*") if p.is_file())
    for client, data in CLIENTS.items():
        assert data not in everything
        assert f"secret-{client[-1]}".encode() not in everything
        assert client.encode() not in everything
        assert pseudonym(fl.salt, client).encode() in everything
    assert fl.salt not in everything and fl.salt.hex().encode() not in everything


def test_pseudonyms_are_stable_within_a_run_and_unlinkable_across(session: Session) -> None:
    a = _train(session, rounds=2)
    b = _train(session, rounds=1)
    actors = session.store.execute(
        "SELECT parent_run_id, actor FROM execution WHERE kind = 'client_update'")
    per_run: dict[str, set[str]] = {}
    for parent, actor in actors:
        per_run.setdefault(parent, set()).add(actor)
    assert len(per_run[a.run_id]) == 4 and len(per_run[b.run_id]) == 4
    assert not per_run[a.run_id] & per_run[b.run_id]


def test_a_commitment_opens_only_with_its_nonce_and_data() -> None:
    data = b"rows"
    nonce = b"n" * 32
    commitment = data_commitment("sha256:" + hashlib.sha256(data).hexdigest(), nonce)
    assert open_commitment(commitment, nonce=nonce, data=data)
    assert not open_commitment(commitment, nonce=b"m" * 32, data=data)
    assert not open_commitment(commitment, nonce=nonce, data=b"other")


def test_client_update_returns_what_opens_its_commitment(session: Session) -> None:
    with federated("fl", store=session, code=False) as fl:
        fl.start(b"g0")
        rnd = fl.round()
        sent = rnd.client_update("c1", update=b"u1", data=b"private")
        assert open_commitment(sent.commitment, nonce=sent.nonce, data=b"private")
        params = json.loads(session.store.execute(
            "SELECT params FROM execution WHERE kind = 'federated'")[0][0])
        assert params == {"algorithm": "fedavg"}
        rnd.aggregate(b"g1", weights={"c1": 1.0})


def test_federated_errors(session: Session) -> None:
    with federated("fl", store=session, code=False) as fl:
        with pytest.raises(InvalidInputError, match="start"):
            fl.round()
        fl.start(b"g0")
        rnd = fl.round()
        with pytest.raises(InvalidInputError, match="exactly one"):
            rnd.client_update("c1", update=b"u")
        with pytest.raises(InvalidInputError, match="no client updates"):
            rnd.aggregate(b"g1")
        rnd.client_update("c1", update=b"u", data_digest="sha256:" + "a" * 64)
        with pytest.raises(InvalidInputError, match="already sent"):
            rnd.client_update("c1", update=b"u", data_digest="sha256:" + "a" * 64)
        with pytest.raises(InvalidInputError, match="not aggregated"):
            fl.round()
        with pytest.raises(InvalidInputError, match="exactly the clients"):
            rnd.aggregate(b"g1", weights={"c2": 1.0})
        rnd.aggregate(b"g1")
    with pytest.raises(RuntimeError), federated("boom", store=session, code=False):
        raise RuntimeError("lost the coordinator")
    row = session.store.execute("SELECT status, error FROM execution WHERE name = 'boom'")
    assert row == [("failed", "RuntimeError: lost the coordinator")]
