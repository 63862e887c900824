"""The ``http(s)://`` store: the SDK's transport to ``forebear serve``, with an offline spool.

Writes never wait for the network. ``append`` and ``append_batch`` validate the entries
(a malformed entry is a bug to report at once) and queue them; a background thread sends
what is queued in batches (``POST /api/v1/events``), each with its own idempotency key.
When the server cannot be reached, or answers 5xx, the batch goes to the spool: one
fsynced JSON file per batch under ``FOREBEAR_SPOOL`` (default ``~/.forebear/spool``), in a
folder per server URL. While anything is spooled, new batches are spooled behind it, so
the server receives them in order; the thread retries with backoff, and any later
process on the machine, or ``forebear spool flush``, sends them when the server is back.
A resent batch keeps its key, so the server journals it once however often it arrives.
At exit (``close``, ``atexit``) whatever is still unsent is spooled. A batch over the
server's body limit (413; ``forebear serve --max-body``) is sent in halves, each with a
key derived from the batch's (``<key>.0``, ``<key>.1``), so that a resend after a crash
is still journaled once. A batch the server refuses as invalid (4xx other than auth) is
moved to ``rejected/`` with the answer, never dropped.

Because sending is asynchronous, ``append`` returns -1 and ``append_batch`` an empty
range: the seqs are known once the server has answered (``flush`` waits for that).
Reads (sizes, proofs, checkpoints, queries) are synchronous HTTP calls and raise
``TransportError`` when the server cannot be reached. Only the standard library is used,
so the SDK needs no extra to talk to a server.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from forebear import _canonical, _json, config
from forebear._http import HttpClient, error_from_response, refusal, retry_later
from forebear.errors import (
    AuthError,
    ForebearError,
    InvalidInputError,
    NotFoundError,
    TransportError,
)
from forebear.model.entries import validate_entry
from forebear.model.ids import uuid7
from forebear.store.base import JournalRecord, Problem, StoredCheckpoint, VerifyReport
from forebear.store.spool import REJECTED, Spool, default_spool_root

__all__ = ["RemoteStore", "Spool", "default_spool_root", "open_from_settings"]

log = logging.getLogger("forebear.remote")

MAX_BATCH_ENTRIES = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
_TOO_LARGE = "too large"  # an outcome of _send: 413 for a batch that can be halved


def _hex_hash(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("sha256:"))


class RemoteStore:
    """A metadata store behind ``forebear serve`` (see the module docstring)."""

    remote = True
    placeholder = "?"

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        spool_root: Path | None = None,
        timeout: float = 10.0,
        linger: float = 0.02,
        close_timeout: float = 5.0,
        max_backoff: float = 30.0,
        sender: bool = True,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = HttpClient(self.url, token, timeout)
        self.spool = Spool(spool_root or default_spool_root(), self.url)
        self._linger = linger
        self._close_timeout = close_timeout
        self._max_backoff = max_backoff
        self._queue: list[list[dict[str, Any]]] = []
        self._cond = threading.Condition()
        self._pending = 0  # entries queued or in flight
        self._inflight: tuple[str, list[dict[str, Any]]] | None = None
        self._retry_at = 0.0
        self._backoff = 0.5
        self._closed = False
        self._warned: set[int] = set()
        self.refused: list[str] = []
        """Why the server refused batches this process appended (``rejected/`` keeps them)."""
        self._pid = os.getpid()
        self._thread: threading.Thread | None = None
        self._sender = sender
        if sender:  # without one (reads, `forebear spool`), appends go to the spool
            self._start()
            atexit.register(_close_at_exit, weakref.ref(self))

    # -- writes ----------------------------------------------------------------------------
    @property
    def token(self) -> str | None:
        """The bearer token this store sends (for a blob store talking to the same server)."""
        return self._http.token

    def append(self, entry: Mapping[str, Any]) -> int:
        """Queue one entry for the server; returns -1 (its seq is not known yet)."""
        self.append_batch([entry])
        return -1

    def append_batch(self, entries: Sequence[Mapping[str, Any]], **_: Any) -> range:
        """Queue entries to be appended together; returns an empty range (seqs come later)."""
        batch = [dict(entry) for entry in entries]
        for index, entry in enumerate(batch):
            try:
                validate_entry(entry)
                _canonical.canonical_bytes(entry)  # what the server will refuse, refused now
            except InvalidInputError as exc:
                prefix = f"entry {index} of the batch: " if len(batch) > 1 else ""
                raise InvalidInputError(prefix + exc.message, hint=exc.hint) from None
        if not batch:
            return range(0)
        if self._sender and os.getpid() != self._pid:  # a forked child starts its own sender
            self._pid = os.getpid()
            self._thread = None
            self._start()
        with self._cond:
            if self._closed or not self._sender:
                self.spool.put(uuid7(), batch)
                return range(0)
            self._queue.append(batch)
            self._pending += len(batch)
            self._cond.notify_all()
        return range(0)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued entry was sent or spooled; True if none is spooled."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._cond.notify_all()
            while self._pending:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left if left is not None else 0.5)
            return not self._pending and not self.spool.files()

    def close(self) -> None:
        """Send what is queued (up to ``close_timeout``), spool the rest, stop the thread."""
        if self._closed:
            return
        self.flush(self._close_timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            # Whatever did not reach the server is spooled, in order. The batch in flight
            # keeps its key: if it did arrive after all, its resend is journaled once.
            left = [*([self._inflight] if self._inflight else []),
                    *((uuid7(), batch) for batch in self._queue)]
            self._inflight = None
            self._queue = []
        for key, batch in left:
            self.spool.put(key, batch)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)
        with self._cond:
            self._pending = 0
            self._cond.notify_all()
        self._http.close_all()

    # -- the sender thread -----------------------------------------------------------------
    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="forebear-sender", daemon=True)
        self._thread.start()

    def _take(self) -> list[dict[str, Any]] | None:
        with self._cond:
            while not self._queue and not self._closed:
                if self.spool.files() and time.monotonic() >= self._retry_at:
                    return []
                self._cond.wait(0.5)
            if self._closed:
                return None
        time.sleep(self._linger)  # let a burst of appends share one request
        with self._cond:
            batch: list[dict[str, Any]] = []
            size = 0
            while self._queue and len(batch) < MAX_BATCH_ENTRIES and size < MAX_BATCH_BYTES:
                unit = self._queue.pop(0)
                batch.extend(unit)
                size += len(json.dumps(unit, default=str))
            return batch

    def _run(self) -> None:
        try:
            while True:
                try:
                    if not self._step():
                        return
                except Exception:  # the sender must outlive any one bad moment
                    log.exception("forebear sender: unexpected error")
                    self._failed()
                    time.sleep(0.1)
        finally:
            self._http.drop()  # this thread's connection

    def _step(self) -> bool:
        batch = self._take()
        if batch is None:
            return False
        if self.spool.files():
            if batch:  # keep order: behind what is already waiting
                self.spool.put(uuid7(), batch)
                self._done(len(batch))
            if time.monotonic() >= self._retry_at:
                sent, _ = self._drain_spool()
                if not sent and self._retry_at <= time.monotonic():
                    # Nothing moved (another process holds the files): look again later.
                    self._retry_at = time.monotonic() + 0.5
            return True
        if batch:
            self._send_batch(batch)
        return True

    def _send_batch(self, batch: list[dict[str, Any]]) -> None:
        key = uuid7()
        with self._cond:
            self._inflight = (key, batch)
        unsent = self._send_parts(key, batch)
        with self._cond:
            if self._inflight is None:  # close() took it over and spooled it
                return
            self._inflight = None
        self._keep(unsent, own=True)
        self._done(len(batch))

    def _send_parts(self, key: str, entries: list[dict[str, Any]],
                    ) -> list[tuple[str, list[dict[str, Any]], str]]:
        """Send ``entries``, in halves while the server finds them too large; the parts
        not sent, in order, each with its key and outcome ('retry' or a refusal)."""
        outcome = self._send(key, entries)
        if outcome == "ok":
            return []
        if outcome != _TOO_LARGE:
            return [(key, entries, outcome)]
        half = len(entries) // 2
        unsent = self._send_parts(f"{key}.0", entries[:half])
        if any(part[2] == "retry" for part in unsent):
            return [*unsent, (f"{key}.1", entries[half:], "retry")]  # keep the order
        return [*unsent, *self._send_parts(f"{key}.1", entries[half:])]

    def _keep(self, unsent: list[tuple[str, list[dict[str, Any]], str]],
              stamp: str | None = None, *, own: bool = False) -> None:
        """Spool the parts to send again, and set aside the ones refused for good
        (``own``: batches this process appended, whose refusals it reports)."""
        for key, entries, outcome in unsent:
            if outcome == "retry":
                self.spool.put(key, entries, stamp=stamp)
                continue
            self.spool.put(key, entries, folder=REJECTED, reason=outcome, stamp=stamp)
            if own:
                self.refused.append(outcome)
            log.warning("forebear server %s refused %d entries (%s); they are kept in %s: "
                        "%s, then run `forebear spool retry`", self.url, len(entries),
                        outcome, self.spool.dir / REJECTED, refusal_fix(outcome))
        if any(outcome == "retry" for _, _, outcome in unsent):
            self._failed()

    def _done(self, count: int) -> None:
        with self._cond:
            self._pending = max(0, self._pending - count)
            self._cond.notify_all()

    def _failed(self) -> None:
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, self._max_backoff)

    def _send(self, key: str, entries: list[dict[str, Any]]) -> str:
        """'ok', 'retry' (keep it), or the server's reason for refusing it for good."""
        body = json.dumps(entries, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            status, answer = self._http.request("POST", "/api/v1/events", body=body,
                                                headers={"Idempotency-Key": key})
        except TransportError:
            return "retry"
        if status in (200, 201):
            self._backoff = 0.5
            return "ok"
        if status == 413 and len(entries) > 1:
            return _TOO_LARGE
        if retry_later(status):
            if status not in self._warned:
                self._warned.add(status)
                log.warning("forebear server %s answered %s; events are kept in %s",
                            self.url, status, self.spool.dir)
            return "retry"
        return refusal(status, answer)

    def _drain_spool(self) -> tuple[int, int]:
        """Send spooled batches oldest first until one fails; (sent, left)."""
        sent = 0
        for path in self.spool.files():
            with self.spool.claim(path) as mine:
                if not mine:
                    continue
                try:
                    key, entries = self.spool.load(path)
                except (OSError, ValueError, KeyError, ForebearError) as exc:
                    log.warning("unreadable spool file %s: %s", path, exc)
                    continue
                unsent = self._send_parts(key, entries)
                if not unsent:
                    path.unlink(missing_ok=True)
                    sent += 1
                    continue
                if len(unsent) == 1 and unsent[0][0] == key:  # sent whole, not taken
                    if unsent[0][2] == "retry":
                        self._failed()
                        break
                    self.spool.reject(path, unsent[0][2])
                    continue
                # Split: what is left takes the batch's place, under the parts' own keys.
                self._keep(unsent, stamp=self.spool.stamp(path))
                path.unlink(missing_ok=True)
                if any(outcome == "retry" for _, _, outcome in unsent):
                    break
                sent += 1
        return sent, len(self.spool.files())

    def flush_spool(self) -> tuple[int, int]:
        """Send every spooled batch now (``forebear spool flush``); (sent, left)."""
        return self._drain_spool()

    # -- reads -----------------------------------------------------------------------------
    def get_json(self, path: str, **params: Any) -> Any:
        """GET an API path; the decoded JSON, or the server's error as a ForebearError."""
        status, body = self._http.request("GET", path, params=params)
        if status != 200:
            raise error_from_response(status, body)
        return _json.loads(body)

    def send_json(self, method: str, path: str, payload: Any = None) -> Any:
        """POST/PUT/DELETE an API path with a JSON body; the decoded JSON answer."""
        data = None if payload is None else json.dumps(payload).encode()
        status, body = self._http.request(method, path, body=data)
        if status not in (200, 201):
            raise error_from_response(status, body)
        return json.loads(body)

    def status(self) -> dict[str, Any]:
        """The server's journal size, projected size and lag."""
        found: dict[str, Any] = self.get_json("/api/v1/status")
        return found

    def size(self) -> int:
        """The number of journal entries on the server."""
        return int(self.status()["journal_size"])

    def projected_size(self) -> int:
        """How many entries the server's projections reflect."""
        return int(self.status()["projected_size"])

    def root(self, size: int | None = None) -> bytes:
        """The Merkle root of the first ``size`` entries (default: all)."""
        tree = self.size() if size is None else size
        found = self.get_json("/api/v1/proofs/consistency", old=tree, new=tree)
        return _hex_hash(found["old_root"])

    def records(self, start: int = 0, end: int | None = None) -> Iterator[JournalRecord]:
        """Journal records in sequence order, fetched a page at a time."""
        position = start
        while end is None or position < end:
            limit = 1000 if end is None else min(1000, end - position)
            page = self.get_json("/api/v1/journal", **{"from": position, "limit": limit})
            for item in page:
                yield JournalRecord(seq=int(item["seq"]),
                                    canonical=item["canonical"].encode("utf-8"),
                                    leaf_hash=_hex_hash(item["leaf_hash"]))
            if len(page) < limit:
                return
            position += len(page)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The RFC 9162 inclusion proof of entry ``index``."""
        found = self.get_json("/api/v1/proofs/inclusion", index=index, size=size)
        return [bytes.fromhex(node) for node in found["proof"]]

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        """The RFC 9162 consistency proof between tree sizes ``old`` and ``new``."""
        found = self.get_json("/api/v1/proofs/consistency", old=old, new=new)
        return [bytes.fromhex(node) for node in found["proof"]]

    @staticmethod
    def _checkpoint(item: Mapping[str, Any]) -> StoredCheckpoint:
        return StoredCheckpoint(size=int(item["size"]), root=_hex_hash(item["root"]),
                                note=str(item["note"]), created_at=item.get("created_at") or "")

    def checkpoint(self) -> StoredCheckpoint:
        """Ask the server to sign and store a checkpoint; return it."""
        return self._checkpoint(self.send_json("POST", "/api/v1/checkpoints", {}))

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every checkpoint stored on the server, oldest first."""
        return [self._checkpoint(item) for item in self.get_json("/api/v1/checkpoints")]

    def head(self) -> StoredCheckpoint | None:
        """The server's latest signed checkpoint."""
        try:
            return self._checkpoint(self.get_json("/api/v1/checkpoint"))
        except NotFoundError:
            return None

    def verifiers(self) -> list[Any]:
        """The key the server's checkpoints are signed with (as it reports it)."""
        from forebear.journal.keys import Verifier

        head = self.get_json("/api/v1/checkpoint")
        return [Verifier.parse(head["key"])] if head.get("key") else []

    def verify(self, progress: Callable[[int], None] | None = None) -> VerifyReport:
        """The server's own verification of its journal and projections (admin token).

        It runs on the server in one request, so ``progress`` is not called.
        """
        found = self.get_json("/api/v1/verify")
        return VerifyReport(
            entries=int(found["entries"]), root=_hex_hash(found["root"]),
            problems=[Problem(seq=p.get("seq"), what=str(p["what"])) for p in found["problems"]],
        )

    def alias_record(self, name: str, at: Any = None) -> dict[str, Any] | None:
        """The alias's latest move (at or before ``at``), or None if there is none."""
        when = at.isoformat() if hasattr(at, "isoformat") else at
        try:
            found: dict[str, Any] = self.get_json(f"/api/v1/aliases/{quote(name, safe='')}",
                                                  at=when, wait_for=self.size())
        except NotFoundError:
            return None
        return found

    def alias_history(self, name: str) -> list[dict[str, Any]]:
        """Every move of alias ``name``, oldest first."""
        found: list[dict[str, Any]] = self.get_json(
            f"/api/v1/alias-history/{quote(name, safe='')}", wait_for=self.size())
        return found

    def resolve_alias(self, name: str, at: Any = None) -> str | None:
        """The digest alias ``name`` points at now (or at ``at``), or None."""
        record = self.alias_record(name, at)
        return None if record is None else str(record["digest"])

    def query(self, endpoint: str, /, *, fresh: bool = True, **params: Any) -> Any:
        """One of the server's queries (``show``, ``upstream``, ``downstream``, ``diff``,
        ``log``, ``flags``) with its parameters; the JSON the CLI prints.

        ``fresh`` waits until the server's projections reflect its whole journal as it is
        now, so a query sees every event journaled before it was asked.
        """
        if fresh and params.get("wait_for") is None:
            params["wait_for"] = self.size()
        return self.get_json(f"/api/v1/{endpoint}", **params)

    def flag(self, ref: str, reason: str) -> dict[str, Any]:
        """Flag the artifact or run ``ref`` names; the flag as the server recorded it."""
        found: dict[str, Any] = self.send_json("POST", "/api/v1/flags",
                                                {"target": ref, "reason": reason})
        return found

    def close_connections(self) -> None:
        """Close this thread's connection (reads reopen one as needed)."""
        self._http.drop()


def _for_its_token(reason: str) -> bool:
    """Whether a refusal (``refusal``'s ``HTTP <status>: ...``) is of the token."""
    return reason.startswith(("HTTP 401", "HTTP 403"))


def refusal_fix(reason: str) -> str:
    """What to do about a refused batch."""
    if _for_its_token(reason):
        return "set FOREBEAR_TOKEN to a token with the write scope"
    return "fix what the server names"


def refusal_error(reason: str) -> ForebearError:
    """The error of a command whose writes the server refused for ``reason``."""
    error = AuthError if _for_its_token(reason) else ForebearError
    return error(f"the server refused what this command wrote ({reason}): not recorded; "
                 "it is kept in the spool's rejected/ folder",
                 hint=f"{refusal_fix(reason)}, then `forebear spool retry` sends it")


def _close_at_exit(ref: weakref.ReferenceType[RemoteStore]) -> None:
    store = ref()
    if store is not None:
        with contextlib.suppress(Exception):
            store.close()


def open_from_settings(settings: config.Settings, *, sender: bool = True) -> RemoteStore:
    """The remote store that ``settings`` name (``FOREBEAR_TOKEN``, ``FOREBEAR_SPOOL``);
    without a ``sender`` thread for work that only reads or sends synchronously."""
    return RemoteStore(settings.store_url, token=settings.token, sender=sender)
