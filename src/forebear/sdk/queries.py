"""Lineage queries from Python, the CLI's and the server's in one place.

``forebear.show``, ``upstream``, ``downstream``, ``path``, ``diff``, ``log``,
``flagged`` and ``metric_history`` answer what ``forebear <command> --json`` prints
(DESIGN.md's shapes), from the store the settings name: the embedded one found upward
from the working directory, PostgreSQL, or a server (``FOREBEAR_STORE=http://...``,
which answers the same questions over HTTP; ``metric_history`` not yet). A REF is what
the CLI takes: a file or folder path (hashed, through the store's hash cache, and looked
up), an alias, a digest or its 8+ hex prefix, a run id or its prefix. They write
nothing, and open the store without its signing key.

``Reader`` is the store opened once for several questions; the CLI uses it too.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

from forebear import config
from forebear.errors import ForebearError

__all__ = ["Reader", "diff", "downstream", "flagged", "log", "metric_history", "path", "show",
           "upstream"]


def resolve_ref(db: Any, found: config.Settings, ref: str, *, cache: bool = False) -> Any:
    """Resolve REF, a path through the store's hash cache: an unchanged multi-GB file or
    folder is not read again. ``cache`` lets work that writes add to the cache; queries
    only look in it (they write nothing, not even a cache entry)."""
    from forebear.graph.refs import resolve

    if found.store_dir is None or not found.store_dir.is_dir():
        return resolve(db, ref)
    from forebear.hashing import HashCache

    with HashCache(found.store_dir / config.HASH_CACHE_FILE, read_only=not cache) as hashes:
        return resolve(db, ref, hasher=lambda path: str(hashes.digest(path)))


def ref_text(ref: str) -> str:
    """``ref`` as a server should see it: a local file becomes its digest (hashed as
    ``forebear.graph.refs`` hashes one: never a project folder, errors named), since a
    server never looks at paths."""
    from forebear.graph.refs import is_path, path_digest

    found = Path(ref)
    if not is_path(found):
        return ref
    return path_digest(found, ref) or ref


def blob_loader(found: config.Settings) -> Any:
    """Environment manifests' package lists from the blob store (``blob_packages``), or
    None when there is no usable blob store: then the records alone are compared."""
    from forebear.graph.diff import blob_packages

    if not found.blob_url:
        return None
    if "://" not in found.blob_url and not os.path.isdir(found.blob_url):
        return None
    try:
        from forebear.artifacts.base import open_blob_store

        return blob_packages(open_blob_store(found.blob_url))
    except (ForebearError, ImportError):
        return None


def as_lineage(found: dict[str, Any], direction: str) -> Any:
    """A server's ``upstream``/``downstream``/``path`` answer as a ``Lineage``."""
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


