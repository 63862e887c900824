"""The asynchronous listener's second half: project journaled entries into the graph.

Ingest makes each event durable in the journal and answers; this worker then applies the
projections of the deferred entries, in journal order, in small transactions (so it
never holds the write lock long enough to delay an ingest commit much). It runs as a
thread of ``forebear serve``, woken by each commit, and as ``forebear worker`` for a
separate deployment, where it polls. Several workers on one store are safe: each batch
reads and advances the projection position inside its own write transaction.

Idempotency keys older than ``key_days`` are pruned here too, once an hour.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from forebear.model.ids import Clock, format_time, utc_now
from forebear.server.gate import WriteGate

log = logging.getLogger("forebear.server")

BATCH = 500
"""Entries projected per transaction."""


class ProjectionWorker:
    """Projects deferred journal entries (see the module docstring)."""

    def __init__(
        self,
        store: Any,
        *,
        batch: int = BATCH,
        poll: float = 0.5,
        key_days: float = 30.0,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        alive: Callable[[], bool] | None = None,
    ) -> None:
        self._store = store
        self._alive = alive
        self._gate = WriteGate(store)
        self._batch = batch
        self._poll = poll
        self._key_age = timedelta(days=key_days)
        self._clock = clock
        self._monotonic = monotonic
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_prune = 0.0
        self.projected = 0
        self.failures = 0

    def wake(self, _size: int | None = None) -> None:
        """Tell the worker that new entries were journaled."""
        self._wake.set()

    def start(self) -> None:
        """Run in a background thread."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self.run, name="forebear-projector",
                                            daemon=True)
            self._thread.start()

    def request_stop(self) -> None:
        """Ask ``run`` to return after its current batch (safe from a signal handler)."""
        self._stop.set()
        self._wake.set()

    def stop(self) -> None:
        """Finish the current batch and stop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def step(self) -> int:
        """Project one batch; return how many entries it held."""
        done: int = self._store.project_pending(self._batch, gate=self._gate)
        self.projected += done
        return done

    def drain(self) -> int:
        """Project until nothing is pending; return how many entries that was."""
        total = 0
        while done := self.step():
            total += done
        return total

    def run(self) -> None:
        """Project until stopped: right away while entries are pending, else on a wake-up."""
        backoff = self._poll
        while not self._stop.is_set():
            try:
                done = self.step()
                self._prune()
                backoff = self._poll
            except Exception:
                # A store that is briefly unusable (locked, restarting) must not end the
                # listener; the entries stay pending and are projected on the next try.
                self.failures += 1
                log.exception("projection failed; retrying in %.1f s", backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                if self._alive is not None and not self._alive():
                    return  # the server that started this worker is gone
                continue
            if done == 0:
                if self._alive is not None and not self._alive():
                    return  # the server that started this worker is gone
                self._wake.wait(self._poll)
                self._wake.clear()

    def _prune(self) -> None:
        now = self._monotonic()
        if now < self._next_prune:
            return
        self._next_prune = now + 3600.0
        cutoff = format_time(self._clock() - self._key_age)
        with self._gate(), self._store.side_write() as cur:
            cur.execute(f"DELETE FROM idempotency_key WHERE created_at < {self._store.placeholder}",
                        (cutoff,))
