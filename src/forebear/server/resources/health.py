"""``GET /health``: liveness, the one route that takes no token and reveals nothing."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRouter

router = APIRouter()


@router.get("/health", tags=["server"], summary="Liveness (no token needed)")
async def health() -> dict[str, Any]:
    """Answers while the server can take requests."""
    return {"status": "ok"}
