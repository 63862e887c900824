"""``/api/v1/tokens``: token management for admins (the CLI's ``token`` over HTTP)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRouter
from starlette.concurrency import run_in_threadpool

from forebear.server.auth import guarded
from forebear.server.bodies import read_json
from forebear.server.errors import HttpError
from forebear.server.state import state
from forebear.server.tokens import MAX_EXPIRY_DAYS, expiry

router = APIRouter(tags=["tokens"])

CREATE_BODY: dict[str, Any] = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object",
        "required": ["scope"],
        "properties": {
            "scope": {"type": "string", "enum": ["read", "write", "admin"]},
            "namespace": {"type": "string"},
            "name": {"type": "string"},
            "expires_days": {"type": "number", "exclusiveMinimum": 0,
                             "maximum": MAX_EXPIRY_DAYS},
        },
    }}},
}


@guarded(router, "GET", "/api/v1/tokens", scope="admin", summary="Every token (no secrets)")
async def get_tokens(request: Request) -> Any:
    """What ``forebear token list --json`` prints."""
    tokens = await run_in_threadpool(state(request).tokens.list)
    return [info.to_json() for info in tokens]


@guarded(router, "POST", "/api/v1/tokens", scope="admin", status_code=201,
         summary="Create a token (its secret is shown once)",
         openapi_extra={"requestBody": CREATE_BODY})
async def post_token(request: Request) -> JSONResponse:
    """Create a token; the answer holds the token text, which is stored only hashed."""
    found = state(request)
    body = await read_json(request, found.config.max_body)
    if not isinstance(body, dict):
        raise HttpError(400, "invalid_input", "the body must be {\"scope\": ...}")
    scope, namespace, name, days = (body.get("scope"), body.get("namespace"),
                                    body.get("name"), body.get("expires_days"))
    if not isinstance(scope, str) or any(
        v is not None and not isinstance(v, str) for v in (namespace, name)
    ):
        raise HttpError(400, "invalid_input", "scope, namespace and name must be strings")
    expires = expiry(days, "expires_days") if days is not None else None
    info, token = await run_in_threadpool(
        lambda: found.tokens.create(scope, namespace=namespace, name=name, expires_in=expires))
    return JSONResponse({**info.to_json(), "token": token}, status_code=201)


@guarded(router, "DELETE", "/api/v1/tokens/{token_id}", scope="admin",
         summary="Revoke a token")
async def delete_token(
    request: Request,
    token_id: Annotated[str, Path(min_length=1, max_length=64)],
) -> Any:
    """Revoke the token; it stops working at once on this server."""
    info = await run_in_threadpool(state(request).tokens.revoke, token_id)
    return info.to_json()
