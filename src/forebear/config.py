"""Settings, read once: arguments > ``FOREBEAR_*`` environment > discovery.

The embedded store lives in ``.forebear/`` of the project, found upward from the working
directory like ``.git``. ``FOREBEAR_STORE`` (or ``--store``) names another store by URL:
``sqlite:///path``, ``postgresql://...``, ``http(s)://host:port``; a bare path is a
SQLite store (the database file, its ``.forebear/`` directory or the project directory).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from forebear.errors import StoreNotFoundError

STORE_DIR = ".forebear"
DB_FILE = "forebear.db"
KEY_FILE = "signing.key"
BLOBS_DIR = "blobs"
HASH_CACHE_FILE = "hashcache.db"
SPOOL_DIR = "spool"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Where the store, blobs and key are, resolved once."""

    store_url: str
    store_dir: Path | None  # the .forebear/ directory of an embedded store
    blob_url: str | None
    key_path: Path | None
    token: str | None
    actor: str | None

    @property
    def is_embedded(self) -> bool:
        return self.store_url.startswith("sqlite:")

    @property
    def is_remote(self) -> bool:
        """Whether the store is a ``forebear serve`` reached over HTTP."""
        return self.store_url.startswith(("http://", "https://"))

    def for_reading(self) -> Settings:
        """These settings for work that only reads: the embedded store opens without its
        signing key. Queries sign nothing, and the key, readable by its owner alone (mode
        0600, as it must be), must not stop a teammate's `forebear log`."""
        return replace(self, key_path=None) if self.is_embedded else self


def find_store_dir(start: Path) -> Path | None:
    """The nearest ``.forebear/`` holding a store, from ``start`` upward."""
    for folder in (start, *start.parents):
        candidate = folder / STORE_DIR
        if (candidate / DB_FILE).is_file():
            return candidate
    return None


def sqlite_path(url_or_path: str) -> Path:
    """The database file named by a ``sqlite:`` URL or a path (file, store dir, project)."""
    text = url_or_path
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]  # sqlite:///rel/path, sqlite:////abs/path
    elif text.startswith("sqlite://"):
        text = text[len("sqlite://") :]
    path = Path(text).expanduser()
    if path.is_dir():
        if (path / DB_FILE).is_file() or path.name == STORE_DIR:
            return path / DB_FILE
        return path / STORE_DIR / DB_FILE
    return path


def resolve(
    store: str | None = None,
    *,
    blobs: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    required: bool = True,
) -> Settings:
    """Resolve settings from arguments, then the environment, then discovery."""
    env = os.environ if environ is None else environ
    here = Path.cwd() if cwd is None else cwd
    url = store or env.get("FOREBEAR_STORE") or None
    store_dir: Path | None = None
    if url is None:
        found = find_store_dir(here)
        if found is None:
            if required:
                raise StoreNotFoundError(f"no {STORE_DIR}/ store in {here} or above it")
            url = f"sqlite:///{here / STORE_DIR / DB_FILE}"
            store_dir = here / STORE_DIR
        else:
            url = f"sqlite:///{found / DB_FILE}"
            store_dir = found
    elif "://" not in url or url.startswith("sqlite:"):
        db = sqlite_path(url)
        url = f"sqlite:///{db}"
        store_dir = db.parent
    key = env.get("FOREBEAR_KEY")
    key_path = Path(key) if key else (store_dir / KEY_FILE if store_dir else None)
    blob_url = blobs or env.get("FOREBEAR_BLOBS") or (
        str(store_dir / BLOBS_DIR) if store_dir else None
    )
    return Settings(
        store_url=url,
        store_dir=store_dir,
        blob_url=blob_url,
        key_path=key_path,
        token=env.get("FOREBEAR_TOKEN") or None,
        actor=env.get("FOREBEAR_ACTOR") or None,
    )
