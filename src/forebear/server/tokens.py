"""Server tokens: bearer secrets stored only as SHA-256 hashes, outside the journal.

A token is ``fbt_<id>_<secret>``: ``id`` (12 hex digits) names it in ``token list`` and
``token revoke``; the secret is 32 random bytes. The store keeps the SHA-256 of the whole
token text, its scope (``read`` < ``write`` < ``admin``), an optional namespace that limits
it to OpenLineage jobs of that namespace, and when it was created, expires and was
revoked. The token itself is shown once, at creation.

Lookups are cached for a few seconds (a revocation in this process takes effect at once;
in another server replica within ``CACHE_SECONDS``). No web framework is imported here:
the CLI manages tokens with this module alone.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from forebear.errors import InvalidInputError, NotFoundError, UsageError
from forebear.model import openlineage
from forebear.model.ids import Clock, format_time, utc_now

__all__ = ["MAX_EXPIRY_DAYS", "SCOPES", "TokenInfo", "TokenStore", "expiry", "scope_allows"]

SCOPES: Final = ("read", "write", "admin")
"""Scopes from least to most: each allows what the ones before it allow."""

MAX_EXPIRY_DAYS: Final = 36500
"""The longest lifetime a token may be given, in days (a hundred years)."""

CACHE_SECONDS: Final = 5.0
_MISS_SECONDS = 1.0
_CACHE_MAX = 10_000
_PREFIX = "fbt_"


def scope_allows(have: str, need: str) -> bool:
    """Whether a token of scope ``have`` may do what needs scope ``need``."""
    return SCOPES.index(have) >= SCOPES.index(need)


def expiry(days: object, option: str = "--expires-days") -> timedelta:
    """The lifetime ``days`` stands for; UsageError unless 0 < days <= MAX_EXPIRY_DAYS.

    A token that expires at once (0 or less) would be useless, and NaN, infinity or
    centuries do not fit a timestamp: refused, naming ``option``.
    """
    if isinstance(days, bool) or not isinstance(days, int | float) or not (
        0 < days <= MAX_EXPIRY_DAYS  # False for NaN too
    ):
        raise UsageError(f"{option} must be a number of days above 0 and at most "
                         f"{MAX_EXPIRY_DAYS}, not {days!r}",
                         hint=f"give for example {option} 90, or leave it out for no expiry")
    return timedelta(days=days)


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenInfo:
    """A stored token, without its secret."""

    id: str
    scope: str
    namespace: str | None
    name: str | None
    created_at: str
    expires_at: str | None
    revoked_at: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scope": self.scope,
            "namespace": self.namespace,
            "name": self.name,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
        }


_COLUMNS = "id, scope, namespace, name, created_at, expires_at, revoked_at"


def _info(row: tuple[Any, ...]) -> TokenInfo:
    return TokenInfo(id=row[0], scope=row[1], namespace=row[2], name=row[3],
                     created_at=row[4], expires_at=row[5], revoked_at=row[6])


class TokenStore:
    """Tokens kept in the store's ``api_token`` table (see the module docstring)."""

    def __init__(self, store: Any, *, clock: Clock = utc_now,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if not hasattr(store, "side_write"):
            raise InvalidInputError(
                "tokens live in the server's own store",
                hint="run `forebear token` on the server with --store pointing at its database",
            )
        self._store = store
        self._p = store.placeholder
        self._clock = clock
        self._monotonic = monotonic
        self._cache: dict[bytes, tuple[float, TokenInfo | None]] = {}
        self._lock = threading.Lock()

    def create(
        self,
        scope: str,
        *,
        namespace: str | None = None,
        name: str | None = None,
        expires_in: timedelta | None = None,
    ) -> tuple[TokenInfo, str]:
        """A new token of ``scope``; returns its record and the token text (shown once)."""
        if scope not in SCOPES:
            raise InvalidInputError(f"unknown scope {scope!r}", hint="use read, write or admin")
        if namespace is not None:
            openlineage.check_name(
                namespace, "the token's namespace",
                hint="give --namespace the OpenLineage job namespace the token is for, "
                "such as training")
        if name is not None:
            openlineage.check_name(name, "the token's name",
                                   hint="give --name a short label, or none")
        ident = secrets.token_hex(6)
        token = f"{_PREFIX}{ident}_{secrets.token_urlsafe(32)}"
        now = self._clock()
        expires = format_time(now + expires_in) if expires_in is not None else None
        info = TokenInfo(id=ident, scope=scope, namespace=namespace, name=name,
                         created_at=format_time(now), expires_at=expires, revoked_at=None)
        p = self._p
        with self._store.side_write() as cur:
            cur.execute(
                f"INSERT INTO api_token (id, secret_hash, scope, namespace, name, created_at, "
                f"expires_at, revoked_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, NULL)",
                (ident, self._store.blob(_hash(token)), scope, namespace, name,
                 info.created_at, expires),
            )
        return info, token

    def list(self) -> list[TokenInfo]:
        """Every token, oldest first, revoked ones included."""
        with self._store.side_read() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM api_token ORDER BY created_at, id")
            return [_info(row) for row in cur.fetchall()]

    def revoke(self, ident: str) -> TokenInfo:
        """Revoke the token ``ident`` (idempotent); NotFoundError if there is none."""
        p = self._p
        with self._store.side_write() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM api_token WHERE id = {p}", (ident,))
            row = cur.fetchone()
            if row is None:
                raise NotFoundError(f"no token {ident!r}", hint="see `forebear token list`")
            if row[6] is None:
                cur.execute(f"UPDATE api_token SET revoked_at = {p} WHERE id = {p}",
                            (format_time(self._clock()), ident))
        with self._lock:
            self._cache.clear()
        with self._store.side_read() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM api_token WHERE id = {p}", (ident,))
            return _info(cur.fetchone())

    def from_cache(self, token: str) -> tuple[bool, TokenInfo | None]:
        """``(True, authenticate(token))`` when the cache can answer, else ``(False, None)``.

        Lets a server answer most requests without a database call (or a thread hop).
        """
        if not token.startswith(_PREFIX) or len(token) > 128:
            return True, None
        with self._lock:
            entry = self._cache.get(_hash(token))
        if entry is None or entry[0] <= self._monotonic():
            return False, None
        return True, self._usable(entry[1])

    def authenticate(self, token: str) -> TokenInfo | None:
        """The active, unexpired token ``token`` names, or None."""
        if not token.startswith(_PREFIX) or len(token) > 128:
            return None
        digest = _hash(token)
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            info = cached[1]
        else:
            info = self._lookup(digest)
            with self._lock:
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
                ttl = CACHE_SECONDS if info is not None else _MISS_SECONDS
                self._cache[digest] = (now + ttl, info)
        return self._usable(info)

    def _usable(self, info: TokenInfo | None) -> TokenInfo | None:
        if info is None or info.revoked_at is not None:
            return None
        if info.expires_at is not None and info.expires_at <= format_time(self._clock()):
            return None
        return info

    def _lookup(self, digest: bytes) -> TokenInfo | None:
        with self._store.side_read() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM api_token WHERE secret_hash = {self._p}",
                        (self._store.blob(digest),))
            row = cur.fetchone()
        return None if row is None else _info(row)
