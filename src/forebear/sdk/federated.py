"""Federated learning: rounds of global model -> client updates -> aggregation -> next model.

The data never leaves the clients, so it never enters the record either. Each round is
written atomically when it is aggregated:

- one ``client_update`` execution per client: the round's global model in (role
  ``global_model``), the client's update out (role ``client_update``, by digest only).
  The client is named by a pseudonym, HMAC-SHA-256 of its id under a per-run salt that is
  never journaled (so the same client is linkable across the rounds of one run and not
  across runs, and nobody without the salt can test a guessed id); its data appears only
  as a salted commitment, ``SHA-256("forebear/fl-data/v1" || 0x00 || nonce || SHA-256(data))``
  with a fresh 32-byte nonce that is returned to the caller (the client) to open it later;
- one ``aggregate`` execution: the global model and every client update in, the next
  global model out (role ``model``). The aggregation logic is its transformation: the
  code anchor of the repository, the algorithm and its parameters (FedAvg weights per
  pseudonym), and the aggregator function's qualified name and source digest.

A parent ``federated`` execution spans the whole run; every round's executions carry its
run id as ``parent_run_id``::

    with forebear.federated("fraud-fl", store=...) as fl:
        fl.start("global0.pt")
        for _ in range(3):
            rnd = fl.round()
            for client in clients:
                rnd.client_update(client.id, update=client.weights_digest,
                                  data_digest=client.data_digest, num_examples=client.n)
            rnd.aggregate("global_next.pt")
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

from forebear.errors import InvalidInputError
from forebear.hashing import is_digest_text
from forebear.model.ids import format_time
from forebear.sdk.session import Session, session_for

__all__ = [
    "ClientUpdate",
    "FederatedRun",
    "Round",
    "data_commitment",
    "federated",
    "open_commitment",
    "pseudonym",
]

_COMMIT_TAG: Final = b"forebear/fl-data/v1\x00"

Weights = str | bytes | os.PathLike[str]
"""A model or update: its digest text, its bytes, or a file path."""


def pseudonym(salt: bytes, client_id: str) -> str:
    """The client's pseudonym under ``salt``: 32 hex digits of HMAC-SHA-256."""
    return hmac.new(salt, client_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def data_commitment(data_digest: str, nonce: bytes) -> str:
    """The salted commitment to data whose content digest is ``data_digest``."""
    if not is_digest_text(data_digest) or len(nonce) < 16:
        raise InvalidInputError("a commitment needs a data digest and a nonce of 16+ bytes")
    raw = bytes.fromhex(data_digest.partition(":")[2])
    return "sha256:" + hashlib.sha256(_COMMIT_TAG + nonce + raw).hexdigest()


def open_commitment(commitment: str, *, nonce: bytes, data: bytes) -> bool:
    """Whether ``data`` with ``nonce`` opens ``commitment`` (for an audit, by the client)."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return hmac.compare_digest(data_commitment(digest, nonce), commitment)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientUpdate:
    """One client's update as recorded, and the nonce that opens its data commitment."""

    run_id: str
    client: str
    """The pseudonym."""
    update: str
    commitment: str
    nonce: bytes
    """Kept by the client; never journaled."""
    num_examples: int | None


def _digest_of(session: Session, value: Weights, *, keep: bool) -> tuple[str, int | None]:
    """A digest from digest text, bytes or a path (stored in the blob store if ``keep``)."""
    from forebear.hashing import Digest, hash_path

    if isinstance(value, str) and is_digest_text(value):
        return value, None
    if isinstance(value, bytes | bytearray):
        data = bytes(value)
        if keep and session.blobs is not None:
            return str(session.blobs.put_bytes(data)), len(data)
        return str(Digest.of_bytes(data)), len(data)
    path = os.fspath(value)
    if not os.path.exists(path):
        raise InvalidInputError(f"{path[:80]!r} is neither a digest nor an existing file",
                                hint="give sha256:<hex>, the bytes, or a file path")
    if keep and session.blobs is not None and os.path.isfile(path):
        return str(session.blobs.put_file(path)), os.path.getsize(path)
    size = os.path.getsize(path) if os.path.isfile(path) else None
    return str(hash_path(path)), size


def _ref(digest: str, kind: str, role: str, *, name: str | None = None,
         size: int | None = None) -> dict[str, Any]:
    return {"id": digest, "digest": digest, "kind": kind, "name": name, "uri": None,
            "size": size, "role": role}


def _aggregator_params(aggregator: Callable[..., Any] | None) -> dict[str, Any]:
    if aggregator is None:
        return {}
    name = f"{getattr(aggregator, '__module__', '?')}:{getattr(aggregator, '__qualname__', '?')}"
    out: dict[str, Any] = {"aggregator": name}
    try:
        source = inspect.getsource(aggregator)
    except (OSError, TypeError):
        return out
    out["aggregator_digest"] = "sha256:" + hashlib.sha256(source.encode()).hexdigest()
    return out


class Round:
    """One round: collect client updates, then ``aggregate`` writes the round."""

    def __init__(self, fl: FederatedRun, number: int, global_model: str) -> None:
        self._fl = fl
        self.number = number
        self.global_model = global_model
        self._clients: list[tuple[dict[str, Any], ClientUpdate]] = []
        self._seen: set[str] = set()
        self.done = False

    def client_update(
        self,
        client_id: str,
        *,
        update: Weights,
        data: bytes | os.PathLike[str] | None = None,
        data_digest: str | None = None,
        commitment: str | None = None,
        nonce: bytes | None = None,
        num_examples: int | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> ClientUpdate:
        """Record client ``client_id``'s update (by digest) for this round.

        The data is named by exactly one of: ``data`` (bytes or a path, hashed here and
        never stored), ``data_digest``, or a ready ``commitment`` computed by the client.
        """
        if self.done:
            raise InvalidInputError(f"round {self.number} is already aggregated",
                                    hint="start the next one with fl.round()")
        if not client_id:
            raise InvalidInputError("a client update needs the client's id")
        fl = self._fl
        session = fl.session
        who = pseudonym(fl.salt, client_id)
        if who in self._seen:
            raise InvalidInputError(f"this client already sent an update in round {self.number}")
        given = sum(x is not None for x in (data, data_digest, commitment))
        if given != 1:
            raise InvalidInputError(
                "name the client's data by exactly one of data=, data_digest=, commitment=",
                hint="the data itself is hashed locally and never recorded",
            )
        secret = nonce or os.urandom(32)
        if commitment is not None:
            if not is_digest_text(commitment):
                raise InvalidInputError("commitment must be sha256:<64 hex>")
            committed = commitment
        else:
            if data is not None:
                digest, _ = _digest_of(session, data if isinstance(data, bytes)
                                       else os.fspath(data), keep=False)
            else:
                assert data_digest is not None
                if not is_digest_text(data_digest):
                    raise InvalidInputError("data_digest must be sha256:<64 hex>")
                digest = data_digest
            committed = data_commitment(digest, secret)
        update_digest, size = _digest_of(session, update, keep=fl.keep_updates)
        params: dict[str, Any] = {"round": self.number, "client": who,
                                  "data_commitment": committed}
        if num_examples is not None:
            params["num_examples"] = int(num_examples)
        run_id = session.new_id()
        now = format_time(session.clock())
        entry: dict[str, Any] = {
            "type": "execution", "run_id": run_id, "kind": "client_update",
            "name": f"{fl.name}/round-{self.number}", "time": now, "started_at": now,
            "status": "succeeded", "actor": f"client:{who}", "params": params,
            "metrics": {str(k): float(v) for k, v in (metrics or {}).items()},
            "inputs": [_ref(self.global_model, "model", "global_model")],
            "outputs": [_ref(update_digest, "client_update", "client_update", size=size,
                             name=f"round-{self.number}/{who[:12]}")],
            "parent_run_id": fl.run_id,
        }
        record = ClientUpdate(run_id=run_id, client=who, update=update_digest,
                              commitment=committed, nonce=secret, num_examples=num_examples)
        self._seen.add(who)
        self._clients.append((entry, record))
        return record

    def aggregate(
        self,
        model: Weights,
        *,
        weights: Mapping[str, float] | None = None,
        algorithm: str | None = None,
        params: Mapping[str, Any] | None = None,
        aggregator: Callable[..., Any] | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> str:
        """Record the aggregation into the next global ``model``; write the whole round.

        ``weights`` (client id -> weight) default to FedAvg's ``n_k / n`` when every
        client gave ``num_examples``, else equal weights. Returns the new model's digest.
        """
        if self.done:
            raise InvalidInputError(f"round {self.number} is already aggregated")
        if not self._clients:
            raise InvalidInputError(f"round {self.number} has no client updates",
                                    hint="record rnd.client_update(...) for each client first")
        fl = self._fl
        session = fl.session
        by_client = self._weights(weights)
        digest, size = _digest_of(session, model, keep=True)
        from forebear.sdk.anchors import code_record, environment_record

        run_id = session.new_id()
        now = format_time(session.clock())
        entry: dict[str, Any] = {
            "type": "execution", "run_id": run_id, "kind": "aggregate",
            "name": f"{fl.name}/round-{self.number}", "time": now, "started_at": now,
            "status": "succeeded", "actor": fl.actor,
            "params": {
                **dict(params or {}),
                "round": self.number,
                "algorithm": algorithm or fl.algorithm,
                "weights": by_client,
                "clients": len(self._clients),
                **_aggregator_params(aggregator),
            },
            "metrics": {str(k): float(v) for k, v in (metrics or {}).items()},
            "inputs": [_ref(self.global_model, "model", "global_model")] + [
                {**e["outputs"][0], "role": "client_update"} for e, _ in self._clients
            ],
            "outputs": [_ref(digest, "model", "model", size=size,
                             name=f"{fl.name}/global-{self.number + 1}")],
            "parent_run_id": fl.run_id,
            "environment": environment_record(session),
        }
        code = code_record(session) if fl.code else None
        if code:
            entry["code"] = code
        session.store.append_batch([e for e, _ in self._clients] + [entry])
        self.done = True
        fl._advance(digest)
        return digest

    def _weights(self, weights: Mapping[str, float] | None) -> dict[str, float]:
        salt = self._fl.salt
        records = [r for _, r in self._clients]
        if weights is not None:
            mapped = {pseudonym(salt, cid): float(w) for cid, w in weights.items()}
            missing = [r.client for r in records if r.client not in mapped]
            if missing or len(mapped) != len(records):
                raise InvalidInputError("weights must name exactly the clients of this round")
            return mapped
        counts = [r.num_examples for r in records]
        if all(n is not None and n > 0 for n in counts):
            total = float(sum(n for n in counts if n is not None))
            return {r.client: (r.num_examples or 0) / total for r in records}
        return {r.client: 1.0 / len(records) for r in records}


class FederatedRun:
    """A federated training run (see the module docstring)."""

    def __init__(
        self,
        name: str,
        *,
        store: Any = None,
        salt: bytes | None = None,
        algorithm: str = "fedavg",
        params: Mapping[str, Any] | None = None,
        actor: str | None = None,
        keep_updates: bool = False,
        code: bool = True,
    ) -> None:
        if not name:
            raise InvalidInputError("a federated run needs a name")
        if salt is not None and len(salt) < 16:
            raise InvalidInputError("the pseudonym salt must be at least 16 bytes")
        self.session: Session = session_for(store)
        self.name = name
        self.salt = salt or os.urandom(32)
        """Keep it to recompute pseudonyms later; it is never journaled."""
        self.algorithm = algorithm
        self.params = dict(params or {})
        self.actor = actor or self.session.actor
        self.keep_updates = keep_updates
        self.code = code
        self.run_id = self.session.new_id()
        self.rounds: list[Round] = []
        self.global_model: str | None = None
        self._started = False
        self._ended = False

    def __enter__(self) -> FederatedRun:
        self.begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        from forebear.sdk.run import end_on_exit

        end_on_exit(self.end, exc_type, exc, tb)

    def begin(self) -> None:
        """Write the parent ``federated`` execution's start (done by ``with``)."""
        if self._started:
            return
        self._started = True
        session = self.session
        self.session.store.append({
            "type": "execution.start", "run_id": self.run_id, "kind": "federated",
            "name": self.name, "time": format_time(session.clock()), "actor": self.actor,
            "params": {**self.params, "algorithm": self.algorithm},
        })

    def start(self, model: Weights) -> str:
        """Set the initial global model; return its digest."""
        if self.rounds:
            raise InvalidInputError("the initial model is set before the first round")
        digest, _ = _digest_of(self.session, model, keep=True)
        self.global_model = digest
        return digest

    def round(self) -> Round:
        """Begin the next round from the current global model."""
        if self.global_model is None:
            raise InvalidInputError("no global model yet", hint="call fl.start(model) first")
        if self.rounds and not self.rounds[-1].done:
            raise InvalidInputError(f"round {self.rounds[-1].number} is not aggregated yet")
        rnd = Round(self, len(self.rounds), self.global_model)
        self.rounds.append(rnd)
        return rnd

    def _advance(self, digest: str) -> None:
        self.global_model = digest

    def end(self, status: str = "succeeded", *, error: str | None = None,
            traceback_text: str | None = None) -> None:
        """Write the parent execution's end (done by ``with``)."""
        if self._ended:
            return
        self._ended = True
        entry: dict[str, Any] = {
            "type": "execution.end", "run_id": self.run_id, "status": status,
            "time": format_time(self.session.clock()),
            "metrics": {"rounds": float(sum(r.done for r in self.rounds))},
        }
        if error is not None:
            entry["error"] = error[:4096]
        if traceback_text is not None:
            entry["traceback"] = traceback_text[-65536:]
        self.session.store.append(entry)


def federated(name: str, **options: Any) -> FederatedRun:
    """A federated run: ``with forebear.federated("fraud-fl") as fl:`` (module docstring).

    Options: ``store``, ``salt`` (bytes; random per run by default), ``algorithm``
    (default ``fedavg``), ``params``, ``actor``, ``keep_updates`` (also store client
    updates' bytes, default off), ``code`` (record the code anchor, default on).
    """
    return FederatedRun(name, **options)
