"""Proving that one online update is part of the lineage.

The chain has two links, each an RFC 9162 inclusion proof:

1. the update's canonical JSON line is leaf ``index`` of the aggregate's update tree,
   whose root the aggregate entry carries in ``params.merkle_root`` (the update list is
   read from the blob store, verified against ``params.updates_digest``);
2. the aggregate entry is leaf ``seq`` of the journal, whose root is the signed head's
   (or the current root, when the store has no signed head).

``prove_update`` builds both, verifies both, and returns them as one JSON-ready record
that anyone holding the update line, the entry and the signed checkpoint can re-check
with ``forebear.journal.merkle.verify_inclusion`` alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from forebear.errors import ForebearError, InvalidInputError, NotFoundError, ProofError
from forebear.hashing import Digest
from forebear.journal import merkle
from forebear.sdk.online import KIND

__all__ = ["UpdateProof", "check_proof_json", "find_aggregate", "prove_update",
           "update_tree_proof"]


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateProof:
    """An update, its proof in the aggregate's root, and the aggregate's in the journal."""

    run_id: str
    index: int
    update: dict[str, Any]
    update_line: bytes
    update_proof: list[bytes]
    update_count: int
    update_root: bytes
    seq: int
    entry: bytes
    journal_proof: list[bytes]
    journal_size: int
    journal_root: bytes
    checkpoint: str | None

    def to_json(self) -> dict[str, Any]:
        def hx(value: bytes) -> str:
            return "sha256:" + value.hex()

        return {
            "run_id": self.run_id,
            "index": self.index,
            "update_index": self.update.get("i"),
            "update": self.update,
            "update_line": self.update_line.decode(),
            "update_proof": {
                "leaf_hash": hx(merkle.leaf_hash(self.update_line)),
                "index": self.index,
                "size": self.update_count,
                "root": hx(self.update_root),
                "path": [hx(h) for h in self.update_proof],
            },
            "journal_proof": {
                "leaf_hash": hx(merkle.leaf_hash(self.entry)),
                "seq": self.seq,
                "size": self.journal_size,
                "root": hx(self.journal_root),
                "path": [hx(h) for h in self.journal_proof],
            },
            "entry": self.entry.decode(),
            "checkpoint": self.checkpoint,
            "verified": True,
        }


def update_tree_proof(lines: list[bytes], index: int) -> tuple[list[bytes], bytes]:
    """The inclusion proof of line ``index`` in the tree of ``lines``, and its root."""
    frontier = merkle.Frontier()
    nodes: dict[merkle.NodeId, bytes] = {}
    for line in lines:
        for level, idx, value in frontier.append(merkle.leaf_hash(line)):
            nodes[(level, idx)] = value
    ranges = merkle.inclusion_path(index, len(lines))
    proof = merkle.build_proof(ranges, lambda ids: {i: nodes[i] for i in ids if i in nodes})
    return proof, frontier.root()


def _rows(store: Any, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    placeholder = getattr(store, "placeholder", "?")
    if placeholder != "?":
        sql = sql.replace("?", placeholder)
    rows: list[tuple[Any, ...]] = store.execute(sql, params)
    return rows


def find_aggregate(store: Any, run_id: str, update: int) -> tuple[str, int]:
    """The aggregate of ``run_id``'s stream that holds stream update ``update``, and the
    update's index within it."""
    rows = _rows(store, "SELECT params FROM execution WHERE run_id = ? AND kind = ?",
                 (run_id, KIND))
    if not rows:
        raise NotFoundError(f"run {run_id} is not an online aggregate",
                            hint="give the run id of an online_update execution")
    stream = json.loads(rows[0][0]).get("stream")
    for other, params_text in _rows(
        store, "SELECT run_id, params FROM execution WHERE kind = ? AND name = "
        "(SELECT name FROM execution WHERE run_id = ?)", (KIND, run_id),
    ):
        params = json.loads(params_text)
        if params.get("stream") != stream:
            continue
        first, count = int(params["first_index"]), int(params["count"])
        if first <= update < first + count:
            return str(other), update - first
    raise NotFoundError(f"update {update} is in no aggregate of stream {stream}",
                        hint="updates still pending in a live stream are not recorded yet")


