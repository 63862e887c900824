"""A write gate: the server's writers to one SQLite file take turns through the kernel.

SQLite lets one process write at a time; a process that finds the database locked sleeps
and polls (1 ms, then 2, 5, 10 ms...), which is slow when an ingest committer and a
projection worker in another process alternate hundreds of times a second. The gate is an
exclusive ``flock`` on a file beside the database, taken around each write transaction:
a waiter is woken the moment the holder lets go. It is advisory and only the server's own
writers (committer, projection worker) take it; other writers still meet SQLite's own
lock, so correctness never depends on it. Stores that are not a local file need no gate.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["WriteGate"]


class WriteGate:
    """An exclusive ``flock`` beside a SQLite store (a no-op for other stores)."""

    def __init__(self, store: Any) -> None:
        path = getattr(store, "path", None)
        self.path: Path | None = (
            Path(path).with_name(Path(path).name + ".gate")
            if isinstance(path, str | Path) and str(getattr(store, "url", "")).startswith(
                "sqlite:") else None
        )
        self._fd: int | None = None
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        """Hold the gate for the block."""
        if self.path is None:
            yield
            return
        with self._lock:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the gate's file."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
