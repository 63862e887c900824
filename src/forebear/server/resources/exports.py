"""``GET /api/v1/export``: a lineage as W3C PROV-JSON, a CycloneDX ML-BOM, SLSA provenance
or OpenLineage RunEvents.

What ``forebear export REF --format F`` prints, for tools and auditors that fetch from the
server (``curl -H 'Authorization: Bearer ...'``). The REF is data, as on every query
route; environment package lists come from the server's blob store.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from fastapi.responses import Response
from fastapi.routing import APIRouter
from starlette.concurrency import run_in_threadpool

import forebear
from forebear import _json
from forebear.server.auth import guarded
from forebear.server.resources.queries import RefQuery, WaitQuery, resolve_ref
from forebear.server.state import state, wait_projected

router = APIRouter(tags=["queries"])

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@guarded(router, "GET", "/api/v1/export", scope="read",
         summary="A lineage as PROV-JSON, a CycloneDX ML-BOM, SLSA provenance or "
         "OpenLineage RunEvents")
async def get_export(
    request: Request,
    ref: RefQuery,
    fmt: Annotated[Literal["prov", "cyclonedx", "slsa", "openlineage"], Query(alias="format")],
    direction: Annotated[Literal["upstream", "downstream"], Query()] = "upstream",
    source: Annotated[str | None, Query(alias="from", min_length=1, max_length=4096,
                                        description="Only the paths from this REF")] = None,
    wait_for: WaitQuery = None,
) -> Any:
    """The document ``forebear export REF --format FORMAT --json`` prints, as a download
    (with ``from``, ``--from REF``'s)."""
    from forebear.graph.diff import blob_packages
    from forebear.graph.export import export_document

    await wait_projected(request, wait_for)
    found = state(request)
    store = found.reader
    blobs = found.blobs

    def build() -> tuple[str, Any]:
        return export_document(store, resolve_ref(store, ref), fmt, direction,
                               version=forebear.__version__,
                               loader=None if blobs is None else lambda: blob_packages(blobs),
                               source=None if source is None else resolve_ref(store, source))

    key, document = await run_in_threadpool(build)
    name = _UNSAFE.sub("-", key)[:80] or "lineage"
    return Response(_json.dumps(document, indent=True) + b"\n", media_type="application/json",
                    headers={"Content-Disposition":
                             f'attachment; filename="{name}.{fmt}.json"'})
