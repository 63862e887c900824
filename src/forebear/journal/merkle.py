"""Merkle log maths of RFC 6962 / RFC 9162, pure and free of I/O.

Leaves hash as ``SHA-256(0x00 || data)`` and interior nodes as ``SHA-256(0x01 || left || right)``,
so no leaf can pass for a node; the empty tree's root is ``SHA-256("")``. The last node is never
duplicated: ``MTH(D[0:n])`` splits at the largest power of two below ``n``.

Storage keeps the hash of every *perfect aligned subtree* as a node ``(level, index)`` covering
leaves ``[index * 2**level, (index + 1) * 2**level)``. Such a node never changes once complete, so
the nodes written while the log was small serve any later tree size. Every range an RFC 6962
proof or root needs is tiled by O(log n) of these nodes (:func:`range_nodes`), and its hash is
their right-to-left fold (:func:`fold_range`). Builders therefore plan a proof as ranges, fetch
all nodes in one round trip and fold; :class:`Frontier` keeps the right edge of the growing tree
so appends never read storage. The verifiers follow RFC 9162 sections 2.1.3.2 and 2.1.4.2 and
share no code with the builders. ``naive_*`` are slow reference implementations for tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

from forebear.errors import IntegrityError, InvalidInputError, ProofError

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

NodeId = tuple[int, int]
"""A stored node ``(level, index)``: the perfect subtree of ``2**level`` leaves at ``index``."""

Fetch = Callable[[Sequence[NodeId]], Mapping[NodeId, bytes]]
"""Reads the hashes of many stored nodes in one round trip."""

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """Hash one log entry as a leaf: ``SHA-256(0x00 || data)``."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two child hashes into their parent: ``SHA-256(0x01 || left || right)``."""
    return _sha256(b"\x01" + left + right).digest()


# -- planning: which ranges a proof needs, and which stored nodes tile them ----------------------


def range_nodes(begin: int, end: int) -> list[NodeId]:
    """The perfect aligned subtrees that exactly tile leaves ``[begin, end)``, left to right.

    Greedy: each step takes the largest subtree that is aligned at ``begin`` and fits.
    """
    if not 0 <= begin <= end:
        raise InvalidInputError(f"invalid leaf range [{begin}, {end})")
    nodes: list[NodeId] = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)
        nodes.append((level, begin >> level))
        begin += 1 << level
    return nodes


def fold_range(hashes: Sequence[bytes]) -> bytes:
    """The hash of a range from the hashes of its tiling nodes, folded right to left.

    For the ranges proofs use (an aligned block, cut short by the tree's right edge) the
    tiling shrinks left to right, so this is exactly RFC 6962's MTH. No hashes: the empty root.
    """
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def root_nodes(size: int) -> list[NodeId]:
    """The stored nodes whose fold is the root of the tree of ``size`` leaves."""
    return range_nodes(0, size)


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (for ``n >= 2``): RFC 6962's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_path(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form the audit path of leaf ``index``, leaf to root."""
    if not 0 <= index < size:
        raise InvalidInputError(f"leaf index {index} is outside a tree of size {size}")
    path: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            path.append((mid, hi))
            hi = mid
        else:
            path.append((lo, mid))
            lo = mid
    path.reverse()  # found root-down, proofs list them leaf-up
    return path


