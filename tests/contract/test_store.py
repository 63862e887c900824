"""The metadata store contract: every backend passes this same suite."""

from __future__ import annotations

import json
from typing import Any

import pytest

from forebear.errors import InvalidInputError
from forebear.journal import merkle
from tests.conftest import make_run, ref


def _artifact_entry(seed: str) -> dict[str, Any]:
    return {"type": "artifact", "time": "2026-01-01T00:00:00.000000Z", "artifact": ref(seed)}


def test_append_assigns_contiguous_sequence_numbers(store: Any) -> None:
    assert store.size() == 0
    assert store.append(_artifact_entry("a")) == 0
    assert store.append_batch([_artifact_entry(str(i)) for i in range(5)]) == range(1, 6)
    assert store.append(_artifact_entry("z")) == 6
    assert store.size() == 7
    assert [r.seq for r in store.records()] == list(range(7))


def test_records_hold_canonical_bytes_and_their_leaf_hashes(store: Any) -> None:
    entry = make_run(params={"b": 1, "a": "é"})
    store.append(entry)
    (record,) = list(store.records())
    assert json.loads(record.canonical) == entry
    assert record.canonical == json.dumps(
        entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    assert record.leaf_hash == merkle.leaf_hash(record.canonical)


def test_roots_and_proofs_agree_with_the_naive_tree(store: Any) -> None:
    entries = [_artifact_entry(str(i)) for i in range(37)]
    store.append_batch(entries[:20])
    for entry in entries[20:]:
        store.append(entry)
    leaves = [r.canonical for r in store.records()]
    for size in (0, 1, 2, 7, 20, 21, 37):
        root = store.root(size)
        assert root == merkle.naive_root(leaves[:size])
    root = store.root()
    for index in (0, 5, 19, 36):
        proof = store.inclusion_proof(index)
        merkle.verify_inclusion(merkle.leaf_hash(leaves[index]), index, 37, proof, root)
    for old in (0, 1, 8, 20, 36, 37):
        proof = store.consistency_proof(old)
        merkle.verify_consistency(old, 37, proof, store.root(old), root)


def test_a_bad_entry_refuses_the_whole_batch(store: Any) -> None:
    store.append(_artifact_entry("a"))
    bad = {"type": "execution", "run_id": "x", "time": "t"}  # no kind, name, status
    with pytest.raises(InvalidInputError, match="entry 1 of the batch"):
        store.append_batch([_artifact_entry("b"), bad, _artifact_entry("c")])
    assert store.size() == 1
    assert store.verify().ok


@pytest.mark.parametrize(
    "entry",
    [
        {"type": "nope", "time": "t"},
        {"time": "t"},
        [],
        {"type": "artifact", "time": "t", "artifact": {"id": "sha256:ABC", "digest": "sha256:ABC"}},
        {"type": "flag", "time": "t", "target": "x"},
        {"type": "artifact", "time": "t", "artifact": {"id": "a", "digest": None}},
    ],
    ids=["unknown-type", "no-type", "not-object", "bad-digest", "flag-no-reason", "bad-id"],
)
def test_malformed_entries_are_refused_with_a_clear_error(store: Any, entry: Any) -> None:
    with pytest.raises(InvalidInputError):
        store.append(entry)
    assert store.size() == 0


def test_checkpoints_are_signed_stored_and_verified(store: Any) -> None:
    store.append_batch([_artifact_entry(str(i)) for i in range(10)])
    first = store.checkpoint()
    store.append(_artifact_entry("later"))
    second = store.checkpoint()
    again = store.checkpoint()  # nothing appended since: the same note, kept once
    assert (first.size, second.size) == (10, 11)
    assert again == second
    assert first.note.split("\n")[1] == "10"
    assert [c.size for c in store.checkpoints()] == [10, 11]
    merkle.verify_consistency(
        10, 11, store.consistency_proof(10, 11), first.root, second.root
    )
    report = store.verify()
    assert report.ok, report.problems
    assert report.entries == 11 and report.root == second.root


def test_projections_follow_a_run_from_start_to_end(store: Any) -> None:
    run_id = "01a217de-8245-7ff6-8ad3-a684e45146ae"
    store.append(
        {"type": "execution.start", "run_id": run_id, "kind": "train", "name": "fit",
         "time": "2026-01-01T00:00:00.000000Z", "params": {"lr": 0.1}, "actor": "ana",
         "inputs": [ref("data", role="training_data")]}
    )
    store.append(
        {"type": "execution.end", "run_id": run_id, "status": "succeeded",
         "time": "2026-01-01T00:01:00.000000Z", "params": {"epochs": 3},
         "metrics": {"acc": 0.9}, "outputs": [ref("model", role="model", kind="model")]}
    )
    rows = store.execute(
        "SELECT status, params, metrics, started_at, ended_at FROM execution WHERE run_id = ?"
        if store.placeholder == "?" else
        "SELECT status, params, metrics, started_at, ended_at FROM execution WHERE run_id = %s",
        (run_id,),
    )
    status, params, metrics, started, ended = rows[0]
    assert status == "succeeded"
    assert json.loads(params) == {"lr": 0.1, "epochs": 3}
    assert json.loads(metrics) == {"acc": 0.9}
    assert started.startswith("2026-01-01T00:00") and ended.startswith("2026-01-01T00:01")
    assert store.execute("SELECT COUNT(*) FROM edge")[0][0] == 2
    assert store.verify().ok


def test_verify_of_batched_and_single_writes_match_the_rebuild(store: Any) -> None:
    a, b = "01a217de-8245-7ff6-8ad3-a684e45146a0", "01a217de-8245-7ff6-8ad3-a684e45146a1"
    store.append_batch(
        [
            make_run(run_id=a, outputs=[ref("m1", kind="model")], params={"x": 1}),
            make_run(run_id=b, inputs=[ref("m1", role="base_model")], outputs=[ref("m2")]),
            {"type": "alias.set", "time": "2026-01-01T00:00:00.000000Z", "name": "prod",
             "target": ref("m1")["id"], "actor": "ana", "reason": "first"},
        ]
    )
    store.append({"type": "flag", "time": "2026-01-01T00:00:00.000000Z",
                  "target": ref("m1")["id"], "reason": "leak", "actor": "ana"})
    report = store.verify()
    assert report.ok, report.problems


def test_a_store_refuses_a_signing_key_that_is_not_its_own(store: Any) -> None:
    from forebear.errors import SigningKeyError
    from forebear.journal.keys import SigningKey

    store.append(_artifact_entry("a"))
    where = getattr(store, "path", None) or store.url
    with pytest.raises(SigningKeyError, match="not the key of the store") as info:
        type(store)(where, signer=SigningKey.generate("other.example/key"))
    assert "FOREBEAR_KEY" in str(info.value)  # the hint names the fix
    assert store.size() == 1  # the refused opening wrote nothing
    store.append(_artifact_entry("b"))  # and the store's own key still writes
    assert store.verify().ok


def test_verify_reports_progress_over_every_entry(store: Any) -> None:
    from forebear.store.verify import PROGRESS_EVERY

    count = PROGRESS_EVERY + 100
    store.append_batch([_artifact_entry(str(i)) for i in range(count)])
    calls: list[int] = []
    report = store.verify(progress=calls.append)
    assert report.ok and report.entries == count
    assert calls == [PROGRESS_EVERY, 100]  # in steps, adding up to the whole journal


def test_metric_histories_hold_non_finite_values_and_refuse_malformed_ones(store: Any) -> None:
    run = make_run(metrics={"loss": "NaN"})
    run["metric_steps"] = [["loss", 1, 0.5], ["loss", 2, "NaN"], ["grad", None, "-Infinity"]]
    store.append(run)
    rows = store.execute("SELECT key, step, value FROM metric ORDER BY seq, key, step")
    assert sorted(rows, key=repr) == sorted(
        [("loss", 1, 0.5), ("loss", 2, None), ("grad", None, None)], key=repr)
    for bad in (5, [["loss", 1]], [["loss", 1, "low"]], [["loss", "1", 0.5]], [["", 1, 0.5]]):
        with pytest.raises(InvalidInputError, match="metric"):
            store.append({**make_run(), "metric_steps": bad})
    assert store.size() == 1  # nothing of the refused entries was written
    assert store.verify().ok


@pytest.mark.parametrize(("field", "value"), [
    ("actor", {"name": "x"}), ("reason", ["x"]), ("error", 3), ("traceback", "a\x00b"),
    ("namespace", True), ("parent_run_id", [1]), ("started_at", {"t": 1}),
    ("started_at", "not-a-time"), ("time", "yesterday at noon"), ("time", "2026-01-01"),
    ("exit_code", "1"), ("exit_code", True), ("exit_code", 1.5), ("exit_code", 2**40),
    ("exit_code", -(2**31) - 1),
    ("environment", {"digest": 5}), ("code", {"digest": "sha256:zz"}),
    ("code", {"digest": "sha256:" + "a" * 64, "name": ["x"]}),
])
def test_execution_fields_of_the_wrong_type_are_refused_on_every_backend(
    store: Any, field: str, value: Any
) -> None:
    # Each of these once reached the projection: SQLite raised a driver error, PostgreSQL
    # stored some and refused others, and the two stores disagreed.
    run = make_run()
    run[field] = value
    with pytest.raises(InvalidInputError, match=field):
        store.append(run)
    assert store.size() == 0


def test_an_exit_code_of_32_unsigned_bits_is_kept_on_every_backend(store: Any) -> None:
    # Windows reports an access violation as 0xC0000005: past PostgreSQL's INTEGER, where
    # it once was journaled and then stopped the server's projection for good.
    run = {**make_run(), "exit_code": 0xC0000005}
    store.append(run)
    assert store.execute("SELECT exit_code FROM execution") == [(0xC0000005,)]
    assert store.verify().ok


_T = "2026-01-01T00:00:00.000000Z"
_WRONG = ({"a": 1}, [1], 3.5, True, 12, "x\x00y", None, "")


def _malformed_entries() -> list[dict[str, Any]]:
    """Every field of an example of each entry type, set in turn to each wrong value."""
    import copy

    target = ref("target", kind="model")["id"]
    examples = [
        {"type": "artifact", "time": _T,
         "artifact": {**ref("b"), "meta": {"x": 1}, "uri": "file:///x"}},
        {"type": "alias.set", "time": _T, "name": "prod", "target": target, "actor": "me",
         "reason": "r"},
        {"type": "flag", "time": _T, "target": target, "reason": "r", "actor": "me",
         "target_type": "artifact"},
        {**make_run(outputs=[{**ref("c"), "meta": {"k": 1}, "uri": "s3://b/k"}],
                    metrics={"m": 1.0}),
         "metric_steps": [["m", 1, 1.0]], "exit_code": 0, "error": "e",
         "code": {"digest": ref("code")["id"], "commit": "c" * 40, "name": "repo@c"}},
    ]

    def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Any:
        items = value.items() if isinstance(value, dict) else (
            enumerate(value) if isinstance(value, list) else ())
        for key, inner in items:
            yield (*prefix, key)
            yield from paths(inner, (*prefix, key))

    out = []
    for example in examples:
        for path in paths(example):
            for wrong in _WRONG:
                entry = copy.deepcopy(example)
                holder = entry
                for step in path[:-1]:
                    holder = holder[step]
                holder[path[-1]] = wrong
                out.append(entry)
    return out


def test_what_validation_accepts_every_backend_stores_and_nothing_else(store: Any) -> None:
    # A field of the wrong type (or a NUL in any string) once got past validation to the
    # projection, where SQLite raised driver errors and PostgreSQL stored some values and
    # refused others. Now an entry is refused by validation alone (its shape, then its
    # canonical bytes), with the same answer on every backend.
    from forebear._canonical import canonical_bytes
    from forebear.model.entries import refuse_nul, validate_entry

    store.append({"type": "artifact", "time": _T, "artifact": ref("target", kind="model")})
    accepted = 0
    for entry in _malformed_entries():
        try:
            validate_entry(entry)
            refuse_nul(canonical_bytes(entry))
        except InvalidInputError:
            size = store.size()
            with pytest.raises(InvalidInputError):
                store.append(entry)
            assert store.size() == size
            continue
        store.append(entry)  # anything but InvalidInputError here fails the test
        accepted += 1
    assert 0 < accepted < len(_malformed_entries())
    assert store.verify().ok
