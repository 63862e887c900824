"""DVC's objects, known by md5, as forebear knows data: by the SHA-256 of their bytes,
found in DVC's cache, the workspace (while they still have that md5) or git at a commit;
a folder from its ``.dir`` listing, with the digest the same folder has on disk. Used by
``forebear.importers.dvc``."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from forebear.errors import InvalidInputError
from forebear.hashing import Digest, manifest_of
from forebear.importers._dvc_repo import Git, cache_dirs

__all__ = ["Objects"]

_CHUNK = 1 << 20
_F = TypeVar("_F")


class Objects:
    """DVC's objects by md5, hashed once each: their SHA-256 digest, or None when the
    bytes are not to be found: not in DVC's cache, not unchanged in the workspace, not
    in git at the lock's commit (where outputs DVC does not cache, like metrics, are)."""

    def __init__(self, repo: Path, git: Git | None) -> None:
        self.repo = repo
        self.git = git
        self.caches = cache_dirs(repo)
        self._seen: dict[tuple[str, str], tuple[str | None, int | None]] = {}

    def _cached(self, md5: str) -> Iterator[Path]:
        for cache in self.caches:
            yield cache / "files" / "md5" / md5[:2] / md5[2:]  # DVC 3
            yield cache / md5[:2] / md5[2:]  # DVC 2

    def file(self, md5: str, relative: str, commit: str | None
             ) -> tuple[str | None, int | None]:
        """(digest, size) of the bytes whose md5 is ``md5`` (the file at ``relative``)."""
        key = (md5, relative)
        if key not in self._seen:
            found = self._locate(md5, relative, commit, _hash_checked,
                                 lambda data: ("sha256:" + hashlib.sha256(data).hexdigest(),
                                               len(data)))
            self._seen[key] = (None, None) if found is None else found
        return self._seen[key]

    def content(self, md5: str, relative: str, commit: str | None) -> bytes | None:
        """The bytes themselves (a metrics file, at most 1 MiB), or None."""
        return self._locate(md5, relative, commit, _read_checked, lambda data: data)

    def _locate(self, md5: str, relative: str, commit: str | None,
                read: Callable[[Path, str], _F | None], from_git: Callable[[bytes], _F]
                ) -> _F | None:
        """``read`` of the first copy whose md5 is ``md5``: in DVC's cache, in the
        workspace, then (``from_git``) in git at ``commit``."""
        for path in (*self._cached(md5), self.repo / relative):
            found = read(path, md5)
            if found is not None:
                return found
        if self.git is not None and commit is not None:
            data = self.git.blob(commit, relative)
            if data is not None and hashlib.md5(data, usedforsecurity=False).hexdigest() == md5:
                return from_git(data)
        return None

    def tree(self, md5: str, relative: str, commit: str | None
             ) -> tuple[str | None, int | None]:
        """(digest, size) of the folder whose DVC ``.dir`` md5 is ``md5``."""
        key = (md5, relative)
        if key in self._seen:
            return self._seen[key]
        self._seen[key] = None, None
        listing = None
        for path in self._cached(md5):
            try:
                listing = json.loads(path.read_bytes())
                break
            except (OSError, ValueError):
                continue
        if not isinstance(listing, list):
            listing = self._listing(md5, relative)
        if not isinstance(listing, list):
            return None, None
        files, size = [], 0
        for item in listing:
            if not isinstance(item, dict) or not isinstance(item.get("relpath"), str) \
                    or not isinstance(item.get("md5"), str):
                return None, None
            digest, length = self.file(item["md5"], f"{relative}/{item['relpath']}", commit)
            if digest is None:
                return None, None
            files.append((item["relpath"], Digest.parse(digest)))
            size += length or 0
        try:
            found = str(Digest.of_bytes(manifest_of(files))), size
        except InvalidInputError:
            return None, None
        self._seen[key] = found
        return found

    def _listing(self, md5: str, relative: str) -> list[dict[str, str]] | None:
        """The ``.dir`` listing of the workspace folder at ``relative``, if it is still
        the folder whose listing has md5 ``md5`` (DVC's: its files' md5s and relative
        paths, sorted, as JSON); each file's digest is noted on the way."""
        folder = self.repo / relative
        listing, hashed = [], {}
        for top, dirs, files in os.walk(folder):
            dirs.sort()
            for name in files:
                path = Path(top) / name
                both = _hash_both(path)
                if both is None:
                    return None
                inner = path.relative_to(folder).as_posix()
                listing.append({"md5": both[0], "relpath": inner})
                hashed[(both[0], f"{relative}/{inner}")] = both[1:]
        listing.sort(key=lambda item: item["relpath"])
        text = json.dumps(listing, sort_keys=True).encode()
        if not listing or hashlib.md5(text, usedforsecurity=False).hexdigest() + ".dir" != md5:
            return None
        self._seen.update(hashed)
        return listing


_MAX_METRICS = 1 << 20


def _read_checked(path: Path, md5: str) -> bytes | None:
    """The bytes of a small file at ``path`` if their md5 is ``md5``."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_METRICS + 1)
    except (OSError, ValueError):
        return None
    if len(data) > _MAX_METRICS or hashlib.md5(data, usedforsecurity=False).hexdigest() != md5:
        return None
    return data


def _hash_checked(path: Path, md5: str) -> tuple[str, int] | None:
    """(SHA-256 digest, size) of the file at ``path`` if its md5 is ``md5``."""
    both = _hash_both(path)
    if both is None or both[0] != md5:
        return None
    return both[1], both[2]


def _hash_both(path: Path) -> tuple[str, str, int] | None:
    """(md5 hex, SHA-256 digest, size) of the file at ``path``, in one read."""
    try:
        with open(path, "rb") as handle:
            checking, digest, size = hashlib.md5(usedforsecurity=False), hashlib.sha256(), 0
            while chunk := handle.read(_CHUNK):
                checking.update(chunk)
                digest.update(chunk)
                size += len(chunk)
    except (OSError, ValueError):  # missing, a folder, unreadable
        return None
    return checking.hexdigest(), "sha256:" + digest.hexdigest(), size
