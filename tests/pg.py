"""PostgreSQL for tests: a new database per store, on the server that `make test` starts.

``scripts/services.sh start`` runs a PostgreSQL server and exports its superuser URL as
FOREBEAR_TEST_POSTGRES (in ``.services/env``). Without it the PostgreSQL tests fail,
never skip: a suite that silently skips its second backend proves nothing about it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

_created: set[str] = set()


def server_url() -> str:
    """The test server's URL; fails the test (with the fix) when there is none."""
    url = os.environ.get("FOREBEAR_TEST_POSTGRES")
    if not url:
        pytest.fail(
            "FOREBEAR_TEST_POSTGRES is not set: run the suite with `make test`, which starts "
            "PostgreSQL and moto (or `sh scripts/services.sh start && . .services/env`)",
            pytrace=False,
        )
    return url


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def fresh_database() -> str:
    """Create an empty database (from template0) and return its URL."""
    import psycopg

    url = server_url()
    name = f"forebear_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True) as conn:
        # FILE_COPY instead of the WAL_LOG default: no 7 MB of WAL per test database.
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 STRATEGY FILE_COPY')
    _created.add(name)
    return _with_database(url, name)


def drop_database(url: str) -> None:
    """Drop a database made by ``fresh_database`` (its connections are cut first)."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _created.discard(name)


def drop_all() -> None:
    """Drop every database this process created and has not dropped yet."""
    url = os.environ.get("FOREBEAR_TEST_POSTGRES")
    if url:
        for name in list(_created):
            drop_database(_with_database(url, name))


def fresh_postgres_store(base_path: Path, **kwargs: Any) -> Any:
    """A new, empty PostgreSQL store in a database of its own.

    Its signing key is written to ``<base_path>/.forebear/signing.key``, where the CLI
    finds it when run from ``base_path``.
    """
    from forebear.journal.keys import SigningKey
    from forebear.model.ids import uuid7
    from forebear.store.postgres import PostgresStore, create

    url = fresh_database()
    key_dir = base_path / ".forebear"
    key_dir.mkdir(parents=True, exist_ok=True)
    signer = SigningKey.generate(f"forebear.test/{uuid7()}")
    signer.save(key_dir / "signing.key")
    create(url, signer=signer)
    return PostgresStore(url, signer=signer, **kwargs)


@contextmanager
def cli_store(base_path: Path) -> Iterator[str]:
    """The URL of a new PostgreSQL store for the CLI to write to, run from ``base_path``
    (where its signing key is); its database is dropped afterwards."""
    store = fresh_postgres_store(base_path)
    url = str(store.url)
    store.close()
    try:
        yield url
    finally:
        drop_database(url)
