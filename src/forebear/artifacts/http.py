"""Blobs kept by a forebear server: ``PUT``/``GET /api/v1/blobs/{digest}``.

The SDK uses it when its store is ``http(s)://`` and no ``FOREBEAR_BLOBS`` is set, so a
run's outputs reach the server with its events. The server stores a body only if it
hashes to the digest in the path. Like events, blobs never fail a training job: bytes
that cannot be sent now (server down, a refused token, a server error) wait in the spool
(``<spool>/<server>/blobs/``, fsynced) and go with the next upload or
``forebear spool flush``. Bytes the server refuses for good (over its size limit, a
server that keeps no blobs) are not copied into the spool, where they would wait
forever and hold up the blobs behind them: a warning says why, and the run's record
keeps their digest. A spooled blob refused for good is moved to ``blobs/rejected/``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

from forebear._http import HttpClient, refusal, retry_later
from forebear.errors import IntegrityError, NotFoundError, TransportError
from forebear.hashing import Digest, StrPath, hash_file

_CHUNK = 1 << 20
# A blob is checked against its digest, so sending it later under another token claims
# nothing: one refused for its token waits in the spool, unlike the entries naming it.
_AUTH = (401, 403)


class HttpBlobStore:
    """A blob store behind a forebear server (see the module docstring)."""

    algorithm = "sha256"

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        spool_root: Path | None = None,
        timeout: float = 60.0,
    ) -> None:
        from forebear.store.spool import REJECTED, Spool, default_spool_root

        self._http = HttpClient(url, token, timeout, headers={"User-Agent": "forebear-blobs"})
        self.url = self._http.url
        self.pending_dir = Spool(spool_root or default_spool_root(), self.url).dir / "blobs"
        self.rejected_dir = self.pending_dir / REJECTED
        self.refused: list[tuple[Digest, str]] = []
        """Blobs the server refused for good, when sent or from the spool, and why."""

    # -- HTTP -------------------------------------------------------------------------
    @staticmethod
    def _path(digest: Digest) -> str:
        return f"/api/v1/blobs/{digest}"

    def _upload(self, digest: Digest, body: bytes | IO[bytes], size: int) -> tuple[int, str]:
        """PUT the bytes; the HTTP status (0 when the server cannot be reached) and why."""
        try:
            status, answer = self._http.request(
                "PUT", self._path(digest), body=body,
                headers={"Content-Type": "application/octet-stream",
                         "Content-Length": str(size)})
        except TransportError as exc:
            return 0, f"cannot reach it: {exc.message}"
        if status in (200, 201):
            return status, "stored"
        return status, refusal(status, answer)

    # -- writes -----------------------------------------------------------------------
    def put_bytes(self, data: bytes) -> Digest:
        """Send ``data`` (or spool it); return its digest."""
        digest = Digest.of_bytes(data)
        self._sent(digest, *self._upload(digest, data, len(data)),
                   lambda target: target.write(data))
        return digest

    def put_file(self, path: StrPath) -> Digest:
        """Send the file's bytes, streamed (or spool them); return their digest."""
        digest = hash_file(path)
        size = os.path.getsize(path)
        with open(path, "rb") as source:
            status, reason = self._upload(digest, source, size)
        self._sent(digest, status, reason, lambda target: _copy(path, target))
        return digest

    def _sent(self, digest: Digest, status: int, reason: str,
              write: Callable[[IO[bytes]], object]) -> None:
        if status in (200, 201):
            self.flush_pending()
        elif retry_later(status) or status in _AUTH:
            self._spool(digest, write, reason)
        else:
            self.refused.append((digest, reason))
            sys.stderr.write(f"forebear: {self.url} refused blob {digest} ({reason}); the "
                             "record keeps its digest, but the server has no copy\n")

    def _spool(self, digest: Digest, write: Callable[[IO[bytes]], object],
               reason: str) -> None:
        self.pending_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        final = self.pending_dir / digest.hex
        if final.exists():
            return
        fd, tmp = tempfile.mkstemp(dir=self.pending_dir, prefix=".tmp-")
        with os.fdopen(fd, "wb") as target:
            write(target)
            target.flush()
            os.fsync(target.fileno())
        os.replace(tmp, final)
        sys.stderr.write(
            f"forebear: {self.url} did not take blob {digest} ({reason}); it waits in the "
            "spool (`forebear spool flush` sends it)\n"
        )

    def pending(self) -> list[Path]:
        """Spooled blobs not yet sent, oldest first."""
        if not self.pending_dir.is_dir():
            return []
        found = [p for p in self.pending_dir.iterdir()
                 if not p.name.startswith(".") and p.is_file()]
        return sorted(found, key=lambda p: p.stat().st_mtime_ns)

    def flush_pending(self) -> int:
        """Send spooled blobs; return how many went.

        Stops at the first that cannot be sent now (the rest would fail alike); one the
        server refuses for good is moved to ``rejected/`` and listed in ``refused``.
        """
        sent = 0
        for path in self.pending():
            digest = Digest("sha256", path.name)
            if hash_file(path) != digest:
                path.unlink()  # damaged in the spool: the server would refuse it anyway
                continue
            with open(path, "rb") as source:
                status, reason = self._upload(digest, source, path.stat().st_size)
            if status in (200, 201):
                path.unlink()
                sent += 1
            elif retry_later(status) or status in _AUTH:
                break
            else:
                self.rejected_dir.mkdir(exist_ok=True, mode=0o700)
                path.replace(self.rejected_dir / path.name)
                self.refused.append((digest, reason))
        return sent

    # -- reads ------------------------------------------------------------------------
    def get_bytes(self, digest: Digest) -> bytes:
        """The blob's bytes, checked against ``digest``."""
        status, data = self._http.request("GET", self._path(digest),
                                          headers={"Accept": "application/octet-stream"})
        if status == 404:
            raise NotFoundError(f"blob {digest} is not on {self.url}")
        if status != 200:
            raise TransportError(f"{self.url} answered {status} for blob {digest}")
        if Digest.of_bytes(data, digest.algorithm) != digest:
            raise IntegrityError(f"blob {digest} from {self.url} does not match its digest")
        return data

    def open(self, digest: Digest) -> BinaryIO:
        """The blob as a file object (read whole and checked first)."""
        import io

        return io.BytesIO(self.get_bytes(digest))

    def exists(self, digest: Digest) -> bool:
        """Whether the server holds the blob."""
        try:
            self.get_bytes(digest)
        except NotFoundError:
            return False
        return True

    def verify(self, digest: Digest) -> bool:
        """Whether the server's copy still matches its digest."""
        try:
            self.get_bytes(digest)
        except IntegrityError:
            return False
        return True

    def key_for(self, digest: Digest) -> str:
        """The blob's address on the server."""
        return self.url + self._path(digest)

    def iter_digests(self) -> Iterator[Digest]:
        """Not offered by the server: listing blobs is an operator's task there."""
        return iter(())

    def size(self, digest: Digest) -> int:
        """The blob's size in bytes."""
        return len(self.get_bytes(digest))


def _copy(path: StrPath, target: IO[bytes]) -> None:
    with open(path, "rb") as source:
        shutil.copyfileobj(source, target, _CHUNK)
