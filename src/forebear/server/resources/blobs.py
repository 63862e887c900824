"""``/api/v1/blobs/{digest}``: artifact bytes by content digest.

``PUT`` streams the body to a temporary file while hashing it, within the server's blob
limit (413 beyond it), and stores it only if it hashes to the digest in the path (400
otherwise); the blob's key is derived from that verified digest alone, never from
anything else the client sends. ``GET`` streams a blob back through the verifying reader:
a blob damaged on disk ends the response early instead of being served whole.

A blob store the server cannot use (a missing bucket, refused or missing credentials, an
unreachable endpoint, a full disk) is the operator's problem, not the client's: it is
answered 503 naming what is wrong, never as a 4xx that would blame the client's request
or its token.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from forebear.errors import (
    AuthError,
    ConfigError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    StoreError,
    TransportError,
)
from forebear.hashing import Digest, new_hasher
from forebear.server.auth import guarded
from forebear.server.bodies import too_large
from forebear.server.errors import HttpError
from forebear.server.state import state

router = APIRouter(tags=["blobs"])

DigestPath = Annotated[str, Path(min_length=1, max_length=80,
                                 description="sha256:<64 lowercase hex>")]
_CHUNK = 1 << 20
log = logging.getLogger("forebear.server")
_BACKEND_ERRORS = (ConfigError, AuthError, TransportError, StoreError, OSError)


def _unavailable(exc: BaseException) -> HttpError:
    reason = exc.message if isinstance(exc, ConfigError | AuthError | TransportError
                                       | StoreError) else (
        getattr(exc, "strerror", None) or type(exc).__name__)
    return HttpError(503, "blob_store_unavailable",
                     f"the server cannot use its blob store: {reason}",
                     hint="the server's operator must fix its blob store (--blob-store, "
                     "FOREBEAR_BLOBS, AWS settings); clients keep blobs until then",
                     headers={"Retry-After": "30"})


async def _blob_call(function: Any, *args: Any) -> Any:
    """``function(*args)`` on a worker thread; backend failures become a 503."""
    try:
        return await run_in_threadpool(function, *args)
    except _BACKEND_ERRORS as exc:
        raise _unavailable(exc) from None


def _digest(text: str, blobs: Any) -> Digest:
    if blobs is None:
        raise NotFoundError("this server keeps no blobs", hint="start it with a blob store")
    digest = Digest.parse(text)
    algorithm = getattr(blobs, "algorithm", "sha256")
    if digest.algorithm != algorithm:
        raise InvalidInputError(f"this blob store keys blobs by {algorithm}, not "
                                f"{digest.algorithm}", hint=f"send the {algorithm} digest")
    return digest


@guarded(router, "PUT", "/api/v1/blobs/{digest}", scope="write",
         summary="Upload a blob; stored only if it hashes to the digest",
         openapi_extra={"requestBody": {"required": True, "content": {
             "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
         responses={200: {"description": "Already stored"}, 201: {"description": "Stored"}})
async def put_blob(request: Request, digest: DigestPath) -> JSONResponse:
    """Store the body under ``digest`` after checking that it hashes to it."""
    found = state(request)
    blobs = found.blobs
    wanted = _digest(digest, blobs)
    limit = found.config.max_blob
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    if await _blob_call(blobs.exists, wanted):
        return JSONResponse({"digest": str(wanted), "stored": False}, status_code=200)
    hasher = new_hasher(wanted.algorithm)
    size = 0
    try:
        fd, tmp = tempfile.mkstemp(prefix="forebear-upload-")
    except OSError as exc:
        raise _unavailable(exc) from None
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise too_large(limit)
                    hasher.update(chunk)
                    await _blob_call(out.write, chunk)
            except ClientDisconnect:
                raise HttpError(400, "bad_request", "the upload ended before its body did",
                                hint="send the whole blob again") from None
        actual = f"{wanted.algorithm}:{hasher.hexdigest()}"
        if actual != str(wanted):
            raise InvalidInputError(f"the body hashes to {actual}, not {wanted}",
                                    hint="upload the bytes of the blob the digest names")
        stored = await _blob_call(blobs.put_file, tmp)
        if stored != wanted:  # the file changed under us: refuse rather than mislabel
            raise InvalidInputError(f"the upload hashed to {stored} when stored")
    finally:
        os.unlink(tmp)
    return JSONResponse({"digest": str(wanted), "size": size, "stored": True}, status_code=201)


@guarded(router, "GET", "/api/v1/blobs/{digest}", scope="read",
         summary="Download a blob, verified against its digest",
         responses={200: {"content": {"application/octet-stream": {}}}})
async def get_blob(request: Request, digest: DigestPath) -> Response:
    """The blob's bytes (``application/octet-stream``)."""
    blobs = state(request).blobs
    wanted = _digest(digest, blobs)
    try:
        size = await _blob_call(blobs.size, wanted)
        stream = await _blob_call(blobs.open, wanted)
    except NotFoundError:
        # The store's own message names where it looked: a path on the server's disk.
        raise NotFoundError(f"this server holds no blob {wanted}",
                            hint="upload it first, or check the digest") from None

    headers = {"Content-Disposition": "attachment", "X-Content-Type-Options": "nosniff"}
    if size <= _CHUNK:
        # Small enough to check whole before answering: a damaged blob is then an error
        # the client can read (500 integrity), not a transfer cut short.
        def whole() -> bytes:
            with stream:
                data: bytes = stream.read()
                return data

        return Response(await _blob_call(whole), media_type="application/octet-stream",
                        headers=headers)

    def chunks() -> Iterator[bytes]:
        # Too big to hold: streamed, and checked as it goes. Damage found once the answer
        # has started can only end it short of its Content-Length, which clients detect.
        with stream:
            try:
                while chunk := stream.read(_CHUNK):
                    yield chunk
            except IntegrityError as exc:
                log.error("blob %s: %s; the download was cut short", wanted, exc.message)

    return StreamingResponse(chunks(), media_type="application/octet-stream",
                             headers={"Content-Length": str(size), **headers})
