"""Bearer-token authentication and per-route scope rules.

Every route but ``/health`` and the web page's static files (``PUBLIC_PATHS``) is declared
with ``guarded(...)``, which attaches a ``Guard`` naming the scope it needs. The guard runs
before the body is read: no token, or one that is unknown, revoked or expired, is 401; a
token whose scope is too low is 403. A token limited to a namespace is refused (403) on
every route that cannot check namespaces; on the routes that can (``namespaced=True``),
the handler calls ``check_namespace`` with the namespace the request touches.
``create_app`` refuses to build an app with a route that has no guard, and a test walks
the route table to prove each rule.

Every entry the server journals names its sender in ``submitted_by`` (``token:<id>``),
set by the server and never taken from the client (``stamp_entries``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from fastapi import Depends, Request
from fastapi.routing import APIRoute, APIRouter
from starlette.concurrency import run_in_threadpool

from forebear.server.assets import ASSETS
from forebear.server.errors import HttpError
from forebear.server.tokens import TokenInfo, TokenStore, scope_allows

__all__ = ["PUBLIC_PATHS", "SUBMITTED_BY", "Guard", "Principal", "check_namespace",
           "check_run_namespaces", "guard_of", "guarded", "principal", "stamp_entries"]

# /health, and the web page's static shell (``resources.ui``): the same bytes for
# everyone, no data.
PUBLIC_PATHS: Final = frozenset({"/health", *ASSETS})
"""Routes that take no token: each is named here, and ``create_app`` allows them only GET."""

SUBMITTED_BY: Final = "submitted_by"
"""The entry field in which the server names the token that sent the entry."""

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="forebear"'}
_BEARER_HINT = "send Authorization: Bearer <token> (create one with `forebear token create`)"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the authenticated token."""

    token: TokenInfo

    @property
    def actor(self) -> str:
        """The actor of entries the server writes for the caller (aliases, flags, OpenLineage
        events)."""
        return f"token:{self.token.name or self.token.id}"

    @property
    def submitter(self) -> str:
        """``token:<id>``, what ``SUBMITTED_BY`` holds: by id, since names need not be
        unique."""
        return f"token:{self.token.id}"


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _unauthorized(message: str) -> HttpError:
    return HttpError(401, "unauthorized", message, hint=_BEARER_HINT, headers=_CHALLENGE)


