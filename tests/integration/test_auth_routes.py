"""Every route of the app, from its route table, against every kind of caller.

The cases are generated from ``app.routes``: a route added without a token rule makes the
app refuse to start, and one added with a rule is checked here against no token, broken
and dead tokens, each scope, and tokens limited to another namespace.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from forebear.server.app import close_app, create_app, state_of
from forebear.server.auth import PUBLIC_PATHS, guard_of
from forebear.server.tokens import SCOPES, scope_allows
from forebear.store.registry import init_store, open_store
from tests.serverkit import Api, ol_event

RUN = "01a217de-8245-7ff6-8ad3-a684e45146ae"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    store = open_store(str(init_store(tmp_path_factory.mktemp("auth"))))
    app = create_app(store)
    tokens = state_of(app).tokens
    made: dict[str, str] = {scope: tokens.create(scope)[1] for scope in SCOPES}
    for scope in SCOPES:
        made[f"ns-{scope}"] = tokens.create(scope, namespace="team-a")[1]
    info, revoked = tokens.create("admin")
    tokens.revoke(info.id)
    made["revoked"] = revoked
    made["expired"] = tokens.create("admin", expires_in=timedelta(seconds=-1))[1]
    try:
        yield {"app": app, "tokens": made}
    finally:
        close_app(app)
        store.close()


def _routes() -> list[tuple[str, str]]:
    store = open_store(str(init_store(Path(__import__("tempfile").mkdtemp()))))
    app = create_app(store, worker=False)
    try:
        found = []
        for route in app.routes:
            assert isinstance(route, APIRoute)
            for method in sorted(route.methods or ()):
                found.append((method, route.path))
        return found
    finally:
        close_app(app)
        store.close()


ROUTES = _routes()
GUARDED = [(m, p) for m, p in ROUTES if p not in PUBLIC_PATHS]
_SAMPLE_PARAMS = {"name": "staging", "digest": "sha256:" + "0" * 64, "token_id": "nope"}


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: _SAMPLE_PARAMS[m.group(1)], path)


def _route(app: Any, method: str, path: str) -> APIRoute:
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path == path and method in (route.methods
                                                                              or ()):
            return route
    raise AssertionError(f"no route {method} {path}")


def _call(app: Any, method: str, path: str, token: str | None, **options: Any) -> Any:
    headers = dict(options.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = token
    if method in ("POST", "PUT") and "json" not in options and "content" not in options:
        options["json"] = {}
    return Api(app).request(method, _url(path), headers=headers, **options)


def _namespaced_request(method: str, path: str, namespace: str) -> dict[str, Any]:
    """A request to a namespaced route that touches ``namespace``."""
    if (method, path) == ("POST", "/api/v1/lineage"):
        return {"json": ol_event("START", RUN, namespace=namespace)}
    if (method, path) == ("POST", "/api/v1/events"):
        return {"json": [{"type": "execution.start", "run_id": RUN, "kind": "train",
                          "name": "t", "namespace": namespace,
                          "time": "2026-01-01T00:00:00Z"}]}
    if (method, path) == ("GET", "/api/v1/lineage"):
        return {"params": {"nodeId": f"job:{namespace}:job"}}
    raise AssertionError(f"{method} {path} is namespaced: add a request for it here")


def test_the_route_table_is_complete_and_every_route_has_a_rule(world: dict[str, Any]) -> None:
    assert ("GET", "/health") in ROUTES
    assert len(GUARDED) >= 25
    for method, path in GUARDED:
        guard = guard_of(_route(world["app"], method, path))
        assert guard is not None and guard.scope in SCOPES, (method, path)


@pytest.mark.parametrize(("method", "path"), GUARDED, ids=[f"{m} {p}" for m, p in GUARDED])
@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Bearer null", "Bearer fbt_000000000000_wrong",
    "Basic YWRtaW46YWRtaW4=", "bearer-ish", "REVOKED", "EXPIRED",
], ids=["none", "empty", "bare", "blank", "null", "wrong", "basic", "garbage", "revoked",
        "expired"])
def test_no_or_bad_token_is_401(world: dict[str, Any], method: str, path: str,
                                header: str | None) -> None:
    if header in ("REVOKED", "EXPIRED"):
        header = "Bearer " + world["tokens"][header.lower()]
    answer = _call(world["app"], method, path, header)
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(("method", "path"), GUARDED, ids=[f"{m} {p}" for m, p in GUARDED])
@pytest.mark.parametrize("scope", SCOPES)
def test_each_scope_gets_exactly_its_routes(world: dict[str, Any], method: str, path: str,
                                           scope: str) -> None:
    app = world["app"]
    guard = guard_of(_route(app, method, path))
    assert guard is not None
    options: dict[str, Any] = {}
    if guard.namespaced:
        options = _namespaced_request(method, path, "team-a")
    answer = _call(app, method, path, "Bearer " + world["tokens"][scope], **options)
    if scope_allows(scope, guard.scope):
        assert answer.status_code not in (401, 403), answer.text
    else:
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "forbidden"
        article = "an" if guard.scope == "admin" else "a"
        assert f"needs {article} {guard.scope} token" in answer.json()["error"]["message"]


@pytest.mark.parametrize(("method", "path"), GUARDED, ids=[f"{m} {p}" for m, p in GUARDED])
def test_a_token_of_another_namespace_is_403(world: dict[str, Any], method: str,
                                            path: str) -> None:
    app = world["app"]
    guard = guard_of(_route(app, method, path))
    assert guard is not None
    token = "Bearer " + world["tokens"][f"ns-{guard.scope}"]
    if not guard.namespaced:
        answer = _call(app, method, path, token)
        assert answer.status_code == 403, answer.text
        return
    other = _call(app, method, path, token, **_namespaced_request(method, path, "team-b"))
    assert other.status_code == 403, other.text
    own = _call(app, method, path, token, **_namespaced_request(method, path, "team-a"))
    assert own.status_code not in (401, 403), own.text


def test_health_needs_no_token_and_says_nothing(world: dict[str, Any]) -> None:
    answer = Api(world["app"]).get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_a_route_without_a_rule_stops_the_app_from_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.routing import APIRouter

    from forebear.server import app as app_module

    extra = APIRouter()

    @extra.get("/api/v1/leak")
    async def leak() -> dict[str, str]:
        return {"secret": "x"}

    monkeypatch.setattr(app_module, "ROUTERS", (*app_module.ROUTERS, extra))
    store = open_store(str(init_store(tmp_path)))
    try:
        with pytest.raises(RuntimeError, match="no token rule"):
            create_app(store, worker=False)
    finally:
        store.close()
