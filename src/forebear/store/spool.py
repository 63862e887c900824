"""The offline spool: batches of journal entries waiting for an unreachable server.

One file per batch, ``<time>-<pid>-<key>.json``, written durably (temp file, fsync,
rename, fsync of the folder) under ``FOREBEAR_SPOOL`` (default ``~/.forebear/spool``), in
a folder per server URL (the URL is written beside the batches). A batch keeps the
idempotency key it was first sent with, so the server journals it once however often it
arrives. Senders take an exclusive ``flock`` on a batch while sending it, so processes
sharing the spool never send one batch at the same time. A batch the server refuses for
good is moved to ``rejected/`` with the server's answer: nothing is ever dropped.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import stat
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from forebear import config
from forebear.errors import ConfigError, ForebearError, InvalidInputError

__all__ = ["REJECTED", "SPOOL_FORMAT", "Spool", "default_spool_root"]

SPOOL_FORMAT = 1
REJECTED = "rejected"

log = logging.getLogger("forebear.spool")


def default_spool_root(environ: Mapping[str, str] | None = None) -> Path:
    """``FOREBEAR_SPOOL``, else ``~/.forebear/spool``."""
    env = os.environ if environ is None else environ
    given = env.get("FOREBEAR_SPOOL")
    return Path(given).expanduser() if given else Path.home() / config.STORE_DIR / config.SPOOL_DIR


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _untrusted(path: Path) -> str | None:
    """Why ``path`` may not be this user's own (None: it is): owned by another user, a
    symbolic link, or writable by others."""
    try:
        found = os.lstat(path)
    except OSError:
        return None  # gone meanwhile: nothing to send from it
    if stat.S_ISLNK(found.st_mode):
        return "is a symbolic link"
    if hasattr(os, "getuid") and found.st_uid != os.getuid():
        return f"belongs to another user (uid {found.st_uid})"
    if found.st_mode & 0o022:
        return f"is writable by others (mode {stat.S_IMODE(found.st_mode):o})"
    return None


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning("%s", message)


class Spool:
    """Batches waiting for one server: one fsynced file per batch, oldest sent first."""

    def __init__(self, root: Path, url: str) -> None:
        self.url = url
        self.root = root
        self.dir = root / hashlib.sha256(url.encode()).hexdigest()[:16]

    def _ensure(self) -> None:
        if not self.dir.is_dir():
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            (self.dir / "url").write_text(self.url + "\n")
        problem = _untrusted(self.dir)
        if problem:
            raise ConfigError(f"the spool folder {self.dir} {problem}: another user could "
                              "plant batches there that would be sent under your token",
                              hint="remove it, or set FOREBEAR_SPOOL to a folder of your own")

    def put(self, key: str, entries: Sequence[Mapping[str, Any]], *,
            folder: str | None = None, reason: str | None = None,
            stamp: str | None = None) -> Path:
        """Write a batch durably (temp file, fsync, rename, fsync the folder).

        ``stamp`` (the time part of another batch's file name) files the batch in that
        batch's place in the sending order instead of last.
        """
        self._ensure()
        target_dir = self.dir / folder if folder else self.dir
        target_dir.mkdir(exist_ok=True, mode=0o700)
        body: dict[str, Any] = {"format": SPOOL_FORMAT, "url": self.url, "key": key,
                                "entries": list(entries)}
        if reason:
            body["reason"] = reason
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        name = f"{stamp or f'{time.time_ns():020d}'}-{os.getpid()}-{key}.json"
        tmp = target_dir / f".tmp-{name}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target_dir / name)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _fsync_dir(target_dir)
        return target_dir / name

    def files(self) -> list[Path]:
        """Spooled batches, oldest first: only those this user wrote, in a folder only this
        user can write to (a batch is sent under the sender's token, so one planted by
        someone else is never sent; it is logged and left alone)."""
        if not self.dir.is_dir():
            return []
        problem = _untrusted(self.dir)
        if problem:
            _warn_once(f"the spool folder {self.dir} {problem}; its batches are not sent "
                       "(remove it, or set FOREBEAR_SPOOL to a folder of your own)")
            return []
        found = []
        for path in sorted(self.dir.glob("*.json")):
            if path.name.startswith("."):
                continue
            problem = _untrusted(path)
            if problem:
                _warn_once(f"the spooled batch {path} {problem}; it is not sent")
                continue
            found.append(path)
        return found

    def rejected(self) -> list[Path]:
        """Batches the server refused, kept for inspection."""
        folder = self.dir / REJECTED
        return sorted(folder.glob("*.json")) if folder.is_dir() else []

    @staticmethod
    def load(path: Path) -> tuple[str, list[dict[str, Any]]]:
        """The key and entries of a spooled batch."""
        body = json.loads(path.read_bytes())
        if not isinstance(body, dict) or body.get("format") != SPOOL_FORMAT:
            raise InvalidInputError(f"{path} is not a forebear spool file")
        return str(body["key"]), list(body["entries"])

    @staticmethod
    def reason(path: Path) -> str:
        """Why the server refused a batch in ``rejected/``."""
        with contextlib.suppress(OSError, ValueError, AttributeError):
            return str(json.loads(path.read_bytes()).get("reason") or "no reason given")
        return "unreadable"

    @staticmethod
    def stamp(path: Path) -> str:
        """The time part of a spooled batch's file name (its place in the sending order)."""
        return path.name.split("-", 1)[0]

    def reject(self, path: Path, reason: str) -> None:
        """Move a batch the server refused to ``rejected/``, with the server's answer."""
        key, entries = self.load(path)
        self.put(key, entries, folder=REJECTED, reason=reason)
        path.unlink(missing_ok=True)

    def requeue(self) -> int:
        """Put the refused batches back in the sending order, each where it was first
        spooled; return how many (``forebear spool retry``)."""
        moved = 0
        for path in self.rejected():
            key, entries = self.load(path)
            self.put(key, entries, stamp=self.stamp(path))
            path.unlink()
            moved += 1
        return moved

    @contextlib.contextmanager
    def claim(self, path: Path) -> Iterator[bool]:
        """Hold an exclusive lock on a spooled batch while sending it (False: taken)."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            yield False
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield path.exists()
        finally:
            os.close(fd)

    def status(self) -> dict[str, Any]:
        """How many batches and entries wait, and since when."""
        files = self.files()
        entries = 0
        for path in files:
            with contextlib.suppress(OSError, ValueError, ForebearError):
                entries += len(self.load(path)[1])
        oldest = None
        if files:
            oldest = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                   time.gmtime(int(files[0].name.split("-", 1)[0]) / 1e9))
        return {"url": self.url, "folder": str(self.dir), "batches": len(files),
                "entries": entries, "oldest": oldest, "rejected": len(self.rejected())}
