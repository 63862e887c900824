"""REF resolution: the one way every query names an artifact or a run.

A REF is tried as, in this order of precedence (DESIGN.md):

1. an existing file or directory: hashed, and its digest looked up (not a folder that
   holds a repository, a store, a file system or a home: never an artifact, and too
   big to read for nothing);
2. an alias name: the artifact it points at now;
3. a full id: ``sha256:<hex>`` (or ``blake3:``), ``dataset:<namespace>:<name>``;
4. a run id (UUIDv7 text);
5. a unique prefix of 8+ characters of a digest's hex (with or without ``sha256:``) or
   of a run id.

A prefix that matches several nodes is an ``AmbiguousRefError`` listing them; a REF that
matches nothing is a ``NotFoundError`` naming every form it was tried as. A file that
exists but was never recorded does not stop the search (an alias may share its name), but
the final error says what it hashed to.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from forebear.errors import AmbiguousRefError, InvalidInputError, NotFoundError
from forebear.graph._sql import Queryable, run
from forebear.hashing import is_digest_text
from forebear.model.ids import is_run_id

__all__ = ["MIN_PREFIX", "Resolved", "is_path", "path_digest", "resolve"]

MIN_PREFIX = 8
"""Fewest characters a prefix may have."""

_MAX_CANDIDATES = 10
_ALGORITHMS = ("sha256", "blake3")
_HEX_PREFIX = re.compile(r"(?:(sha256|blake3):)?([0-9a-f]+)")
_RUN_PREFIX = re.compile(r"[0-9a-f]{8}(?:-[0-9a-f-]*)?")

Hasher = Callable[[Path], str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolved:
    """A REF resolved to one graph node."""

    node: int
    """The node's integer id in the projections."""
    key: str
    """Its public id: an artifact's digest (or ``dataset:`` id), an execution's run id."""
    type: str
    """``artifact`` or ``execution``."""
    via: str
    """How the REF matched: ``file``, ``alias``, ``id``, ``run id`` or ``prefix``."""


def _default_hasher(path: Path) -> str:
    from forebear.hashing import hash_path

    return str(hash_path(path))


def _by_key(store: Queryable, key: str, via: str) -> Resolved | None:
    rows = run(store, "SELECT id, key, type FROM node WHERE key = ?", (key,))
    if not rows:
        return None
    ident, found, kind = rows[0]
    return Resolved(node=int(ident), key=found, type=kind, via=via)


def _key_range(store: Queryable, prefix: str) -> list[tuple[int, str, str]]:
    # A half-open key range instead of LIKE: it uses the unique index on node.key on every
    # backend and needs no escaping. The bounds end in a hex digit bumped to the next one
    # ('9' -> 'a', never ':'), so the range also holds under a locale collation that
    # ignores punctuation; a trailing '-' is left out for the same reason, and what the
    # range lets through is checked against the prefix here.
    low = prefix.rstrip("-")
    last = low[-1]
    high = low[:-1] + ("a" if last == "9" else chr(ord(last) + 1))
    rows = run(
        store,
        "SELECT id, key, type FROM node WHERE key >= ? AND key < ? ORDER BY key LIMIT ?",
        (low, high, 4 * _MAX_CANDIDATES),
    )
    return [(int(i), k, t) for i, k, t in rows if k.startswith(prefix)][: _MAX_CANDIDATES + 1]


def _by_prefix(store: Queryable, text: str) -> list[tuple[int, str, str]]:
    found: dict[str, tuple[int, str, str]] = {}
    match = _HEX_PREFIX.fullmatch(text)
    if match is not None and len(match.group(2)) >= MIN_PREFIX:
        algorithms = (match.group(1),) if match.group(1) else _ALGORITHMS
        for algorithm in algorithms:
            for row in _key_range(store, f"{algorithm}:{match.group(2)}"):
                found[row[1]] = row
    if _RUN_PREFIX.fullmatch(text) and ":" not in text:
        for row in _key_range(store, text):
            if row[2] == "execution":
                found[row[1]] = row
    return sorted(found.values(), key=lambda row: row[1])


