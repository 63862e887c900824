"""Proofs and roots served by a real store agree with the naive RFC 9162 definitions."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forebear.journal import merkle
from forebear.store.registry import init_store, open_store


def _entry(i: int) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(str(i).encode()).hexdigest()
    return {
        "type": "artifact",
        "time": "2026-01-01T00:00:00.000000Z",
        "artifact": {
            "id": digest,
            "digest": digest,
            "kind": "data",
            "name": str(i),
            "uri": None,
            "size": None,
            "role": "",
        },
    }


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    size=st.integers(1, 2000),
    batches=st.lists(st.integers(1, 700), min_size=1, max_size=6),
    data=st.data(),
)
def test_store_proofs_match_the_naive_tree(
    tmp_path_factory: object, size: int, batches: list[int], data: st.DataObject
) -> None:
    base = Path(tmp_path_factory.mktemp("proofs"))  # type: ignore[attr-defined]
    store = open_store(str(init_store(base)))
    try:
        written = 0
        cuts = iter(batches)
        while written < size:
            step = min(next(cuts, 1000), size - written)
            store.append_batch([_entry(written + i) for i in range(step)])
            written += step
        leaves = [r.canonical for r in store.records()]
        assert len(leaves) == size
        root = store.root()
        assert root == merkle.naive_root(leaves)
        index = data.draw(st.integers(0, size - 1), label="index")
        at = data.draw(st.integers(index + 1, size), label="tree size")
        proof = store.inclusion_proof(index, at)
        assert proof == merkle.naive_inclusion(index, leaves[:at])
        merkle.verify_inclusion(merkle.leaf_hash(leaves[index]), index, at, proof, store.root(at))
        old = data.draw(st.integers(0, size), label="old size")
        proof = store.consistency_proof(old, size)
        assert proof == merkle.naive_consistency(old, leaves)
        merkle.verify_consistency(old, size, proof, store.root(old), root)
    finally:
        store.close()
