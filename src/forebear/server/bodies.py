"""Reading request bodies safely: size limits, media types, gzip, strict JSON.

Every JSON route reads its body through ``read_json``: the body must be declared
``application/json`` (in UTF-8), may be gzip-compressed, must fit the configured limit
once decompressed (413 otherwise, checked while reading, so a huge body is never held in
memory), and must be strict JSON: no duplicate keys (canonicalisation would silently
drop one), no NaN or Infinity, no lone surrogate escapes (``"\\ud800"`` decodes to a
string that has no UTF-8 form, so nothing downstream could encode it), bounded nesting
(``forebear._json.strict_loads``, which event files imported from disk go through too),
and no integer beyond ±(2**53 - 1), which a double cannot hold, except in an OpenLineage
event (``POST /api/v1/lineage``): there it is kept as its exact decimal text, a JSON
string, as I-JSON (RFC 7493) advises and Marquez accepts (Iceberg facets carry 64-bit
snapshot ids); forebear's own routes (``/api/v1/events`` included, whose entries the SDK
writes) keep refusing it.

A body over ``INLINE_PARSE_MAX`` bytes is parsed in a worker thread, so that a few large
ones cannot stall the event loop (and every other request, ``/health`` included) for
seconds; smaller ones are parsed inline, where that costs less than the thread hop.
"""

from __future__ import annotations

import zlib
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from forebear._canonical import BigInts
from forebear._json import MAX_DEPTH, NotStrictJson, strict_loads
from forebear.server.errors import HttpError

MIB = 1024 * 1024
DEFAULT_MAX_BODY = 10 * MIB

INLINE_PARSE_MAX = 64 * 1024
"""The largest body parsed on the event loop: about 2 ms' work for an event that size,
under 20 ms for the slowest JSON to parse (``[{},{},...]``); larger ones are parsed in a
worker thread."""



def too_large(limit: int) -> HttpError:
    """The 413 answer for a body over ``limit`` bytes."""
    return HttpError(
        413, "too_large", f"the request body is over the {limit}-byte limit",
        hint="send fewer events per request, or store large content as a blob",
    )


def _media_type(request: Request) -> tuple[str, dict[str, str]]:
    raw = request.headers.get("content-type", "")
    main, *params = raw.split(";")
    values = {}
    for param in params:
        key, _, value = param.partition("=")
        values[key.strip().lower()] = value.strip().strip('"').lower()
    return main.strip().lower(), values


def require_json(request: Request) -> None:
    """415 unless the request declares a UTF-8 JSON body."""
    media, params = _media_type(request)
    if media != "application/json" or params.get("charset", "utf-8") not in ("utf-8", "utf8"):
        raise HttpError(
            415, "unsupported_media_type",
            "this route takes a JSON body with Content-Type: application/json",
            hint="send the body as UTF-8 JSON and set Content-Type: application/json",
        )


async def read_body(request: Request, limit: int) -> bytes:
    """The whole (decompressed) body, refusing more than ``limit`` bytes with 413."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", ""):
        raise HttpError(415, "unsupported_media_type",
                        f"unsupported Content-Encoding {encoding[:40]!r}",
                        hint="send the body uncompressed or gzip-compressed")
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        if inflate is not None:
            try:
                # max_length bounds the output of every step: a zip bomb stops at the limit.
                chunk = inflate.decompress(chunk, limit + 1 - size)
            except zlib.error:
                raise HttpError(400, "bad_request", "the gzip body does not decompress") from None
            if inflate.unconsumed_tail:
                raise too_large(limit)
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    if inflate is not None and not inflate.eof:
        raise HttpError(400, "bad_request", "the gzip body is truncated")
    return b"".join(chunks)


def parse_json(body: bytes, *, big_ints: BigInts = "refuse") -> Any:
    """Strict JSON (``forebear._json.strict_loads``, ``big_ints`` passed on); 400 naming
    what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "bad_request", "the body is not valid UTF-8") from None
    try:
        return strict_loads(text, max_depth=MAX_DEPTH, big_ints=big_ints)
    except NotStrictJson as exc:
        raise HttpError(400, "bad_request", exc.message, hint=exc.hint) from None


async def parse_json_async(body: bytes, *, big_ints: BigInts = "refuse") -> Any:
    """``parse_json(body)``, in a worker thread when ``body`` is over ``INLINE_PARSE_MAX``
    bytes: parsing 10 MiB takes seconds, during which the event loop would serve nothing."""
    if len(body) <= INLINE_PARSE_MAX:
        return parse_json(body, big_ints=big_ints)
    return await run_in_threadpool(parse_json, body, big_ints=big_ints)


async def read_json(request: Request, limit: int, *, big_ints: BigInts = "refuse") -> Any:
    """Check the media type, read the body within ``limit`` and parse it strictly
    (``big_ints``: see ``forebear._json.strict_loads``; ``"text"`` for OpenLineage events)."""
    require_json(request)
    body = await read_body(request, limit)
    return await parse_json_async(body, big_ints=big_ints)


def idempotency_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key`` header: 1-200 visible ASCII characters, or None."""
    values = request.headers.getlist("idempotency-key")
    if not values:
        return None
    value = values[0].strip()
    if len(values) > 1 or not 0 < len(value) <= 200 or not value.isascii() or not all(
        33 <= ord(c) <= 126 for c in value
    ):
        raise HttpError(400, "bad_request", "Idempotency-Key must be one value of 1-200 "
                        "visible ASCII characters", hint="send a UUID")
    return value
