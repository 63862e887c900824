"""Human edits signed with the person's own key.

The journal already proves that an entry was not changed after it was written, and the
store's key signs the journal; neither proves that *the person named as actor* made the
edit. A person who holds an Ed25519 note key (``forebear.journal.checkpoint.SigningKey``,
named after them, e.g. ``dana@example.com``) can sign the edit's statement::

    {"type": "forebear/human-edit/v1", "actor", "reason", "before", "after", "time"}

(canonical JSON, RFC 8785). The entry then carries ``signature: {"key", "sig"}``: the
verifier key text and the base64 signature. ``check_entry`` re-derives the statement
from the entry and checks the signature and that the key is named after the actor;
``check_store`` runs it over every signed human edit in a journal.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from forebear._canonical import canonical_bytes
from forebear.errors import CheckpointError, InvalidInputError
from forebear.journal.keys import SigningKey, Verifier

__all__ = ["STATEMENT_TYPE", "check_entry", "check_store", "sign_entry", "statement"]

STATEMENT_TYPE: Final = "forebear/human-edit/v1"
_PROGRESS_EVERY = 4096


def statement(entry: Mapping[str, Any]) -> bytes:
    """The bytes a person signs for a ``human_edit`` execution entry."""
    before = [ref["id"] for ref in entry.get("inputs") or () if ref.get("role") == "before"]
    after = [ref["id"] for ref in entry.get("outputs") or () if ref.get("role") == "after"]
    return canonical_bytes({
        "type": STATEMENT_TYPE,
        "actor": entry.get("actor"),
        "reason": entry.get("reason"),
        "before": before,
        "after": after,
        "time": entry.get("time"),
    })


def sign_entry(entry: dict[str, Any], key: SigningKey) -> None:
    """Add the person's signature to a ``human_edit`` entry (in place)."""
    if key.name != entry.get("actor"):
        raise InvalidInputError(
            f"the signing key is {key.name!r}, but the actor is {entry.get('actor')!r}",
            hint="sign with the key named after the person who made the edit",
        )
    entry["signature"] = {
        "key": key.verifier().encode(),
        "sig": base64.b64encode(key.sign(statement(entry))).decode(),
    }


def check_entry(entry: Mapping[str, Any]) -> str | None:
    """None if the entry's signature holds (or it has none); else what is wrong."""
    signed = entry.get("signature")
    if signed is None:
        return None
    if not isinstance(signed, dict):
        return "the human edit's signature is not an object"
    try:
        verifier = Verifier.parse(str(signed.get("key")))
        sig = base64.b64decode(str(signed.get("sig")), validate=True)
    except (CheckpointError, ValueError):
        return "the human edit's signature or key does not parse"
    if verifier.name != entry.get("actor"):
        return f"the human edit is signed by {verifier.name!r}, not by its actor"
    if not verifier.verify(statement(entry), sig):
        return f"the human edit's signature by {verifier.name!r} does not verify"
    return None


def check_store(
    records: Iterable[Any], progress: Callable[[int], None] | None = None
) -> list[dict[str, Any]]:
    """Problems (``{"seq", "what"}``) of every signed human edit in journal ``records``.

    ``progress`` is called with the number of records read since its last call.
    """
    problems = []
    read = 0
    for record in records:
        read += 1
        if progress is not None and read == _PROGRESS_EVERY:
            progress(read)
            read = 0
        if b'"signature"' not in record.canonical:
            continue
        entry = json.loads(record.canonical)
        if entry.get("kind") != "human_edit":
            continue
        what = check_entry(entry)
        if what is not None:
            problems.append({"seq": record.seq, "what": what})
    if progress is not None and read:
        progress(read)
    return problems
