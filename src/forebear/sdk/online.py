"""Online / continuous learning: many small updates, a few aggregate nodes, every one provable.

A model that learns from a stream changes thousands of times a minute; one execution per
update would drown the lineage graph and the journal. Instead each update (the data
packet's digest, the new weights' digest, metrics) costs one canonical-JSON line and one
Merkle leaf in memory, and every ``every`` updates or ``seconds`` seconds (checked at each
update, and by a background timer so a quiet stream still rolls up) the stream rolls them
up into **one** ``online_update`` execution:

- params carry the stream id, the batch number, the first update's index, the count, the
  Merkle root (RFC 9162, leaf = the update's canonical JSON) over the batch, and the
  digest of the update list, which is stored as a blob (canonical JSON lines);
- inputs are the weights the batch started from (role ``previous_weights``: the previous
  batch's last weights, or ``base``) and the first data packet (role ``data``); outputs
  are the last weights (role ``weights``) and the update list (role ``updates``);
- metrics are the last update's metrics.

The journal commits to the aggregate entry and the entry to the root, so any single update
can be proven to be part of the lineage (``forebear prove``, ``forebear.sdk.proofs``)
without one graph node per update::

    with forebear.online("ctr-model", every=1000, seconds=60) as stream:
        for packet in packets:
            stream.update(data_digest=..., weights_digest=..., metrics={"loss": 0.3})
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Final

from forebear._canonical import canonical_text
from forebear.errors import InvalidInputError
from forebear.hashing import is_digest_text
from forebear.journal.merkle import Frontier, leaf_hash
from forebear.model.ids import format_time
from forebear.sdk.session import Session, session_for

__all__ = ["KIND", "OnlineStream", "online"]

KIND: Final = "online_update"
"""The execution kind of an aggregate."""

_FORMAT: Final = 1


class OnlineStream:
    """A stream of incremental updates rolled up into aggregate executions (see module doc)."""

    def __init__(
        self,
        name: str,
        *,
        every: int = 1000,
        seconds: float = 60.0,
        store: Any = None,
        base: str | None = None,
        params: Mapping[str, Any] | None = None,
        actor: str | None = None,
        code: bool = True,
        environment: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
        timer: bool = True,
    ) -> None:
        if not name or not isinstance(name, str):
            raise InvalidInputError("an online stream needs a name",
                                    hint='forebear.online("ctr-model", ...)')
        if every < 1 or seconds <= 0:
            raise InvalidInputError("every must be >= 1 and seconds > 0",
                                    hint="e.g. every=1000, seconds=60")
        if base is not None and not is_digest_text(base):
            raise InvalidInputError(f"base {base[:80]!r} is not a digest",
                                    hint="give the starting weights' sha256:<hex> digest")
        self.session: Session = session_for(store)
        if self.session.blobs is None:
            raise InvalidInputError(
                "an online stream needs a blob store for its update lists",
                hint="use a store with blobs (forebear init), or Session(store, blobs=...)",
            )
        self.name = name
        self.every = int(every)
        self.seconds = float(seconds)
        self.stream_id = self.session.new_id()
        self.actor = actor or self.session.actor
        self.params = dict(params or {})
        self.aggregates: list[str] = []
        """Run ids of the aggregates written so far."""
        self.count = 0
        """Updates recorded so far (the next update's index)."""
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._weights = base
        self._want_code = code
        self._want_env = environment
        self._anchors: dict[str, Any] | None = None
        self._parent: str | None = None
        self._use_timer = timer
        self._timer: threading.Timer | None = None
        self._closed = False
        self._reset()

    def _reset(self) -> None:
        self._lines: list[bytes] = []
        self._frontier = Frontier()
        self._first_data: str | None = None
        self._last_weights: str | None = None
        self._last_metrics: dict[str, Any] | None = None
        self._started_at: str | None = None
        self._opened = self._monotonic()

    # -- context manager ----------------------------------------------------------------
    def __enter__(self) -> OnlineStream:
        from forebear.sdk.run import current_run

        parent = current_run()
        self._parent = parent.run_id if parent is not None else None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the hot path ---------------------------------------------------------------------
    def update(
        self,
        *,
        data_digest: str,
        weights_digest: str,
        metrics: Mapping[str, float] | None = None,
    ) -> int:
        """Record one update; return its index in the stream (0, 1, 2, ...).

        Costs one canonical-JSON line and one leaf hash; every ``every`` updates or
        ``seconds`` seconds the batch becomes one aggregate execution.
        """
        if not (is_digest_text(data_digest) and is_digest_text(weights_digest)):
            bad = data_digest if not is_digest_text(data_digest) else weights_digest
            raise InvalidInputError(f"update digest {str(bad)[:80]!r} is not a digest",
                                    hint="give sha256:<64 lowercase hex> digests")
        # The canonical JSON (RFC 8785) of {"data", "i", "metrics", "weights"}, written
        # directly: keys in code-unit order, digests are plain ASCII that needs no
        # escaping, and only the metrics go through the general encoder (which refuses
        # NaN and other non-JSON values).
        shown = canonical_text(dict(metrics)) if metrics else None
        with self._lock:
            index = self.count
            if shown is None:
                text = f'{{"data":"{data_digest}","i":{index},"weights":"{weights_digest}"}}'
            else:
                text = (f'{{"data":"{data_digest}","i":{index},"metrics":{shown},'
                        f'"weights":"{weights_digest}"}}')
            line = text.encode()
            self._frontier.append(leaf_hash(line))
            self._lines.append(line)
            if self._first_data is None:
                self._first_data = data_digest
                self._started_at = format_time(self.session.clock())
                self._opened = self._monotonic()
                if self._use_timer:
                    self._arm()
            self._last_weights = weights_digest
            if metrics:
                self._last_metrics = dict(metrics)
            self.count = index + 1
            if len(self._lines) >= self.every or (
                self._monotonic() - self._opened >= self.seconds
            ):
                self._flush_locked()
        return index

    # -- rolling up -----------------------------------------------------------------------
    def flush(self) -> str | None:
        """Write the pending updates as one aggregate now; return its run id (None if none)."""
        with self._lock:
            return self._flush_locked()

    def close(self) -> None:
        """Flush what is pending and stop the timer (done by ``with``)."""
        with self._lock:
            self._closed = True
            self._disarm()
            self._flush_locked()

    # -- the timer: a quiet stream still rolls up within ``seconds`` -----------------------
    def _arm(self) -> None:
        self._disarm()
        timer = threading.Timer(self.seconds, self._on_timer, args=(self.count,))
        timer.daemon = True
        timer.name = f"forebear-online-{self.name}"
        self._timer = timer
        timer.start()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self, first_index: int) -> None:
        with self._lock:
            # Only the batch that armed this timer, and only if it is still pending.
            if self._closed or not self._lines or self.count - len(self._lines) != first_index:
                return
            try:
                self._flush_locked()
            except Exception as exc:  # kept pending: the next update or close retries
                sys.stderr.write(f"forebear: could not roll up online updates: {exc}\n")

    def _anchor_fields(self) -> dict[str, Any]:
        if self._anchors is None:
            from forebear.sdk.anchors import code_record, environment_record

            anchors: dict[str, Any] = {}
            if self._want_code:
                code = code_record(self.session)
                if code:
                    anchors["code"] = code
            if self._want_env:
                anchors["environment"] = environment_record(self.session)
            self._anchors = anchors
        return self._anchors

    def _flush_locked(self) -> str | None:
        lines = self._lines
        if not lines:
            return None
        session = self.session
        blob = b"\n".join(lines) + b"\n"
        assert session.blobs is not None
        updates = str(session.blobs.put_bytes(blob))
        first = self.count - len(lines)
        run_id = session.new_id()
        params = {
            **self.params,
            "stream": self.stream_id,
            "batch": len(self.aggregates),
            "first_index": first,
            "count": len(lines),
            "merkle_root": "sha256:" + self._frontier.root().hex(),
            "updates_digest": updates,
            "format": _FORMAT,
            "every": self.every,
            "seconds": self.seconds,
        }
        inputs: list[dict[str, Any]] = []
        if self._weights is not None:
            inputs.append(_ref(self._weights, "model", "previous_weights"))
        assert self._first_data is not None and self._last_weights is not None
        inputs.append(_ref(self._first_data, "data", "data"))
        outputs = [
            _ref(self._last_weights, "model", "weights"),
            {**_ref(updates, "update_log", "updates"), "size": len(blob),
             "name": f"{self.name}#{len(self.aggregates)}.jsonl"},
        ]
        entry: dict[str, Any] = {
            "type": "execution",
            "run_id": run_id,
            "kind": KIND,
            "name": self.name,
            "time": format_time(session.clock()),
            "started_at": self._started_at,
            "status": "succeeded",
            "actor": self.actor,
            "params": params,
            "metrics": self._last_metrics or {},
            "inputs": inputs,
            "outputs": outputs,
            **self._anchor_fields(),
        }
        if self._parent is not None:
            entry["parent_run_id"] = self._parent
        session.store.append(entry)
        self.aggregates.append(run_id)
        self._weights = self._last_weights
        self._disarm()
        self._reset()
        return run_id


def _ref(digest: str, kind: str, role: str) -> dict[str, Any]:
    return {"id": digest, "digest": digest, "kind": kind, "name": None, "uri": None,
            "size": None, "role": role}


def online(name: str, **options: Any) -> OnlineStream:
    """A stream of incremental updates: ``with forebear.online("ctr-model") as stream:``.

    Options: ``every`` (updates per aggregate, default 1000), ``seconds`` (longest time an
    aggregate spans, default 60), ``store``, ``base`` (the starting weights' digest),
    ``params``, ``actor``, ``code`` and ``environment`` (record the anchors, default on),
    ``timer`` (roll up a quiet stream after ``seconds`` from a background timer, default
    on; off, the time limit is checked only at each update and at close).
    """
    return OnlineStream(name, **options)
