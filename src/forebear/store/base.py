"""The metadata store protocol that every backend (SQLite, PostgreSQL, HTTP) implements.

A store is the journal plus its projections. Writes are journal entries (plain dicts, see
``forebear.model.entries``); each append is durable when it returns and its projections
are written in the same transaction. Queries read the projections.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalRecord:
    """One stored journal entry: its leaf index, canonical bytes and leaf hash."""

    seq: int
    canonical: bytes
    leaf_hash: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "canonical": self.canonical.decode("utf-8", errors="replace"),
            "leaf_hash": "sha256:" + self.leaf_hash.hex(),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredCheckpoint:
    """A signed checkpoint kept beside the journal."""

    size: int
    root: bytes
    note: str
    created_at: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One thing ``verify`` found wrong; ``seq`` names the journal entry where known."""

    seq: int | None
    what: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "what": self.what}


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyReport:
    """The outcome of ``verify``: ok when no problem was found."""

    entries: int
    root: bytes
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "root": "sha256:" + self.root.hex(),
            "problems": [p.to_json() for p in self.problems],
        }


@runtime_checkable
class MetadataStore(Protocol):
    """What every metadata store backend provides."""

    url: str

    def append(self, entry: Mapping[str, Any]) -> int:
        """Append one entry durably; return its sequence number."""
        ...

    def append_batch(self, entries: Sequence[Mapping[str, Any]]) -> range:
        """Append entries atomically and durably; return their sequence numbers."""
        ...

    def size(self) -> int:
        """The number of journal entries."""
        ...

    def root(self, size: int | None = None) -> bytes:
        """The Merkle root of the first ``size`` entries (default: all)."""
        ...

    def records(self, start: int = 0, end: int | None = None) -> Iterator[JournalRecord]:
        """Journal records in sequence order."""
        ...

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The RFC 9162 inclusion proof of entry ``index`` in the tree of ``size``."""
        ...

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        """The RFC 9162 consistency proof between tree sizes ``old`` and ``new``."""
        ...

    def checkpoint(self) -> StoredCheckpoint:
        """Sign the current size and root, store the checkpoint and return it."""
        ...

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every stored checkpoint, oldest first."""
        ...

    def head(self) -> StoredCheckpoint | None:
        """The signed head refreshed at the latest commit, if any."""
        ...

    def verify(self, progress: Callable[[int], None] | None = None) -> VerifyReport:
        """Recompute the log, check checkpoints, rebuild projections and compare.

        ``progress``, when given, is called with the number of entries checked since its
        last call, every few thousand entries (a remote store checks on the server and
        does not call it).
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...
