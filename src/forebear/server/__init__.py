"""forebear's HTTP server: OpenLineage-compatible ingest, queries, proofs, blobs, tokens.

``create_app(store, token_store=...)`` (``forebear.server.app``) builds the ASGI app that
``forebear serve`` runs on uvicorn. Importing this package imports no web framework;
``forebear.server.app`` and the resources do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forebear.server.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from forebear.server.app import create_app

        return create_app
    raise AttributeError(f"module 'forebear.server' has no attribute {name!r}")