def consistency_path(old: int, new: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form the consistency proof from ``old`` to ``new``.

    RFC 6962 SUBPROOF unrolled; empty when ``old`` is 0 or equals ``new``.
    """
    if not 0 <= old <= new:
        raise InvalidInputError(f"no consistency proof from size {old} to size {new}")
    if old in (0, new):
        return []
    path: list[tuple[int, int]] = []
    lo, hi, whole = 0, new, True
    while old != hi:
        mid = lo + _split(hi - lo)
        if old <= mid:
            path.append((mid, hi))
            hi = mid
        else:
            path.append((lo, mid))
            lo, whole = mid, False
    if not whole:  # the old tree's last subtree; a verifier already holds the old root itself
        path.append((lo, hi))
    path.reverse()
    return path


def nodes_for_ranges(ranges: Iterable[tuple[int, int]]) -> list[NodeId]:
    """Every stored node needed to hash ``ranges``, deduplicated and sorted."""
    return sorted({node for begin, end in ranges for node in range_nodes(begin, end)})


def build_proof(ranges: Sequence[tuple[int, int]], fetch: Fetch) -> list[bytes]:
    """Hash each range from stored nodes, calling ``fetch`` once for all of them."""
    got = _fetch_all(nodes_for_ranges(ranges), fetch)
    return [fold_range([got[n] for n in range_nodes(b, e)]) for b, e in ranges]


def root_from(size: int, fetch: Fetch) -> bytes:
    """The root of the tree of ``size`` leaves, from O(log size) stored nodes."""
    nodes = root_nodes(size)
    got = _fetch_all(nodes, fetch)
    return fold_range([got[n] for n in nodes])


def _fetch_all(nodes: Sequence[NodeId], fetch: Fetch) -> Mapping[NodeId, bytes]:
    if not nodes:
        return {}
    got = fetch(nodes)
    missing = [n for n in nodes if len(got.get(n, b"")) != HASH_SIZE]
    if missing:
        raise IntegrityError(f"Merkle nodes missing or malformed in storage: {missing[:3]}")
    return got


# -- the growing tree --------------------------------------------------------------------------


class Frontier:
    """The right edge of a growing tree (the compact range ``[0, size)``).

    Holds the hashes of the perfect subtrees of ``size``'s binary decomposition, largest
    first. Appending a leaf returns every node that became complete, so a batch of appends
    is persisted without re-reading storage.
    """

    __slots__ = ("_nodes", "_size")

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        """Resume at ``size`` from the hashes of ``root_nodes(size)``, left to right."""
        if size < 0 or len(nodes) != size.bit_count():
            raise InvalidInputError(
                f"a frontier of size {size} needs {max(size, 0).bit_count()} node hashes, "
                f"got {len(nodes)}"
            )
        if any(len(h) != HASH_SIZE for h in nodes):
            raise InvalidInputError("frontier node hashes must be 32 bytes")
        self._size = size
        self._nodes = list(nodes)

    @classmethod
    def load(cls, size: int, fetch: Fetch) -> Frontier:
        """Resume from storage with one ``fetch`` of O(log size) nodes."""
        nodes = root_nodes(size)
        got = _fetch_all(nodes, fetch)
        return cls(size, [got[n] for n in nodes])

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf by its hash, ``leaf_hash(entry)``; return every node it completed.

        Items are ``(level, index, hash)``: the leaf itself at level 0, then one per level.
        """
        # Hot path (100k appends/s): one length check, no helper calls.
        if len(leaf) != HASH_SIZE:
            raise InvalidInputError(f"a leaf hash is 32 bytes, got {len(leaf)}")
        index = self._size
        self._size = index + 1
        done = [(0, index, leaf)]
        nodes = self._nodes
        # Each trailing 1 bit of the old size is a pending subtree the new leaf now completes.
        level, h = 0, leaf
        while index & 1:
            h = _sha256(b"\x01" + nodes.pop() + h).digest()
            index >>= 1
            level += 1
            done.append((level, index, h))
        nodes.append(h)
        return done

    def copy(self) -> Frontier:
        """An independent frontier at the same point (so a failed batch can be dropped)."""
        twin = Frontier.__new__(Frontier)
        twin._size = self._size
        twin._nodes = list(self._nodes)
        return twin

    def root(self) -> bytes:
        """The root of the tree appended so far."""
        return fold_range(self._nodes)

    def __repr__(self) -> str:
        return f"Frontier(size={self._size})"


# -- verification (RFC 9162 2.1.3.2 and 2.1.4.2, independent of the builders) ------------------


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def _check_proof(proof: Sequence[bytes]) -> None:
    for i, p in enumerate(proof):
        if len(p) != HASH_SIZE:
            raise ProofError(f"proof element {i} is {len(p)} bytes, not {HASH_SIZE}")


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf`` (a ``leaf_hash``) is leaf ``index`` of the tree of ``size``.

    ``root`` is that tree's root. Raises :class:`ProofError` naming what failed.
    """
    if index < 0 or size < 0:
        raise ProofError(f"leaf index and tree size must be >= 0, got {index} and {size}")
    if index >= size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hash("leaf hash", leaf)
    _check_hash("root", root)
    _check_proof(proof)
    fn, sn, r = index, size - 1, leaf
    for i, p in enumerate(proof):
        if sn == 0:
            raise ProofError(
                f"inclusion proof is too long: {len(proof)} hashes, "
                f"leaf {index} of a tree of size {size} needs {i}"
            )
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:  # skip levels where this subtree has no right sibling
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(
            f"inclusion proof is too short: {len(proof)} hashes "
            f"for leaf {index} of a tree of size {size}"
        )
    if r != root:
        raise ProofError(
            f"inclusion proof of leaf {index} does not lead to the root of size {size}"
        )


def verify_consistency(
    old: int, new: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Check that the tree of ``new`` leaves with ``new_root`` extends the ``old`` one.

    Raises :class:`ProofError` naming what failed. Stricter than RFC 9162 in one place: the
    old root of an empty tree must be ``EMPTY_ROOT``, since that is what size 0 means.
    """
    if old < 0 or new < 0:
        raise ProofError(f"tree sizes must be >= 0, got {old} and {new}")
    if old > new:
        raise ProofError(f"old size {old} is larger than new size {new}")
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    _check_proof(proof)
    if old == 0 or old == new:
        if proof:
            raise ProofError(
                f"consistency proof from size {old} to {new} must be empty, got {len(proof)} hashes"
            )
        if old == 0 and old_root != EMPTY_ROOT:
            raise ProofError("old root of an empty tree is not SHA-256 of the empty string")
        if old == new and old_root != new_root:
            raise ProofError(f"two trees of size {old} have different roots")
        return
    if not proof:
        raise ProofError(f"consistency proof from size {old} to {new} is empty")
    # A power-of-two old tree is one subtree of the new tree, so the proof omits its hash.
    seeded = old & (old - 1) == 0
    path = [old_root, *proof] if seeded else list(proof)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for i in range(1, len(path)):
        c = path[i]
        if sn == 0:
            raise ProofError(
                f"consistency proof is too long: {len(proof)} hashes, "
                f"size {old} to {new} needs {i - seeded}"
            )
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(
            f"consistency proof is too short: {len(proof)} hashes for size {old} to {new}"
        )
    if fr != old_root:
        raise ProofError(f"consistency proof does not lead to the old root of size {old}")
    if sr != new_root:
        raise ProofError(f"consistency proof does not lead to the new root of size {new}")


# -- naive references: RFC 6962 section 2.1 recursions, for tests only -------------------------


def naive_root(leaves: Sequence[bytes]) -> bytes:
    """Reference MTH of leaf *data*, by the RFC 6962 recursion. O(n); for tests."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hash(leaves[0])
    k = _split(n)
    return node_hash(naive_root(leaves[:k]), naive_root(leaves[k:]))


def naive_inclusion(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Reference audit path ``PATH(index, D[n])`` of RFC 6962 2.1.1, leaf to root; for tests."""
    n = len(leaves)
    if not 0 <= index < n:
        raise InvalidInputError(f"leaf index {index} is outside a tree of size {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*naive_inclusion(index, leaves[:k]), naive_root(leaves[k:])]
    return [*naive_inclusion(index - k, leaves[k:]), naive_root(leaves[:k])]


def naive_consistency(old: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Reference ``PROOF(old, D[n])`` of RFC 6962 2.1.2 (SUBPROOF recursion); for tests.

    Empty when ``old`` is 0 or ``len(leaves)``.
    """
    if not 0 <= old <= len(leaves):
        raise InvalidInputError(f"no consistency proof from size {old} to size {len(leaves)}")
    if old == 0:
        return []
    return _naive_subproof(old, leaves, True)


def _naive_subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [naive_root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_naive_subproof(m, leaves[:k], whole), naive_root(leaves[k:])]
    return [*_naive_subproof(m - k, leaves[k:], False), naive_root(leaves[:k])]


__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Fetch",
    "Frontier",
    "NodeId",
    "build_proof",
    "consistency_path",
    "fold_range",
    "inclusion_path",
    "leaf_hash",
    "naive_consistency",
    "naive_inclusion",
    "naive_root",
    "node_hash",
    "nodes_for_ranges",
    "range_nodes",
    "root_from",
    "root_nodes",
    "verify_consistency",
    "verify_inclusion",
]
