"""The journal over HTTP: entries, signed checkpoints, inclusion and consistency proofs.

These let a client check the server instead of trusting it: fetch the latest signed
checkpoint (the head the store re-signs at every commit), keep it, and later ask for a
consistency proof from its size to the new one; or fetch an entry and its inclusion
proof. Hashes are ``sha256:<hex>`` text, proof elements lowercase hex, in RFC 9162 order.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRouter
from starlette.concurrency import run_in_threadpool

from forebear.errors import ConfigError, NotFoundError, UsageError
from forebear.server.auth import guarded
from forebear.server.state import state
from forebear.store.base import StoredCheckpoint

router = APIRouter(tags=["journal"])

MAX_RECORDS = 10_000
MAX_INDEX = 2**62
"""Largest index or tree size a request may name (SQLite integers stop at 2**63 - 1)."""


def _hash(value: bytes) -> str:
    return "sha256:" + value.hex()


def _verifier(store: Any) -> str | None:
    verifiers = getattr(store, "verifiers", None)
    found = verifiers() if verifiers is not None else []
    return found[0].encode() if found else None


def checkpoint_json(cp: StoredCheckpoint, key: str | None) -> dict[str, Any]:
    """A stored checkpoint in the DESIGN.md ``checkpoint`` shape."""
    return {
        "origin": cp.note.split("\n", 1)[0],
        "size": cp.size,
        "root": _hash(cp.root),
        "root_base64": base64.b64encode(cp.root).decode(),
        "note": cp.note,
        "key": key,
        "created_at": cp.created_at or None,
    }


@guarded(router, "GET", "/api/v1/journal", scope="read", summary="Journal entries in order")
async def get_journal(
    request: Request,
    start: Annotated[int, Query(ge=0, le=MAX_INDEX, alias="from")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_RECORDS)] = 1000,
) -> Any:
    """What ``forebear journal --json`` prints, ``limit`` entries from ``from``."""
    store = state(request).reader

    def read() -> list[dict[str, Any]]:
        return [record.to_json() for record in store.records(start, start + limit)]

    return await run_in_threadpool(read)


@guarded(router, "GET", "/api/v1/checkpoint", scope="read",
         summary="The latest signed checkpoint")
async def get_checkpoint(request: Request) -> Any:
    """The head the store signed at its latest commit (or its newest stored checkpoint)."""
    store = state(request).reader

    def latest() -> dict[str, Any]:
        head = store.head() if hasattr(store, "head") else None
        if head is None:
            stored = store.checkpoints()
            if not stored:
                raise NotFoundError("no signed checkpoint yet",
                                    hint="append an entry or POST /api/v1/checkpoints")
            head = stored[-1]
        return checkpoint_json(head, _verifier(store))

    return await run_in_threadpool(latest)


@guarded(router, "GET", "/api/v1/checkpoints", scope="read",
         summary="Every stored checkpoint, oldest first")
async def get_checkpoints(request: Request) -> Any:
    """Every checkpoint stored beside the journal."""
    store = state(request).reader

    def listing() -> list[dict[str, Any]]:
        key = _verifier(store)
        return [checkpoint_json(cp, key) for cp in store.checkpoints()]

    return await run_in_threadpool(listing)


@guarded(router, "POST", "/api/v1/checkpoints", scope="write", status_code=201,
         summary="Sign and store a checkpoint of the current journal")
async def post_checkpoint(request: Request) -> JSONResponse:
    """What ``forebear checkpoint --json`` prints."""
    store = state(request).store

    def sign() -> dict[str, Any]:
        return checkpoint_json(store.checkpoint(), _verifier(store))

    return JSONResponse(await run_in_threadpool(sign), status_code=201)


@guarded(router, "GET", "/api/v1/proofs/inclusion", scope="read",
         summary="RFC 9162 inclusion proof of one entry")
async def get_inclusion(
    request: Request,
    index: Annotated[int, Query(ge=0, le=MAX_INDEX)],
    size: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
) -> Any:
    """The proof that entry ``index`` is in the tree of ``size`` (default: all)."""
    store = state(request).reader

    def prove() -> dict[str, Any]:
        tree = store.size() if size is None else size
        proof = store.inclusion_proof(index, tree)
        records = list(store.records(index, index + 1))
        return {
            "index": index,
            "size": tree,
            "root": _hash(store.root(tree)),
            "leaf_hash": _hash(records[0].leaf_hash) if records else None,
            "proof": [node.hex() for node in proof],
        }

    return await run_in_threadpool(prove)


@guarded(router, "GET", "/api/v1/proofs/consistency", scope="read",
         summary="RFC 9162 consistency proof between two tree sizes")
async def get_consistency(
    request: Request,
    old: Annotated[int, Query(ge=0, le=MAX_INDEX)],
    new: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
) -> Any:
    """The proof that the tree of ``old`` entries is a prefix of the tree of ``new``."""
    store = state(request).reader

    def prove() -> dict[str, Any]:
        tree = store.size() if new is None else new
        proof = store.consistency_proof(old, tree)
        return {
            "old": old,
            "new": tree,
            "old_root": _hash(store.root(old)),
            "new_root": _hash(store.root(tree)),
            "proof": [node.hex() for node in proof],
        }

    return await run_in_threadpool(prove)


@guarded(router, "GET", "/api/v1/proofs/update", scope="read",
         summary="Proof that one online-learning update is part of the lineage")
async def get_update_proof(
    request: Request,
    run: Annotated[str, Query(min_length=1, max_length=200)],
    index: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
    update: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
) -> Any:
    """What ``forebear prove RUN INDEX`` (or ``--update N``) shows, for the client to
    re-check: the update line and entry themselves and both inclusion proofs."""
    found = state(request)
    store, blobs = found.reader, found.blobs
    if (index is None) == (update is None):
        raise UsageError("give either index or update", hint="?run=RUN_ID&index=17")
    if blobs is None:
        raise ConfigError("this server has no blob store to read update lists from",
                          hint="start forebear serve with --blob-store or FOREBEAR_BLOBS")

    def prove() -> dict[str, Any]:
        from forebear.sdk.proofs import find_aggregate, prove_update
        from forebear.server.resources.queries import resolve_ref

        run_id, at = resolve_ref(store, run).key, index  # never a path on this disk
        if update is not None:
            run_id, at = find_aggregate(store, run_id, update)
        assert at is not None
        return prove_update(store, blobs, run_id, at).to_json()

    return await run_in_threadpool(prove)


@guarded(router, "GET", "/api/v1/verify", scope="admin",
         summary="Recompute the log, check checkpoints, rebuild projections and compare")
async def get_verify(request: Request) -> Any:
    """What ``forebear verify --json`` prints (reads the whole journal: admin only)."""
    store = state(request).reader
    report = await run_in_threadpool(store.verify)
    return report.to_json()
