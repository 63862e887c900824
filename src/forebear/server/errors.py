"""Every error the server answers is JSON naming the problem and the fix.

``{"error": {"code": STR, "message": STR, "hint": STR}}``: ``ForebearError`` subclasses map
to their HTTP status here, at one choke point; nothing the client sent is echoed back as
HTML, and an unexpected exception is a bare 500 that reveals nothing of the request.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from forebear.errors import (
    AmbiguousRefError,
    AuthError,
    ConflictError,
    ForebearError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    SigningKeyError,
    StoreError,
    TransportError,
    UsageError,
)

log = logging.getLogger("forebear.server")

# Most specific first: the first class an error is an instance of decides.
_STATUS: list[tuple[type[ForebearError], int, str]] = [
    (AmbiguousRefError, 400, "ambiguous_ref"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (InvalidInputError, 400, "invalid_input"),
    (UsageError, 400, "invalid_input"),
    (AuthError, 401, "unauthorized"),
    (IntegrityError, 500, "integrity"),
    (SigningKeyError, 503, "signing_key"),
    (StoreError, 503, "store_unavailable"),
    (TransportError, 502, "bad_gateway"),
]


class HttpError(ForebearError):
    """An error with an explicit HTTP status (413, 415, 403, ...)."""

    def __init__(self, status: int, code: str, message: str, *, hint: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.headers = headers


def error_body(code: str, message: str, hint: str = "", **extra: Any) -> dict[str, Any]:
    """The JSON body of an error answer."""
    body: dict[str, Any] = {"code": code, "message": message}
    if hint:
        body["hint"] = hint
    body.update(extra)
    return {"error": body}


def status_of(exc: ForebearError) -> tuple[int, str]:
    """The HTTP status and error code of a forebear error."""
    if isinstance(exc, HttpError):
        return exc.status, exc.code
    for cls, status, code in _STATUS:
        if isinstance(exc, cls):
            return status, code
    return 500, "internal"


def forebear_error(_: Request, exc: Exception) -> JSONResponse:
    """Starlette handler for ``ForebearError``."""
    assert isinstance(exc, ForebearError)
    status, code = status_of(exc)
    extra: dict[str, Any] = {}
    if isinstance(exc, AmbiguousRefError):
        extra["candidates"] = exc.candidates[:50]
    if status >= 500:
        log.error("%s: %s", code, exc.message)
    headers = exc.headers if isinstance(exc, HttpError) else None
    return JSONResponse(error_body(code, exc.message, exc.hint, **extra), status, headers=headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
}


def http_error(_: Request, exc: Exception) -> JSONResponse:
    """Starlette handler for its own HTTP exceptions (unknown routes, wrong methods)."""
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return JSONResponse(error_body(code, message), exc.status_code, headers=exc.headers)


def validation_error(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI's parameter validation errors, as one readable message."""
    errors: list[dict[str, Any]] = getattr(exc, "errors", list)()
    parts = []
    for item in errors[:5]:
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("query", "path"))
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    message = "; ".join(parts) or "invalid request parameters"
    return JSONResponse(error_body("invalid_input", message), 400)


def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    """Anything else: logged here, never described to the client."""
    log.exception("unexpected error", exc_info=exc)
    return JSONResponse(error_body("internal", "internal server error"), 500)
