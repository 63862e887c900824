"""Content digests: the ``Digest`` value type, streaming file and tree hashing, the hash cache.

Every artifact is named by a self-describing digest, ``sha256:<64 lowercase hex>`` (the
default, and what the journal and blob store use) or ``blake3:<64 lowercase hex>`` (faster
on many cores, for callers that opt in).

A directory is hashed as a *tree manifest* (see ``tree_manifest``): sorted lines naming
every file and symlink under it with its digest; the tree's digest is the digest of the
manifest bytes, so a manifest stored as a blob verifies like any other blob.

``HashCache`` remembers digests by (device, inode, size, mtime_ns), so checking an
unchanged multi-GB file again costs one ``stat``.

Importing this module is cheap: ``blake3`` and ``sqlite3`` are imported on first use.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from forebear.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    import sqlite3

__all__ = [
    "ALGORITHMS",
    "Digest",
    "HashCache",
    "Hasher",
    "StrPath",
    "hash_file",
    "hash_path",
    "hash_tree",
    "is_digest_text",
    "manifest_of",
    "new_hasher",
    "tree_manifest",
]

StrPath = str | os.PathLike[str]
"""What every function here accepts as a path."""

ALGORITHMS: tuple[str, ...] = ("sha256", "blake3")
"""The digest algorithms forebear knows, the default first."""

_TEXT = re.compile(r"(sha256|blake3):([0-9a-f]{64})")
_HEX = re.compile(r"[0-9a-f]{64}")
_EXPECTED = "expected 'sha256:<64 lowercase hex digits>' or 'blake3:<64 lowercase hex digits>'"

TREE_HEADER = b"forebear-tree v1\n"
"""First line of every tree manifest; a new format gets a new header."""


@dataclass(frozen=True, slots=True)
class Digest:
    """A content digest such as ``sha256:e3b0...``; ordered by its text form."""

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        if (
            self.algorithm not in ALGORITHMS
            or not isinstance(self.hex, str)
            or not _HEX.fullmatch(self.hex)
        ):
            raise InvalidInputError(
                f"invalid digest {_clip(f'{self.algorithm}:{self.hex}')}: {_EXPECTED}"
            )

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``<algorithm>:<64 lowercase hex>``; anything else is an InvalidInputError."""
        match = _TEXT.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidInputError(f"invalid digest {_clip(text)}: {_EXPECTED}")
        return cls(match[1], match[2])

    @classmethod
    def of_bytes(cls, data: bytes | bytearray | memoryview, algorithm: str = "sha256") -> Digest:
        """The digest of ``data``."""
        hasher = new_hasher(algorithm)
        hasher.update(data)
        return cls(algorithm, hasher.hexdigest())

    @property
    def raw(self) -> bytes:
        """The digest's 32 bytes."""
        return bytes.fromhex(self.hex)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def __lt__(self, other: object) -> bool:
        return str(self) < str(other) if isinstance(other, Digest) else NotImplemented

    def __le__(self, other: object) -> bool:
        return str(self) <= str(other) if isinstance(other, Digest) else NotImplemented

    def __gt__(self, other: object) -> bool:
        return str(self) > str(other) if isinstance(other, Digest) else NotImplemented

    def __ge__(self, other: object) -> bool:
        return str(self) >= str(other) if isinstance(other, Digest) else NotImplemented


def is_digest_text(text: object) -> bool:
    """Whether ``text`` is a digest's text form (what ``Digest.parse`` accepts)."""
    return isinstance(text, str) and _TEXT.fullmatch(text) is not None


