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
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRouter

from forebear.model.openlineage import event_namespace
from forebear.server.auth import SUBMITTED_BY, check_namespace, guarded, principal, stamp_entries
from forebear.server.bodies import idempotency_key, read_json
from forebear.server.committer import user_key
from forebear.server.errors import HttpError
from forebear.server.state import state
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
