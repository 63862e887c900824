"""From a REF to an artifact ref, recording a file that was never recorded.

The lifecycle commands (``alias set``, ``deploy``, ``human-edit``) name what they act on
by REF (DESIGN.md): a path, an alias, a digest or its prefix. A path is hashed first; if
the store has never seen that digest the file is recorded rather than refused, since the
command is itself the first record of it. Everything else goes through the query layer's
``forebear.graph.refs.resolve``, so a REF means the same thing here as in ``show``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forebear.errors import InvalidInputError, NotFoundError
from forebear.hashing import is_digest_text
from forebear.model.entries import artifact_ref
from forebear.sdk._names import display_name
from forebear.sdk.session import Session

__all__ = ["Target", "hash_file_ref", "resolve_artifact"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """An artifact a REF named, and whether the store already knew it."""

    ref: dict[str, Any]
    """The artifact ref for a journal entry (``role`` set by the caller)."""
    known: bool
    """False when it is a file that the store has never recorded."""
    path: str | None = None
    """The file it was hashed from, when the REF was a path."""

    @property
    def digest(self) -> str | None:
        """The artifact's content digest (None for one known only by name)."""
        value = self.ref.get("digest")
        return None if value is None else str(value)

    @property
    def id(self) -> str:
        """The artifact's id in the lineage graph."""
        return str(self.ref["id"])


def query(store: Any, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    execute = getattr(store, "execute", None)
    if execute is None:
        return []  # a store without SQL reads (HTTP): nothing is known locally
    placeholder = getattr(store, "placeholder", "?")
    if placeholder != "?":
        sql = sql.replace("?", placeholder)
    rows: list[tuple[Any, ...]] = execute(sql, params)
    return rows


def _known(store: Any, key: str) -> dict[str, Any] | None:
    rows = query(
        store,
        "SELECT a.digest, a.kind, a.name, a.size FROM artifact a JOIN node n ON n.id = a.node "
        "WHERE n.key = ?",
        (key,),
    )
    if not rows:
        return None
    digest, kind, name, size = rows[0]
    return {"digest": digest, "kind": kind, "name": name, "size": size}


def hash_file_ref(session: Session, path: str, *, kind: str, name: str | None = None) -> Target:
    """The artifact of the file or directory at ``path``, known to the store or not."""
    full = os.path.realpath(path)
    cache = session.hash_cache
    if cache is not None:
        digest = str(cache.digest(full))
    else:
        from forebear.hashing import hash_path

        digest = str(hash_path(full))
    size = os.path.getsize(full) if os.path.isfile(full) else None
    found = _known(session.store, digest)
    if found is not None:
        ref = artifact_ref(digest=digest, kind=found["kind"], name=found["name"] or name,
                           uri=full, size=found["size"] if found["size"] is not None else size)
        return Target(ref=ref, known=True, path=full)
    ref = artifact_ref(digest=digest, kind=kind, name=name or display_name(full), uri=full,
                       size=size)
    return Target(ref=ref, known=False, path=full)


def _resolved_by_server(store: Any, text: str, *, kind: str, what: str) -> Target:
    ask = getattr(store, "query", None)
    # The server's own error names what is wrong (nothing matches; candidates of an
    # ambiguous prefix), so it is not caught.
    shown = ask("show", ref=text) if ask is not None else None
    if not isinstance(shown, dict):
        raise NotFoundError(f"{text!r} is not a file, a digest or an alias",
                            hint="give a path that exists, a digest or an alias name")
    node = shown.get("node") or {}
    return _known_target(what, text, str(shown.get("id")), str(shown.get("type")),
                         {**node, "kind": node.get("kind") or kind})


def resolve_artifact(
    session: Session, ref: str | os.PathLike[str], *, kind: str, what: str = "REF"
) -> Target:
    """The artifact ``ref`` names: an existing path (recorded or not), or a REF the store knows.

    A REF that names a run, or nothing, is an error naming the fix.
    """
    text = os.fspath(ref)
    if not text.strip():
        raise InvalidInputError(f"the {what} is empty", hint="give a path, alias or digest")
    if os.path.exists(text):
        from forebear.graph.refs import holds_projects, not_hashed

        if holds_projects(Path(text)):  # as show refuses it: hashing would read it all
            raise InvalidInputError(f"{not_hashed(text)} as one artifact",
                                    hint="name the file or folder in it that you mean")
        return hash_file_ref(session, text, kind=kind)
    store = session.store
    if getattr(store, "execute", None) is None:
        # No SQL reads (a server): a full digest as it is, any other REF (a digest prefix,
        # an alias, a run id) as the server's `show` resolves it.
        if is_digest_text(text):
            return Target(ref=artifact_ref(digest=text, kind=kind), known=True)
        return _resolved_by_server(store, text, kind=kind, what=what)
    from forebear.graph.refs import resolve

    cache = session.hash_cache

    def cached(path: Path) -> str:
        return str(cache.digest(path))

    found = resolve(store, text, hasher=cached if cache is not None else None)
    row = (_known(store, found.key) or {}) if found.type == "artifact" else {}
    return _known_target(what, text, found.key, found.type,
                         {**row, "kind": row.get("kind") or kind})


def _known_target(what: str, text: str, key: str, node_type: str,
                  recorded: Mapping[str, Any]) -> Target:
    """The artifact a REF resolved to, from what the store recorded of it (``digest``,
    ``kind``, ``name``, ``size``); a run is an error naming what to give instead."""
    if node_type != "artifact":
        raise InvalidInputError(
            f"{what} {text!r} names run {key}, not an artifact",
            hint=f"give the model or dataset it produced (see `forebear show {key}`)")
    digest = recorded.get("digest")
    if not isinstance(digest, str):  # a dataset known by name: dataset:<namespace>:<name>
        namespace, _, name = key.removeprefix("dataset:").partition(":")
        made = artifact_ref(digest=None, kind=recorded["kind"], name=name,
                            namespace=namespace)
    else:
        made = artifact_ref(digest=digest, kind=recorded["kind"], name=recorded.get("name"),
                            size=recorded.get("size"))
    return Target(ref=made, known=True)