def _clip(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Hasher(Protocol):
    """An incremental hash: the part of ``hashlib``'s interface that ``blake3`` shares."""

    def update(self, data: bytes | bytearray | memoryview, /) -> object:
        """Add ``data``."""

    def hexdigest(self) -> str:
        """The digest of everything added so far, as lowercase hex."""


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in ALGORITHMS:
        raise InvalidInputError(
            f"unknown digest algorithm {algorithm!r}", hint=f"use one of {', '.join(ALGORITHMS)}"
        )


def new_hasher(algorithm: str = "sha256") -> Hasher:
    """A fresh incremental hasher for ``algorithm``."""
    _check_algorithm(algorithm)
    if algorithm == "sha256":
        return hashlib.sha256()
    import blake3  # deferred: keeps `import forebear.hashing` cheap

    hasher: Hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    return hasher


# -- files -------------------------------------------------------------------------------


def _stat(path: StrPath) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise NotFoundError(f"no such file or directory: {os.fspath(path)}") from None


def _hash_regular_file(path: StrPath, algorithm: str) -> Digest:
    if algorithm == "sha256":
        # file_digest reads straight into a reusable buffer and releases the GIL:
        # it is the baseline, so nothing here may sit between it and the file.
        with open(path, "rb", buffering=0) as f:
            return Digest("sha256", hashlib.file_digest(f, "sha256").hexdigest())
    import blake3

    # mmap + rayon threads: no copy out of the page cache, all cores busy.
    # A file truncated by someone else while mapped can kill the process (SIGBUS):
    # the price of mmap, accepted for artifacts that are written once.
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(os.fspath(path))
    return Digest("blake3", hasher.hexdigest())


def hash_file(path: StrPath, algorithm: str = "sha256") -> Digest:
    """Stream one regular file (symlinks followed) through ``algorithm``."""
    _check_algorithm(algorithm)
    st = _stat(path)
    if stat.S_ISDIR(st.st_mode):
        raise InvalidInputError(
            f"{os.fspath(path)} is a directory", hint="use hash_tree or hash_path for directories"
        )
    if not stat.S_ISREG(st.st_mode):
        # Checked before opening: opening a FIFO would block forever.
        raise InvalidInputError(f"{os.fspath(path)} is not a regular file")
    return _hash_regular_file(path, algorithm)


# -- trees -------------------------------------------------------------------------------


def _walk(root: str) -> Iterator[tuple[bytes, str, str]]:
    """Yield (relative POSIX path as bytes, "file" or "link", absolute path), unsorted."""
    stack: list[tuple[str, bytes]] = [(root, b"")]
    while stack:
        directory, prefix = stack.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                name = prefix + os.fsencode(entry.name)
                if b"\n" in name:
                    # The manifest is line-based; a newline would let one entry pose as two.
                    raise InvalidInputError(f"file name contains a newline: {entry.path!r}")
                if entry.is_symlink():
                    yield name, "link", entry.path
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, name + b"/"))
                elif entry.is_file(follow_symlinks=False):
                    yield name, "file", entry.path
                else:
                    raise InvalidInputError(
                        f"{entry.path} is neither a file, a directory nor a symlink",
                        hint="remove sockets, FIFOs and devices from the tree",
                    )


def _manifest(root: StrPath, algorithm: str, hash_one: Callable[[str], Digest]) -> bytes:
    _check_algorithm(algorithm)
    top = os.fspath(root)
    if not stat.S_ISDIR(_stat(top).st_mode):
        raise InvalidInputError(f"{top} is not a directory", hint="use hash_file for files")
    entries = sorted(_walk(top))
    files = [path for _, kind, path in entries if kind == "file"]
    if len(files) > 1:
        from concurrent.futures import ThreadPoolExecutor

        # Hashing releases the GIL, so threads keep every core busy on many files.
        workers = min(len(files), os.cpu_count() or 1, 8)
        with ThreadPoolExecutor(workers) as pool:
            file_digests = iter(list(pool.map(hash_one, files)))
    else:
        file_digests = iter([hash_one(path) for path in files])
    return _manifest_lines(
        (name, kind, next(file_digests) if kind == "file"
         else Digest.of_bytes(os.fsencode(os.readlink(path)), algorithm))
        for name, kind, path in entries)


def _manifest_lines(entries: Iterable[tuple[bytes, str, Digest]]) -> bytes:
    lines = [TREE_HEADER]
    for name, kind, digest in entries:
        lines.append(b"%s %s %s\n" % (kind.encode(), str(digest).encode(), name))
    return b"".join(lines)


def manifest_of(files: Iterable[tuple[str, Digest]]) -> bytes:
    """The ``tree_manifest`` of a tree known only by its files' relative '/'-separated
    paths and digests (a remote model folder): its digest is the digest the same tree
    on disk would have."""
    entries = []
    for path, digest in files:
        name = path.encode("utf-8", "surrogateescape")
        if b"\n" in name or not name or name.startswith(b"/") or b"/../" in b"/" + name + b"/":
            raise InvalidInputError(f"not a relative file path in a tree: {path!r}")
        entries.append((name, "file", digest))
    return _manifest_lines(sorted(entries, key=lambda entry: entry[0]))


