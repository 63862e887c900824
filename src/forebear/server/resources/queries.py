"""``show``, ``upstream``, ``downstream``, ``path``, ``diff``, ``log``: the CLI's queries
over HTTP.

Each answers the JSON the CLI prints with ``--json`` (DESIGN.md shapes). REFs arrive as
data: aliases, digests or their 8+ hex prefixes, ``dataset:`` ids, run ids or prefixes;
the server never resolves one as a path on its own disk (a client hashes its local file
and sends the digest). ``wait_for=N`` first waits until the projections reflect the
first N journal entries, so a client can read what it just wrote.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.routing import APIRouter
from starlette.concurrency import run_in_threadpool

from forebear.graph import diff as diffs
from forebear.graph import lineage
from forebear.graph import log as logs
from forebear.graph import show as shows
from forebear.graph.refs import Resolved, resolve
from forebear.server.auth import guarded
from forebear.server.state import state, wait_projected

router = APIRouter(tags=["queries"])

RefQuery = Annotated[str, Query(min_length=1, max_length=4096,
                                description="An alias, digest (or 8+ hex prefix), dataset id, "
                                "or run id (or prefix)")]
WaitQuery = Annotated[int | None, Query(ge=0, le=2**62, description="Wait until this many "
                                        "journal entries are projected")]


def resolve_ref(store: Any, ref: str) -> Resolved:
    """Resolve a REF sent by a client: as data only, never as a server-side path."""
    return resolve(store, ref, files=False)


@guarded(router, "GET", "/api/v1/show", scope="read", summary="The lineage record of a REF")
async def get_show(request: Request, ref: RefQuery, wait_for: WaitQuery = None) -> Any:
    """What ``forebear show REF --json`` prints."""
    await wait_projected(request, wait_for)
    store = state(request).reader

    def build() -> Any:
        return shows.show(store, resolve_ref(store, ref))

    return await run_in_threadpool(build)


def _walk(direction: lineage.Direction) -> Any:
    async def walk(
        request: Request,
        ref: RefQuery,
        depth: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
        kind: Annotated[list[str] | None, Query(max_length=64)] = None,
        limit: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
        offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
        wait_for: WaitQuery = None,
    ) -> Any:
        await wait_projected(request, wait_for)
        store = state(request).reader

        def build() -> Any:
            root = resolve_ref(store, ref)
            return lineage.closure(store, root.node, direction, depth=depth,
                                   kinds=tuple(kind or ()), limit=limit,
                                   offset=offset).to_json()

        return await run_in_threadpool(build)

    walk.__doc__ = f"What ``forebear {direction} REF --json`` prints."
    return walk


guarded(router, "GET", "/api/v1/upstream", scope="read", name="upstream",
        summary="Everything a REF came from")(_walk("upstream"))
guarded(router, "GET", "/api/v1/downstream", scope="read", name="downstream",
        summary="Everything that came from a REF")(_walk("downstream"))


@guarded(router, "GET", "/api/v1/path", scope="read",
         summary="Every path from one REF to another, along the data")
async def get_path(
    request: Request,
    source: Annotated[str, Query(alias="from", min_length=1, max_length=4096,
                                 description="Where the paths start (a REF)")],
    target: Annotated[str, Query(alias="to", min_length=1, max_length=4096,
                                 description="Where the paths end (a REF)")],
    wait_for: WaitQuery = None,
) -> Any:
    """What ``forebear path FROM TO --json`` prints."""
    await wait_projected(request, wait_for)
    store = state(request).reader

    def build() -> Any:
        return lineage.between(store, resolve_ref(store, source).node,
                               resolve_ref(store, target).node).to_json()

    return await run_in_threadpool(build)


@guarded(router, "GET", "/api/v1/diff", scope="read",
         summary="What differs between the lineages of two REFs")
async def get_diff(
    request: Request,
    a: RefQuery,
    b: RefQuery,
    wait_for: WaitQuery = None,
) -> Any:
    """What ``forebear diff A B --json`` prints."""
    await wait_projected(request, wait_for)
    found = state(request)
    store = found.reader
    packages = diffs.blob_packages(found.blobs) if found.blobs is not None else None

    def build() -> Any:
        return diffs.diff(store, resolve_ref(store, a).node, resolve_ref(store, b).node,
                          packages=packages)

    return await run_in_threadpool(build)


@guarded(router, "GET", "/api/v1/log", scope="read", summary="Recent runs, newest first")
async def get_log(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100_000)] = logs.DEFAULT_LIMIT,
    kind: Annotated[str | None, Query(max_length=1024)] = None,
    status: Annotated[str | None, Query(max_length=64)] = None,
    name: Annotated[str | None, Query(max_length=1024)] = None,
    since: Annotated[str | None, Query(max_length=64)] = None,
    until: Annotated[str | None, Query(max_length=64)] = None,
    wait_for: WaitQuery = None,
) -> Any:
    """What ``forebear log --json`` prints."""
    await wait_projected(request, wait_for)
    store = state(request).reader

    def build() -> Any:
        return logs.log(store, limit=limit, kind=kind, status=status, name=name,
                        since=since, until=until)

    return await run_in_threadpool(build)
