"""``Artifact``: what ``run.use`` and ``run.produce`` return."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Artifact:
    """An immutable thing a run used or produced, identified by its content digest."""

    digest: str | None
    kind: str
    name: str | None = None
    uri: str | None = None
    size: int | None = None
    role: str = ""

    @property
    def id(self) -> str:
        """The artifact's id in the lineage graph (its digest, when it has one)."""
        return self.digest or f"dataset:default:{self.name}"

    def to_ref(self, *, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """The artifact ref of a journal entry."""
        ref: dict[str, Any] = {
            "id": self.id,
            "digest": self.digest,
            "kind": self.kind,
            "name": self.name,
            "uri": self.uri,
            "size": self.size,
            "role": self.role,
        }
        if meta:
            ref["meta"] = meta
        return ref
