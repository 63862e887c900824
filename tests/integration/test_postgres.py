"""PostgreSQL's own rules: append-only by triggers and privileges, tamper detection like
SQLite's, a contiguous journal under concurrent writers, init and migrate from the CLI.

The contract suites (tests/contract) already run on PostgreSQL; these are the parts that
only a database server has.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from forebear.cli import main
from forebear.errors import NotAStoreError, StoreError
from forebear.journal import merkle
from forebear.journal.keys import SigningKey
from forebear.store.postgres import PostgresStore, create, redact
from forebear.store.registry import init_store, open_store
from tests import pg
from tests.conftest import make_run, ref

DEPLOYMENT = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"


@pytest.fixture
def pg_store(tmp_path: Path) -> Iterator[PostgresStore]:
    store = pg.fresh_postgres_store(tmp_path)
    try:
        yield store
    finally:
        store.close()
        pg.drop_database(store.url)


def _fill(store: Any, runs: int = 12) -> None:
    previous = None
    for i in range(runs):
        inputs = [ref(f"data{i}", role="training_data")]
        if previous:
            inputs.append(ref(previous, role="base_model", kind="model"))
        store.append(make_run(inputs=inputs, outputs=[ref(f"model{i}", kind="model")],
                              params={"lr": i / 10, "nested": {"a": i}},
                              metrics={"acc": 0.5 + i / 100}))
        previous = f"model{i}"
        if i % 4 == 0:
            store.append({"type": "alias.set", "time": "2026-01-02T00:00:00.000000Z",
                          "name": "prod", "target": ref(previous)["id"], "actor": "ana",
                          "reason": f"r{i}"})
    store.append({"type": "flag", "time": "2026-01-03T00:00:00.000000Z",
                  "target": ref("data3")["id"], "reason": "leak", "actor": "bo"})
    store.checkpoint()


def _sql(store: PostgresStore, statement: str, params: Any = None) -> None:
    with psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute(statement, params)


# -- append-only ---------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["journal", "merkle_node", "checkpoint"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET {c} = {c}", "DELETE FROM {t}",
                                       "TRUNCATE {t}"], ids=["update", "delete", "truncate"])
def test_triggers_keep_the_journal_append_only(
    pg_store: PostgresStore, table: str, statement: str
) -> None:
    _fill(pg_store, 3)
    column = {"journal": "entry", "merkle_node": "hash", "checkpoint": "note"}[table]
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        _sql(pg_store, statement.format(t=table, c=column))
    assert pg_store.verify().ok


def test_the_documented_grants_leave_the_app_role_unable_to_rewrite(
    pg_store: PostgresStore, tmp_path: Path
) -> None:
    """The GRANT block of docs/deployment.md, run as written, is enough and no more."""
    (grants,) = [b for b in re.findall(r"```sql\n(.*?)```", DEPLOYMENT.read_text(), re.S)
                 if "GRANT" in b]
    role = f"forebear_app_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    _sql(pg_store, f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        _sql(pg_store, grants.replace("forebear_app", role))
        parts = urlsplit(pg_store.url)
        app_url = urlunsplit(
            parts._replace(netloc=f"{role}:{password}@{parts.hostname}:{parts.port}")
        )
        key = SigningKey.load(tmp_path / ".forebear" / "signing.key")
        app = PostgresStore(app_url, signer=key)
        try:
            _fill(app, 4)  # every write path works with these grants
            assert app.verify().ok
            for statement in ("UPDATE journal SET entry = entry", "DELETE FROM merkle_node",
                              "TRUNCATE checkpoint", "DROP TRIGGER journal_no_update ON journal",
                              "ALTER TABLE journal DISABLE TRIGGER ALL"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    _sql(app, statement)
        finally:
            app.close()
    finally:
        _sql(pg_store, f"DROP OWNED BY {role}")  # its grants, so that the role can go
        _sql(pg_store, f"DROP ROLE {role}")


# -- tamper: the same semantics as SQLite's (tests/integration/test_tamper.py) --------------


def _drop_triggers(store: PostgresStore) -> None:
    for table in ("journal", "merkle_node", "checkpoint"):
        _sql(store, f"ALTER TABLE {table} DISABLE TRIGGER USER")


@pytest.mark.parametrize("seq", [0, 5, 15])
@pytest.mark.parametrize("position", [0, 40, -2])
def test_a_changed_byte_in_an_entry_is_found_at_that_entry(
    pg_store: PostgresStore, seq: int, position: int
) -> None:
    _fill(pg_store)
    (entry,) = [r.canonical for r in pg_store.records(seq, seq + 1)]
    data = bytearray(entry)
    data[position] ^= 0x01
    _drop_triggers(pg_store)
    _sql(pg_store, "UPDATE journal SET entry = %s WHERE seq = %s", (bytes(data), seq))
    report = pg_store.verify()
    assert not report.ok
    assert report.problems[0].seq == seq, report.problems


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("execution", "params", '{"lr": 0.7}'),
        ("execution", "status", "failed"),
        ("artifact", "kind", "dataset"),
        ("edge", "role", "test_data"),
        ("metric", "value", 0.99),
        ("alias", "target", "sha256:" + "0" * 64),
        ("alias_history", "reason", "other"),
        ("flag", "reason", "fine"),
        ("node", "key", "sha256:" + "1" * 64),
        ("artifact_uri", "uri", "s3://elsewhere/x"),
    ],
)
def test_a_changed_projection_row_is_found(
    pg_store: PostgresStore, table: str, column: str, value: Any
) -> None:
    _fill(pg_store)
    pg_store.append(make_run(outputs=[{**ref("with-uri"), "uri": "s3://bucket/x"}]))
    if table == "metric":
        pg_store.append({"type": "execution.end", "run_id": "01a217de-8245-7ff6-8ad3-a684e45146ae",
                         "status": "succeeded", "time": "2026-01-01T00:00:00.000000Z",
                         "metric_steps": [["loss", 1, 0.5]]})
    assert pg_store.verify().ok
    _sql(pg_store, f"UPDATE {table} SET {column} = %s "
                   f"WHERE ctid = (SELECT ctid FROM {table} LIMIT 1)", (value,))
    report = pg_store.verify()
    assert not report.ok
    assert any(p.seq is not None for p in report.problems), report.problems


def test_removed_and_added_projection_rows_are_found(pg_store: PostgresStore) -> None:
    _fill(pg_store)
    _sql(pg_store, "DELETE FROM edge WHERE ctid = (SELECT ctid FROM edge LIMIT 1)")
    assert "'edge'" in pg_store.verify().problems[0].what
    _sql(pg_store, "INSERT INTO flag VALUES (999, 'x', 'artifact', 'r', NULL, 't')")
    assert any("flag" in p.what for p in pg_store.verify().problems)


def test_a_removed_tail_is_caught_by_the_signed_head(pg_store: PostgresStore) -> None:
    _fill(pg_store)
    size = pg_store.size()
    _drop_triggers(pg_store)
    _sql(pg_store, "DELETE FROM journal WHERE seq = %s", (size - 1,))
    report = pg_store.verify()
    assert not report.ok
    assert report.entries == size - 1


def test_a_changed_merkle_node_is_found(pg_store: PostgresStore) -> None:
    _fill(pg_store)
    _drop_triggers(pg_store)
    _sql(pg_store, "UPDATE merkle_node SET hash = %s WHERE level = 2 AND idx = 1", (b"\0" * 32,))
    report = pg_store.verify()
    assert [p.seq for p in report.problems][:1] == [4]


# -- concurrency -------------------------------------------------------------------------


def _writer(url: str, key_path: str, worker: int, count: int) -> list[int]:
    store = PostgresStore(url, signer=SigningKey.load(key_path))
    seqs = []
    try:
        for i in range(count):
            if i % 5 == 4:
                batch = [make_run(outputs=[ref(f"w{worker}-{i}-{j}")]) for j in range(3)]
                seqs.extend(store.append_batch(batch))
            else:
                seqs.append(store.append(make_run(inputs=[ref(f"shared-{i % 7}")],
                                                  outputs=[ref(f"w{worker}-{i}")])))
    finally:
        store.close()
    return seqs


def test_concurrent_writers_keep_the_journal_contiguous(
    pg_store: PostgresStore, tmp_path: Path
) -> None:
    workers, count = 6, 60
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        results = pool.starmap(
            _writer,
            [(pg_store.url, str(tmp_path / ".forebear" / "signing.key"), w, count)
             for w in range(workers)],
        )
    seqs = sorted(s for result in results for s in result)
    expected = workers * (count // 5 * 4 + count // 5 * 3)
    assert seqs == list(range(expected))  # none lost, none twice, no gap
    assert [r.seq for r in pg_store.records()] == seqs
    report = pg_store.verify()
    assert report.ok, report.problems
    assert pg_store.execute("SELECT COUNT(*) FROM node WHERE key LIKE 'sha256:%%'")[0][0] == (
        len({ref(f"shared-{i}")["id"] for i in range(7)}) + expected
    )


# -- opening, init, reconnecting -----------------------------------------------------------


def test_opening_a_database_that_is_not_a_store_names_the_fix() -> None:
    url = pg.fresh_database()
    try:
        with pytest.raises(NotAStoreError, match="forebear init --store"):
            PostgresStore(url)
        with pytest.raises(StoreError, match="URL, user and password"):
            PostgresStore(url.replace(urlsplit(url).password or "", "wrong"))
    finally:
        pg.drop_database(url)


def test_the_store_reconnects_after_the_server_drops_it(pg_store: PostgresStore) -> None:
    pg_store.append(make_run())
    assert pg_store.execute("SELECT COUNT(*) FROM execution")[0][0] == 1
    name = urlsplit(pg_store.url).path.lstrip("/")
    with psycopg.connect(pg.server_url(), autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
    with pytest.raises(StoreError):
        pg_store.append(make_run())  # the write in flight fails loudly...
    assert pg_store.append(make_run()) == 1  # ...and the next one reconnects
    assert pg_store.execute("SELECT COUNT(*) FROM execution")[0][0] == 2
    assert pg_store.verify().ok


def test_ingest_survives_connections_the_database_dropped(pg_store: PostgresStore) -> None:
    """An idle timeout or a fail-over cuts the server's connections; the next event still
    lands (its key tells a retry whether the first try did), journaled once."""
    from forebear.server.app import close_app, create_app, state_of
    from tests.serverkit import Api, ol_event

    app = create_app(pg_store, worker=False)
    try:
        api = Api(app, state_of(app).tokens.create("write")[1])
        first = ol_event("START", "01a217de-8245-7ff6-8ad3-a684e45146ae")
        assert api.post("/api/v1/lineage", json=first).status_code == 201
        name = urlsplit(pg_store.url).path.lstrip("/")
        for _ in range(2):
            with psycopg.connect(pg.server_url(), autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            event = ol_event("START", str(uuid.uuid4()))
            answer = api.post("/api/v1/lineage", json=event)
            assert answer.status_code == 201, answer.text
            assert api.post("/api/v1/lineage", json=event).status_code == 200
        assert pg_store.size() == 3
    finally:
        close_app(app)


def test_redact_hides_the_password() -> None:
    assert redact("postgresql://u:secret@h:5/db") == "postgresql://u:***@h:5/db"
    assert redact("postgresql://h/db") == "postgresql://h/db"


def test_serve_and_its_worker_keep_the_database_password_out_of_sight(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    from tests.serverkit import clean_env, free_port

    url = pg.fresh_database()
    password = urlsplit(url).password
    assert password
    env = clean_env(FOREBEAR_KEY=str(tmp_path / "signing.key"), FOREBEAR_STORE=url)
    proc = None
    try:
        subprocess.run([sys.executable, "-m", "forebear", "init", "--store", url], env=env,
                       cwd=tmp_path, check=True, capture_output=True)
        proc = subprocess.Popen(
            [sys.executable, "-m", "forebear", "serve", "--port", str(free_port()),
             "--blob-store", str(tmp_path / "blobs")],
            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        assert proc.stderr is not None
        said = [proc.stderr.readline(), proc.stderr.readline()]
        assert any("serving postgresql://" in line for line in said), said
        assert any("projecting postgresql://" in line for line in said), said
        assert not any(password in line for line in said), said
        deadline = time.monotonic() + 10
        children: list[str] = []
        while not children and time.monotonic() < deadline:
            tasks = Path(f"/proc/{proc.pid}/task").iterdir()
            children = [c for t in tasks for c in (t / "children").read_text().split()]
        assert children
        for child in children:  # any user of the machine can read a command line
            assert password not in Path(f"/proc/{child}/cmdline").read_text()
    finally:
        _stop(proc)
        pg.drop_database(url)


def test_serve_without_the_signing_key_warns(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.serverkit import clean_env, free_port

    url = pg.fresh_database()
    proc = None
    try:
        subprocess.run([sys.executable, "-m", "forebear", "init", "--store", url],
                       env=clean_env(FOREBEAR_KEY=str(tmp_path / "signing.key")), cwd=tmp_path,
                       check=True, capture_output=True)
        proc = subprocess.Popen(  # the key was not mounted: FOREBEAR_KEY is not set
            [sys.executable, "-m", "forebear", "serve", "--port", str(free_port()),
             "--store", url, "--blob-store", str(tmp_path / "blobs"), "--worker", "none"],
            env=clean_env(), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        assert proc.stderr is not None
        said = proc.stderr.readline()
        assert said.startswith("forebear: warning: no signing key") and "FOREBEAR_KEY" in said
    finally:
        _stop(proc)
        pg.drop_database(url)


def test_cli_init_creates_the_schema_and_the_key(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = pg.fresh_database()
    try:
        assert main(["init", "--store", url, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["key"] == str(project_dir / ".forebear" / "signing.key")
        assert "***" in out["store"]
        assert (project_dir / ".forebear" / "signing.key").stat().st_mode & 0o077 == 0
        assert main(["init", "--store", url]) == 1  # already a store
        assert "already holds" in capsys.readouterr().err
        # the key is found from the working directory, so checkpoints are signed
        store = open_store(url)
        store.append(make_run())
        assert store.checkpoint().size == 1
        store.close()
        assert main(["verify", "--store", url]) == 0
        assert main(["init", "--store", "sqlite:///x.db"]) == 2
    finally:
        pg.drop_database(url)


# -- migrate -------------------------------------------------------------------------------


def test_migrate_sqlite_to_postgres_proves_the_same_root(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = open_store(str(init_store(project_dir)))
    _fill(source, 30)
    source.append_batch([make_run(outputs=[ref(f"batch{i}")]) for i in range(50)])
    source.checkpoint()
    root, size = source.root(), source.size()
    checkpoints = source.checkpoints()
    source.close()
    url = pg.fresh_database()
    try:
        assert main(["migrate", "--to", url, "--batch", "7", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["ok"], report
        assert (report["entries"], report["replayed"]) == (size, size)
        assert report["root"] == "sha256:" + root.hex()
        assert report["checkpoints"] == report["checkpoints_copied"] == len(checkpoints)
        target = open_store(url)
        assert target.root() == root and target.size() == size
        assert [c.note for c in target.checkpoints()] == [c.note for c in checkpoints]
        for cp in target.checkpoints():  # they prove consistency with today's root
            merkle.verify_consistency(cp.size, size, target.consistency_proof(cp.size),
                                      cp.root, root)
        assert target.verify().ok
        # the same lineage answers on both backends
        query = "SELECT COUNT(*) FROM edge"
        assert target.execute(query) == open_store(str(project_dir)).execute(query)
        target.close()
        assert main(["verify", "--store", url]) == 0
        capsys.readouterr()
        # resumable: nothing left to do, and the source may grow meanwhile
        source = open_store(str(project_dir))
        source.append(make_run())
        source.close()
        assert main(["migrate", "--to", url, "--json"]) == 0
        again = json.loads(capsys.readouterr().out)
        assert (again["replayed"], again["entries"], again["ok"]) == (1, size + 1, True)
    finally:
        pg.drop_database(url)


def test_migrate_refuses_a_target_with_another_journal(
    project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = open_store(str(init_store(project_dir)))
    _fill(source, 3)
    source.close()
    other = pg.fresh_postgres_store(tmp_path / "other")
    other.append(make_run())
    other.close()
    try:
        assert main(["migrate", "--to", other.url]) == 1
        assert "not the key of the store" in capsys.readouterr().err
    finally:
        pg.drop_database(other.url)


def test_migrate_postgres_to_sqlite_and_back(pg_store: PostgresStore, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(pg_store, 5)
    monkeypatch.chdir(tmp_path)  # where fresh_postgres_store left the key
    copy = tmp_path / "copy.db"
    assert main(["migrate", "--store", pg_store.url, "--to", f"sqlite:///{copy}"]) == 0
    assert open_store(f"sqlite:///{copy}").root() == pg_store.root()


def test_the_postgres_and_s3_extras_are_not_imported_by_forebear() -> None:
    import subprocess
    import sys

    code = ("import sys, forebear, forebear.store.postgres, forebear.artifacts.s3; "
            "print(sorted(m for m in ('psycopg', 'boto3', 'botocore') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_create_refuses_a_foreign_meta_table() -> None:
    url = pg.fresh_database()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE meta (k TEXT)")
        with pytest.raises(NotAStoreError, match="not forebear's"):
            create(url, signer=SigningKey.generate("x.example/k"))
    finally:
        pg.drop_database(url)


def _stop(proc: Any) -> None:
    """Stop a ``forebear serve`` started by a test, if it was."""
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()
