"""A stdlib HTTP client for a forebear server: keep-alive connections, bearer token, and
the server's JSON errors turned back into ``ForebearError``s."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Mapping
from typing import Any
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


class HttpClient:
    """Keep-alive HTTP connections to one server, one per thread; stdlib only."""

    def __init__(self, url: str, token: str | None, timeout: float) -> None:
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
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = (http.client.HTTPSConnection if self._scheme == "https"
                   else http.client.HTTPConnection)
            conn = cls(self._host, self._port, timeout=self._timeout)
            self._local.conn = conn
        return conn

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """Send one request; (status, body). TransportError if the server is unreachable."""
        query = ""
        if params:
            items = [(k, v) for k, v in params.items() if v is not None]
            flat = [(k, x) for k, v in items for x in (v if isinstance(v, list) else [v])]
            query = "?" + urlencode([(k, str(v).lower() if isinstance(v, bool) else v)
                                     for k, v in flat])
        sent = {"Accept": "application/json", "User-Agent": "forebear-remote"}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, self._base + path + query, body=body, headers=sent)
                response = conn.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self._local.conn = None
                # A kept-alive connection the server closed fails once: retry on a new one.
                if attempt or not isinstance(exc, http.client.RemoteDisconnected
                                             | BrokenPipeError | ConnectionResetError):
                    raise TransportError(
                        f"cannot reach the forebear server at {self.url}: {exc}",
                        hint="start it with `forebear serve`, or check FOREBEAR_STORE",
                    ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def retry_later(status: int) -> bool:
    """Whether a write the server answered ``status`` may succeed later, unchanged:
    unreachable (0), a token to fix, a timeout, too many requests, or a server error.
    Anything else is refused for good, and sending it again would only be refused again."""
    return status in (0, 401, 403, 408, 429) or status >= 500


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
