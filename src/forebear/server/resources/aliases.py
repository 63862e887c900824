"""``/api/v1/aliases/{name}``: mutable names over immutable digests.

``GET`` answers where the alias points now (or at ``?at=TIME``); ``GET .../history``
every move, oldest first; ``PUT`` moves it (an ``alias.set`` journal entry, as
``forebear alias set`` writes it) to the artifact a REF resolves to. Names take their one
canonical form (``forebear.model.aliases``). Moving an alias needs a write token; a
protected alias (``FOREBEAR_PROTECTED_ALIASES`` of the server, default ``production``)
moves only with an admin token, ``force`` and a ``reason``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRouter
from starlette.concurrency import run_in_threadpool

from forebear.errors import ConflictError, InvalidInputError, NotFoundError
from forebear.model.aliases import new_alias_name
from forebear.model.ids import format_time
from forebear.server.auth import SUBMITTED_BY, guarded, principal
from forebear.server.bodies import read_json
from forebear.server.errors import HttpError
from forebear.server.resources.queries import WaitQuery, resolve_ref
from forebear.server.state import state, wait_projected
from forebear.server.tokens import scope_allows

router = APIRouter(tags=["aliases"])

# ``:path``: an alias name may contain "/" (team/fraud@champion); it is the rest of the URL.
NamePath = Annotated[str, Path(min_length=1, max_length=1024,
                               description="The alias name (it may contain /)")]

SET_BODY: dict[str, Any] = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object",
        "required": ["target"],
        "properties": {
            "target": {"type": "string", "description": "A REF naming an artifact"},
            "reason": {"type": "string"},
            "force": {"type": "boolean", "description": "Move a protected alias"},
        },
    }}},
}


@guarded(router, "GET", "/api/v1/aliases/{name:path}", scope="read",
         summary="Where an alias points (now, or at a time)")
async def get_alias(
    request: Request,
    name: NamePath,
    at: Annotated[str | None, Query(max_length=64, description="ISO 8601; UTC without an "
                                    "offset")] = None,
    wait_for: WaitQuery = None,
) -> Any:
    """What ``forebear alias show NAME [--at TIME] --json`` prints."""
    await wait_projected(request, wait_for)
    store = state(request).reader
    record = await run_in_threadpool(store.alias_record, name, at)
    if record is None:
        raise NotFoundError(f"alias {name[:200]!r} was not set" + (f" at {at}" if at else ""),
                            hint="see its history at /api/v1/alias-history/{name}")
    return record


# Not ``/aliases/{name}/history``: with names that hold "/", "x/history" would be both
# the history of "x" and the alias "x/history".
@guarded(router, "GET", "/api/v1/alias-history/{name:path}", scope="read",
         summary="Every move of an alias, oldest first")
async def get_alias_history(request: Request, name: NamePath,
                            wait_for: WaitQuery = None) -> Any:
    """What ``forebear alias history NAME --json`` prints."""
    await wait_projected(request, wait_for)
    return await run_in_threadpool(state(request).reader.alias_history, name)


def _protected(request: Request) -> frozenset[str]:
    return state(request).config.protected_aliases


@guarded(router, "PUT", "/api/v1/aliases/{name:path}", scope="write", status_code=201,
         summary="Move an alias to the artifact a REF names",
         openapi_extra={"requestBody": SET_BODY})
async def put_alias(request: Request, name: NamePath) -> JSONResponse:
    """Append an ``alias.set`` entry; 201 with the alias record and its seq."""
    found = state(request)
    alias = new_alias_name(name)
    body = await read_json(request, found.config.max_body)
    if not isinstance(body, dict) or not isinstance(body.get("target"), str):
        raise HttpError(400, "invalid_input", "the body must be {\"target\": REF, ...}")
    reason, force = body.get("reason"), body.get("force", False)
    if (reason is not None and not isinstance(reason, str)) or not isinstance(force, bool):
        raise HttpError(400, "invalid_input", "reason must be a string and force a boolean")
    reason = (reason or "").strip() or None
    protected = alias in _protected(request)
    token = principal(request).token
    if (force or protected) and not scope_allows(token.scope, "admin"):
        raise HttpError(403, "forbidden", f"alias {alias!r} is protected: moving it needs an "
                        "admin token" if protected else "forcing a move needs an admin token",
                        hint="ask an admin, or use a token created with --scope admin")
    # Resolve against everything journaled so far, so a client can alias what it just sent.
    await wait_projected(request, await run_in_threadpool(found.reader.size))
    target = await run_in_threadpool(resolve_ref, found.reader, body["target"])
    if target.type != "artifact" or target.key.startswith("dataset:"):
        raise InvalidInputError(f"{body['target'][:200]!r} is not an artifact with a content "
                                "digest", hint="an alias points at the digest of a model or "
                                "dataset")
    current = await run_in_threadpool(found.reader.resolve_alias, alias)
    if protected and current is not None and current != target.key:
        if not force:
            raise ConflictError(f"alias {alias!r} is protected: it points at {current}",
                                hint="move it deliberately with force and a reason")
        if not reason:
            raise ConflictError(f"moving protected alias {alias!r} needs a reason")
    entry: dict[str, Any] = {
        "type": "alias.set",
        "time": format_time(found.clock()),
        "name": alias,
        "target": target.key,
        "actor": principal(request).actor,
        SUBMITTED_BY: principal(request).submitter,
    }
    if reason:
        entry["reason"] = reason
    if current is not None and current != target.key:
        entry["previous"] = current
    if force and protected:
        entry["forced"] = True
    receipt = await found.committer.commit([entry])
    return JSONResponse(
        {"name": alias, "digest": target.key, "set_at": entry["time"], "actor": entry["actor"],
         "reason": reason, "seq": receipt.seqs.start, "journal_size": receipt.seqs.stop},
        status_code=201,
    )