def tree_manifest(path: StrPath, algorithm: str = "sha256") -> bytes:
    """The manifest of the directory ``path``, whose digest is the tree's digest.

    Format (bytes)::

        forebear-tree v1\\n
        <kind> <digest> <path>\\n        one line per entry, sorted by <path> bytes

    ``<path>`` is relative to ``path``, '/'-separated, in the file system's bytes (UTF-8
    on any sane system); a name containing a newline is refused. ``<kind>`` is ``file``
    (``<digest>`` is the file's content digest) or ``link`` (a symlink, never followed:
    ``<digest>`` is the digest of its target text, so the tree digest covers where a link
    points, not what it points at). Directories get no line of their own, so empty ones do
    not count; sockets, FIFOs and devices are refused. All digests use ``algorithm``.
    ``path`` itself may be a symlink to a directory: the caller named it.
    """
    return _manifest(path, algorithm, lambda p: _hash_regular_file(p, algorithm))


def hash_tree(path: StrPath, algorithm: str = "sha256") -> Digest:
    """The digest of a directory: the digest of its ``tree_manifest``."""
    return Digest.of_bytes(tree_manifest(path, algorithm), algorithm)


def hash_path(path: StrPath, algorithm: str = "sha256") -> Digest:
    """``hash_tree`` for a directory, ``hash_file`` for anything else."""
    if stat.S_ISDIR(_stat(path).st_mode):
        return hash_tree(path, algorithm)
    return hash_file(path, algorithm)


