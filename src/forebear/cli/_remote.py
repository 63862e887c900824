"""The query commands against a server (``--store http://...``): the same JSON, over HTTP.

A remote store has no SQL to run, so each query command asks the server's endpoint of
the same name. REFs are sent as data; a REF that is a file here is hashed here first and
sent as its digest, since the server never looks at paths.
"""

from __future__ import annotations

from typing import Any

__all__ = ["is_remote", "lineage", "paths", "ref_text"]


def is_remote(db: Any) -> bool:
    """Whether ``db`` is a store behind a server."""
    return bool(getattr(db, "remote", False))


def ref_text(ref: str) -> str:
    """``ref`` as the server should see it: a local file becomes its digest (as
    ``forebear.graph.refs`` hashes one: never a project folder, errors named)."""
    from pathlib import Path

    from forebear.graph.refs import is_path, path_digest

    path = Path(ref)
    if not is_path(path):
        return ref
    return path_digest(path, ref) or ref


def lineage(db: Any, direction: str, ref: str, *, depth: int | None, kinds: list[str] | None,
            limit: int | None, offset: int) -> Any:
    """The server's ``upstream``/``downstream`` answer as a ``forebear.graph`` ``Lineage``."""
    found = db.query(direction, ref=ref_text(ref), depth=depth, kind=list(kinds or []) or None,
                     limit=limit, offset=offset or None)
    return _as_lineage(found, "upstream" if direction == "upstream" else "downstream")


def paths(db: Any, ref_from: str, ref_to: str) -> Any:
    """The server's ``path`` answer as a ``forebear.graph`` ``Lineage``."""
    return _as_lineage(db.query("path", **{"from": ref_text(ref_from), "to": ref_text(ref_to)}),
                       "upstream")


def _as_lineage(found: dict[str, Any], direction: str) -> Any:
    from forebear.graph.lineage import Lineage

    page = found.get("page") or {}
    return Lineage(
        root=found["root"],
        direction="upstream" if direction == "upstream" else "downstream",
        nodes=found["nodes"],
        # The server's edges are DESIGN.md's objects; Lineage holds (source, target, role).
        edges=[(e["source"], e["target"], e["role"]) for e in found["edges"]],
        total=int(page.get("total", len(found["nodes"]))),
        offset=int(page.get("offset", 0)),
        limit=page.get("limit"),
        source=found.get("from"),
    )
