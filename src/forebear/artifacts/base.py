"""The blob store protocol, the verifying reader every backend shares, the URL registry.

A blob store keeps artifact bytes under their SHA-256 digest (see ``layout``) and hands
them back only if they still match it. Backends live in their own modules and are
imported when a URL first asks for them, so ``import forebear`` never imports boto3:

========================  ==============================
URL                       backend module
========================  ==============================
``/path``, ``rel/path``    ``forebear.artifacts.local``
``file:///path``           ``forebear.artifacts.local``
``s3://bucket/prefix``     ``forebear.artifacts.s3``
========================  ==============================

A backend module exposes ``from_url(url: str) -> BlobStore``.
"""

from __future__ import annotations

import importlib
import io
import os
import stat
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, BinaryIO, Protocol, runtime_checkable

from forebear.errors import ConfigError, IntegrityError, InvalidInputError, NotFoundError
from forebear.hashing import Digest, StrPath, new_hasher

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "BlobStore",
    "BlobStoreFactory",
    "ByteSource",
    "check_reachable",
    "open_blob_store",
    "open_regular_file",
    "register_blob_store",
    "verifying_reader",
]

_CHUNK = 1 << 20


@runtime_checkable
class BlobStore(Protocol):
    """Content-addressed, immutable bytes. Every read is checked against the digest."""

    def put_file(self, path: StrPath) -> Digest:
        """Store the file at ``path`` (hashed while it is copied); return its digest."""
        ...

    def put_bytes(self, data: bytes) -> Digest:
        """Store ``data``; return its digest. Storing bytes already present is a no-op."""
        ...

    def open(self, digest: Digest) -> BinaryIO:
        """A stream of the blob; IntegrityError by the end of it if the bytes do not match.

        NotFoundError if there is no such blob.
        """
        ...

    def get_bytes(self, digest: Digest) -> bytes:
        """The whole blob, verified; IntegrityError names the digest if it does not match."""
        ...

    def exists(self, digest: Digest) -> bool:
        """Whether a blob is stored under ``digest`` (its content is not checked)."""
        ...

    def key_for(self, digest: Digest) -> str:
        """The blob's key in this store (``[<prefix>/]sha256/ab/cdef...``)."""
        ...

    def verify(self, digest: Digest) -> bool:
        """Re-hash the stored blob: True if it matches. NotFoundError if it is missing."""
        ...

    def iter_digests(self) -> Iterator[Digest]:
        """Every stored blob's digest."""
        ...

    def size(self, digest: Digest) -> int:
        """The blob's size in bytes. NotFoundError if it is missing."""
        ...


class ByteSource(Protocol):
    """Anything with ``read``: a file, a socket stream, botocore's StreamingBody."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes; ``b""`` at the end."""
        ...

    def close(self) -> None:
        """Release the source."""
        ...


class _VerifyingRaw(io.RawIOBase):
    """Pass bytes through while hashing them; fail before handing out a mismatched end."""

    def __init__(self, source: ByteSource, digest: Digest, size: int | None) -> None:
        super().__init__()
        self._source = source
        self._readinto = getattr(source, "readinto", None)
        self._digest = digest
        self._size = size
        self._hasher = new_hasher(digest.algorithm)
        self._seen = 0
        self._done = False
        self._error: IntegrityError | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        if self._error is not None:
            raise self._error
        if self._done:
            return 0
        view = memoryview(buffer).cast("B")
        if self._readinto is not None:
            n = self._readinto(view) or 0
        else:
            chunk = self._source.read(len(view))
            n = len(chunk)
            view[:n] = chunk
        self._hasher.update(view[:n])
        self._seen += n
        # Check at the expected last byte, not only at EOF: a reader that stops after
        # exactly `size` bytes must not walk away with unverified data.
        if n == 0 or (self._size is not None and self._seen >= self._size):
            self._check()
        return n

    def readall(self) -> bytes:
        # RawIOBase.readall reads 8 KiB at a time; large blobs deserve larger steps.
        chunks = []
        while chunk := self.read(_CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)

    def _check(self) -> None:
        self._done = True
        actual = self._hasher.hexdigest()
        if (self._size is not None and self._seen != self._size) or actual != self._digest.hex:
            self._error = IntegrityError(
                f"blob {self._digest} is damaged: its bytes hash to "
                f"{self._digest.algorithm}:{actual} ({self._seen} bytes)"
            )
            raise self._error

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()


