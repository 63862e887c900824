"""Known answers, edge cases and proof mutations for forebear.journal.merkle.

Vectors are facts from RFC 6962 and transparency-dev/merkle (``rfc6962/rfc6962_test.go``,
``testonly/constants.go``, ``proof/verify_test.go``, ``proof/proof_test.go``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import pytest

from forebear.errors import IntegrityError, InvalidInputError, ProofError
from forebear.journal.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    Frontier,
    NodeId,
    build_proof,
    consistency_path,
    fold_range,
    inclusion_path,
    leaf_hash,
    naive_consistency,
    naive_inclusion,
    naive_root,
    node_hash,
    nodes_for_ranges,
    range_nodes,
    root_from,
    root_nodes,
    verify_consistency,
    verify_inclusion,
)

h = bytes.fromhex

LEAVES = [
    h(x)
    for x in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    h(x)
    for x in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
# Every complete node of the 8-leaf tree, by (level, index).
NODES: dict[NodeId, bytes] = {
    (0, 0): h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    (0, 1): h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
    (0, 2): h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
    (0, 3): h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
    (0, 4): h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
    (0, 5): h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
    (0, 6): h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
    (0, 7): h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    (1, 0): h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    (1, 1): h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
    (1, 2): h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
    (1, 3): h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    (2, 0): h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    (2, 1): h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    (3, 0): h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
}
# (leaf index, tree size, audit path); the source lists leaf indexes 1-based.
INCLUSION_VECTORS = [
    (0, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
    (5, 8, ["bc1a0643", "ca854ea1", "d37ee418"]),
    (2, 3, ["fac54203"]),
    (1, 5, ["6e340b9c", "5f083f0a", "bc1a0643"]),
    (0, 1, []),
]
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (1, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
    (6, 8, ["0ebc5d34", "ca854ea1", "d37ee418"]),
    (2, 5, ["5f083f0a", "bc1a0643"]),
    (6, 7, ["0ebc5d34", "b08693ec", "d37ee418"]),
]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def by_prefix(prefixes: list[str]) -> list[bytes]:
    """Expand the 4-byte prefixes used above into the full node hashes they name."""
    out = []
    for p in prefixes:
        (match,) = {v for v in NODES.values() if v.hex().startswith(p)}
        out.append(match)
    return out


def dict_fetch(store: Mapping[NodeId, bytes]) -> Callable[[Sequence[NodeId]], dict[NodeId, bytes]]:
    def fetch(ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
        return {i: store[i] for i in ids}

    return fetch


def grow(leaves: Sequence[bytes]) -> tuple[Frontier, dict[NodeId, bytes]]:
    frontier, store = Frontier(), {}
    for data in leaves:
        for level, index, value in frontier.append(leaf_hash(data)):
            store[level, index] = value
    return frontier, store


# -- hashing and known answers -----------------------------------------------------------------


def test_hashing_constants() -> None:
    assert HASH_SIZE == 32
    assert ROOTS[0] == EMPTY_ROOT
    assert leaf_hash(b"") == NODES[0, 0]
    assert node_hash(NODES[0, 0], NODES[0, 1]) == NODES[1, 0]


def test_leaf_and_node_are_domain_separated() -> None:
    left, right = NODES[0, 0], NODES[0, 1]
    forged = b"\x01" + left + right  # 65 bytes that spell the node's preimage
    assert len(forged) == 65
    assert leaf_hash(forged) != node_hash(left, right)
    # The two-leaf root therefore cannot be proven as the single leaf of a one-leaf tree.
    with pytest.raises(ProofError):
        verify_inclusion(leaf_hash(forged), 0, 1, [], ROOTS[2])


@pytest.mark.parametrize("size", range(9), ids=lambda s: f"size{s}")
def test_known_roots(size: int) -> None:
    frontier, store = grow(LEAVES[:size])
    assert naive_root(LEAVES[:size]) == ROOTS[size]
    assert frontier.root() == ROOTS[size]
    assert frontier.size == size
    # Past sizes come from the nodes of the full tree: complete nodes never change.
    _, full = grow(LEAVES)
    assert root_from(size, dict_fetch(full)) == ROOTS[size]
    assert root_from(size, dict_fetch(store)) == ROOTS[size]


def test_frontier_emits_every_known_node() -> None:
    _, store = grow(LEAVES)
    assert store == NODES


def test_frontier_append_reports_completed_nodes() -> None:
    frontier, _ = grow(LEAVES[:7])
    done = frontier.append(leaf_hash(LEAVES[7]))
    assert done == [(0, 7, NODES[0, 7]), (1, 3, NODES[1, 3]), (2, 1, NODES[2, 1]), (3, 0, ROOTS[8])]
    assert grow(LEAVES[:4])[0].append(leaf_hash(b"x"))[1:] == []


def test_frontier_load_resumes() -> None:
    _, full = grow(LEAVES)
    frontier = Frontier.load(5, dict_fetch(full))
    assert frontier.size == 5
    assert frontier.root() == ROOTS[5]
    for data in LEAVES[5:]:
        frontier.append(leaf_hash(data))
    assert frontier.root() == ROOTS[8]
    assert Frontier.load(0, dict_fetch({})).root() == EMPTY_ROOT


@pytest.mark.parametrize(
    ("size", "nodes"),
    [(-1, []), (0, [SOME_HASH]), (3, [SOME_HASH]), (4, [SOME_HASH[:31]])],
    ids=["negative", "extra", "missing", "short-hash"],
)
def test_frontier_rejects_bad_state(size: int, nodes: list[bytes]) -> None:
    with pytest.raises(InvalidInputError):
        Frontier(size, nodes)


@pytest.mark.parametrize("length", [0, 31, 33])
def test_frontier_rejects_bad_leaf(length: int) -> None:
    frontier = Frontier()
    with pytest.raises(InvalidInputError):
        frontier.append(b"\x00" * length)
    assert frontier.size == 0


# -- planning ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("begin", "end", "nodes"),
    [
        (0, 0, []),
        (0, 1, [(0, 0)]),
        (0, 7, [(2, 0), (1, 2), (0, 6)]),
        (0, 8, [(3, 0)]),
        (3, 13, [(0, 3), (2, 1), (2, 2), (0, 12)]),
        (4, 7, [(1, 2), (0, 6)]),
        (5, 6, [(0, 5)]),
    ],
)
def test_range_nodes(begin: int, end: int, nodes: list[NodeId]) -> None:
    assert range_nodes(begin, end) == nodes


@pytest.mark.parametrize(("begin", "end"), [(-1, 2), (5, 4)])
def test_range_nodes_rejects_bad_ranges(begin: int, end: int) -> None:
    with pytest.raises(InvalidInputError):
        range_nodes(begin, end)


def test_fold_range() -> None:
    assert fold_range([]) == EMPTY_ROOT
    assert fold_range([NODES[0, 6]]) == NODES[0, 6]
    assert fold_range([NODES[2, 0], NODES[1, 2], NODES[0, 6]]) == ROOTS[7]
    assert root_nodes(7) == [(2, 0), (1, 2), (0, 6)]


@pytest.mark.parametrize(
    ("index", "size", "nodes"),
    [
        (0, 1, []),
        (1, 3, [(0, 0), (0, 2)]),
        (0, 7, [(0, 1), (1, 1), (0, 6), (1, 2)]),
        (2, 7, [(0, 3), (1, 0), (0, 6), (1, 2)]),
        (4, 7, [(0, 5), (0, 6), (2, 0)]),
        (6, 7, [(1, 2), (2, 0)]),
        (3, 5, [(0, 2), (1, 0), (0, 4)]),
        (10, 15, [(0, 11), (1, 4), (0, 14), (1, 6), (3, 0)]),
        (24, 31, [(0, 25), (1, 13), (0, 30), (1, 14), (3, 2), (4, 0)]),
        (81, 95, [(0, 80), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)]),
    ],
)
def test_inclusion_nodes(index: int, size: int, nodes: list[NodeId]) -> None:
    """The stored nodes an inclusion proof reads (transparency-dev proof_test.go)."""
    assert nodes_for_ranges(inclusion_path(index, size)) == sorted(nodes)


@pytest.mark.parametrize(
    ("old", "new", "nodes"),
    [
        (1, 1, []),
        (1, 2, [(0, 1)]),
        (1, 6, [(0, 1), (1, 1), (1, 2)]),
        (2, 8, [(1, 1), (2, 1)]),
        (3, 7, [(0, 2), (0, 3), (1, 0), (0, 6), (1, 2)]),
        (4, 7, [(0, 6), (1, 2)]),
        (5, 7, [(0, 4), (0, 5), (0, 6), (2, 0)]),
        (6, 7, [(1, 2), (0, 6), (2, 0)]),
        (7, 8, [(0, 6), (0, 7), (1, 2), (2, 0)]),
        (10, 15, [(1, 4), (1, 5), (0, 14), (1, 6), (3, 0)]),
        (24, 31, [(3, 2), (0, 30), (1, 14), (2, 6), (4, 0)]),
        (81, 95, [(0, 80), (0, 81), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)]),
    ],
)
def test_consistency_nodes(old: int, new: int, nodes: list[NodeId]) -> None:
    """The stored nodes a consistency proof reads (transparency-dev proof_test.go)."""
    assert nodes_for_ranges(consistency_path(old, new)) == sorted(nodes)


@pytest.mark.parametrize(
    "call",
    [
        lambda: inclusion_path(0, 0),
        lambda: inclusion_path(3, 3),
        lambda: inclusion_path(-1, 3),
        lambda: consistency_path(5, 4),
        lambda: consistency_path(-1, 4),
        lambda: naive_inclusion(8, LEAVES),
        lambda: naive_consistency(9, LEAVES),
    ],
)
def test_builders_reject_bad_arguments(call: Callable[[], object]) -> None:
    with pytest.raises(InvalidInputError):
        call()


# -- known proofs ------------------------------------------------------------------------------


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_VECTORS)
def test_inclusion_vectors(index: int, size: int, path: list[str]) -> None:
    proof = by_prefix(path)
    assert build_proof(inclusion_path(index, size), dict_fetch(NODES)) == proof
    assert naive_inclusion(index, LEAVES[:size]) == proof
    verify_inclusion(leaf_hash(LEAVES[index]), index, size, proof, ROOTS[size])


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY_VECTORS)
def test_consistency_vectors(old: int, new: int, path: list[str]) -> None:
    proof = by_prefix(path)
    assert build_proof(consistency_path(old, new), dict_fetch(NODES)) == proof
    assert naive_consistency(old, LEAVES[:new]) == proof
    verify_consistency(old, new, proof, ROOTS[old], ROOTS[new])


def test_build_proof_fetches_once() -> None:
    calls: list[Sequence[NodeId]] = []

    def fetch(ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
        calls.append(ids)
        return {i: NODES[i] for i in ids}

    build_proof(consistency_path(3, 7), fetch)
    assert len(calls) == 1
    assert list(calls[0]) == nodes_for_ranges(consistency_path(3, 7))
    assert build_proof([], fetch) == []
    assert len(calls) == 1  # nothing to read, no round trip


def test_missing_node_is_an_integrity_error() -> None:
    partial = {k: v for k, v in NODES.items() if k != (1, 2)}
    with pytest.raises(IntegrityError):
        root_from(7, lambda ids: {i: partial[i] for i in ids if i in partial})
    with pytest.raises(IntegrityError):
        build_proof(inclusion_path(0, 7), lambda ids: {})


# -- verifier edge cases -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "proof", "old_root", "new_root"),
    [
        (0, 0, [], EMPTY_ROOT, EMPTY_ROOT),
        (0, 1, [], EMPTY_ROOT, ROOTS[1]),
        (0, 8, [], EMPTY_ROOT, ROOTS[8]),
        (1, 1, [], ROOTS[1], ROOTS[1]),
        (5, 5, [], ROOTS[5], ROOTS[5]),
    ],
)
def test_trivial_consistency_passes(
    old: int, new: int, proof: list[bytes], old_root: bytes, new_root: bytes
) -> None:
    verify_consistency(old, new, proof, old_root, new_root)


@pytest.mark.parametrize(
    ("old", "new", "proof", "old_root", "new_root", "match"),
    [
        (0, 0, [], EMPTY_ROOT, ROOTS[1], "different roots"),
        (0, 0, [], ROOTS[1], ROOTS[1], "empty tree"),
        (0, 0, [EMPTY_ROOT], EMPTY_ROOT, EMPTY_ROOT, "must be empty"),
        (0, 1, [EMPTY_ROOT], EMPTY_ROOT, ROOTS[1], "must be empty"),
        (0, 8, [], ROOTS[3], ROOTS[8], "empty tree"),
        (1, 1, [], ROOTS[1], ROOTS[2], "different roots"),
        (1, 1, [EMPTY_ROOT], ROOTS[1], ROOTS[1], "must be empty"),
        (5, 5, [ROOTS[5]], ROOTS[5], ROOTS[5], "must be empty"),
        (1, 0, [], ROOTS[1], EMPTY_ROOT, "larger"),
        (2, 1, [], ROOTS[2], ROOTS[1], "larger"),
        (2, 1, [NODES[0, 1]], ROOTS[2], ROOTS[1], "larger"),
        (1, 2, [], ROOTS[1], ROOTS[2], "is empty"),
        (-1, 2, [], ROOTS[1], ROOTS[2], ">= 0"),
        (1, -2, [], ROOTS[1], ROOTS[2], ">= 0"),
        (1, 2, [NODES[0, 1]], ROOTS[1][:31], ROOTS[2], "old root is 31 bytes"),
        (1, 2, [NODES[0, 1]], ROOTS[1], ROOTS[2] + b"\x00", "new root is 33 bytes"),
        (1, 2, [NODES[0, 1] + b"\x00"], ROOTS[1], ROOTS[2], "element 0 is 33 bytes"),
        (1, 2, [NODES[0, 1], b""], ROOTS[1], ROOTS[2], "element 1 is 0 bytes"),
        (1, 2, [NODES[0, 1], NODES[0, 2]], ROOTS[1], ROOTS[2], "too long"),
        (1, 4, [NODES[0, 1]], ROOTS[1], ROOTS[4], "too short"),
        (1, 2, [NODES[0, 2]], ROOTS[1], ROOTS[2], "new root"),
        (3, 4, [NODES[0, 2], NODES[0, 3], NODES[1, 0]], ROOTS[2], ROOTS[4], "old root"),
    ],
)
def test_bad_consistency_fails(
    old: int, new: int, proof: list[bytes], old_root: bytes, new_root: bytes, match: str
) -> None:
    with pytest.raises(ProofError, match=match) as info:
        verify_consistency(old, new, proof, old_root, new_root)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("leaf", "index", "size", "proof", "root", "match"),
    [
        (SOME_HASH, 0, 0, [], EMPTY_ROOT, "outside"),
        (SOME_HASH, 1, 1, [], SOME_HASH, "outside"),
        (SOME_HASH, 2, 1, [], SOME_HASH, "outside"),
        (SOME_HASH, -1, 1, [], SOME_HASH, ">= 0"),
        (SOME_HASH, 0, -1, [], SOME_HASH, ">= 0"),
        (b"", 0, 1, [], b"", "leaf hash is 0 bytes"),
        (SOME_HASH, 0, 1, [], b"", "root is 0 bytes"),
        (SOME_HASH[:31], 0, 1, [], SOME_HASH[:31], "leaf hash is 31 bytes"),
        (NODES[0, 0], 0, 2, [NODES[0, 1][:31]], ROOTS[2], "element 0 is 31 bytes"),
        (NODES[0, 0], 0, 2, [NODES[0, 1] + b"\x00"], ROOTS[2], "element 0 is 33 bytes"),
        (NODES[0, 0], 0, 2, [NODES[0, 1]], ROOTS[2][:31], "root is 31 bytes"),
        (NODES[0, 0], 0, 2, [NODES[0, 1], ROOTS[2]], ROOTS[2], "too long"),
        (NODES[0, 0], 0, 8, [NODES[0, 1]], ROOTS[8], "too short"),
        (NODES[0, 0], 0, 2, [NODES[0, 2]], ROOTS[2], "does not lead to the root"),
    ],
)
def test_bad_inclusion_fails(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes, match: str
) -> None:
    with pytest.raises(ProofError, match=match) as info:
        verify_inclusion(leaf, index, size, proof, root)
    assert "\n" not in str(info.value)


def test_single_leaf_inclusion() -> None:
    leaf = leaf_hash(b"data")
    verify_inclusion(leaf, 0, 1, [], leaf)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, 0, 1, [], SOME_HASH)


# -- mutations ---------------------------------------------------------------------------------
#
# An inclusion proof binds the root, and the tree size only through the proof's shape (its
# length and the side each sibling sits on). Two (index, size) pairs with the same shape hash
# the proof identically, so a proof for one genuinely verifies as the other (the proof for
# leaf 0 of 5 also verifies leaf 0 of a 6-leaf tree whose last two leaves hash to leaf 4).
# Checkpoints sign size and root together; mutated parameters are therefore expected to fail
# exactly when they change the shape, and to pass otherwise. Byte mutations always fail.

_, STORE = grow([i.to_bytes(4, "big") for i in range(2100)])
FETCH = dict_fetch(STORE)


def inclusion_shape(index: int, size: int) -> tuple[bool, ...] | None:
    if not 0 <= index < size:
        return None
    return tuple(end <= index for _, end in inclusion_path(index, size))


def consistency_shape(old: int, new: int) -> tuple[bool, ...] | None:
    if not 0 < old < new:
        return None
    seeded = old & (old - 1) == 0
    return (seeded, *(end <= old for _, end in consistency_path(old, new)))


def flipped(proof: list[bytes], i: int, bit: int) -> list[bytes]:
    out = list(proof)
    element = bytearray(out[i])
    element[bit // 8 % HASH_SIZE] ^= 1 << (bit % 8)
    out[i] = bytes(element)
    return out


def resized(proof: list[bytes], i: int, length: int) -> list[bytes]:
    out = list(proof)
    out[i] = (out[i] * 2)[:length]
    return out


def byte_mutations(proof: list[bytes], roots: Sequence[bytes]) -> Iterator[tuple[str, list[bytes]]]:
    for i in range(len(proof)):
        yield f"flip[{i}]", flipped(proof, i, 8 * i + 3)
        for length in (0, 31, 33):
            yield f"len{length}[{i}]", resized(proof, i, length)
    if proof:
        yield "truncated", proof[:-1]
        yield "dropped-first", proof[1:]
        yield "inserted", [proof[0], SOME_HASH, *proof[1:]]
        yield "repeated-first", [proof[0], *proof]
    for j, extra in enumerate((*roots, SOME_HASH, b"")):
        yield f"appended{j}", [*proof, extra]
        yield f"prepended{j}", [extra, *proof]


INCLUSION_CASES = [(i, n) for n in range(1, 41) for i in range(n)] + [
    (i, n) for n in (1023, 1024, 1025, 2047, 2100) for i in (0, 1, 511, 512, n // 2, n - 2, n - 1)
]
CONSISTENCY_CASES = [(m, n) for n in range(2, 41) for m in range(1, n)] + [
    (m, n) for n in (1024, 1025, 2100) for m in (1, 2, 3, 511, 512, 513, 1000, 1023, 1024) if m < n
]


InclusionArgs = tuple[bytes, int, int, list[bytes], bytes]
ConsistencyArgs = tuple[int, int, list[bytes], bytes, bytes]


def test_inclusion_mutations_are_rejected() -> None:
    checked = 0
    for index, size in INCLUSION_CASES:
        root = root_from(size, FETCH)
        leaf = STORE[0, index]
        proof = build_proof(inclusion_path(index, size), FETCH)
        verify_inclusion(leaf, index, size, proof, root)
        bad: list[tuple[str, InclusionArgs]] = [
            (name, (leaf, index, size, p, root)) for name, p in byte_mutations(proof, [root, leaf])
        ]
        bad += [
            ("wrong leaf", (leaf_hash(b"wrong"), index, size, proof, root)),
            ("node as leaf", (node_hash(leaf, leaf), index, size, proof, root)),
            ("empty root", (leaf, index, size, proof, EMPTY_ROOT)),
            ("other root", (leaf, index, size, proof, SOME_HASH)),
        ]
        if leaf != root:
            bad.append(("leaf as root", (leaf, index, size, proof, leaf)))
        original = inclusion_shape(index, size)
        for name, (i, n) in [
            ("index+1", (index + 1, size)),
            ("index-1", (index - 1, size)),
            ("index^1", (index ^ 1, size)),
            ("index^2", (index ^ 2, size)),
            ("size*2", (index, size * 2)),
            ("size/2", (index, size // 2)),
            ("size+1", (index, size + 1)),
            ("size-1", (index, size - 1)),
        ]:
            if inclusion_shape(i, n) == original:
                verify_inclusion(leaf, i, n, proof, root)  # the same statement, see above
            else:
                bad.append((name, (leaf, i, n, proof, root)))
        assert len(bad) >= 10
        for name, args in bad:
            with pytest.raises(ProofError):
                verify_inclusion(*args)
                pytest.fail(f"{name} accepted for leaf {index} of {size}")
            checked += 1
    assert checked > 20_000


def test_consistency_mutations_are_rejected() -> None:
    checked = 0
    for old, new in CONSISTENCY_CASES:
        r1, r2 = root_from(old, FETCH), root_from(new, FETCH)
        proof = build_proof(consistency_path(old, new), FETCH)
        verify_consistency(old, new, proof, r1, r2)
        bad: list[tuple[str, ConsistencyArgs]] = [
            (name, (old, new, p, r1, r2)) for name, p in byte_mutations(proof, [r1, r2])
        ]
        bad += [
            ("empty proof", (old, new, [], r1, r2)),
            ("swapped roots", (old, new, proof, r2, r1)),
            ("empty old root", (old, new, proof, EMPTY_ROOT, r2)),
            ("empty new root", (old, new, proof, r1, EMPTY_ROOT)),
            ("other old root", (old, new, proof, SOME_HASH, r2)),
            ("other new root", (old, new, proof, r1, SOME_HASH)),
            ("proof for (old, old)", (old, old, proof, r1, r1)),
            ("proof for (new, new)", (new, new, proof, r2, r2)),
            ("old > new", (new, old, proof, r2, r1)),
            ("old > new, empty proof", (new, old, [], r2, r1)),
        ]
        original = consistency_shape(old, new)
        for name, (m, n) in [
            ("old+1", (old + 1, new)),
            ("old-1", (old - 1, new)),
            ("old^1", (old ^ 1, new)),
            ("old^2", (old ^ 2, new)),
            ("new*2", (old, new * 2)),
            ("new/2", (old, new // 2)),
            ("new+1", (old, new + 1)),
            ("new-1", (old, new - 1)),
        ]:
            if consistency_shape(m, n) == original:
                verify_consistency(m, n, proof, r1, r2)  # the same statement, see above
            else:
                bad.append((name, (m, n, proof, r1, r2)))
        for name, args in bad:
            with pytest.raises(ProofError):
                verify_consistency(*args)
                pytest.fail(f"{name} accepted for {old} -> {new}")
            checked += 1
    assert checked > 20_000


def test_shape_ambiguity_is_real() -> None:
    """The documented ambiguity: leaf 0 of 5 and of 6 share a shape, leaf 0 of 7 does not."""
    leaves = LEAVES[:5]
    proof = naive_inclusion(0, leaves)
    verify_inclusion(leaf_hash(leaves[0]), 0, 6, proof, ROOTS[5])
    with pytest.raises(ProofError):
        verify_inclusion(leaf_hash(leaves[0]), 0, 9, proof, ROOTS[5])
