"""Keeping ``forebear serve``'s projection worker process alive.

``forebear serve`` projects in a child process (``forebear worker``). Ingest does not need
it, so if the child dies (the OOM killer, a crash) nothing fails at once: the journal
keeps growing, the projections stop, and every query waits for entries that are never
projected. ``WorkerProcess`` watches the child and, when it dies (any exit but a clean one: a
stopped worker exits 0), starts a new one after a pause that grows while it keeps
dying, so projection resumes where it stopped (the position lives in the database, and
an unfinished batch was rolled back).

The store URL goes to the child in its environment (``FOREBEAR_STORE``), not on its
command line, where any user of the machine could read a database password.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

__all__ = ["WorkerProcess"]

log = logging.getLogger("forebear.server")

# Restarts wait 0.5 s, doubling to 30 s while the worker keeps dying; a worker that ran a
# minute was healthy, so its next death waits 0.5 s again.
_FIRST_DELAY = 0.5
_MAX_DELAY = 30.0
_HEALTHY_AFTER = 60.0


class WorkerProcess:
    """A ``forebear worker`` child for the store at ``store_url``, restarted if it dies."""

    def __init__(self, store_url: str, *, poll: float = 0.01) -> None:
        self._command = [sys.executable, "-m", "forebear", "worker", "--poll", str(poll),
                         "--parent", str(os.getpid())]
        self._env = {**os.environ, "FOREBEAR_STORE": store_url}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self._command, env=self._env, stdin=subprocess.DEVNULL)

    def start(self) -> None:
        """Start the child and the thread that watches it."""
        with self._lock:
            self._proc = self._spawn()
        self._thread = threading.Thread(target=self._watch, name="forebear-worker-watch",
                                        daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        delay = _FIRST_DELAY
        while True:
            proc = self._proc
            assert proc is not None
            started = time.monotonic()
            code = proc.wait()
            if self._stopping.is_set() or code == 0:
                # 0 is a deliberate stop: Ctrl-C or SIGTERM reach the whole process group,
                # so the child often stops just before this server does.
                return
            if time.monotonic() - started >= _HEALTHY_AFTER:
                delay = _FIRST_DELAY  # it had been running fine: not a crash loop
            log.warning("the projection worker (pid %d) exited with code %s; starting "
                        "another in %.1f s", proc.pid, code, delay)
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self._proc = self._spawn()
            delay = min(delay * 2, _MAX_DELAY)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching, then stop the child (SIGTERM; SIGKILL after ``timeout``)."""
        with self._lock:
            self._stopping.set()
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