def resolve(
    store: Queryable,
    ref: str,
    *,
    cwd: Path | None = None,
    hasher: Hasher | None = None,
    files: bool = True,
) -> Resolved:
    """Resolve ``ref`` to one node of ``store`` (see the module docstring).

    ``cwd`` anchors relative file paths (default: the working directory); ``hasher``
    turns a path into its digest text (default: ``forebear.hashing.hash_path``).
    ``files=False`` skips the file step: a server resolves REFs sent to it as data and
    never looks at its own file system.
    """
    text = ref.strip()
    if not text:
        raise NotFoundError(
            "an empty REF names nothing", hint="give a path, alias, digest or run id"
        )
    tried: list[str] = []
    unrecorded = ""
    path = Path(text) if cwd is None or os.path.isabs(text) else cwd / text
    if files and is_path(path):
        digest = path_digest(path, text, hasher)
        if digest is None:
            unrecorded = (f"; {not_hashed(text)}: name the file or folder in it that a "
                          "run used or made")
        else:
            found = _by_key(store, digest, "file")
            if found is not None:
                return found
            unrecorded = f"; the file {text} hashes to {digest}, which was never recorded"
    tried.append("a recorded file" if unrecorded else "an existing file")

    rows = run(store, "SELECT target FROM alias WHERE name = ?", (text,))
    if rows:
        target = rows[0][0]
        found = _by_key(store, target, "alias")
        if found is None:
            raise NotFoundError(
                f"alias {text!r} points at {target}, which is not in the lineage graph",
                hint="record the artifact, or move the alias with `forebear alias set`",
            )
        return found
    tried.append("an alias")

    lowered = text.lower()
    if is_digest_text(lowered) or lowered.startswith("dataset:"):
        found = _by_key(store, lowered if is_digest_text(lowered) else text, "id")
        if found is not None:
            return found
        raise NotFoundError(f"{text} is not in the lineage graph{unrecorded}",
                            hint="check the digest, or record the artifact first")
    tried.append("a digest")
    if is_run_id(lowered):
        found = _by_key(store, lowered, "run id")
        if found is not None:
            return found
        raise NotFoundError(f"no run {lowered} in this store{unrecorded}",
                            hint="list runs with `forebear log`")
    tried.append("a run id")

    candidates = _by_prefix(store, lowered)
    if len(candidates) == 1:
        ident, key, kind = candidates[0]
        return Resolved(node=ident, key=key, type=kind, via="prefix")
    if candidates:
        shown = [f"{key} ({kind})" for _, key, kind in candidates[:_MAX_CANDIDATES]]
        more = " and more" if len(candidates) > _MAX_CANDIDATES else ""
        raise AmbiguousRefError(
            f"{text!r} matches {len(candidates)}{more}: " + ", ".join(shown),
            candidates=[key for _, key, _ in candidates],
        )
    tried.append(f"a prefix of {MIN_PREFIX}+ hex digits")
    raise NotFoundError(
        f"{text!r} matches nothing: it is not " + ", ".join(tried[:-1]) + f" or {tried[-1]}"
        + unrecorded,
        hint="give a recorded file, an alias, a digest or its prefix, or a run id "
        "(see `forebear log`)",
    )


def not_hashed(text: str) -> str:
    """Why the folder ``text`` is not hashed (``holds_projects``), for messages."""
    return (f"the folder {text} holds a project or a file system (.git, .forebear, a root "
            "or a home folder) and is not hashed")


def holds_projects(path: Path) -> bool:
    """Whether ``path`` is a folder no run reads or writes whole: a repository's or a
    store's root, a file system's root, a home folder."""
    try:
        if not path.is_dir():
            return False
        real = path.resolve()
        return (real == Path(real.anchor) or real == Path.home().resolve()
                or (real / ".git").exists() or (real / ".forebear").is_dir())
    except (OSError, RuntimeError):
        return False


def path_digest(path: Path, text: str, hasher: Hasher | None = None) -> str | None:
    """The digest of the file or folder ``path`` (``text`` as the user wrote it), or None
    for a folder that is never an artifact (``holds_projects``): hashing it would read
    everything below (the store's blobs, a whole disk) to say no. InvalidInputError when
    it cannot be read."""
    if holds_projects(path):
        return None
    try:
        return (hasher or _default_hasher)(path)
    except OSError as exc:  # a folder with an unreadable file, a file not ours
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != text else ""
        raise InvalidInputError(
            f"cannot hash {text}: {exc.strerror or exc}{where}",
            hint="give a file or folder you can read, or the artifact's digest",
        ) from None


def is_path(path: Path) -> bool:
    """Whether ``path`` names something that exists (never raises)."""
    try:
        return path.exists()
    except (OSError, ValueError):  # names too long for the file system, NUL bytes
        return False
