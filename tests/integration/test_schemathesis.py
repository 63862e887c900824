"""Property-based requests generated from the OpenAPI document: no answer is ever a 5xx.

Schemathesis reads ``/openapi.json`` (with an admin token, as every caller must) and
Hypothesis drives the requests it generates for every operation, in-process over ASGI,
against a store that holds a little lineage. The example count is small so the suite
stays fast. (Schemathesis' own pytest plugin does not run on this pytest, so the
operations are parametrized here.)
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from forebear.artifacts.local import LocalBlobStore  # noqa: E402
from forebear.server.app import close_app, create_app, state_of  # noqa: E402
from forebear.store.registry import init_store, open_store  # noqa: E402
from tests.conftest import make_run, ref  # noqa: E402

EXAMPLES = 40


def _labels() -> list[str]:
    store = open_store(str(init_store(Path(tempfile.mkdtemp()))))
    app = create_app(store, worker=False)
    try:
        return sorted(route_label for route_label in _operations(app))
    finally:
        close_app(app)
        store.close()


def _schema(app: Any) -> Any:
    token = state_of(app).tokens.create("admin")[1]
    return schemathesis.openapi.from_asgi(
        "/openapi.json", app, headers={"Authorization": f"Bearer {token}"}), token


def _operations(app: Any) -> dict[str, Any]:
    schema, _ = _schema(app)
    found = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        found[operation.label] = operation
    return found


LABELS = _labels()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("schemathesis")
    store = open_store(str(init_store(base)))
    store.append_batch([make_run(inputs=[ref("data")], outputs=[ref("model", kind="model")])
                        for _ in range(3)])
    app = create_app(store, blobs=LocalBlobStore(base / "blobs"))
    schema, token = _schema(app)
    operations = {result.ok().label: result.ok() for result in schema.get_all_operations()}
    try:
        yield {"operations": operations, "token": token}
    finally:
        close_app(app)
        store.close()


def test_every_route_is_in_the_document() -> None:
    assert len(LABELS) >= 25
    assert "POST /api/v1/lineage" in LABELS


@pytest.mark.parametrize("label", LABELS)
def test_no_generated_request_gets_a_server_error(world: dict[str, Any], label: str) -> None:
    operation = world["operations"][label]
    headers = {"Authorization": f"Bearer {world['token']}"}

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error])

    check()
