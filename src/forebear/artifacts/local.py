"""The local blob store: one read-only file per blob, ``<root>/sha256/ab/cdef...``.

Writes are atomic and durable: bytes go to a temp file, which is fsynced and renamed
into place, and the directory holding it is fsynced. A crash leaves either the whole
blob or none of it (plus, at worst, a stray temp file under ``<root>/tmp``).

Every file-system access walks down from the root with ``O_NOFOLLOW`` and directory file
descriptors, so a symlink planted in the store (as the root, a shard directory or a blob)
is refused with IntegrityError instead of followed out of it, even if it appears between
a check and a use. POSIX only (``dir_fd`` and ``O_NOFOLLOW``).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from forebear.artifacts.base import ByteSource, open_regular_file, verifying_reader
from forebear.artifacts.layout import key_for, key_parts, parse_key
from forebear.errors import IntegrityError, InvalidInputError, NotFoundError
from forebear.hashing import ALGORITHMS, Digest, StrPath, new_hasher

__all__ = ["LocalBlobStore", "from_url"]

_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_BLOB_MODE = 0o444  # blobs are immutable: read-only from birth
_TMP = "tmp"


class LocalBlobStore:
    """Blobs as files under ``root``, which must be a real directory, not a symlink."""

    algorithm = "sha256"

    def __init__(self, root: StrPath, *, create: bool = True) -> None:
        """Open the store at ``root``, creating the directory unless ``create`` is False."""
        self.root = os.path.abspath(root)
        if os.path.islink(self.root):
            raise IntegrityError(
                f"blob store root {self.root} is a symlink",
                hint="point the blob store at the real directory",
            )
        if create:
            os.makedirs(self.root, exist_ok=True)
        elif not os.path.isdir(self.root):
            raise NotFoundError(f"no blob store at {self.root}")
        os.close(self._open_root())  # fail now, not at first use

    @classmethod
    def from_url(cls, url: str) -> LocalBlobStore:
        """A store from a folder path or a ``file:///path`` URL."""
        return cls(_path_from_url(url))

    def __repr__(self) -> str:
        return f"LocalBlobStore({self.root!r})"

    # -- names ---------------------------------------------------------------------------

    def key_for(self, digest: Digest) -> str:
        """The blob's key relative to the root, ``sha256/ab/cdef...``."""
        return key_for(digest)

    def path_for(self, digest: Digest) -> str:
        """The blob's absolute path (for mmap and friends; ``open`` verifies, this does not)."""
        return os.path.join(self.root, *key_parts(digest))

    # -- reading -------------------------------------------------------------------------

    def open(self, digest: Digest) -> BinaryIO:
        """The blob as a stream, verified as it is read; see ``BlobStore.open``."""
        fd = self._open_blob(digest)
        size = os.fstat(fd).st_size
        return verifying_reader(os.fdopen(fd, "rb", buffering=0), digest, size=size)

    def get_bytes(self, digest: Digest) -> bytes:
        """The whole blob, verified."""
        with self.open(digest) as stream:
            return stream.read()

    def exists(self, digest: Digest) -> bool:
        """Whether the blob is stored (content not checked)."""
        return self._stat_blob(digest) is not None

    def size(self, digest: Digest) -> int:
        """The blob's size in bytes."""
        st = self._stat_blob(digest)
        if st is None:
            raise NotFoundError(f"no blob {digest} in {self.root}")
        return st.st_size

    def verify(self, digest: Digest) -> bool:
        """Re-hash the stored blob and compare it with its name."""
        with os.fdopen(self._open_blob(digest), "rb", buffering=0) as f:
            if digest.algorithm == "sha256":
                actual = hashlib.file_digest(f, "sha256").hexdigest()
            else:
                hasher = new_hasher(digest.algorithm)
                while chunk := f.read(_CHUNK):
                    hasher.update(chunk)
                actual = hasher.hexdigest()
        return actual == digest.hex

    def iter_digests(self) -> Iterator[Digest]:
        """Every stored digest, sorted; temp files and stray names are skipped."""
        for algorithm in ALGORITHMS:
            top = os.path.join(self.root, algorithm)
            for shard in self._listdir(top):
                for name in self._listdir(os.path.join(top, shard)):
                    try:
                        yield parse_key(f"{algorithm}/{shard}/{name}")
                    except InvalidInputError:
                        continue

    # -- writing -------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> Digest:
        """Store ``data``; a no-op if an intact-sized copy is already there."""
        digest = Digest.of_bytes(data, self.algorithm)
        _, _, name = key_parts(digest)
        with ExitStack() as stack:
            shard_fd = self._open_shard(digest, create=True, stack=stack)
            assert shard_fd is not None
            if _is_present(shard_fd, name, len(data), digest):
                return digest
            # The digest is known, so the temp file sits beside its final name.
            tmp = _temp_name()
            fd = os.open(tmp, _NEW_FLAGS, _BLOB_MODE, dir_fd=shard_fd)
            try:
                with os.fdopen(fd, "wb", buffering=0) as f:
                    _write_all(f, memoryview(data))
                    os.fsync(f.fileno())
                os.replace(tmp, name, src_dir_fd=shard_fd, dst_dir_fd=shard_fd)
            except BaseException:
                _unlink_quietly(tmp, shard_fd)
                raise
            os.fsync(shard_fd)
        return digest

    def put_file(self, path: StrPath) -> Digest:
        """Copy the file at ``path`` in, hashing it on the way; return its digest."""
        with open_regular_file(path) as source:
            return self.put_stream(source)

    def put_stream(self, source: ByteSource) -> Digest:
        """Copy ``source`` to its end into the store, hashing on the way; return the digest."""
        with ExitStack() as stack:
            root_fd = self._open_root()
            stack.callback(os.close, root_fd)
            tmp_dir = self._open_dir(root_fd, _TMP, self.root, create=True)
            assert tmp_dir is not None
            stack.callback(os.close, tmp_dir)
            # The digest is unknown until the copy ends, so the temp file waits in
            # <root>/tmp: the same file system, so the rename into place stays atomic.
            tmp = _temp_name()
            fd = os.open(tmp, _NEW_FLAGS, _BLOB_MODE, dir_fd=tmp_dir)
            try:
                with os.fdopen(fd, "wb", buffering=0) as out:
                    digest, size = _copy(source, out, self.algorithm)
                    os.fsync(out.fileno())
                _, _, name = key_parts(digest)
                shard_fd = self._open_shard(digest, create=True, stack=stack)
                assert shard_fd is not None
                if _is_present(shard_fd, name, size, digest):
                    os.unlink(tmp, dir_fd=tmp_dir)
                    return digest
                os.replace(tmp, name, src_dir_fd=tmp_dir, dst_dir_fd=shard_fd)
            except BaseException:
                _unlink_quietly(tmp, tmp_dir)
                raise
            os.fsync(shard_fd)
        return digest

    # -- walking down from the root without following symlinks ---------------------------

    def _open_root(self) -> int:
        try:
            return os.open(self.root, _DIR_FLAGS)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise IntegrityError(
                    f"blob store root {self.root} is a symlink or not a directory"
                ) from None
            if exc.errno == errno.ENOENT:
                raise NotFoundError(f"no blob store at {self.root}") from None
            raise

    def _open_dir(self, parent_fd: int, name: str, where: str, *, create: bool) -> int | None:
        """Open ``name`` under ``parent_fd``; None if it is missing and not ``create``."""
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except FileNotFoundError:
            if not create:
                return None
        except OSError as exc:
            _refuse_link(exc, os.path.join(where, name))
            raise
        try:
            os.mkdir(name, 0o755, dir_fd=parent_fd)
            os.fsync(parent_fd)  # the new entry must outlive a crash, like the blob in it
        except FileExistsError:
            pass  # another writer made it first
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except OSError as exc:
            _refuse_link(exc, os.path.join(where, name))
            raise

    def _open_shard(self, digest: Digest, *, create: bool, stack: ExitStack) -> int | None:
        """A descriptor of the blob's shard directory, closed with ``stack``."""
        algorithm, shard, _ = key_parts(digest)
        fd = self._open_root()
        stack.callback(os.close, fd)
        where = self.root
        for name in (algorithm, shard):
            child = self._open_dir(fd, name, where, create=create)
            if child is None:
                return None
            stack.callback(os.close, child)
            fd, where = child, os.path.join(where, name)
        return fd

    @contextmanager
    def _shard(self, digest: Digest) -> Iterator[int | None]:
        with ExitStack() as stack:
            yield self._open_shard(digest, create=False, stack=stack)

    def _open_blob(self, digest: Digest) -> int:
        _, _, name = key_parts(digest)
        with self._shard(digest) as shard_fd:
            if shard_fd is None:
                raise NotFoundError(f"no blob {digest} in {self.root}")
            try:
                fd = os.open(name, _READ_FLAGS, dir_fd=shard_fd)
            except FileNotFoundError:
                raise NotFoundError(f"no blob {digest} in {self.root}") from None
            except OSError as exc:
                _refuse_link(exc, self.path_for(digest))
                raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise IntegrityError(f"blob {digest} at {self.path_for(digest)} is not a file")
        return fd

    def _stat_blob(self, digest: Digest) -> os.stat_result | None:
        _, _, name = key_parts(digest)
        with self._shard(digest) as shard_fd:
            if shard_fd is None:
                return None
            try:
                st = os.stat(name, dir_fd=shard_fd, follow_symlinks=False)
            except FileNotFoundError:
                return None
        if not stat.S_ISREG(st.st_mode):
            raise IntegrityError(
                f"blob {digest} at {self.path_for(digest)} is a symlink or not a file"
            )
        return st

    def _listdir(self, path: str) -> list[str]:
        if os.path.islink(path):
            raise IntegrityError(f"symlink planted in the blob store: {path}")
        names = []
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    if entry.is_symlink():
                        raise IntegrityError(f"symlink planted in the blob store: {entry.path}")
                    names.append(entry.name)
        except FileNotFoundError:
            return []
        except NotADirectoryError:
            raise IntegrityError(f"{path} in the blob store is not a directory") from None
        return sorted(names)