# -- cache -------------------------------------------------------------------------------

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS file_digests (
    algorithm TEXT NOT NULL,
    device INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    hex TEXT NOT NULL,
    PRIMARY KEY (algorithm, device, inode)
) WITHOUT ROWID
"""
# A write within this long after the file's mtime may share that mtime (coarse clocks,
# FAT's 2 s), so a digest taken that early is not remembered ("racy git").
_RACY_NS = 2_000_000_000
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26

_Key = tuple[str, int, int]
_Entry = tuple[int, int, Digest]


def _i64(value: int) -> int:
    # SQLite integers are signed 64-bit; some file systems hand out inodes above 2**63.
    return value - (1 << 64) if value >= 1 << 63 else value


class HashCache:
    """Digests remembered by (device, inode, size, mtime_ns), in memory and in SQLite.

    A file whose size or mtime changed is hashed again. An edit that keeps both (content
    rewritten, then ``os.utime`` back) is not seen: the same trade-off git and DVC make.
    The SQLite file is only a cache: if it is corrupt it is recreated, if it cannot be
    written the cache carries on in memory. Safe to share between threads.
    """

    def __init__(self, path: StrPath | None = None, *, clock: Callable[[], int] = time.time_ns,
                 read_only: bool = False):
        """Open (or create) the cache at ``path``; ``None`` keeps it in memory only.

        ``clock`` returns the current time in ns; it decides when a digest is too fresh
        to remember. ``read_only`` uses what the file remembers and writes nothing to it
        (commands that only read, such as ``forebear show PATH``); a missing file is then
        not created.
        """
        self._path = None if path is None else os.path.abspath(path)
        self._clock = clock
        self._read_only = read_only
        self._lock = threading.Lock()
        self._memory: dict[_Key, _Entry] = {}
        self._db: sqlite3.Connection | None = None
        if self._path is not None:
            with self._lock:
                self._db = self._connect(self._path)

    def __enter__(self) -> HashCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the SQLite file; the cache keeps working from memory."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def digest(self, path: StrPath, algorithm: str = "sha256") -> Digest:
        """The digest of a file (``hash_file``) or directory (``hash_tree``), cached per file."""
        _check_algorithm(algorithm)
        now = self._clock()  # before the stat: see _file_digest
        st = _stat(path)
        if stat.S_ISDIR(st.st_mode):
            manifest = _manifest(path, algorithm, lambda p: self._file_digest(p, algorithm))
            return Digest.of_bytes(manifest, algorithm)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidInputError(f"{os.fspath(path)} is not a regular file")
        return self._file_digest(path, algorithm, st, now)

    def _file_digest(
        self,
        path: StrPath,
        algorithm: str,
        st: os.stat_result | None = None,
        now: int | None = None,
    ) -> Digest:
        if st is None or now is None:
            now = self._clock()
            st = os.stat(path)
        key = (algorithm, st.st_dev, st.st_ino)
        with self._lock:
            entry = self._memory.get(key) or self._load(key)
        if entry is not None and entry[:2] == (st.st_size, st.st_mtime_ns):
            return entry[2]
        digest = _hash_regular_file(path, algorithm)
        after = os.stat(path)
        unchanged = (after.st_dev, after.st_ino, after.st_size, after.st_mtime_ns) == (
            st.st_dev,
            st.st_ino,
            st.st_size,
            st.st_mtime_ns,
        )
        # Remember only what is safe: the file did not change while we read it, and the
        # stat came late enough that a later write must move mtime (now >= mtime + window).
        if unchanged and now - st.st_mtime_ns >= _RACY_NS:
            with self._lock:
                self._memory[key] = (st.st_size, st.st_mtime_ns, digest)
                self._save(key, st.st_size, st.st_mtime_ns, digest)
        return digest

    # SQLite plumbing; every method below runs under self._lock.

    def _connect(self, path: str) -> sqlite3.Connection | None:
        import sqlite3

        if self._read_only:
            from pathlib import Path

            try:
                reader = sqlite3.connect(f"{Path(path).as_uri()}?mode=ro", uri=True,
                                         check_same_thread=False, timeout=1.0)
                if reader.execute("PRAGMA user_version").fetchone()[0] == _SCHEMA_VERSION:
                    return reader
                reader.close()
            except sqlite3.DatabaseError:
                pass  # missing, unreadable, busy or corrupt: hash as if uncached
            return None
        for _attempt in range(2):
            db: sqlite3.Connection | None = None
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                db = sqlite3.connect(path, check_same_thread=False, timeout=1.0)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")  # a lost write is only a cache miss
                if db.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
                    db.execute("DROP TABLE IF EXISTS file_digests")
                    db.execute(_SCHEMA)
                    db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
                    db.commit()
                db.execute("SELECT count(*) FROM file_digests WHERE 0").fetchone()
                return db
            except sqlite3.DatabaseError as exc:
                if db is not None:
                    db.close()
                if not _is_corrupt(exc):
                    return None  # locked or unwritable: run from memory
                _remove_database(path)
            except OSError:
                return None
        return None

    def _reset(self) -> None:
        if self._db is not None:
            self._db.close()
        if self._read_only:  # not ours to repair: carry on from memory
            self._db = None
            return
        assert self._path is not None
        _remove_database(self._path)
        self._db = self._connect(self._path)

    def _load(self, key: _Key) -> _Entry | None:
        if self._db is None:
            return None
        import sqlite3

        algorithm, device, inode = key
        try:
            row = self._db.execute(
                "SELECT size, mtime_ns, hex FROM file_digests"
                " WHERE algorithm = ? AND device = ? AND inode = ?",
                (algorithm, _i64(device), _i64(inode)),
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            if _is_corrupt(exc):
                self._reset()
            return None
        if row is None:
            return None
        try:
            entry: _Entry = (row[0], row[1], Digest(algorithm, row[2]))
        except InvalidInputError:
            return None  # a damaged row is a miss; the next save overwrites it
        self._memory[key] = entry
        return entry

    def _save(self, key: _Key, size: int, mtime_ns: int, digest: Digest) -> None:
        if self._db is None or self._read_only:
            return
        import sqlite3

        algorithm, device, inode = key
        try:
            with self._db:
                self._db.execute(
                    "INSERT OR REPLACE INTO file_digests VALUES (?, ?, ?, ?, ?, ?)",
                    (algorithm, _i64(device), _i64(inode), size, mtime_ns, digest.hex),
                )
        except sqlite3.DatabaseError as exc:
            if _is_corrupt(exc):
                self._reset()


def _is_corrupt(exc: Exception) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def _remove_database(path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with suppress(FileNotFoundError):
            os.unlink(path + suffix)
