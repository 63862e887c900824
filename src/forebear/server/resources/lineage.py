"""``/api/v1/lineage``: OpenLineage ingest and the Marquez-shaped lineage graph.

``POST`` accepts one OpenLineage RunEvent as Marquez does: it is validated against the
shipped 2-0-2 schema and forebear's mapping, journaled exactly as received (an
``openlineage`` entry) and answered 201 with an empty body once durable; its projection
follows asynchronously. Resending the same event is answered 200 and journals nothing:
the event's canonical digest is always one of its idempotency keys, and an
``Idempotency-Key``, when given, is another (reused for another event, it is 409). The
entry's ``actor`` and ``submitted_by`` name the token that sent it. A token limited to a
namespace may send only events of jobs in that namespace, and read the graph around a
job or dataset of that namespace.

OpenLineage 2.x static events (a DatasetEvent or a JobEvent: lineage without a run) are
validated against their own definition and answered 202 with ``{"recorded": false, ...}``:
forebear records runs, so nothing of them is journaled, and a client that emits them
(``openlineage-python``'s ``emit`` raises on any non-2xx) carries on.

``GET ?nodeId=...&depth=...`` answers Marquez's ``{"graph": [...]}`` (see
``forebear.server.marquez``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRouter
from starlette.concurrency import run_in_threadpool

from forebear import _canonical
from forebear.errors import InvalidInputError
from forebear.model.entries import refuse_nul, validate_entry
from forebear.model.ids import format_time
from forebear.model.openlineage import (
    event_key,
    event_namespace,
    run_id_of,
    static_event_type,
)
from forebear.server import marquez
from forebear.server.auth import (
    SUBMITTED_BY,
    check_namespace,
    check_run_namespaces,
    guarded,
    principal,
)
from forebear.server.bodies import idempotency_key, read_json
from forebear.server.committer import user_key
from forebear.server.errors import HttpError
from forebear.server.resources.queries import WaitQuery
from forebear.server.state import state, wait_projected
from forebear.server.validation import validate_event, validate_run_event
from forebear.store.sql import MAX_ENTRY_BYTES

router = APIRouter(tags=["openlineage"])

_DATASET = {
    "type": "object",
    "required": ["namespace", "name"],
    "properties": {
        "namespace": {"type": "string"},
        "name": {"type": "string"},
        "facets": {"type": "object"},
    },
}
RUN_EVENT_BODY: dict[str, Any] = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object",
        "description": "An OpenLineage 2-0-2 RunEvent",
        "required": ["eventTime", "producer", "schemaURL", "run", "job"],
        "properties": {
            "eventType": {"type": "string",
                          "enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
            "eventTime": {"type": "string", "format": "date-time"},
            "producer": {"type": "string"},
            "schemaURL": {"type": "string"},
            "run": {"type": "object", "required": ["runId"], "properties": {
                "runId": {"type": "string", "format": "uuid"},
                "facets": {"type": "object"}}},
            "job": {"type": "object", "required": ["namespace", "name"], "properties": {
                "namespace": {"type": "string"}, "name": {"type": "string"},
                "facets": {"type": "object"}}},
            "inputs": {"type": "array", "items": _DATASET},
            "outputs": {"type": "array", "items": _DATASET},
        },
    }}},
}


@guarded(router, "POST", "/api/v1/lineage", scope="write", namespaced=True, status_code=201,
         summary="Ingest one OpenLineage RunEvent (as Marquez does)",
         openapi_extra={"requestBody": RUN_EVENT_BODY},
         responses={200: {"description": "The same event was already journaled"},
                    201: {"description": "Journaled (durable); empty body"},
                    202: {"description": "A DatasetEvent or JobEvent: valid, not recorded "
                          "(forebear records runs); says so in the body"}})
async def post_lineage(request: Request) -> Response:
    """Journal one OpenLineage RunEvent; 201 once durable, 200 for a resent event."""
    found = state(request)
    key = idempotency_key(request)
    # Other tools' facets hold 64-bit ids (an Iceberg snapshotId): kept as exact text.
    event = await read_json(request, found.config.max_body, big_ints="text")
    if not isinstance(event, dict):
        raise HttpError(400, "invalid_input", "the body must be one OpenLineage RunEvent "
                        "object", hint="send one event per request")
    if static_event_type(event) is not None:
        return static_answer(request, event)
    validate_run_event(event)
    check_namespace(request, event_namespace(event))
    await check_run_namespaces(request, found.reader, [run_id_of(event)])
    who = principal(request)
    entry = {
        "type": "openlineage",
        "time": format_time(found.clock()),
        "actor": who.actor,
        SUBMITTED_BY: who.submitter,
        "event": event,
    }
    validate_entry(entry)
    event_bytes = _canonical.canonical_bytes(event)
    event_id, digest = event_key(event_bytes)
    receipt = await found.committer.commit(
        [entry], encoded=[entry_bytes(entry, event_bytes)],
        keys=(user_key(key), event_id) if key else (event_id,), request_hash=digest,
    )
    return Response(status_code=200 if receipt.replayed else 201)


def static_answer(request: Request, event: dict[str, Any]) -> JSONResponse:
    """The answer to a valid static event: 202, nothing journaled (see the module docstring).

    A JobEvent names a job, so a token limited to a namespace is held to it as for a
    RunEvent; a DatasetEvent names none, and nothing of it is kept to guard.
    """
    kind = validate_event(event)
    if kind == "JobEvent":
        check_namespace(request, event_namespace(event))
    return JSONResponse(status_code=202, content={
        "recorded": False,
        "event_type": kind,
        "detail": f"forebear records runs: a {kind} has no run, so it was accepted and not "
                  "recorded; its datasets and jobs appear once a RunEvent names them",
    })


def entry_bytes(entry: dict[str, Any], event_bytes: bytes) -> bytes:
    """The canonical bytes of an ``openlineage`` entry, around its event's canonical bytes.

    RFC 8785 sorts keys by UTF-16 code units (actor < event < submitted_by < time < type),
    so the entry's form is its event's form with a few short members around it: the event,
    the bulk of the entry, is encoded once instead of twice.
    """
    sender = entry.get(SUBMITTED_BY)
    data = b"".join((
        b'{"actor":', _canonical.canonical_bytes(entry["actor"]), b',"event":', event_bytes,
        b"" if sender is None else b',"submitted_by":' + _canonical.canonical_bytes(sender),
        b',"time":', _canonical.canonical_bytes(entry["time"]), b',"type":"openlineage"}',
    ))
    if len(data) > MAX_ENTRY_BYTES:
        raise InvalidInputError(f"the event is {len(data)} bytes, over the {MAX_ENTRY_BYTES}-"
                                "byte limit of one journal entry",
                                hint="store large facets as blobs and send their digests")
    refuse_nul(data)
    return data


@guarded(router, "GET", "/api/v1/lineage", scope="read", namespaced=True,
         summary="The lineage graph around a node, in Marquez's shape")
async def get_lineage(
    request: Request,
    node_id: Annotated[str, Query(alias="nodeId", min_length=1, max_length=4096,
                                  description="job:<namespace>:<name> or "
                                  "dataset:<namespace>:<name>")],
    depth: Annotated[int, Query(ge=0, le=marquez.MAX_DEPTH)] = 20,
    wait_for: WaitQuery = None,
) -> dict[str, Any]:
    """Marquez's ``{"graph": [...]}`` around ``nodeId``, ``depth`` hops each way."""
    limit = principal(request).token.namespace
    kind = node_id.partition(":")[0]
    if limit is not None and kind in ("job", "dataset") and not node_id.startswith(
        f"{kind}:{limit}:"
    ):
        raise HttpError(
            403, "forbidden",
            f"this token is limited to namespace {limit!r}: it reads the graph around "
            f"job:{limit}:<name> and dataset:{limit}:<name> only, not {node_id[:200]!r}",
            hint="use a token for that namespace, or one without --namespace")
    await wait_projected(request, wait_for)
    store = state(request).reader
    graph: dict[str, Any] = await run_in_threadpool(
        lambda: marquez.lineage(store, node_id, depth, namespace=limit))
    return graph
