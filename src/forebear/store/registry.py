"""Open a metadata store by URL; backends are imported lazily, keyed by scheme."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from forebear import config
from forebear.errors import ConfigError, NotAStoreError, StoreError
from forebear.store.base import MetadataStore

# scheme -> "module:factory"; the factory takes (settings) and returns a MetadataStore.
_BACKENDS = {
    "sqlite": "forebear.store.registry:_open_sqlite",
    "postgresql": "forebear.store.postgres:open_from_settings",
    "postgres": "forebear.store.postgres:open_from_settings",
    "http": "forebear.store.remote:open_from_settings",
    "https": "forebear.store.remote:open_from_settings",
}


def open_store(url: str | None = None, **kwargs: Any) -> MetadataStore:
    """Open the store named by ``url`` (default: FOREBEAR_STORE, then ``.forebear/``)."""
    settings = config.resolve(url, **kwargs)
    return open_from(settings)


def open_from(settings: config.Settings) -> MetadataStore:
    """Open the store that ``settings`` name."""
    scheme = settings.store_url.split("://", 1)[0].split("+", 1)[0]
    target = _BACKENDS.get(scheme)
    if target is None:
        raise ConfigError(
            f"unknown store URL scheme {scheme!r}",
            hint="use sqlite:///path, postgresql://..., or http(s)://host:port",
        )
    module_name, _, factory = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = "postgres" if scheme.startswith("postgres") else "server"
        raise ConfigError(
            f"the {scheme} store needs an extra that is not installed ({exc.name})",
            hint=f"pip install 'forebear[{extra}]'",
        ) from None
    store: MetadataStore = getattr(module, factory)(settings)
    return store


def load_signer(path: Path | None) -> Any:
    """The signing key at ``path``, or None when there is none (read-only use)."""
    from forebear.journal.keys import SigningKey

    if path is None or not path.exists():
        return None
    return SigningKey.load(path)


def _open_sqlite(settings: config.Settings) -> MetadataStore:
    from forebear.store.sqlite import SqliteStore

    path = config.sqlite_path(settings.store_url)
    if not path.exists():
        if settings.store_dir is not None and not settings.store_dir.exists():
            raise NotAStoreError(
                f"no forebear store at {settings.store_dir}",
                hint="run `forebear init` there, or point --store at an existing store",
            )
        raise NotAStoreError(f"no forebear store at {path}")
    return SqliteStore(path, signer=load_signer(settings.key_path))


def init_store(directory: Path, *, environ: dict[str, str] | None = None) -> Path:
    """Create ``<directory>/.forebear/`` with a store, a blob folder and a signing key.

    When that fails, nothing of it is left (a half-made store, blobs without a database,
    would only confuse later), and the error names the fix.
    """
    import shutil

    from forebear.errors import ForebearError, UsageError

    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} is a file, not a folder",
                         hint="give the project folder: forebear init DIR")
    made = [path for path in (directory, directory / config.STORE_DIR) if not path.exists()]
    try:
        return _create_store(directory, os.environ if environ is None else environ)
    except (ForebearError, OSError) as exc:
        if made:
            shutil.rmtree(made[0], ignore_errors=True)
        if isinstance(exc, ForebearError):
            raise
        where = exc.filename or directory
        raise StoreError(f"cannot create a store in {directory}: {exc.strerror} ({where})",
                         hint="give a folder you can write to") from None


def _create_store(directory: Path, env: Mapping[str, str]) -> Path:
    from forebear.journal.keys import SigningKey
    from forebear.model.ids import uuid7
    from forebear.store.sqlite import create_sqlite_store

    store_dir = directory / config.STORE_DIR
    db = store_dir / config.DB_FILE
    if db.exists():
        raise StoreError(f"{store_dir} already holds a forebear store", hint="use it as it is")
    directory.mkdir(parents=True, exist_ok=True)
    # Only its owner may read the store: the journal, the blobs and the server's token
    # hashes are the whole record, and a server's read tokens are how it is shared.
    store_dir.mkdir(mode=0o700, exist_ok=True)
    blobs = store_dir / config.BLOBS_DIR
    # All 256 shard folders up front: the first blob of a shard then costs no mkdir and
    # no fsync of the parent folder.
    for shard in range(256):
        (blobs / "sha256" / f"{shard:02x}").mkdir(parents=True, exist_ok=True)
    (store_dir / ".gitignore").write_text("*\n")
    key_path = Path(env["FOREBEAR_KEY"]) if env.get("FOREBEAR_KEY") else store_dir / config.KEY_FILE
    if key_path.exists():
        signer = SigningKey.load(key_path)
    else:
        signer = SigningKey.generate(f"forebear.local/{uuid7()}")
        signer.save(key_path)  # raises SigningKeyError, naming the path, if it cannot
    create_sqlite_store(db, signer=signer)
    return store_dir