def from_url(url: str) -> LocalBlobStore:
    """The registry's entry point: a folder path or ``file:///path``."""
    return LocalBlobStore.from_url(url)


def _path_from_url(url: str) -> str:
    if "://" not in url:
        return os.path.expanduser(url)
    parts = urlsplit(url)
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        raise InvalidInputError(
            f"not a local blob store URL: {url!r}", hint="use file:///absolute/path or a path"
        )
    if parts.query or parts.fragment:
        raise InvalidInputError(f"a file:// blob store URL takes no query or fragment: {url!r}")
    return unquote(parts.path)


def _temp_name() -> str:
    return f".tmp-{secrets.token_hex(8)}"


def _refuse_link(exc: OSError, path: str) -> None:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        raise IntegrityError(
            f"{path} is a symlink or not what the blob store expects; refusing to follow it"
        ) from None


def _is_present(shard_fd: int, name: str, size: int, digest: Digest) -> bool:
    """Whether a blob of the right size is already there; a wrong size gets replaced."""
    try:
        st = os.stat(name, dir_fd=shard_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode):
        raise IntegrityError(f"blob {digest} in the store is a symlink or not a file")
    # A wrong size means the stored copy is damaged: the caller overwrites it with the
    # bytes it just hashed, which is the repair.
    return st.st_size == size


def _write_all(out: io.FileIO, data: memoryview) -> None:
    while data:
        data = data[out.write(data) :]


def _copy(source: ByteSource, out: io.FileIO, algorithm: str) -> tuple[Digest, int]:
    hasher = new_hasher(algorithm)
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    readinto = getattr(source, "readinto", None)
    size = 0
    while True:
        if readinto is not None:
            n = readinto(view) or 0
        else:
            chunk = source.read(_CHUNK)
            n = len(chunk)
            view[:n] = chunk
        if not n:
            break
        hasher.update(view[:n])
        _write_all(out, view[:n])
        size += n
    return Digest(algorithm, hasher.hexdigest()), size


def _unlink_quietly(name: str, dir_fd: int) -> None:
    with suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)
