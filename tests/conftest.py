"""Shared fixtures: stores of every backend, entry factories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forebear.model.ids import uuid7

# Every backend, always: without FOREBEAR_TEST_POSTGRES (set by `make test`) the
# postgresql tests fail with the fix rather than skip (see tests/pg.py).
STORE_BACKENDS = ["sqlite", "postgresql"]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Drop the test databases that a failing test left behind."""
    from tests.pg import drop_all

    drop_all()


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory that is the working directory, with no store settings."""
    for name in ("FOREBEAR_STORE", "FOREBEAR_KEY", "FOREBEAR_BLOBS", "FOREBEAR_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def sqlite_store_dir(project_dir: Path) -> Path:
    from forebear.store.registry import init_store

    return init_store(project_dir)


def _open(backend: str, base: Path) -> Any:
    from forebear.store.registry import init_store, open_store

    if backend == "sqlite":
        store_dir = init_store(base)
        return open_store(str(store_dir))
    from tests.pg import fresh_postgres_store

    return fresh_postgres_store(base)


@pytest.fixture(params=STORE_BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh, empty metadata store of each backend."""
    db = _open(request.param, tmp_path / "proj")
    try:
        yield db
    finally:
        db.close()
        if request.param == "postgresql":
            from tests.pg import drop_database

            drop_database(db.url)


def make_run(
    *,
    run_id: str | None = None,
    kind: str = "train",
    name: str = "train",
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    status: str = "succeeded",
    params: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    time: str = "2026-01-01T00:00:00.000000Z",
) -> dict[str, Any]:
    """A whole-run ``execution`` entry."""
    return {
        "type": "execution",
        "run_id": run_id or uuid7(),
        "kind": kind,
        "name": name,
        "time": time,
        "started_at": time,
        "status": status,
        "actor": "tester",
        "params": params or {},
        "metrics": metrics or {},
        "inputs": inputs or [],
        "outputs": outputs or [],
    }


def ref(
    digest_seed: str, *, role: str = "data", kind: str = "data", name: str | None = None
) -> dict[str, Any]:
    """An artifact ref whose digest is derived from ``digest_seed``."""
    import hashlib

    digest = "sha256:" + hashlib.sha256(digest_seed.encode()).hexdigest()
    return {"id": digest, "digest": digest, "kind": kind, "name": name or digest_seed,
            "uri": None, "size": None, "role": role}