class Reader:
    """A store opened to answer lineage questions (see the module docstring).

    ``store`` is a store URL or path (default: FOREBEAR_STORE, then ``.forebear/``
    upward). Use it as a context manager, or ``close`` it.
    """

    def __init__(self, store: str | None = None) -> None:
        from forebear.store.registry import open_from

        self.settings = config.resolve(store)
        self.remote = self.settings.is_remote
        if self.remote:  # no sender thread: a question sends nothing to be journaled
            from forebear.store.remote import open_from_settings

            self.db: Any = open_from_settings(self.settings, sender=False)
        else:
            self.db = open_from(self.settings.for_reading())

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the store."""
        self.db.close()

    def _node(self, ref: str) -> int:
        return int(resolve_ref(self.db, self.settings, ref).node)

    def show(self, ref: str) -> dict[str, Any]:
        """The lineage record of REF (``forebear show REF --json``)."""
        if self.remote:
            found: dict[str, Any] = self.db.query("show", ref=ref_text(ref))
            return found
        from forebear.graph.show import show

        return show(self.db, resolve_ref(self.db, self.settings, ref))

    def closure(self, direction: str, ref: str, *, depth: int | None = None,
                kinds: Collection[str] = (), limit: int | None = None,
                offset: int = 0) -> Any:
        """The upstream or downstream closure of REF as a ``Lineage``."""
        if self.remote:
            return as_lineage(self.db.query(
                direction, ref=ref_text(ref), depth=depth, kind=list(kinds) or None,
                limit=limit, offset=offset or None), direction)
        from forebear.graph import lineage

        return lineage.closure(self.db, self._node(ref),
                               "upstream" if direction == "upstream" else "downstream",
                               depth=depth, kinds=kinds, limit=limit, offset=offset)

    def between(self, source: str, target: str) -> Any:
        """Every path from REF ``source`` to REF ``target``, as a ``Lineage``."""
        if self.remote:
            return as_lineage(self.db.query("path", **{"from": ref_text(source),
                                                       "to": ref_text(target)}), "upstream")
        from forebear.graph import lineage

        return lineage.between(self.db, self._node(source), self._node(target))

    def diff(self, a: str, b: str) -> dict[str, Any]:
        """What differs between the lineages of REFs ``a`` (old) and ``b`` (new)."""
        if self.remote:
            found: dict[str, Any] = self.db.query("diff", a=ref_text(a), b=ref_text(b))
            return found
        from forebear.graph.diff import diff

        return diff(self.db, self._node(a), self._node(b),
                    packages=blob_loader(self.settings))

    def log(self, **filters: Any) -> list[dict[str, Any]]:
        """Recent runs, newest first (``limit``, ``kind``, ``status``, ``name``,
        ``since``, ``until``)."""
        if self.remote:
            found: list[dict[str, Any]] = self.db.query("log", **filters)
            return found
        from forebear.graph.log import log

        return log(self.db, **filters)

    def metrics(self, ref: str, keys: Collection[str] = ()) -> dict[str, Any]:
        """The metric history of the run REF names, ``{"run", "metrics"}`` (``forebear
        metrics REF --json``); a long one is read from the blob store."""
        if self.remote:
            from forebear.errors import UsageError

            raise UsageError("a server does not answer metric histories yet",
                             hint="ask the store itself: --store with its path or "
                             "postgresql:// URL")
        from forebear.graph.metrics import metric_history

        return metric_history(self.db, resolve_ref(self.db, self.settings, ref), keys=keys,
                              read_blob=self._read_blob if self.settings.blob_url else None)

    def _read_blob(self, digest: str) -> bytes:
        """A blob's bytes from the settings' blob store (local or S3), verified."""
        from forebear.artifacts.base import open_blob_store
        from forebear.hashing import Digest

        assert self.settings.blob_url  # metrics() passes this only when there is one
        return open_blob_store(self.settings.blob_url).get_bytes(Digest.parse(digest))

    def flagged(self) -> list[dict[str, Any]]:
        """Every flag, newest first."""
        if self.remote:
            found: list[dict[str, Any]] = self.db.query("flags")
            return found
        from forebear.graph.flags import flagged

        return flagged(self.db)


# -- one question each -----------------------------------------------------------------


def show(ref: str, *, store: str | None = None) -> dict[str, Any]:
    """The lineage record of REF: parents, transformation, environment, metrics, aliases,
    flags on it or its ancestors (``forebear show REF --json``)."""
    with Reader(store) as reader:
        return reader.show(ref)


def upstream(ref: str, *, depth: int | None = None, kinds: Collection[str] = (),
             limit: int | None = None, offset: int = 0,
             store: str | None = None) -> dict[str, Any]:
    """Everything REF came from, ``{"root", "nodes", "edges"}`` (``forebear upstream
    REF --json``): the whole closure, or ``depth`` edges of it, ``kinds`` only, a page."""
    with Reader(store) as reader:
        found: dict[str, Any] = reader.closure("upstream", ref, depth=depth, kinds=kinds,
                                               limit=limit, offset=offset).to_json()
        return found


def downstream(ref: str, *, depth: int | None = None, kinds: Collection[str] = (),
               limit: int | None = None, offset: int = 0,
               store: str | None = None) -> dict[str, Any]:
    """Everything that came from REF: every model and deployment it reached
    (``forebear downstream REF --json``)."""
    with Reader(store) as reader:
        found: dict[str, Any] = reader.closure("downstream", ref, depth=depth, kinds=kinds,
                                               limit=limit, offset=offset).to_json()
        return found


def path(source: str, target: str, *, store: str | None = None) -> dict[str, Any]:
    """Every path from REF ``source`` to REF ``target`` along the data, rooted at
    ``target``, with ``"from"``; no nodes when ``target`` does not come from ``source``
    (``forebear path FROM TO --json``)."""
    with Reader(store) as reader:
        found: dict[str, Any] = reader.between(source, target).to_json()
        return found


def diff(a: str, b: str, *, store: str | None = None) -> dict[str, Any]:
    """What differs between two lineages, from REF ``a`` to REF ``b``: params, data
    inputs, code, environment, metrics, steps (``forebear diff A B --json``)."""
    with Reader(store) as reader:
        return reader.diff(a, b)


def log(*, limit: int = 50, kind: str | None = None, status: str | None = None,
        name: str | None = None, since: str | None = None, until: str | None = None,
        store: str | None = None) -> list[dict[str, Any]]:
    """Recent runs, newest first, failed ones included (``forebear log --json``)."""
    with Reader(store) as reader:
        return reader.log(limit=limit, kind=kind, status=status, name=name, since=since,
                          until=until)


def flagged(*, store: str | None = None) -> list[dict[str, Any]]:
    """Every flag, newest first (``forebear flagged --json``)."""
    with Reader(store) as reader:
        return reader.flagged()


def metric_history(ref: str, *, keys: Collection[str] = (),
                   store: str | None = None) -> dict[str, list[tuple[int | None, float | str]]]:
    """Each metric's history, ``{key: [(step, value), ...]}`` by step, of the run REF
    names (for an artifact, the run that made it); ``keys`` to keep only those. A value
    that is not finite is ``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` (``forebear
    metrics REF --json`` prints the same points, as lists, under ``"metrics"``)."""
    with Reader(store) as reader:
        found = reader.metrics(ref, keys)
    return {key: [(step, value) for step, value in points]
            for key, points in found["metrics"].items()}
