"""Where a blob lives: the sharded key layout every blob store shares. Pure, no I/O.

A blob's key is ``[<prefix>/]<algorithm>/<hex[:2]>/<hex[2:]>``, for example
``sha256/e3/b0c442...``: 256 shards keep directories and object listings small. Keys are
relative, '/'-separated and made only of the digest, so a key that parses can never
escape the store's root; ``parse_key`` refuses anything that is not exactly this shape.
"""

from __future__ import annotations

import re

from forebear.errors import InvalidInputError
from forebear.hashing import ALGORITHMS, Digest

__all__ = ["check_prefix", "key_for", "key_parts", "parse_key"]

_BLOB_KEY = re.compile(rf"({'|'.join(ALGORITHMS)})/([0-9a-f]{{2}})/([0-9a-f]{{62}})")
_SEGMENT = re.compile(r"[^\x00-\x1f\\/]+")


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` without trailing slashes, or raise if it could escape the root.

    A prefix is relative and made of '/'-separated segments, none empty, ``.`` or
    ``..``, and none with a backslash or control character.
    """
    stripped = prefix.rstrip("/")
    if not stripped:
        return ""
    if stripped.startswith("/"):
        raise InvalidInputError(f"blob key prefix {prefix!r} is absolute", hint="drop the '/'")
    for segment in stripped.split("/"):
        if segment in (".", "..") or not _SEGMENT.fullmatch(segment):
            raise InvalidInputError(
                f"invalid blob key prefix {prefix!r}",
                hint="use '/'-separated names without '.', '..', backslashes or empty parts",
            )
    return stripped


def key_parts(digest: Digest) -> tuple[str, str, str]:
    """The key's three components: algorithm, shard (``hex[:2]``), name (``hex[2:]``)."""
    return digest.algorithm, digest.hex[:2], digest.hex[2:]


def key_for(digest: Digest, prefix: str = "") -> str:
    """The key of ``digest``: ``[<prefix>/]<algorithm>/<hex[:2]>/<hex[2:]>``."""
    key = "/".join(key_parts(digest))
    prefix = check_prefix(prefix)
    return f"{prefix}/{key}" if prefix else key


def parse_key(key: str, prefix: str = "") -> Digest:
    """The digest that ``key`` names; InvalidInputError unless ``key_for`` could give it."""
    prefix = check_prefix(prefix)
    if "\\" in key or key.startswith("/") or ".." in key.split("/"):
        raise InvalidInputError(f"blob key {key!r} could escape the store's root")
    rest = key
    if prefix:
        if not key.startswith(prefix + "/"):
            raise InvalidInputError(f"blob key {key!r} is not under prefix {prefix!r}")
        rest = key[len(prefix) + 1 :]
    match = _BLOB_KEY.fullmatch(rest)
    if match is None:
        raise InvalidInputError(
            f"invalid blob key {key!r}", hint="expected <algorithm>/<2 hex>/<62 hex>"
        )
    return Digest(match[1], match[2] + match[3])