class Guard:
    """A FastAPI dependency that authenticates the caller and checks the route's scope."""

    def __init__(self, scope: str, *, namespaced: bool = False) -> None:
        self.scope = scope
        self.namespaced = namespaced

    async def __call__(self, request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        kind, _, token = header.partition(" ")
        token = token.strip()
        if not header:
            raise _unauthorized("this route needs a bearer token")
        if kind.lower() != "bearer" or not token:
            raise _unauthorized("the Authorization header is not `Bearer <token>`")
        tokens: TokenStore = request.app.state.tokens
        # A cache hit needs no database: answer it on the event loop, skip the thread hop.
        hit, info = tokens.from_cache(token)
        if not hit:
            info = await run_in_threadpool(tokens.authenticate, token)
        if info is None:
            raise _unauthorized("the token is unknown, revoked or expired")
        if not scope_allows(info.scope, self.scope):
            raise HttpError(403, "forbidden",
                            f"this route needs {_article(self.scope)} {self.scope} token; "
                            f"this one is {info.scope}",
                            hint=f"use a token created with --scope {self.scope}")
        if info.namespace is not None and not self.namespaced:
            raise HttpError(
                403, "forbidden",
                f"this token is limited to namespace {info.namespace!r}; this route is not "
                "namespaced", hint="use a token without --namespace")
        found = Principal(info)
        request.state.principal = found
        return found


def principal(request: Request) -> Principal:
    """The caller of a guarded route (set by its ``Guard``)."""
    found: Principal = request.state.principal
    return found


def check_namespace(request: Request, namespace: str | None) -> None:
    """403 unless the caller's token may act in ``namespace`` (None: no namespace)."""
    limit = principal(request).token.namespace
    if limit is not None and namespace != limit:
        raise HttpError(
            403, "forbidden",
            f"this token is limited to namespace {limit!r}, not {str(namespace)[:200]!r}",
            hint="use a token for that namespace, or one without --namespace")


async def check_run_namespaces(request: Request, store: Any, run_ids: Iterable[object]) -> None:
    """403 unless each run of ``run_ids`` that ``store`` already holds is in the caller's
    token's namespace (a token without one passes; runs not recorded yet pass, and take
    the namespace the entries give them).

    ``check_namespace`` checks the namespace an entry claims; this checks the run it
    touches, or a token limited to one namespace could end, fail or add outputs to
    another namespace's run by naming it. ``store``'s execution table is the projection:
    it is waited for up to the journal as it is now, so that a run journaled and not yet
    projected is checked too; and it keeps a run's first namespace, so that no entry
    can move a run into another (``forebear.store.projection``).
    """
    limit = principal(request).token.namespace
    wanted = sorted({run_id for run_id in run_ids if isinstance(run_id, str)})
    if limit is None or not wanted:
        return
    from forebear.server.state import state, wait_projected

    await wait_projected(request, await run_in_threadpool(state(request).store.size))

    def stored() -> list[tuple[Any, ...]]:
        from forebear.graph._sql import chunks, marks, run

        rows: list[tuple[Any, ...]] = []
        for part in chunks(wanted):
            rows += run(store, "SELECT run_id, namespace FROM execution "
                               f"WHERE run_id IN ({marks(len(part))})", part)
        return rows

    for run_id, namespace in await run_in_threadpool(stored):
        if namespace != limit:
            raise HttpError(
                403, "forbidden",
                f"run {str(run_id)[:64]} is in namespace {namespace!r}; this token is limited "
                f"to {limit!r}", hint="use a token for that namespace, or one without "
                "--namespace")


def stamp_entries(request: Request, entries: list[Any]) -> list[Any]:
    """``entries`` each with ``SUBMITTED_BY`` naming the caller's token (other items as
    they are, for validation to refuse).

    A client's ``actor`` is its claim of who did the work (the SDK sends the OS user) and
    is kept; the sender is what the server saw. So a ``SUBMITTED_BY`` other than the
    caller's, or an actor that names another token, is refused (400), never recorded.
    """
    who = principal(request)
    own = who.submitter
    prefix = len(entries) > 1
    stamped: list[Any] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            stamped.append(entry)
            continue
        where = f"entry {index} of the batch" if prefix else "the entry"
        claimed = entry.get(SUBMITTED_BY, own)
        if claimed != own:
            raise HttpError(
                400, "invalid_input",
                f"{where} says it was {SUBMITTED_BY} {str(claimed)[:200]!r}, but this request "
                f"comes from {own}",
                hint=f"leave {SUBMITTED_BY} out: the server records the token that sends "
                "each entry")
        actor = entry.get("actor")
        if isinstance(actor, str) and actor.startswith("token:") and actor not in (
            own, who.actor
        ):
            raise HttpError(
                400, "invalid_input",
                f"{where} names {actor[:200]!r} as its actor, but this request comes from "
                f"{own}",
                hint="an actor names the person or program that did the work (the SDK "
                f"sends the OS user); the server records the sending token as {SUBMITTED_BY}")
        stamped.append({**entry, SUBMITTED_BY: own})
    return stamped


def guarded(
    router: APIRouter,
    method: str,
    path: str,
    *,
    scope: str,
    namespaced: bool = False,
    **options: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a route that needs a token of ``scope`` (see the module docstring)."""
    extra = dict(options.pop("openapi_extra", None) or {})
    extra["security"] = [{"bearer": []}]
    extra["x-forebear-scope"] = scope
    extra["x-forebear-namespaced"] = namespaced
    return router.api_route(
        path,
        methods=[method],
        dependencies=[Depends(Guard(scope, namespaced=namespaced))],
        openapi_extra=extra,
        **options,
    )


def guard_of(route: APIRoute) -> Guard | None:
    """The guard of a route, or None when it has none."""
    for dependency in route.dependencies:
        if isinstance(dependency.dependency, Guard):
            return dependency.dependency
    return None
