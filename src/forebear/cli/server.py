"""``serve``, ``worker``, ``token``, ``spool``: running and using a forebear server."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

import click

from forebear.cli._common import common, console, emit_json, escape, settings, store_option
from forebear.errors import ConfigError


@click.group("token")
def token_app() -> None:
    """Server tokens: create, list, revoke."""


@click.group("spool")
def spool_app() -> None:
    """Events waiting for an unreachable server."""


def _local_store(store: str | None) -> tuple[Any, Any]:
    """The server's own store (SQLite or PostgreSQL) and its settings."""
    from forebear.store.registry import open_from

    found = settings(store)
    if found.is_remote:
        raise ConfigError(
            f"a server needs its own database, not another server ({found.store_url})",
            hint="point --store at the sqlite:/// or postgresql:// store it should serve",
        )
    return open_from(found), found


class WorkerMode(StrEnum):
    """Where ``forebear serve`` projects ingested events."""

    process = "process"
    thread = "thread"
    none = "none"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=int, default=8642, show_default=True, help="Port to bind.")
@store_option
@click.option("--blob-store", metavar="URL",
              help="Blob store URL (default: FOREBEAR_BLOBS, then beside the store).")
@click.option("--max-body", type=int, default=10 * 1024**2, show_default=True,
              help="Largest JSON request body in bytes (413 beyond).")
@click.option("--worker", "worker_mode", type=click.Choice([m.value for m in WorkerMode]),
              default=WorkerMode.process.value, show_default=True,
              help="Project ingested events in a child process, a thread of this one, or "
              "not at all (run `forebear worker` elsewhere).")
@click.option("--no-worker", is_flag=True, hidden=True, help="The same as --worker none.")
@click.option("--access-log", is_flag=True, help="Log every request.")
@click.option("--proxy-headers", is_flag=True, help="Trust X-Forwarded-* from a reverse proxy.")
def serve(host: str, port: int, store: str | None, blob_store: str | None, max_body: int,
          worker_mode: str, no_worker: bool, access_log: bool, proxy_headers: bool) -> None:
    """Run the HTTP server (OpenLineage ingest, queries, proofs, blobs)."""
    worker = WorkerMode(worker_mode)
    try:
        import uvicorn

        from forebear.server.app import create_app
        from forebear.server.state import ServerConfig
    except ImportError as exc:
        raise ConfigError(
            f"forebear serve needs the server extra, which is not installed ({exc.name})",
            hint="pip install 'forebear[server]'",
        ) from None
    from forebear.sdk.lifecycle import protected_aliases
    from forebear.server.supervisor import WorkerProcess
    from forebear.store.postgres import redact

    # The committer (and projection) threads hand the GIL back and forth with the event
    # loop at every SQLite call; the default 5 ms switch interval would make each commit
    # wait behind request parsing. This is a server process: a short interval is cheap.
    sys.setswitchinterval(0.0005)
    if no_worker:
        worker = WorkerMode.none
    with contextlib.ExitStack() as stack:
        db, found = _local_store(store)
        stack.callback(db.close)
        _warn_without_key(found)
        blobs = _blob_store(blob_store or found.blob_url)
        # Bound before anything starts: a port in use is one clear error, not a worker
        # child started for nothing and uvicorn's own exit code.
        sock = stack.enter_context(_listen(host, port))
        config = ServerConfig(max_body=max_body, protected_aliases=protected_aliases())
        reader = None
        if found.is_embedded:
            # SQLite: queries get a connection of their own (WAL readers never wait for
            # the writer), so a long lineage query cannot hold up ingest commits.
            reader = _local_store(store)[0]
            stack.callback(reader.close)
        app = create_app(db, blobs=blobs, config=config, worker=worker is WorkerMode.thread,
                         reader=reader)
        if worker is WorkerMode.process:
            # Projection is CPU work: in its own process it runs beside the server's event
            # loop instead of taking turns with it for the interpreter lock.
            child = WorkerProcess(found.store_url)
            child.start()
            stack.callback(child.stop)
        bound = _address(host, sock.getsockname()[1])  # --port 0: the one the system chose
        click.echo(f"forebear: serving {redact(db.url)} on http://{bound}", err=True)
        server = uvicorn.Server(uvicorn.Config(
            app, log_level="warning", access_log=access_log, server_header=False,
            date_header=False, proxy_headers=proxy_headers))
        server.run(sockets=[sock])


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _warn_without_key(found: Any) -> None:
    """Say so when a PostgreSQL store opened without its signing key (FOREBEAR_KEY).

    It still takes events, but cannot refresh the signed head at each commit, which is
    what lets ``verify`` catch a removed tail: a key left unmounted must not go unseen.
    """
    if found.is_embedded:
        return  # a SQLite store's key lives beside it, made by `forebear init`
    from forebear.store.postgres import key_path

    where = key_path(found)
    if not where.is_file():
        click.echo(f"forebear: warning: no signing key (not at {where}), so the journal's "
                   "signed head is not refreshed; mount the store's key and point "
                   "FOREBEAR_KEY at it", err=True)


