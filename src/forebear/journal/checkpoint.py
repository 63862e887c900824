"""Checkpoints: signed statements of the journal's size and Merkle root (C2SP signed notes).

A checkpoint is a `tlog-checkpoint`_ body (origin, tree size, base64 root hash) signed as a
`signed note`_, the format of Go's checksum database and transparency-dev witnesses::

    forebear.local/0190...\\n                 origin
    1234\\n                                   tree size, decimal, no leading zeros
    <base64 of the 32-byte root>\\n
    \\n
    — <key name> <base64(4-byte key id || signature)>\\n   (one line per signer)

Signatures cover the body up to and including the root line's newline. Parsing is strict:
the text must be valid UTF-8 without control characters other than ``\\n``; signatures from
unknown keys are ignored, a known key's bad signature rejects the whole note, and at least
one known key must have signed.

Keys and verifiers, and the registry of signature types, are in
:mod:`forebear.journal.keys`.

.. _tlog-checkpoint: https://c2sp.org/tlog-checkpoint
.. _signed note: https://c2sp.org/signed-note
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from forebear.errors import CheckpointError
from forebear.journal.keys import SigningKey, Verifier, b64, b64decode, name_problem

if TYPE_CHECKING:
    pass

__all__ = [
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "Checkpoint",
    "SigningKey",
    "Verifier",
    "open_checkpoint",
    "open_note",
    "sign",
    "sign_note",
]

MAX_SIGNATURES = 16
"""Most signature lines a note may carry; C2SP requires accepting at least 16."""

MAX_NOTE_BYTES = 256 * 1024
"""Largest note accepted: 16 post-quantum signatures (~5 kB each) fit with room to spare."""

MAX_TREE_SIZE = 2**63 - 1
HASH_SIZE = 32
_EM_DASH = "\u2014"
_SIG_PREFIX = _EM_DASH + " "
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


# -- notes -------------------------------------------------------------------------------


def sign_note(text: str, keys: Sequence[SigningKey]) -> str:
    """Sign ``text`` (ending in a newline) with every key in ``keys``: the signed note."""
    if not text.endswith("\n") or text == "\n":
        raise CheckpointError("note text must be non-empty and end with a newline")
    _check_characters(text)
    if not keys:
        raise CheckpointError("a note needs at least one signing key")
    if len(keys) > MAX_SIGNATURES:
        raise CheckpointError(f"a note carries at most {MAX_SIGNATURES} signatures")
    if len({(k.name, k.key_id) for k in keys}) != len(keys):
        raise CheckpointError("the same signing key is given twice")
    try:
        msg = text.encode("utf-8")
    except UnicodeEncodeError:
        raise CheckpointError("note text is not valid UTF-8 (a lone surrogate)") from None
    lines = [f"{_SIG_PREFIX}{k.name} {b64(k.key_id + k.sign(msg))}\n" for k in keys]
    note = text + "\n" + "".join(lines)
    if len(note.encode("utf-8")) > MAX_NOTE_BYTES:  # never write what open_note refuses
        raise CheckpointError(f"signed note would be larger than {MAX_NOTE_BYTES} bytes")
    return note


def open_note(note: str | bytes, verifiers: Sequence[Verifier]) -> str:
    """Check a signed note's signatures against ``verifiers`` and return its text.

    Signatures by unknown keys are ignored; one bad signature by a known key, or no good
    one, raises :class:`~forebear.errors.CheckpointError`.
    """
    text, signatures = _split_note(note)
    _verify(text, signatures, verifiers)
    return text


def _verify(
    text: str, signatures: list[tuple[str, bytes, bytes]], verifiers: Sequence[Verifier]
) -> None:
    known: dict[tuple[str, bytes], set[Verifier]] = {}
    for v in verifiers:
        known.setdefault((v.name, v.key_id), set()).add(v)
    msg = text.encode("utf-8")
    verified = 0
    for name, key_id, sig in signatures:
        candidates = known.get((name, key_id))
        if not candidates:
            continue  # C2SP: an unknown key's signature must be ignored
        if len(candidates) > 1:
            raise CheckpointError(f"two different verifier keys are called {name}+{key_id.hex()}")
        (verifier,) = candidates
        if not verifier.verify(msg, sig):
            raise CheckpointError(f"signature by {name}+{key_id.hex()} does not verify")
        verified += 1
    if not verified:
        signers = ", ".join(sorted({f"{n}+{k.hex()}" for n, k, _ in signatures}))
        raise CheckpointError(
            f"note is not signed by any known key (signed by {signers})",
            hint="check it with the verifier key of the store that signed it",
        )


def _split_note(note: str | bytes) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """Parse a note's framing: its text and its (name, key ID, signature) triples."""
    if isinstance(note, (bytes, bytearray)):
        if len(note) > MAX_NOTE_BYTES:
            raise CheckpointError(f"note is larger than {MAX_NOTE_BYTES} bytes")
        try:
            note = bytes(note).decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError("note is not valid UTF-8") from None
    if len(note) > MAX_NOTE_BYTES:  # characters never outnumber UTF-8 bytes
        raise CheckpointError(f"note is larger than {MAX_NOTE_BYTES} bytes")
    try:
        size = len(note.encode("utf-8"))
    except UnicodeEncodeError:
        raise CheckpointError("note is not valid UTF-8 (a lone surrogate)") from None
    if size > MAX_NOTE_BYTES:
        raise CheckpointError(f"note is larger than {MAX_NOTE_BYTES} bytes")
    _check_characters(note)
    if not note.endswith("\n"):
        raise CheckpointError("note does not end with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointError("note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    lines = block.split("\n")[:-1]
    if not lines:
        raise CheckpointError("note has no signatures")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(f"note has {len(lines)} signatures; at most {MAX_SIGNATURES}")
    return text, [_parse_signature_line(line) for line in lines]


def _check_characters(text: str) -> None:
    if "\r" in text:
        raise CheckpointError("note has CRLF line endings; signed notes use \\n only")
    bad = _CONTROL.search(text)
    if bad is not None:
        raise CheckpointError(
            f"note contains control character U+{ord(bad.group()):04X} at offset {bad.start()}"
        )


def _parse_signature_line(line: str) -> tuple[str, bytes, bytes]:
    if not line.startswith(_SIG_PREFIX):
        if line[:1] in ("-", "\u2013", "\u2212"):
            raise CheckpointError(
                f"signature line starts with {line[0]!r}, not the em dash U+2014: {line[:40]!r}"
            )
        raise CheckpointError(f"not a signature line: {line[:40]!r}")
    name, sep, sig_b64 = line[len(_SIG_PREFIX) :].partition(" ")
    problem = name_problem(name)
    raw = b64decode(sig_b64) if sep else None
    if problem is not None or raw is None or len(raw) < 5:
        raise CheckpointError(f"malformed signature line: {line[:60]!r}")
    return name, raw[:4], raw[4:]


# -- checkpoints -------------------------------------------------------------------------

_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed head: ``size`` leaves whose RFC 6962 Merkle root is ``root``.

    ``extensions`` are the optional extra body lines of tlog-checkpoint; forebear writes
    none but keeps those it reads, as the signature covers them.
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin or "\n" in self.origin:
            raise CheckpointError("checkpoint origin must be one non-empty line")
        if type(self.size) is not int or not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError(f"tree size {self.size!r} is not in 0..2**63-1")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise CheckpointError(f"root hash must be {HASH_SIZE} bytes")
        for line in self.extensions:
            if not isinstance(line, str) or not line or "\n" in line:
                raise CheckpointError("checkpoint extension lines must be non-empty single lines")
        _check_characters(self.body())

    def body(self) -> str:
        """The signed note text: origin, size and base64 root, one per line."""
        extra = "".join(line + "\n" for line in self.extensions)
        return f"{self.origin}\n{self.size}\n{b64(self.root)}\n{extra}"


def sign(checkpoint: Checkpoint, keys: Sequence[SigningKey]) -> str:
    """The signed note of ``checkpoint``, one signature line per key."""
    return sign_note(checkpoint.body(), keys)


def open_checkpoint(
    note: str | bytes, verifiers: Sequence[Verifier], *, origin: str | None = None
) -> Checkpoint:
    """Parse a signed checkpoint strictly and check it is signed by a known key.

    With ``origin``, the checkpoint must come from that log. Every failure raises
    :class:`~forebear.errors.CheckpointError` with a one-line reason.
    """
    text, signatures = _split_note(note)
    checkpoint = _parse_body(text)  # every cheap check before any signature is verified
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(
            f"checkpoint is from {checkpoint.origin!r}, not the expected origin {origin!r}"
        )
    _verify(text, signatures, verifiers)
    return checkpoint


def _parse_body(text: str) -> Checkpoint:
    lines = text.split("\n")[:-1]
    if len(lines) < 3:
        raise CheckpointError("checkpoint needs origin, tree size and root hash lines")
    if any(not line for line in lines):
        raise CheckpointError("checkpoint has an empty line in its body")
    origin, size_text, root_text, *extensions = lines
    if not _SIZE.fullmatch(size_text):
        if size_text.startswith("-"):
            reason = "is negative"
        elif size_text.isascii() and size_text.isdigit():
            reason = "has leading zeros" if size_text[0] == "0" else "exceeds 2**63-1"
        else:
            reason = "is not a decimal number"
        raise CheckpointError(f"tree size {size_text[:30]!r} {reason}")
    size = int(size_text)
    if size > MAX_TREE_SIZE:
        raise CheckpointError(f"tree size {size_text} exceeds 2**63-1")
    root = b64decode(root_text)
    if root is None:
        raise CheckpointError(f"root hash {root_text[:60]!r} is not standard padded base64")
    if len(root) != HASH_SIZE:
        raise CheckpointError(f"root hash has {len(root)} bytes, not {HASH_SIZE}")
    return Checkpoint(origin=origin, size=size, root=root, extensions=tuple(extensions))
