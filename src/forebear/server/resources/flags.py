"""``/api/v1/flags``: marking an artifact or run as bad, and listing what is marked.

A flag is a journal entry naming its target's id; it taints everything downstream.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRouter
from starlette.concurrency import run_in_threadpool

from forebear.graph import flags as graph_flags
from forebear.server.auth import SUBMITTED_BY, guarded, principal
from forebear.server.bodies import read_json
from forebear.server.errors import HttpError
from forebear.server.resources.queries import WaitQuery, resolve_ref
from forebear.server.state import state, wait_projected

router = APIRouter(tags=["flags"])

FLAG_BODY: dict[str, Any] = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object",
        "required": ["target", "reason"],
        "properties": {"target": {"type": "string", "description": "A REF"},
                       "reason": {"type": "string"}},
    }}},
}


@guarded(router, "GET", "/api/v1/flags", scope="read", summary="Every flag, newest first")
async def get_flags(request: Request, wait_for: WaitQuery = None) -> Any:
    """What ``forebear flagged --json`` prints."""
    await wait_projected(request, wait_for)
    return await run_in_threadpool(graph_flags.flagged, state(request).reader)


@guarded(router, "POST", "/api/v1/flags", scope="write", status_code=201,
         summary="Flag an artifact or run as bad", openapi_extra={"requestBody": FLAG_BODY})
async def post_flag(request: Request) -> JSONResponse:
    """Append a ``flag`` entry; 201 with the flag as ``flagged`` lists it."""
    found = state(request)
    body = await read_json(request, found.config.max_body)
    if not isinstance(body, dict) or not isinstance(body.get("target"), str) or not isinstance(
        body.get("reason"), str
    ):
        raise HttpError(400, "invalid_input", "the body must be {\"target\": REF, "
                        "\"reason\": TEXT}")
    await wait_projected(request, await run_in_threadpool(found.reader.size))
    target = await run_in_threadpool(resolve_ref, found.reader, body["target"])
    who = principal(request)
    entry = {**graph_flags.flag_entry(target, reason=body["reason"], actor=who.actor,
                                      clock=found.clock), SUBMITTED_BY: who.submitter}
    receipt = await found.committer.commit([entry])
    return JSONResponse(
        {"seq": receipt.seqs.start, "target": entry["target"],
         "target_type": entry["target_type"], "reason": entry["reason"],
         "actor": entry.get("actor"), "flagged_at": entry["time"],
         "journal_size": receipt.seqs.stop},
        status_code=201,
    )
