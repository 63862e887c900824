"""What every request handler reaches: the store, tokens, committer, worker and limits."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from forebear.model.ids import Clock, utc_now
from forebear.server.bodies import DEFAULT_MAX_BODY
from forebear.server.committer import Committer
from forebear.server.errors import HttpError
from forebear.server.tokens import TokenStore
from forebear.server.worker import ProjectionWorker

__all__ = ["ServerConfig", "ServerState", "state", "wait_projected"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """Limits and policies of one server."""

    max_body: int = DEFAULT_MAX_BODY
    """Largest JSON request body, in bytes (after gzip decompression)."""
    max_blob: int = 4 * 1024**3
    """Largest blob upload, in bytes."""
    protected_aliases: frozenset[str] = field(default_factory=lambda: frozenset({"production"}))
    """Aliases that only an admin token may move."""
    wait_timeout: float = 5.0
    """Longest a query waits for ``wait_for`` before answering 503: shorter than clients'
    own timeouts (the CLI's is 10 s), so that they hear why rather than time out."""
    max_batch: int = 10_000
    """Most entries one ``POST /api/v1/events`` may carry."""


@dataclass(slots=True, kw_only=True)
class ServerState:
    """The objects shared by every request of one app."""

    store: Any
    tokens: TokenStore
    committer: Committer
    worker: ProjectionWorker | None
    blobs: Any
    config: ServerConfig
    clock: Clock = utc_now
    reader: Any = None
    """The store that queries read (another connection to the same database, so a long
    query never holds up ingest); the write store when there is none."""

    def __post_init__(self) -> None:
        if self.reader is None:
            self.reader = self.store


def state(request: Request) -> ServerState:
    """The app state of ``request``."""
    found: ServerState = request.app.state.forebear
    return found


async def wait_projected(request: Request, wait_for: int | None) -> None:
    """Return once the projections reflect the first ``wait_for`` journal entries.

    400 if the journal is shorter than that; 503 (retry later) if the worker has not got
    there within the configured wait.
    """
    if wait_for is None:
        return
    found = state(request)
    store = found.reader

    def sizes() -> tuple[int, int]:
        return int(store.size()), int(store.projected_size())

    deadline = time.monotonic() + found.config.wait_timeout
    pause = 0.002
    while True:
        size, projected = await run_in_threadpool(sizes)
        if wait_for > size or wait_for < 0:
            raise HttpError(400, "invalid_input",
                            f"wait_for={wait_for} is outside the journal ({size} entries)",
                            hint="pass the journal_size an ingest answer returned")
        if projected >= wait_for:
            return
        if time.monotonic() >= deadline:
            raise HttpError(503, "projection_lag",
                            f"the projections reflect {projected} of the {wait_for} journal "
                            "entries asked for", hint="retry shortly; if the lag in "
                            "/api/v1/status does not shrink, no projection worker is running "
                            "(start `forebear worker`, or `forebear serve` without --worker "
                            "none)", headers={"Retry-After": "1"})
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.05)
