"""Invariants of forebear.journal.merkle, checked against the naive RFC 6962 recursions."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from forebear.journal.merkle import (
    Frontier,
    NodeId,
    build_proof,
    consistency_path,
    inclusion_path,
    leaf_hash,
    naive_consistency,
    naive_inclusion,
    naive_root,
    nodes_for_ranges,
    range_nodes,
    root_from,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 2000
# Powers of two and their neighbours are where off-by-one errors in tree splits live.
EDGES = sorted({max(0, 2**k + d) for k in range(11) for d in (-1, 0, 1)})
sizes = st.one_of(st.integers(0, MAX_SIZE), st.sampled_from(EDGES))
huge = st.integers(0, 2**62)


def make_leaves(size: int, salt: int) -> list[bytes]:
    return [salt.to_bytes(2, "big") + i.to_bytes(4, "big") for i in range(size)]


class Store:
    """A dict of every node Frontier.append produced, behind a counting fetch."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.frontier = Frontier()
        self.nodes: dict[NodeId, bytes] = {}
        self.fetches = 0
        for data in leaves:
            for level, index, value in self.frontier.append(leaf_hash(data)):
                assert (level, index) not in self.nodes  # each node completes exactly once
                self.nodes[level, index] = value

    def fetch(self, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
        self.fetches += 1
        return {i: self.nodes[i] for i in ids}


@settings(max_examples=200, deadline=None)
@given(size=sizes, salt=st.integers(0, 2**16 - 1), data=st.data())
def test_roots_and_proofs_match_naive(size: int, salt: int, data: st.DataObject) -> None:
    leaves = make_leaves(size, salt)
    store = Store(leaves)
    root = naive_root(leaves)
    assert store.frontier.size == size
    assert store.frontier.root() == root
    assert root_from(size, store.fetch) == root
    # The nodes stored for this size also serve every earlier size.
    old = data.draw(st.integers(0, size), label="old")
    old_root = naive_root(leaves[:old])
    assert root_from(old, store.fetch) == old_root

    if size:
        index = data.draw(st.integers(0, size - 1), label="index")
        before = store.fetches
        proof = build_proof(inclusion_path(index, size), store.fetch)
        assert store.fetches - before <= 1
        assert proof == naive_inclusion(index, leaves)
        verify_inclusion(leaf_hash(leaves[index]), index, size, proof, root)
    if old:
        index = data.draw(st.integers(0, old - 1), label="index in old")
        proof = build_proof(inclusion_path(index, old), store.fetch)
        assert proof == naive_inclusion(index, leaves[:old])
        verify_inclusion(leaf_hash(leaves[index]), index, old, proof, old_root)

    before = store.fetches
    proof = build_proof(consistency_path(old, size), store.fetch)
    assert store.fetches - before <= 1
    assert proof == naive_consistency(old, leaves)
    verify_consistency(old, size, proof, old_root, root)


@settings(max_examples=200, deadline=None)
@given(size=sizes, data=st.data())
def test_frontier_resumes_from_storage(size: int, data: st.DataObject) -> None:
    leaves = make_leaves(size, 7)
    whole = Store(leaves)
    cut = data.draw(st.integers(0, size), label="cut")
    resumed = Frontier.load(cut, whole.fetch)
    assert resumed.root() == naive_root(leaves[:cut])
    emitted: dict[NodeId, bytes] = {}
    for value in leaves[cut:]:
        for level, index, h in resumed.append(leaf_hash(value)):
            emitted[level, index] = h
    assert resumed.size == size
    assert resumed.root() == whole.frontier.root()
    # Resuming writes exactly the nodes completed after the cut, with the same hashes.
    assert emitted == {(lvl, i): h for (lvl, i), h in whole.nodes.items() if (i + 1) << lvl > cut}


@given(begin=huge, length=huge)
def test_range_nodes_tile_exactly(begin: int, length: int) -> None:
    end = begin + length
    nodes = range_nodes(begin, end)
    at = begin
    for level, index in nodes:
        assert index << level == at  # aligned and contiguous
        at += 1 << level
    assert at == end
    assert len(nodes) <= 2 * max(1, length.bit_length())


@given(size=st.integers(1, 2**62), data=st.data())
def test_proof_plans_read_few_complete_nodes(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1), label="index")
    old = data.draw(st.integers(0, size), label="old")
    bound = 2 * size.bit_length()
    for ranges in (inclusion_path(index, size), consistency_path(old, size)):
        nodes = nodes_for_ranges(ranges)
        assert len(nodes) <= bound
        # Only nodes complete at this size are asked for, so storage always has them.
        assert all((i + 1) << lvl <= size for lvl, i in nodes)
