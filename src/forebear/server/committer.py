"""Group commit: concurrent ingest requests share one durable transaction.

A durable commit costs an fsync, whatever it holds. Requests hand their (already
validated) entries to one committer thread; while it commits a batch, the next requests
queue up, and it takes them all at once for the next transaction. Each request is
answered only after the transaction holding its entries has committed, so an
acknowledgement always means durable, and throughput grows with concurrency instead of
being capped by fsyncs per second.

Idempotency: a request may carry keys (its ``Idempotency-Key``, and for OpenLineage the
event's own digest as well). Each key, the hash of the request and the seqs it was given
are written in the same transaction as the entries. A later request with a known key and
the same hash gets the same seqs back (a replay, answered 200), and its keys not yet
known are recorded for those seqs; a known key with another hash is a conflict (409). If
two server replicas race on one key, the database's primary key refuses the second
transaction and its requests are retried one by one, which turns the loser into a replay.

A connection the database dropped (an idle timeout, a fail-over, a restart) fails the
statement that meets it, and the store reconnects on its next call. So a transaction
that fails with ``StoreError`` is tried again, up to twice: looking keys up is a read,
and a keyed request whose first commit did land after all is found by its key and
answered as a replay. A request without a key is not retried after a failed append,
which might have committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from forebear.errors import ConflictError, StoreError
from forebear.model.ids import Clock, format_time, utc_now
from forebear.server.gate import WriteGate
from forebear.store.idempotency import Known, known_keys, record_keys

log = logging.getLogger("forebear.server")

_RETRIES = 2
_USER = "h:"


def user_key(header: str) -> str:
    """The stored form of an ``Idempotency-Key`` header (apart from event digests)."""
    return _USER + header


def _shown(key: str) -> str:
    return key[len(_USER):] if key.startswith(_USER) else key


@dataclass(frozen=True, slots=True)
class Receipt:
    """Where a request's entries are in the journal."""

    seqs: range
    replayed: bool
    """True when an earlier request with the same key appended them."""

    def to_json(self) -> dict[str, Any]:
        return {"seqs": list(self.seqs), "journal_size": self.seqs.stop}


@dataclass(slots=True, eq=False)
class _Job:
    entries: Sequence[Mapping[str, Any]]
    encoded: Sequence[bytes] | None
    keys: tuple[str, ...]
    request_hash: bytes | None
    waiter: Future[Receipt] | asyncio.Future[Receipt]
    result: Receipt | None = None
    error: BaseException | None = None
    record: list[str] = field(default_factory=list)
    """Keys to record with this job's seqs when it is appended (its own and its
    followers' new keys)."""

    def succeed(self, receipt: Receipt) -> None:
        self.result = receipt

    def fail(self, error: BaseException) -> None:
        self.error = error


def _settle(items: list[tuple[asyncio.Future[Receipt], Receipt | None,
                              BaseException | None]]) -> None:
    for waiter, result, error in items:
        if waiter.cancelled():
            continue  # the client went away; its entries are committed all the same
        if error is not None:
            waiter.set_exception(error)
        else:
            assert result is not None
            waiter.set_result(result)


