"""forebear's one HTTP client (standard library): kept-alive connections, one per thread;
a connection the server closed while idle is replaced once, transparently; an
unreachable server is a ``TransportError`` naming it and the fix. Used to talk to a
forebear server (store and blobs), an MLflow tracking server, and any OpenLineage
consumer. Also the server's JSON errors turned back into ``ForebearError``s."""

from __future__ import annotations

import http.client
import json
import threading
import weakref
from collections.abc import Mapping
from typing import IO, Any
from urllib.parse import urlencode, urlsplit

from forebear.errors import (
    AmbiguousRefError,
    AuthError,
    ConflictError,
    ForebearError,
    InvalidInputError,
    NotFoundError,
    StoreError,
    TransportError,
)

__all__ = ["HttpClient", "error_from_response", "refusal", "retry_later"]

Body = bytes | IO[bytes] | None


class HttpClient:
    """Keep-alive HTTP connections to one server, one per thread.

    ``token`` is sent as ``Authorization: Bearer``; ``headers`` go with every request
    (another ``Authorization``, a ``User-Agent``). ``name`` and ``hint`` word the error
    when the server cannot be reached.
    """

    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0, *,
                 headers: Mapping[str, str] | None = None,
                 name: str = "the forebear server",
                 hint: str = "start it with `forebear serve`, or check FOREBEAR_STORE",
                 ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInputError(f"not a server URL: {url!r}", hint="use http(s)://host:port")
        self.url = url.rstrip("/")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._base = parts.path.rstrip("/")
        self.token = token
        self._timeout = timeout
        self._headers = {"Accept": "application/json", "User-Agent": "forebear-remote",
                         **(headers or {})}
        self._name = name
        self._hint = hint
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: set[http.client.HTTPConnection] = set()
        # Connections left open are closed when the client goes (or the process ends).
        weakref.finalize(self, _close_each, self._all, self._lock)

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = (http.client.HTTPSConnection if self._scheme == "https"
                   else http.client.HTTPConnection)
            conn = cls(self._host, self._port, timeout=self._timeout)
            self._local.conn = conn
            with self._lock:
                self._all.add(conn)
        return conn

    def open(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Body = None,
        headers: Mapping[str, str] | None = None,
    ) -> http.client.HTTPResponse:
        """Send one request; the response, whose body the caller reads to its end (or
        calls ``drop``). ``path`` is below the URL's own path. TransportError if the
        server cannot be reached."""
        query = ""
        if params:
            items = [(k, v) for k, v in params.items() if v is not None]
            flat = [(k, x) for k, v in items for x in (v if isinstance(v, list) else [v])]
            query = "?" + urlencode([(k, str(v).lower() if isinstance(v, bool) else v)
                                     for k, v in flat])
        sent = dict(self._headers)
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        # A file body sent on a connection that turns out dead is sent again from where
        # it started; one that cannot go back is not retried.
        mark = body.tell() if body is not None and not isinstance(body, bytes) \
            and body.seekable() else None
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, self._base + path + query, body=body, headers=sent)
                return conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                self.drop()
                # A kept-alive connection the server closed fails once: retry on a new one.
                stale = isinstance(exc, http.client.RemoteDisconnected | BrokenPipeError
                                   | ConnectionResetError)
                if attempt or not stale or (mark is None and not isinstance(body, bytes | None)):
                    raise TransportError(f"cannot reach {self._name} at {self.url}: {exc}",
                                         hint=self._hint) from None
                if mark is not None:
                    body.seek(mark)  # type: ignore[union-attr]
        raise AssertionError("unreachable")  # pragma: no cover

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Body = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """Send one request; (status, body). TransportError if the server cannot be
        reached."""
        response = self.open(method, path, params=params, body=body, headers=headers)
        try:
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.drop()
            raise TransportError(f"{self._name} at {self.url} broke off its answer: {exc}",
                                 hint=self._hint) from None

    def drop(self) -> None:
        """Close this thread's connection (after an answer left half read, say); the
        next request opens another."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            with self._lock:
                self._all.discard(conn)

    def close_all(self) -> None:
        """Close every thread's connection."""
        _close_each(self._all, self._lock)
        self._local = threading.local()


def _close_each(conns: set[http.client.HTTPConnection], lock: threading.Lock) -> None:
    with lock:
        found = list(conns)
        conns.clear()
    for conn in found:
        conn.close()


def retry_later(status: int) -> bool:
    """Whether a write the server answered ``status`` may succeed later, unchanged:
    unreachable (0), a timeout, too many requests, or a server error. Anything else is
    refused for good, a refused token included: sending it again would only be refused
    again, and sending it later under whichever token is set then would let one token's
    writes pass as another's."""
    return status in (0, 408, 429) or status >= 500


def _error_fields(status: int, body: bytes) -> tuple[str, Any, Any]:
    """(message, hint, candidates) of a server's JSON ``error`` object, or of a body
    that is not one (a proxy's page)."""
    try:
        detail = json.loads(body)["error"]
        return str(detail["message"]), detail.get("hint"), detail.get("candidates")
    except (ValueError, KeyError, TypeError):
        text = body[:200].decode("utf-8", "replace").strip()
        return text or f"HTTP {status}", None, None


def refusal(status: int, body: bytes) -> str:
    """``HTTP <status>: <the server's message>``: why a write was refused, in one line."""
    message, bare = _error_fields(status, body)[0], f"HTTP {status}"
    return bare if message == bare else f"{bare}: {message[:300]}"


def error_from_response(status: int, body: bytes) -> ForebearError:
    """The ForebearError a server's error answer stands for (its JSON ``error`` object)."""
    message, hint, candidates = _error_fields(status, body)
    if status == 404:
        return NotFoundError(message, hint=hint)
    if status == 409:
        return ConflictError(message, hint=hint)
    if status in (401, 403):
        return AuthError(message, hint=hint)
    if status == 400 and isinstance(candidates, list):
        return AmbiguousRefError(message, candidates=[str(c) for c in candidates], hint=hint)
    if 400 <= status < 500:
        return InvalidInputError(message, hint=hint)
    if status == 503:
        return StoreError(f"the server cannot serve this now: {message}", hint=hint)
    return TransportError(f"the server failed (HTTP {status}): {message}", hint=hint)
