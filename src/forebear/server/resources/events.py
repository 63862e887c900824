"""``POST /api/v1/events``: forebear's own journal entries in batches (the SDK's transport).

The body is a JSON list of journal entries (``forebear.model.entries``), appended
atomically in one durable transaction and answered 201 with their seqs and the journal
size after them (pass that as ``wait_for`` to a query to read your own writes). With an
``Idempotency-Key``, a resent batch gets 200 and the same seqs; the same key with another
body is 409; the key covers the entries as sent, so a resend is recognised whichever
token sends it. Each entry is journaled with ``submitted_by``: ``token:<id>`` of the
token that sent it (see ``forebear.server.auth.stamp_entries``). A token limited to a
namespace may send only execution entries of that namespace and OpenLineage entries of
jobs in it; moving a protected alias (or forcing a move) needs an admin token here as on
``PUT /api/v1/aliases/{name}``.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRouter
from starlette.concurrency import run_in_threadpool

from forebear.errors import InvalidInputError
from forebear.graph._sql import marks, run
from forebear.hashing import Digest
from forebear.model.aliases import new_alias_name
from forebear.model.ids import parse_time
from forebear.model.openlineage import event_namespace, run_id_of
from forebear.server.auth import (
    SUBMITTED_BY,
    check_namespace,
    check_run_namespaces,
    guarded,
    principal,
    stamp_entries,
)
from forebear.server.bodies import idempotency_key, read_json
from forebear.server.committer import user_key
from forebear.server.errors import HttpError
from forebear.server.state import state, wait_projected
from forebear.server.tokens import scope_allows
from forebear.server.validation import validate_run_event
from forebear.store.sql import encode_entries

router = APIRouter(tags=["ingest"])

EVENTS_BODY: dict[str, Any] = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "array",
        "description": "forebear journal entries (see forebear.model.entries)",
        "minItems": 1,
        "items": {"type": "object", "required": ["type", "time"], "properties": {
            "type": {"type": "string"}, "time": {"type": "string"}}},
    }}},
}


def _namespace(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return None
    if entry.get("type") == "openlineage":
        return event_namespace(entry.get("event"))
    if str(entry.get("type", "")).startswith("execution"):
        namespace = entry.get("namespace")
        return namespace if isinstance(namespace, str) else None
    return None


# A client's clock may run a little ahead of the server's; an alias move dated further on
# would be the alias's latest move (``alias show --at``, ``alias history``) until then.
_CLOCK_SKEW = timedelta(minutes=5)


async def _check_alias_moves(request: Request, entries: list[Any]) -> None:
    """What ``PUT /api/v1/aliases/{name}`` checks, for ``alias.set`` entries sent here
    (the SDK's transport): a name that may be set (``new_alias_name``: not shaped like a
    digest prefix it would shadow), a target that is the digest of an artifact (recorded,
    or registered in the same batch), and a time not ahead of the server's clock."""
    moves = [e for e in entries if isinstance(e, dict) and e.get("type") == "alias.set"]
    if not moves:
        return
    found = state(request)
    batch: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        artifact = entry.get("artifact") if entry.get("type") == "artifact" else None
        refs = [artifact] if isinstance(artifact, dict) else [
            *(entry.get("inputs") or ()), *(entry.get("outputs") or ())]
        batch.update(str(r.get("digest")) for r in refs if isinstance(r, dict))
    latest = found.clock() + _CLOCK_SKEW
    wanted: list[str] = []
    for move in moves:
        name = new_alias_name(move.get("name"))
        target = move.get("target")
        if not isinstance(target, str) or not _is_digest(target):
            raise InvalidInputError(f"alias {name!r}: the target {str(target)[:80]!r} is not a "
                                    "content digest", hint="an alias points at an artifact's "
                                    "digest (sha256:<64 hex>)")
        try:
            at = parse_time(str(move.get("time")))
        except ValueError:
            at = None  # validate_entry names it
        if at is not None and at > latest:
            raise InvalidInputError(f"alias {name!r} is moved at {move.get('time')}, ahead of "
                                    "the server's clock", hint="check the client's clock")
        if target not in batch:
            wanted.append(target)
    if not wanted:
        return
    # The journal may hold the targets before the projection does.
    await wait_projected(request, await run_in_threadpool(found.store.size))

    def known() -> set[str]:
        rows = run(found.reader, f"SELECT digest FROM artifact WHERE digest IN "
                                 f"({marks(len(wanted))})", wanted)
        return {row[0] for row in rows}

    missing = sorted(set(wanted) - await run_in_threadpool(known))
    if missing:
        raise InvalidInputError(f"alias target {missing[0]} is not an artifact this store knows",
                                hint="record the artifact first (forebear alias set records a "
                                "file it is given), or send its artifact entry in the same batch")


