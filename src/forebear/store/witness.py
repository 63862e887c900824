"""Checking a store against a checkpoint kept outside it (``forebear verify --checkpoint``).

``verify`` alone trusts the store's own records of what it signed: whoever can write the
database and read the signing key beside it can rewrite history, re-sign a new head and
drop the old checkpoints, and the store will agree with itself. A checkpoint copied
elsewhere at the time (with the verifier key that signs it) is what catches that, as
transparency-log witnesses do: the store's current head must be signed by the same key,
and a consistency proof must show that its log extends the kept one, unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from forebear.errors import CheckpointError, ProofError, UsageError
from forebear.journal import merkle
from forebear.journal.checkpoint import Checkpoint, open_checkpoint
from forebear.journal.keys import Verifier
from forebear.store.base import Problem, StoredCheckpoint

__all__ = ["KeptCheckpoint", "check_kept", "read_kept"]


@dataclass(frozen=True, slots=True)
class KeptCheckpoint:
    """A signed checkpoint someone kept, and the verifier key they trust it by."""

    name: str
    """Where it came from (a file name), for the messages."""
    note: str
    verifier: Verifier


def read_kept(name: str, text: str, key: str | None) -> KeptCheckpoint:
    """A kept checkpoint from ``forebear checkpoint --json`` output or its bare note text;
    ``key`` (a verifier, ``<name>+<key id>+<key>``) is needed for a bare note and wins
    over the one saved in the JSON."""
    note, saved = text, None
    if text.lstrip().startswith("{"):
        try:
            body = json.loads(text)
            note, saved = str(body["note"]), body.get("key")
        except (ValueError, KeyError, TypeError):
            raise UsageError(f"{name} is not what `forebear checkpoint --json` prints",
                             hint="give its JSON output, or the checkpoint's note text "
                             "with --key") from None
    chosen = key or saved
    if not chosen:
        raise UsageError(f"no verifier key for the checkpoint in {name}",
                         hint="pass --key with the key `forebear checkpoint` printed with it")
    return KeptCheckpoint(name=name, note=note, verifier=Verifier.parse(str(chosen).strip()))


def check_kept(
    kept: KeptCheckpoint,
    head: StoredCheckpoint | None,
    consistency_proof: Callable[[int, int], Sequence[bytes]],
) -> list[Problem]:
    """Whether the store whose signed ``head`` this is extends ``kept`` unchanged."""
    label = f"the checkpoint kept in {kept.name}"
    try:
        old = open_checkpoint(kept.note, [kept.verifier])
    except CheckpointError as exc:
        return [Problem(seq=None, what=f"{label} does not verify with its key: {exc.message}")]
    if head is None:
        return [Problem(seq=None, what=f"the store has no signed head to compare with {label}")]
    try:
        new = open_checkpoint(head.note, [kept.verifier], origin=old.origin)
    except CheckpointError as exc:
        return [Problem(seq=None, what=f"the store's signed head is not signed by the key of "
                        f"{label} ({exc.message}): its key was replaced, or the head forged")]
    return _consistent(label, old, new, consistency_proof)


def _consistent(label: str, old: Checkpoint, new: Checkpoint,
                consistency_proof: Callable[[int, int], Sequence[bytes]]) -> list[Problem]:
    if old.size > new.size:
        return [Problem(seq=new.size, what=f"the log ({new.size} entries) is shorter than "
                        f"{label} ({old.size}): entries were removed")]
    try:
        proof = consistency_proof(old.size, new.size)
        merkle.verify_consistency(old.size, new.size, proof, old.root, new.root)
    except ProofError as exc:
        return [Problem(seq=old.size - 1 if old.size else None,
                        what=f"the log is not consistent with {label} (size {old.size}): "
                        f"history up to that entry was rewritten since ({exc.message})")]
    return []
