"""Moving a store to another backend, provably: replay the journal, then prove the same root.

The journal is the whole record, so a migration is a replay: every entry, in order and
in batches, goes through the target's ordinary append path (which writes its Merkle
nodes and projections). Each entry's canonical bytes are checked to survive the trip
unchanged, so the target's Merkle root must equal the source's; that is then checked,
the stored checkpoints are copied (signed by the same key over the same roots, they
verify there as they are), and the target runs a full ``verify``.

A migration is resumable: a target that already holds a prefix of the source's journal
(an interrupted run, or a source that kept growing) continues after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forebear import _canonical, _json, config
from forebear.errors import ConfigError, IntegrityError, SigningKeyError, StoreError
from forebear.journal.keys import SigningKey
from forebear.store.base import Problem

if TYPE_CHECKING:
    from forebear.store.postgres import PostgresStore
    from forebear.store.sqlite import SqliteStore

__all__ = ["MigrationReport", "migrate", "open_target"]

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationReport:
    """What ``migrate`` did and proved."""

    source: str
    target: str
    entries: int
    replayed: int
    root: bytes
    checkpoints: int
    checkpoints_copied: int
    problems: list[Problem] = field(default_factory=list)
    blobs_copied: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "source": self.source,
            "target": self.target,
            "entries": self.entries,
            "replayed": self.replayed,
            "root": "sha256:" + self.root.hex(),
            "checkpoints": self.checkpoints,
            "checkpoints_copied": self.checkpoints_copied,
            "blobs_copied": self.blobs_copied,
            "seconds": round(self.seconds, 3),
            "problems": [p.to_json() for p in self.problems],
        }


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].split("+", 1)[0].lower() if "://" in url else "sqlite"


def open_target(url: str, signer: SigningKey) -> SqliteStore | PostgresStore:
    """The store at ``url`` (PostgreSQL or SQLite), created with ``signer`` if it is new."""
    scheme = _scheme(url)
    if scheme in ("postgresql", "postgres"):
        from forebear.store import postgres

        conn = postgres._connect(url)
        try:
            exists = "meta" in postgres._tables(conn)
        finally:
            conn.close()
        if not exists:
            postgres.create(url, signer=signer)
        return postgres.PostgresStore(url, signer=signer)
    if scheme == "sqlite":
        from forebear.store.sqlite import SqliteStore, create_sqlite_store

        path = config.sqlite_path(url)
        if not path.exists():
            create_sqlite_store(path, signer=signer)
        return SqliteStore(path, signer=signer)
    raise ConfigError(
        f"cannot migrate into a {scheme}:// store",
        hint="migrate into the server's database (postgresql://...) or a SQLite file",
    )


def source_key(settings: config.Settings) -> SigningKey:
    """The source store's signing key: the target is signed by the same one."""
    path = settings.key_path
    if path is None or not path.is_file():
        from forebear.store.postgres import find_key

        path = find_key(Path.cwd())
    if path is None:
        raise SigningKeyError(
            "migrate needs the source store's signing key, and there is none here",
            hint="point FOREBEAR_KEY at the key file the store was created with",
        )
    return SigningKey.load(path)


def migrate(
    source: Any,
    target: Any,
    *,
    batch: int = 2000,
    progress: Progress | None = None,
) -> MigrationReport:
    """Replay ``source``'s journal into ``target``, prove the same root, copy checkpoints."""
    started = time.perf_counter()
    size = source.size()
    done = target.size()
    if done > size:
        raise StoreError(
            f"the target holds {done} entries, more than the source's {size}",
            hint="migrate into an empty store",
        )
    if done and target.root(done) != source.root(done):
        raise StoreError(
            f"the target's first {done} entries are not the source's",
            hint="migrate into an empty store, or into one this source was migrated to",
        )
    source_meta = getattr(source, "meta", {})
    if source_meta and target.meta.get("verifier") != source_meta.get("verifier"):
        raise SigningKeyError(
            "the target store is signed by another key than the source",
            hint="migrate into an empty store: it is created with the source's key",
        )
    if progress is not None and done:
        progress(done)
    loads = _json.loads
    for start in range(done, size, batch):
        records = list(source.records(start, min(size, start + batch)))
        entries = []
        for record in records:
            entry = loads(record.canonical)
            if _canonical.canonical_bytes(entry) != record.canonical:
                raise IntegrityError(
                    f"entry {record.seq} does not survive canonical re-encoding",
                    hint="run `forebear verify` on the source first",
                )
            entries.append(entry)
        target.append_batch(entries)
        if progress is not None:
            progress(len(entries))
    problems: list[Problem] = []
    root = source.root(size)
    if target.root(size) != root:
        problems.append(
            Problem(seq=None, what="the target's Merkle root differs from the source's")
        )
    from forebear.store.postgres import redact  # not at the top: it is the PG backend

    wanted = [cp for cp in source.checkpoints() if cp.size <= size]
    copied = target.store_checkpoints(wanted)
    problems.extend(target.verify().problems)
    return MigrationReport(
        source=redact(source.url),
        target=redact(target.url),
        entries=size,
        replayed=size - done,
        root=root,
        checkpoints=len(target.checkpoints()),
        checkpoints_copied=copied,
        problems=problems,
        seconds=time.perf_counter() - started,
    )


def copy_blobs(source_url: str, target_url: str, progress: Progress | None = None) -> int:
    """Copy every blob the target lacks, verified on the way; return how many were copied."""
    from forebear.artifacts.base import open_blob_store

    source = open_blob_store(source_url)
    target = open_blob_store(target_url)
    copied = 0
    for digest in source.iter_digests():
        if not target.exists(digest):
            put_stream = getattr(target, "put_stream", None)
            if put_stream is not None:
                with source.open(digest) as stream:
                    got = put_stream(stream)
            else:
                got = target.put_bytes(source.get_bytes(digest))
            if got != digest:
                raise IntegrityError(f"blob {digest} in {source_url} is damaged")
            copied += 1
        if progress is not None:
            progress(1)
    return copied