def _blob_store(url: str | None) -> Any:
    """The server's blob store, checked now (a missing bucket is a startup error)."""
    from forebear.artifacts.base import check_reachable, open_blob_store

    if not url:
        click.echo("forebear: warning: no blob store, so this server refuses blob uploads "
                   "and downloads; set FOREBEAR_BLOBS or --blob-store", err=True)
        return None
    blobs = open_blob_store(url)
    check_reachable(blobs)
    return blobs


@contextlib.contextmanager
def _listen(host: str, port: int) -> Iterator[Any]:
    """A listening socket on ``host:port``; ConfigError naming the fix if it cannot be."""
    import errno  # here, not at the top: every other command would pay for them
    import socket

    where = _address(host, port)
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port", hint="use a port of 1-65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            hint = "another process listens there: stop it, or pick another --port"
        elif exc.errno == errno.EACCES:
            hint = "ports below 1024 need privileges: pick another --port"
        else:
            hint = "--host must be an address of this machine (127.0.0.1, 0.0.0.0, ::)"
        reason = exc.strerror or str(exc)
        raise ConfigError(f"cannot listen on {where}: {reason}", hint=hint) from None
    with sock:
        yield sock


@click.command()
@common
@click.option("--once", is_flag=True, help="Project what is pending, then exit.")
@click.option("--poll", type=float, default=0.5, show_default=True,
              help="Seconds between looks when idle.")
@click.option("--parent", type=int, hidden=True,
              help="Exit when this process (the server) is gone.")
def worker(store: str | None, json_out: bool, once: bool, poll: float,
           parent: int | None) -> None:
    """Project ingested events into the lineage graph (for a separate deployment)."""
    import signal

    from forebear.server.worker import ProjectionWorker
    from forebear.store.postgres import redact

    db, _ = _local_store(store)
    alive = None if parent is None else (lambda: os.getppid() == parent)
    projector = ProjectionWorker(db, poll=poll, alive=alive)
    try:
        if once:
            done = projector.drain()
            if json_out:
                emit_json({"projected": done, "projected_size": db.projected_size()})
            else:
                click.echo(f"projected {done} entries")
            return
        click.echo(f"forebear: projecting {redact(db.url)} (Ctrl-C to stop)", err=True)
        # SIGTERM (from `forebear serve` or a process manager) stops it like Ctrl-C: an
        # unfinished batch rolls back and is projected again by the next worker.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        with contextlib.suppress(KeyboardInterrupt):
            projector.run()
    finally:
        db.close()


# -- tokens ---------------------------------------------------------------------------------


def _remote(store: str | None) -> Any:
    """A store behind a server, without a sender thread (these commands only read or
    send synchronously), or None for a local store."""
    from forebear.store.remote import open_from_settings

    found = settings(store, required=False)
    if found.is_remote:
        return open_from_settings(found, sender=False)
    return None


@token_app.command("create")
@click.option("--scope", required=True, help="read, write or admin.")
@click.option("--namespace", help="Limit the token to OpenLineage jobs of this namespace.")
@click.option("--name", help="A label for the token.")
@click.option("--expires-days", type=float, help="Stop working after this many days.")
@common
def token_create(scope: str, namespace: str | None, name: str | None,
                 expires_days: float | None, store: str | None, json_out: bool) -> None:
    """Create a token; it is printed once and stored only hashed."""
    from forebear.server.tokens import expiry

    expires = expiry(expires_days) if expires_days is not None else None
    remote = _remote(store)
    if remote is not None:
        body: dict[str, Any] = {"scope": scope, "namespace": namespace, "name": name}
        if expires_days is not None:
            body["expires_days"] = expires_days
        record = remote.send_json("POST", "/api/v1/tokens", body)
    else:
        from forebear.server.tokens import TokenStore

        db, _ = _local_store(store)
        try:
            info, token = TokenStore(db).create(scope, namespace=namespace, name=name,
                                                expires_in=expires)
        finally:
            db.close()
        record = {**info.to_json(), "token": token}
    if json_out:
        emit_json(record)
        return
    click.echo(record["token"])
    where = f", namespace {record['namespace']}" if record.get("namespace") else ""
    click.echo(f"token {record['id']} ({record['scope']}{where}); it is shown only now",
               err=True)


