"""``GET /api/v1/status``: journal size, projected size and the lag between them."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.routing import APIRouter
from starlette.concurrency import run_in_threadpool

from forebear.server.auth import guarded
from forebear.server.state import state

router = APIRouter(tags=["server"])


@guarded(router, "GET", "/api/v1/status", scope="read",
         summary="Journal size, projected size and projection lag")
async def get_status(request: Request) -> Any:
    """How far the asynchronous projection is behind the journal."""
    found = state(request)
    store = found.reader

    def sizes() -> tuple[int, int]:
        return int(store.size()), int(store.projected_size())

    size, projected = await run_in_threadpool(sizes)
    worker = found.worker
    return {
        "journal_size": size,
        "projected_size": projected,
        "lag": size - projected,
        "ingest": {"commits": found.committer.batches, "entries": found.committer.entries},
        "worker": None if worker is None else {"projected": worker.projected,
                                              "failures": worker.failures},
    }