def prove_update(store: Any, blobs: Any, run_id: str, index: int) -> UpdateProof:
    """Build and verify the proof of update ``index`` of aggregate ``run_id`` (module doc).

    Raises ProofError if either link does not verify, IntegrityError if the update list
    does not match its digest.
    """
    rows = _rows(store, "SELECT params, start_seq FROM execution WHERE run_id = ? AND kind = ?",
                 (run_id, KIND))
    if not rows:
        raise NotFoundError(f"run {run_id} is not an online aggregate",
                            hint="give the run id of an online_update execution")
    seq = int(rows[0][1])
    # Everything the proof rests on is read from the journal entry, not the projection.
    entry_bytes = next(iter(store.records(seq, seq + 1))).canonical
    entry = json.loads(entry_bytes)
    if entry.get("run_id") != run_id:
        raise ProofError(f"journal entry {seq} is not the entry of run {run_id}")
    params = entry.get("params") or {}
    count = int(params["count"])
    if not 0 <= index < count:
        raise InvalidInputError(f"aggregate {run_id} holds updates 0..{count - 1}, not {index}",
                                hint=f"give an index below {count}")
    root = Digest.parse(params["merkle_root"]).raw
    blob = blobs.get_bytes(Digest.parse(params["updates_digest"]))
    lines = blob.split(b"\n")[:-1]
    if len(lines) != count:
        raise ProofError(f"the update list holds {len(lines)} updates, the entry says {count}")
    path, rebuilt = update_tree_proof(lines, index)
    if rebuilt != root:
        raise ProofError("the update list does not hash to the aggregate's Merkle root")
    size, note = _anchor(store)
    if seq >= size:
        size, note = store.size(), None
    proof = UpdateProof(
        run_id=run_id, index=index, update=json.loads(lines[index]), update_line=lines[index],
        update_proof=path, update_count=count, update_root=root, seq=seq, entry=entry_bytes,
        journal_proof=store.inclusion_proof(seq, size), journal_size=size,
        journal_root=store.root(size), checkpoint=note,
    )
    _check_links(proof)
    return proof


def _check_links(proof: UpdateProof) -> None:
    """Both links of ``proof``, recomputed from its update line and its entry."""
    merkle.verify_inclusion(merkle.leaf_hash(proof.update_line), proof.index,
                            proof.update_count, proof.update_proof, proof.update_root)
    merkle.verify_inclusion(merkle.leaf_hash(proof.entry), proof.seq, proof.journal_size,
                            proof.journal_proof, proof.journal_root)


def _anchor(store: Any) -> tuple[int, str | None]:
    """The signed head's size and note, checked against the store's key; else the size."""
    head = getattr(store, "head", None)
    found = head() if head is not None else None
    if found is None:
        return store.size(), None
    from forebear.journal.checkpoint import open_checkpoint

    checkpoint = open_checkpoint(found.note, store.verifiers())
    if checkpoint.size != found.size or checkpoint.root != store.root(found.size):
        raise ProofError("the signed head does not match the journal",
                         hint="run `forebear verify` to find the damage")
    return found.size, found.note


def _raw(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or not text.startswith("sha256:"):
        raise ProofError(f"the proof's {what} is not a sha256:<hex> hash")
    try:
        raw = bytes.fromhex(text[7:])
    except ValueError:
        raise ProofError(f"the proof's {what} is not a sha256:<hex> hash") from None
    if len(raw) != 32:
        raise ProofError(f"the proof's {what} is not a sha256:<hex> hash")
    return raw


def check_proof_json(payload: Any, verifiers: list[Any]) -> UpdateProof:
    """Re-check an ``UpdateProof.to_json()`` made elsewhere (a server), trusting none of it.

    Both links are recomputed from the update line and the entry themselves; the entry
    must be the aggregate's and carry the update tree's root; a checkpoint, when given,
    must be signed by one of ``verifiers`` for exactly the journal root used. Raises
    ProofError naming the first thing that does not hold.
    """
    try:
        update_line = str(payload["update_line"]).encode()
        entry = str(payload["entry"]).encode()
        up, jp = payload["update_proof"], payload["journal_proof"]
        index, count = int(up["index"]), int(up["size"])
        seq, size = int(jp["seq"]), int(jp["size"])
        update_path = [_raw(h, "update path") for h in up["path"]]
        journal_path = [_raw(h, "journal path") for h in jp["path"]]
        run_id = str(payload["run_id"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProofError(f"the proof is not a forebear update proof ({exc!r} missing or "
                         "malformed)") from None
    update_root, journal_root = _raw(up["root"], "update root"), _raw(jp["root"], "root")
    parsed = json.loads(entry)
    params = parsed.get("params") or {}
    if parsed.get("run_id") != run_id or parsed.get("kind") != KIND:
        raise ProofError(f"the entry is not the aggregate {run_id}'s")
    if Digest.parse(params.get("merkle_root", "")).raw != update_root \
            or int(params.get("count", -1)) != count:
        raise ProofError("the entry does not carry the update tree's root and size")
    note = payload.get("checkpoint") or None
    proof = UpdateProof(
        run_id=run_id, index=index, update=json.loads(update_line), update_line=update_line,
        update_proof=update_path, update_count=count, update_root=update_root, seq=seq,
        entry=entry, journal_proof=journal_path, journal_size=size,
        journal_root=journal_root, checkpoint=note,
    )
    _check_links(proof)
    if note:
        from forebear.journal.checkpoint import open_checkpoint

        try:
            checkpoint = open_checkpoint(note, verifiers)
        except ForebearError as exc:  # unsigned, malformed, or signed by another key
            raise ProofError(f"the checkpoint does not verify: {exc}") from None
        if checkpoint.size != size or checkpoint.root != journal_root:
            raise ProofError("the signed checkpoint is not the root the entry was proved in")
    return proof
