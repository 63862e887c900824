"""The web page at ``/``: a static shell that draws the lineage graph of any node.

The page and its files hold no data: they are the same bytes for every caller, so they
are the only routes besides ``/health`` served without a token (``auth.PUBLIC_PATHS``
names each one). Everything the page shows comes from the guarded ``/api/v1/`` routes,
called by the browser with a read token the user pastes once; the page keeps it in the
tab's ``sessionStorage``, never in the URL or a cookie. The server's Content-Security-Policy
(``app.SecurityHeaders``) lets the page run only these files: no inline script, no eval,
nothing from elsewhere. The files are plain HTML, CSS and ES modules in
``forebear/server/ui/``, shipped in the wheel and served as they are (no build step).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from fastapi.responses import Response
from fastapi.routing import APIRouter

from forebear.server.assets import ASSETS

__all__ = ["ASSETS", "router"]

router = APIRouter(tags=["ui"])


@cache
def _body(name: str) -> bytes:
    return (resources.files("forebear.server") / "ui" / name).read_bytes()


def _serve(name: str, media_type: str) -> Any:
    async def serve() -> Response:
        return Response(_body(name), media_type=media_type)

    serve.__doc__ = f"The web page's {name} (no data: served without a token)."
    return serve


for _path, (_name, _media) in ASSETS.items():
    router.add_api_route(_path, _serve(_name, _media), methods=["GET"], name=f"ui:{_name}",
                         include_in_schema=False)