class Committer:
    """The one writer of ingested entries in this process (see the module docstring)."""

    def __init__(
        self,
        store: Any,
        *,
        max_entries: int = 2000,
        on_commit: Callable[[int], None] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._gate = WriteGate(store)
        self._max = max_entries
        self._on_commit = on_commit
        self._clock = clock
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.entries = 0

    def start(self) -> None:
        """Start the committer thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="forebear-committer",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Commit what is queued, then stop."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _put(self, job: _Job) -> None:
        if self._thread is None:
            raise RuntimeError("the committer is not running")
        self._queue.put(job)

    def submit(
        self,
        entries: Sequence[Mapping[str, Any]],
        *,
        encoded: Sequence[bytes] | None = None,
        keys: Sequence[str] = (),
        request_hash: bytes | None = None,
    ) -> Future[Receipt]:
        """Queue entries for the next commit; the future holds their receipt.

        ``encoded`` is ``encode_entries(entries)``, computed by a caller that validated
        them: a batch is then not validated twice. ``keys`` are the request's idempotency
        keys, the one checked first first (see the module docstring).
        """
        waiter: Future[Receipt] = Future()
        self._put(_Job(entries, encoded, tuple(keys), request_hash, waiter))
        return waiter

    async def commit(
        self,
        entries: Sequence[Mapping[str, Any]],
        *,
        encoded: Sequence[bytes] | None = None,
        keys: Sequence[str] = (),
        request_hash: bytes | None = None,
    ) -> Receipt:
        """Queue entries (see ``submit``) and wait for the receipt on the event loop."""
        waiter: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        self._put(_Job(entries, encoded, tuple(keys), request_hash, waiter))
        return await waiter

    # -- the committer thread ------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while not stopping:
            job = self._queue.get()
            if job is None:
                break
            jobs = [job]
            count = len(job.entries)
            while count < self._max:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                jobs.append(more)
                count += len(more.entries)
            try:
                self._commit(jobs)
            except BaseException as exc:  # never leave a request waiting forever
                for waiting in jobs:
                    if waiting.result is None and waiting.error is None:
                        waiting.fail(exc)
            self._deliver(jobs)

    @staticmethod
    def _deliver(jobs: list[_Job]) -> None:
        """Hand every outcome to its waiter: one wake-up per event loop, not per request."""
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for job in jobs:
            waiter = job.waiter
            if isinstance(waiter, asyncio.Future):
                by_loop.setdefault(waiter.get_loop(), []).append((waiter, job.result,
                                                                  job.error))
            elif job.error is not None:
                waiter.set_exception(job.error)
            elif job.result is not None:
                waiter.set_result(job.result)
        for loop, items in by_loop.items():
            # A closed loop raises RuntimeError: nobody is waiting there any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, items)

    def _commit(self, jobs: list[_Job], retries: int = _RETRIES) -> None:
        for job in jobs:
            job.record = []
        try:
            known = known_keys(self._store, list(dict.fromkeys(
                key for job in jobs for key in job.keys)))
        except Exception as exc:  # the store is unusable: every request fails alike
            if retries and isinstance(exc, StoreError):
                self._commit(jobs, retries - 1)  # on a new connection
                return
            for job in jobs:
                job.fail(exc)
            return
        # Each request is a replay of a known key, a follower of an earlier request of this
        # batch that holds one of its keys, or fresh; its keys nobody holds are recorded.
        leaders: dict[str, _Job] = {}
        followers: list[tuple[_Job, _Job]] = []
        fresh: list[_Job] = []
        late: list[tuple[str, bytes, int, int]] = []  # keys of replays, for known seqs
        for job in jobs:
            leader = None
            for key in job.keys:
                if key in known:
                    _answer(job, known[key], key)
                    break
                if key in leaders:
                    leader = leaders[key]
                    if not _same(leader.request_hash, job.request_hash):
                        job.fail(_conflict(key))
                    break
            else:
                leader = job
                fresh.append(job)
            if job.error is not None:
                continue
            new = [key for key in job.keys if key not in known and key not in leaders]
            if job.result is not None:
                seqs = job.result.seqs
                for key in new:
                    known[key] = (job.request_hash, seqs.start, len(seqs))
                    late.append((key, job.request_hash or b"", seqs.start, len(seqs)))
            elif leader is not None:
                if leader is not job:
                    followers.append((job, leader))
                for key in new:
                    leaders[key] = leader
                leader.record += new
        if fresh:
            try:
                self._append(fresh, late)
                late = []
            except Exception as exc:
                if len(fresh) > 1:
                    # One bad request (or a key another replica just took) must not fail
                    # the others: commit them one by one.
                    for job in fresh:
                        self._commit([job], retries)
                elif retries and isinstance(exc, StoreError) and fresh[0].keys:
                    self._commit(fresh, retries - 1)  # its key tells if the first try landed
                else:
                    fresh[0].fail(exc)
        if late:
            self._record_late(late)
        for job, leader in followers:
            if leader.error is not None:
                job.fail(leader.error)
            elif leader.result is not None:
                first = leader.result.seqs
                _answer(job, (leader.request_hash, first.start, len(first)), None)

    def _record_late(self, rows: list[tuple[str, bytes, int, int]]) -> None:
        # A replay is answered from what is journaled whether or not its new keys get
        # recorded: failing to (another replica took a key meanwhile) costs only that
        # the key stays free for that replica's request.
        now = format_time(self._clock())
        try:
            with self._gate(), self._store.side_write() as cur:
                record_keys(cur, self._store, [(*row, now) for row in rows])
        except Exception:
            log.warning("could not record %d idempotency keys of replayed requests",
                        len(rows), exc_info=True)

    def _append(self, jobs: list[_Job], late: list[tuple[str, bytes, int, int]]) -> None:
        entries = [entry for job in jobs for entry in job.entries]
        spans: list[tuple[_Job, int, int]] = []
        offset = 0
        for job in jobs:
            spans.append((job, offset, len(job.entries)))
            offset += len(job.entries)
        now = format_time(self._clock())
        store = self._store

        def keys(cur: Any, seqs: range) -> None:
            record_keys(cur, store, [
                (key, job.request_hash or b"", seqs.start + start, count, now)
                for job, start, count in spans
                for key in job.record
            ] + [(*row, now) for row in late])

        encoded = None
        if all(job.encoded is not None for job in jobs):
            encoded = [data for job in jobs for data in job.encoded or ()]
        with self._gate():
            seqs = store.append_batch(entries, project=False, before_commit=keys,
                                      encoded=encoded)
        self.batches += 1
        self.entries += len(entries)
        for job, start, count in spans:
            first = seqs.start + start
            job.succeed(Receipt(range(first, first + count), replayed=False))
        if self._on_commit is not None:
            self._on_commit(seqs.stop)


def _same(a: bytes | None, b: bytes | None) -> bool:
    return (a or b"") == (b or b"")


def _conflict(key: str) -> ConflictError:
    return ConflictError(
        f"Idempotency-Key {_shown(key)!r} was already used for a different request",
        hint="use a new key for a new request; resend a request only with its own key",
    )


def _answer(job: _Job, known: Known, key: str | None) -> None:
    """Answer ``job`` as a replay of what ``key`` (None: its leader) recorded."""
    digest, first, count = known
    if not _same(digest, job.request_hash):
        job.fail(_conflict(key or job.keys[0]))
    else:
        job.succeed(Receipt(range(first, first + count), replayed=True))
