"""The session: which store, blob store and hash cache the SDK writes to, made once.

``forebear.run()`` uses the process's default session (``FOREBEAR_STORE``, else the
nearest ``.forebear/``, else a new ``.forebear/`` in the working directory) unless it is
given ``store=``.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from forebear import config
from forebear.model.ids import Clock, IdFactory, utc_now, uuid7


class Session:
    """A store, its blob store and hash cache, and who is acting."""

    def __init__(
        self,
        store: Any,
        *,
        blobs: Any = None,
        hash_cache: Any = None,
        actor: str | None = None,
        settings: config.Settings | None = None,
        clock: Clock = utc_now,
        new_id: IdFactory = uuid7,
        copy_inputs_below: int = 0,
        ignore_globs: tuple[str, ...] = (),
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.hash_cache = hash_cache
        self.actor = actor or default_actor()
        self.settings = settings
        self.clock = clock
        self.new_id = new_id
        self.copy_inputs_below = copy_inputs_below
        self.ignore_globs = ignore_globs
        self.stored_blobs: set[str] = set()

    @classmethod
    def from_settings(cls, settings: config.Settings, **kwargs: Any) -> Session:
        """Open the store, blob store and hash cache that ``settings`` name."""
        from forebear.hashing import HashCache
        from forebear.store.registry import open_from

        store = open_from(settings)
        blobs = blob_store_of(settings)
        cache_path = (
            settings.store_dir / config.HASH_CACHE_FILE if settings.store_dir else None
        )
        env = os.environ
        copy_below = int(env.get("FOREBEAR_COPY_INPUTS_BELOW", "0") or 0)
        globs = tuple(g for g in env.get("FOREBEAR_IGNORE", "").split(os.pathsep) if g)
        return cls(
            store,
            blobs=blobs,
            hash_cache=HashCache(cache_path),
            actor=settings.actor,
            settings=settings,
            copy_inputs_below=copy_below,
            ignore_globs=globs,
            **kwargs,
        )

    @property
    def store_dir(self) -> Path | None:
        return self.settings.store_dir if self.settings else None


def blob_store_of(settings: config.Settings) -> Any:
    """The blob store ``settings`` name: ``FOREBEAR_BLOBS``, else a server's own (blobs go
    to the server with the events), else None."""
    from forebear.artifacts.base import open_blob_store

    if settings.blob_url:
        return open_blob_store(settings.blob_url)
    if settings.is_remote:
        from forebear.artifacts.http import HttpBlobStore

        return HttpBlobStore(settings.store_url, settings.token)
    return None


def default_actor() -> str:
    """Who is running: ``FOREBEAR_ACTOR``, else ``user@host``."""
    actor = os.environ.get("FOREBEAR_ACTOR")
    if actor:
        return actor
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


_default: Session | None = None
_default_lock = threading.Lock()
_by_url: dict[str, Session] = {}


def default_session() -> Session:
    """The process's session, created on first use (and ``.forebear/`` with it if needed)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Session.from_settings(ensure_store(config.resolve(required=False)))
        return _default


def ensure_store(settings: config.Settings) -> config.Settings:
    """``settings``, after creating the ``.forebear/`` store they point at when there is
    none yet and none was named (FOREBEAR_STORE): the SDK's first run makes one, and
    says so."""
    if settings.is_embedded and settings.store_dir and not (
        settings.store_dir / config.DB_FILE
    ).exists() and not os.environ.get("FOREBEAR_STORE"):
        from forebear.store.registry import init_store

        init_store(settings.store_dir.parent)
        sys.stderr.write(f"forebear: created a new store in {settings.store_dir}\n")
    return settings


def session_for(store: Any) -> Session:
    """A session for ``store``: None (the default), a URL or path, or a store object."""
    if store is None:
        return default_session()
    if isinstance(store, Session):
        return store
    if isinstance(store, str | os.PathLike):
        # One session per store URL and process: a store opened per run would cost a
        # connection (and leak it) on every `forebear.run(store=...)`.
        settings = config.resolve(os.fspath(store))
        with _default_lock:
            session = _by_url.get(settings.store_url)
            if session is None:
                session = _by_url[settings.store_url] = Session.from_settings(settings)
        return session
    return Session(store)


def reset_default_session() -> None:
    """Forget the default session (tests, and programs that change FOREBEAR_STORE)."""
    global _default
    with _default_lock:
        if _default is not None:
            _default.store.close()
        _default = None
        for session in _by_url.values():
            session.store.close()
        _by_url.clear()
