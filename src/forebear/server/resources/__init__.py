"""The server's HTTP resources, one module each; ``ROUTERS`` lists them for the app."""

from __future__ import annotations

from fastapi.routing import APIRouter

from forebear.server.resources import (
    aliases,
    blobs,
    events,
    exports,
    flags,
    health,
    journal,
    lineage,
    queries,
    status,
    tokens,
    ui,
)

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    lineage.router,
    events.router,
    queries.router,
    aliases.router,
    flags.router,
    journal.router,
    blobs.router,
    exports.router,
    status.router,
    tokens.router,
    ui.router,
)
