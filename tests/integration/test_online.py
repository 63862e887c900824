"""Online learning: updates roll up into a few aggregates, and any one update proves."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from forebear import config
from forebear.artifacts.base import open_blob_store
from forebear.cli import main
from forebear.errors import IntegrityError, InvalidInputError, NotFoundError, UsageError
from forebear.hashing import Digest
from forebear.journal import merkle
from forebear.sdk.online import online
from forebear.sdk.proofs import find_aggregate, prove_update, update_tree_proof
from forebear.sdk.session import Session
from forebear.store.registry import open_store


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def session(sqlite_store_dir: Path) -> Session:
    return Session.from_settings(config.resolve(str(sqlite_store_dir)))


def _feed(session: Session, count: int, **options: Any) -> Any:
    with online("ctr-model", store=session, code=False, **options) as stream:
        for i in range(count):
            stream.update(data_digest=_digest(f"d{i}"), weights_digest=_digest(f"w{i}"),
                          metrics={"loss": 1.0 / (i + 1)})
    return stream


def test_updates_roll_up_every_n(session: Session) -> None:
    base = _digest("base")
    stream = _feed(session, 2500, every=1000, base=base)
    assert len(stream.aggregates) == 3 and stream.count == 2500
    store = session.store
    rows = store.execute("SELECT run_id, params, metrics FROM execution ORDER BY start_seq")
    params = [json.loads(p) for _, p, _ in rows]
    assert [(p["first_index"], p["count"], p["batch"]) for p in params] == [
        (0, 1000, 0), (1000, 1000, 1), (2000, 500, 2)]
    assert json.loads(rows[-1][2]) == {"loss": 1.0 / 2500}
    edges = store.execute(
        "SELECT x.run_id, e.role, n.key FROM edge e JOIN execution x ON x.node = e.dst "
        "JOIN node n ON n.id = e.src WHERE e.role IN ('previous_weights', 'data') "
        "ORDER BY x.start_seq, e.role")
    assert edges == [
        (rows[0][0], "data", _digest("d0")), (rows[0][0], "previous_weights", base),
        (rows[1][0], "data", _digest("d1000")), (rows[1][0], "previous_weights", _digest("w999")),
        (rows[2][0], "data", _digest("d2000")),
        (rows[2][0], "previous_weights", _digest("w1999")),
    ]
    # The root in the entry is the root over the stored lines.
    blobs = open_blob_store(session.settings.blob_url)  # type: ignore[union-attr]
    lines = blobs.get_bytes(Digest.parse(params[2]["updates_digest"])).split(b"\n")[:-1]
    assert json.loads(lines[0]) == {"i": 2000, "data": _digest("d2000"),
                                    "weights": _digest("w2000"), "metrics": {"loss": 1 / 2001}}
    assert "sha256:" + merkle.naive_root(lines).hex() == params[2]["merkle_root"]
    assert store.verify().ok


def test_time_rolls_up_too(session: Session) -> None:
    now = [0.0]
    with online("clicks", store=session, every=10**6, seconds=5, code=False,
                monotonic=lambda: now[0]) as stream:
        for i in range(30):
            now[0] = i * 0.5  # 15 seconds in all
            stream.update(data_digest=_digest(f"d{i}"), weights_digest=_digest(f"w{i}"))
    counts = [json.loads(p)["count"] for (p,) in session.store.execute(
        "SELECT params FROM execution ORDER BY start_seq")]
    assert sum(counts) == 30 and len(counts) == 3


@pytest.mark.parametrize("index", [0, 1, 499, 998, 999])
def test_any_update_proves(session: Session, index: int) -> None:
    stream = _feed(session, 2000, every=1000)
    blobs = session.blobs
    run_id = stream.aggregates[1]
    proof = prove_update(session.store, blobs, run_id, index)
    data = proof.to_json()
    assert data["verified"] and data["update_index"] == 1000 + index
    assert data["checkpoint"] and data["journal_proof"]["size"] == 2
    # Anyone can re-check it with the pure verifier alone.
    merkle.verify_inclusion(merkle.leaf_hash(proof.update_line), index, 1000,
                            proof.update_proof, proof.update_root)
    entry = json.loads(data["entry"])
    assert entry["params"]["merkle_root"] == data["update_proof"]["root"]
    assert find_aggregate(session.store, stream.aggregates[0], 1000 + index) == (run_id, index)


def test_proof_helpers_agree_with_the_naive_reference() -> None:
    lines = [b"%d" % i for i in range(37)]
    for index in (0, 16, 36):
        proof, root = update_tree_proof(lines, index)
        assert proof == merkle.naive_inclusion(index, lines)
        assert root == merkle.naive_root(lines)


def test_a_tampered_update_list_does_not_prove(session: Session) -> None:
    stream = _feed(session, 10, every=10)
    digest = json.loads(session.store.execute("SELECT params FROM execution")[0][0])[
        "updates_digest"]
    path = Path(session.blobs.path_for(Digest.parse(digest)))  # type: ignore[union-attr]
    path.chmod(0o644)
    path.write_bytes(path.read_bytes().replace(b'"i":3', b'"i":4'))
    with pytest.raises(IntegrityError):
        prove_update(session.store, session.blobs, stream.aggregates[0], 3)


def test_bad_updates_are_refused(session: Session) -> None:
    with online("s", store=session, code=False) as stream:
        with pytest.raises(InvalidInputError, match="not a digest"):
            stream.update(data_digest="abc", weights_digest=_digest("w"))
        with pytest.raises(InvalidInputError):
            stream.update(data_digest=_digest("d"), weights_digest=_digest("w"),
                          metrics={"loss": float("nan")})
    with pytest.raises(InvalidInputError, match="blob store"):
        online("s", store=Session(session.store))
    with pytest.raises(InvalidInputError):
        online("s", store=session, every=0)


def test_prove_cli(sqlite_store_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    session = Session.from_settings(config.resolve(str(sqlite_store_dir)))
    stream = _feed(session, 250, every=100)
    session.store.close()
    run_id = stream.aggregates[1]
    assert main(["prove", run_id, "7", "--json"]) == 0
    by_index = json.loads(capsys.readouterr().out)
    assert by_index["update_index"] == 107 and by_index["verified"]
    assert main(["prove", run_id[:13], "--update", "107", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == by_index
    assert main(["prove", stream.aggregates[0], "--update", "230"]) == 0
    out = capsys.readouterr().out
    assert "update 230" in out and "signed" in out
    assert main(["prove", run_id]) == UsageError.exit_code
    capsys.readouterr()
    assert main(["prove", run_id, "100"]) == 1
    assert "holds updates 0..99" in capsys.readouterr().err
    assert main(["prove", run_id, "--update", "999"]) == NotFoundError.exit_code
    capsys.readouterr()
    # Over HTTP the server builds the proof (test_cli_remote); none reachable: one line.
    assert main(["prove", run_id, "7", "--store", "http://127.0.0.1:9"]) == 1
    assert capsys.readouterr().err.startswith("error: ")
    assert open_store(str(sqlite_store_dir)).verify().ok


def test_update_lines_are_canonical_json(session: Session) -> None:
    from forebear._canonical import canonical_bytes

    _feed(session, 3, every=10)
    digest = json.loads(session.store.execute("SELECT params FROM execution")[0][0])[
        "updates_digest"]
    lines = session.blobs.get_bytes(Digest.parse(digest)).split(b"\n")[:-1]  # type: ignore[union-attr]
    assert lines and all(canonical_bytes(json.loads(line)) == line for line in lines)
    with online("plain", store=session, code=False) as plain:
        plain.update(data_digest=_digest("d"), weights_digest=_digest("w"),
                     metrics={"b": 1e21, "a": 1.0, "é": 0.1})
        plain.update(data_digest=_digest("d"), weights_digest=_digest("w"))
        lines = list(plain._lines)
    assert all(canonical_bytes(json.loads(line)) == line for line in lines)


def test_proofs_on_every_backend(store: Any, tmp_path: Path) -> None:
    from forebear.artifacts.local import LocalBlobStore

    session = Session(store, blobs=LocalBlobStore(tmp_path / "blobs"), actor="tester")
    stream = _feed(session, 300, every=128)
    assert len(stream.aggregates) == 3
    run_id, index = find_aggregate(store, stream.aggregates[0], 260)
    assert (run_id, index) == (stream.aggregates[2], 4)
    proof = prove_update(store, session.blobs, run_id, index).to_json()
    assert proof["verified"] and proof["update_index"] == 260
    assert store.verify().ok


@pytest.mark.slow
def test_the_benchmark_meets_its_targets() -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_online.py"
    spec = importlib.util.spec_from_file_location("bench_online", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    figures = bench.run(60_000)
    assert figures["aggregates"] == 60
    assert figures["meets_bytes"], figures
    assert figures["meets_rate"], figures


def test_a_quiet_stream_rolls_up_on_its_timer(session: Session) -> None:
    import time

    stream = online("quiet", store=session, every=10**6, seconds=0.05, code=False)
    stream.update(data_digest=_digest("d0"), weights_digest=_digest("w0"))
    stream.update(data_digest=_digest("d1"), weights_digest=_digest("w1"))
    deadline = time.monotonic() + 10
    while not stream.aggregates and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(stream.aggregates) == 1  # without another update or close
    stream.update(data_digest=_digest("d2"), weights_digest=_digest("w2"))
    stream.close()
    counts = [json.loads(p)["count"] for (p,) in session.store.execute(
        "SELECT params FROM execution WHERE name = 'quiet' ORDER BY start_seq")]
    assert counts == [2, 1]