def _is_digest(text: str) -> bool:
    try:
        Digest.parse(text)
    except InvalidInputError:
        return False
    return True


def _run_of(entry: Any) -> str | None:
    """The run an entry touches, if any (an OpenLineage event's runId as forebear keeps it)."""
    if not isinstance(entry, dict):
        return None
    if entry.get("type") == "openlineage":
        return run_id_of(entry.get("event"))
    run_id = entry.get("run_id")
    return run_id if isinstance(run_id, str) else None


@guarded(router, "POST", "/api/v1/events", scope="write", namespaced=True, status_code=201,
         summary="Append a batch of forebear journal entries",
         openapi_extra={"requestBody": EVENTS_BODY},
         responses={200: {"description": "The same batch was already appended"},
                    201: {"description": "Appended (durable)"},
                    409: {"description": "The Idempotency-Key was used for another body"}})
async def post_events(request: Request) -> JSONResponse:
    """Append the entries atomically; 201 with their seqs once durable."""
    found = state(request)
    key = idempotency_key(request)
    entries = await read_json(request, found.config.max_body)
    if not isinstance(entries, list) or not entries:
        raise HttpError(400, "invalid_input", "the body must be a non-empty JSON list of "
                        "journal entries", hint="send [{\"type\": ..., \"time\": ...}, ...]")
    if len(entries) > found.config.max_batch:
        raise HttpError(400, "invalid_input",
                        f"{len(entries)} entries in one batch; the limit is "
                        f"{found.config.max_batch}", hint="send smaller batches")
    token = principal(request).token
    if token.namespace is not None:
        for entry in entries:
            check_namespace(request, _namespace(entry))
        await check_run_namespaces(request, found.reader, map(_run_of, entries))
    if not scope_allows(token.scope, "admin"):
        for entry in entries:
            if isinstance(entry, dict) and entry.get("type") == "alias.set" and (
                entry.get("name") in found.config.protected_aliases or entry.get("forced")
            ):
                raise HttpError(403, "forbidden",
                                f"alias {str(entry.get('name'))[:200]!r} is protected: moving "
                                "it needs an admin token",
                                hint="ask an admin, or use a token created with --scope admin")
    for entry in entries:
        if isinstance(entry, dict) and entry.get("type") == "openlineage":
            validate_run_event(entry.get("event"))
    await _check_alias_moves(request, entries)
    stamped = stamp_entries(request, entries)
    encoded = encode_entries(stamped)
    request_hash = None
    if key:
        # Over the entries as the client sent them, without the sender: the SDK's spool
        # may resend a batch long after, with another token.
        digest = hashlib.sha256()
        for data in encode_entries([{k: v for k, v in entry.items() if k != SUBMITTED_BY}
                                    for entry in stamped]):
            digest.update(len(data).to_bytes(8, "big") + data)
        request_hash = digest.digest()
    receipt = await found.committer.commit(
        stamped, encoded=encoded, keys=(user_key(key),) if key else (),
        request_hash=request_hash,
    )
    return JSONResponse(receipt.to_json(), status_code=200 if receipt.replayed else 201)