def verifying_reader(source: ByteSource, digest: Digest, *, size: int | None = None) -> BinaryIO:
    """Wrap ``source`` so that reading it to the end raises IntegrityError on a mismatch.

    ``size``, when known, lets the check fire as the last expected byte arrives. The
    stream is not seekable; closing it closes ``source``.
    """
    return io.BufferedReader(_VerifyingRaw(source, digest, size), _CHUNK)


# -- registry ----------------------------------------------------------------------------

BlobStoreFactory = Callable[[str], BlobStore]
"""Builds a blob store from its URL."""

# A module path is imported on first use and its `from_url` called.
def open_regular_file(path: StrPath) -> io.FileIO:
    """Open ``path`` unbuffered for a blob store's ``put_file``; refuse what is not a file.

    The type is checked on the open descriptor, so the file cannot be swapped for a FIFO
    or a device between the check and the read.
    """
    try:
        source = io.FileIO(path, "rb")  # the caller closes it
    except FileNotFoundError:
        raise NotFoundError(f"no such file: {os.fspath(path)}") from None
    except IsADirectoryError:
        raise InvalidInputError(
            f"{os.fspath(path)} is a directory", hint="store each file, or a tree manifest"
        ) from None
    if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
        source.close()
        raise InvalidInputError(f"{os.fspath(path)} is not a regular file")
    return source


_BACKENDS: dict[str, str | BlobStoreFactory] = {
    "file": "forebear.artifacts.local",
    "s3": "forebear.artifacts.s3",
}
_EXTRAS = {"s3": "s3"}


def register_blob_store(scheme: str, backend: str | BlobStoreFactory) -> None:
    """Serve ``<scheme>://`` URLs with ``backend``: a factory, or a module with ``from_url``."""
    _BACKENDS[scheme.lower()] = backend


def open_blob_store(url: StrPath) -> BlobStore:
    """The blob store at ``url``: a folder path, ``file://...`` or ``s3://bucket/prefix``."""
    text = os.fspath(url)
    if not text:
        raise ConfigError("empty blob store URL", hint="give a folder path or s3://bucket/prefix")
    scheme = text.split("://", 1)[0].lower() if "://" in text else "file"
    backend = _BACKENDS.get(scheme)
    if backend is None:
        raise ConfigError(
            f"unknown blob store URL scheme {scheme!r} in {text!r}",
            hint=f"use a folder path or one of {', '.join(s + '://' for s in sorted(_BACKENDS))}",
        )
    if callable(backend):
        return backend(text)
    factory: BlobStoreFactory | None = getattr(_import_backend(scheme, backend), "from_url", None)
    if factory is None:
        raise ConfigError(f"blob store module {backend} has no from_url(url)")
    return factory(text)


def check_reachable(store: object) -> None:
    """Raise a ForebearError naming the fix unless ``store`` can be used now.

    Backends that can be misconfigured out of sight (an S3 bucket that does not exist,
    missing credentials) offer ``check()``; a folder is created on first write, so a
    local store has nothing to check. Servers and migrations call this before they start.
    """
    check = getattr(store, "check", None)
    if callable(check):
        check()


def _import_backend(scheme: str, module: str) -> object:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module == exc.name or module.startswith(exc.name + ".")):
            raise ConfigError(
                f"the {scheme}:// blob store is not available: module {module} is missing",
                hint="upgrade forebear, or use a local folder as the blob store",
            ) from None
        extra = _EXTRAS.get(scheme)
        install = f"pip install 'forebear[{extra}]'" if extra else f"pip install {exc.name}"
        raise ConfigError(
            f"the {scheme}:// blob store needs the {exc.name} package", hint=install
        ) from exc