@token_app.command("list")
@common
def token_list(store: str | None, json_out: bool) -> None:
    """List tokens (never their secrets)."""
    remote = _remote(store)
    if remote is not None:
        records = remote.get_json("/api/v1/tokens")
    else:
        from forebear.server.tokens import TokenStore

        db, _ = _local_store(store)
        try:
            records = [info.to_json() for info in TokenStore(db).list()]
        finally:
            db.close()
    if json_out:
        emit_json(records)
        return
    out = console()
    if not records:
        out.print("no tokens")
    for item in records:
        state = "[red]revoked[/]" if item["revoked_at"] else "[green]active[/]"
        extra = f" namespace={escape(item['namespace'])}" if item["namespace"] else ""
        label = f" {escape(item['name'])}" if item["name"] else ""
        out.print(f"{item['id']}  {item['scope']:<5}  {state}  {item['created_at'][:19]}"
                  f"{extra}{label}")


@token_app.command("revoke")
@click.argument("token_id")
@common
def token_revoke(token_id: str, store: str | None, json_out: bool) -> None:
    """Revoke the token TOKEN_ID (see `token list`); it stops working at once."""
    from urllib.parse import quote

    remote = _remote(store)
    if remote is not None:
        record = remote.send_json("DELETE", f"/api/v1/tokens/{quote(token_id, safe='')}")
    else:
        from forebear.server.tokens import TokenStore

        db, _ = _local_store(store)
        try:
            record = TokenStore(db).revoke(token_id).to_json()
        finally:
            db.close()
    if json_out:
        emit_json(record)
    else:
        click.echo(f"revoked token {record['id']}")


# -- spool ----------------------------------------------------------------------------------


def _spool_store(store: str | None) -> Any:
    remote = _remote(store)
    if remote is None:
        raise ConfigError("the spool holds events for a server; this store is local",
                          hint="pass --store http://host:port or set FOREBEAR_STORE")
    return remote


@spool_app.command("status")
@common
def spool_status(store: str | None, json_out: bool) -> None:
    """How many events wait in the spool for the server."""
    remote = _spool_store(store)
    try:
        report = remote.spool.status()
        report["blobs"] = len(_blob_spool(remote).pending())
    finally:
        remote.close()
    if json_out:
        emit_json(report)
        return
    since = f", oldest from {report['oldest']}" if report["oldest"] else ""
    click.echo(f"{report['entries']} entries in {report['batches']} batches and "
               f"{report['blobs']} blobs wait for {report['url']}{since}")
    if report["rejected"]:
        click.echo(f"{report['rejected']} batches were refused by the server: see "
                   f"{report['folder']}/rejected; once the cause is fixed, "
                   "`forebear spool retry` sends them again", err=True)


@spool_app.command("flush")
@common
def spool_flush(store: str | None, json_out: bool) -> None:
    """Send every spooled event to the server now."""
    _flush(_spool_store(store), json_out)


@spool_app.command("retry")
@common
def spool_retry(store: str | None, json_out: bool) -> None:
    """Send the batches the server refused again, under the token set now (once what it
    refused, such as a token without the write scope, is fixed)."""
    remote = _spool_store(store)
    try:
        remote.spool.requeue()
    except BaseException:
        remote.close()
        raise
    _flush(remote, json_out)


def _flush(remote: Any, json_out: bool) -> None:
    from forebear.store.remote import refusal_fix

    try:
        before = {path.name for path in remote.spool.rejected()}
        sent, left = remote.flush_spool()
        rejected = [path for path in remote.spool.rejected() if path.name not in before]
        reasons = [remote.spool.reason(path) for path in rejected]
        blobs = _blob_spool(remote)
        blobs_sent = blobs.flush_pending()
        blobs_left = len(blobs.pending())
    finally:
        remote.close()
    refused = [{"digest": str(digest), "reason": reason} for digest, reason in blobs.refused]
    if json_out:
        emit_json({"sent": sent, "left": left, "refused": reasons,
                   "blobs_sent": blobs_sent, "blobs_left": blobs_left,
                   "blobs_refused": refused})
    else:
        click.echo(f"sent {sent} batches and {blobs_sent} blobs; "
                   f"{left} batches and {blobs_left} blobs left")
    for reason in dict.fromkeys(reasons):
        click.echo(f"forebear: the server refused batches ({reason}); they were moved to "
                   f"{remote.spool.dir / 'rejected'}: {refusal_fix(reason)}, then run "
                   "`forebear spool retry`", err=True)
    for item in refused:
        click.echo(f"forebear: blob {item['digest']} was refused for good ({item['reason']}); "
                   f"it was moved to {blobs.rejected_dir}", err=True)
    if left or blobs_left or refused or reasons:
        sys.exit(1)


def _blob_spool(remote: Any) -> Any:
    """The spooled blobs of the server ``remote`` talks to (same spool root and URL)."""
    from forebear.artifacts.http import HttpBlobStore

    return HttpBlobStore(remote.url, remote.token,
                         spool_root=remote.spool.root)
