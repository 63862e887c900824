"""The ASGI application: ``create_app(store, token_store=...)``.

The app owns two background threads: the committer (group commit of ingested entries)
and, unless ``worker=False``, the projection worker (``forebear serve`` runs it in a child
process instead). Both start when the app is built (and again at a lifespan startup
after a shutdown) and stop at shutdown or ``close_app``. Every route but ``/health`` and
the web page's static files needs a token; building an app with a route that has no
guard fails, so a new route cannot ship without a rule.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, APIRouter
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import forebear
from forebear.errors import ForebearError
from forebear.model.ids import Clock, utc_now
from forebear.server import errors
from forebear.server.auth import PUBLIC_PATHS, guard_of, guarded
from forebear.server.committer import Committer
from forebear.server.resources import ROUTERS
from forebear.server.state import ServerConfig, ServerState
from forebear.server.tokens import TokenStore
from forebear.server.worker import ProjectionWorker

__all__ = ["CONTENT_SECURITY_POLICY", "close_app", "create_app", "start_app", "state_of"]

# The web page (resources.ui) may run only its own files: no inline script or style, no
# eval, nothing from another origin, and DOM sinks that parse HTML are closed (Trusted
# Types), so a name holding markup can only ever be shown as text. JSON answers get the
# same policy; a browser opening one directly then runs nothing either.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'; require-trusted-types-for 'script'"
)

_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """Adds headers that stop browsers from sniffing, caching, framing or running answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


class FastRoute:
    """Dispatches one hot route straight to its endpoint, past FastAPI's routing layers.

    OpenLineage producers send one event per request, so per-request overhead bounds
    ingest. The route is still declared the usual way (OpenAPI, its guard); this calls
    that same guard and endpoint with the same error handling, only without routing,
    dependency solving and the exception middlewares, which cost more than the work.
    """

    def __init__(self, app: ASGIApp, *, method: str, path: str, endpoint: Any,
                 guard: Any) -> None:
        self.app = app
        self.method = method
        self.path = path
        self.endpoint = endpoint
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["path"] != self.path
                or scope["method"] != self.method):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            await self.guard(request)
            response = await self.endpoint(request)
        except ForebearError as exc:
            response = errors.forebear_error(request, exc)
        except Exception as exc:
            response = errors.unexpected_error(request, exc)
        await response(scope, receive, send)


def _fast_route(app: FastAPI, method: str, path: str) -> dict[str, Any]:
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path == path and method in (route.methods or ()):
            return {"method": method, "path": path, "endpoint": route.endpoint,
                    "guard": guard_of(route)}
    raise RuntimeError(f"no route {method} {path}")


_meta = APIRouter()


@guarded(_meta, "GET", "/openapi.json", scope="read", include_in_schema=False)
async def openapi(request: Request) -> Any:
    """The OpenAPI document of this server."""
    return request.app.openapi()


def _check_guards(app: FastAPI) -> None:
    for route in app.routes:
        if not isinstance(route, APIRoute):
            raise RuntimeError(f"route {route!r} is not an APIRoute, so its token rule "
                               "cannot be checked: add it to forebear.server.resources")
        methods = sorted(route.methods or ())
        if route.path not in PUBLIC_PATHS and guard_of(route) is None:
            raise RuntimeError(f"route {methods} {route.path} has no "
                               "token rule: declare it with forebear.server.auth.guarded")
        if route.path in PUBLIC_PATHS and set(methods) - {"GET", "HEAD"}:
            raise RuntimeError(f"route {methods} {route.path} takes no token, so it may only "
                               "be read: guard it with forebear.server.auth.guarded")


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                             description=app.description)
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "a token from `forebear token create`"},
        }
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(
    store: Any,
    *,
    token_store: TokenStore | None = None,
    blobs: Any = None,
    config: ServerConfig | None = None,
    worker: bool = True,
    reader: Any = None,
    clock: Clock = utc_now,
) -> FastAPI:
    """The forebear HTTP API over ``store`` (see the module docstring).

    ``reader``, when given, is a second handle on the same database for queries.
    """
    config = config or ServerConfig()
    tokens = token_store or TokenStore(store, clock=clock)
    projector = ProjectionWorker(store, clock=clock) if worker else None
    committer = Committer(store, clock=clock,
                          on_commit=projector.wake if projector is not None else None)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        start_app(app)  # again, if an earlier lifespan (a test client's) stopped it
        yield
        close_app(app)

    options: dict[str, Any] = {}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        # FastAPI's built-in OpenTelemetry looks up providers on every request when the
        # opentelemetry package is importable: a tenth of the cost of an ingest request.
        options["telemetry"] = {"tracing": False, "metrics": False, "logs": False}
    app = FastAPI(
        **options,
        title="forebear",
        version=forebear.__version__,
        description="Verifiable, end-to-end model lineage. Every route but /health needs "
        "`Authorization: Bearer <token>`.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        # The routes themselves, not included routers: the app's route table is then the
        # list of APIRoutes that the guard check and the route-table test walk.
        routes=[route for router in (*ROUTERS, _meta) for route in router.routes],
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.state.forebear = ServerState(store=store, tokens=tokens, committer=committer,
                                     worker=projector, blobs=blobs, config=config,
                                     clock=clock, reader=reader)
    app.state.tokens = tokens
    app.add_exception_handler(ForebearError, errors.forebear_error)
    app.add_exception_handler(StarletteHTTPException, errors.http_error)
    app.add_exception_handler(RequestValidationError, errors.validation_error)
    app.add_exception_handler(Exception, errors.unexpected_error)
    _check_guards(app)
    app.add_middleware(FastRoute, **_fast_route(app, "POST", "/api/v1/lineage"))
    app.add_middleware(SecurityHeaders)
    start_app(app)
    return app


def start_app(app: FastAPI) -> None:
    """Start the app's committer and worker (idempotent)."""
    found = state_of(app)
    found.committer.start()
    if found.worker is not None:
        found.worker.start()


def close_app(app: FastAPI) -> None:
    """Stop the app's committer and worker (idempotent)."""
    found = state_of(app)
    found.committer.stop()
    if found.worker is not None:
        found.worker.stop()


def state_of(app: FastAPI) -> ServerState:
    """The ``ServerState`` of an app built by ``create_app``."""
    found: ServerState = app.state.forebear
    return found
