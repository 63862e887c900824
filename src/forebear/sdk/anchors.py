"""Code and environment anchors for runs, computed once and shared by every run.

The code anchor costs a ``git status`` call; it is kept per process and computed again
when ``HEAD``, the current branch's ref, ``packed-refs``, the index or the entry script
changes (by inode, size and mtime), or after ``CODE_TTL`` seconds (an edit to a tracked
file that is not staged changes none of them). The environment anchor is kept per
process, ``sys.path`` and the stamps of its ``site-packages`` folders (a ``pip install``
changes the folder it installs into). Their blobs (the uncommitted diff, the package
manifest) go to the blob store once per digest.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from forebear.sdk.session import Session

CODE_TTL = 10.0
_PACKAGE_DIRS = ("site-packages", "dist-packages")

_lock = threading.Lock()
_code_cache: dict[tuple[Any, ...], tuple[float, dict[str, Any] | None, bytes | None]] = {}
_env_cache: dict[tuple[Any, ...], tuple[dict[str, Any], bytes]] = {}


def _stamp(path: str) -> tuple[int, int, int] | None:
    """What changes when a file is rewritten or replaced: inode, size, mtime."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _entry_point() -> str | None:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else None)
    if path and os.path.isfile(path):
        return os.path.realpath(path)
    return None


# Where each working directory's .git is, and each given entry point's real path, found
# again after CODE_TTL seconds (a repository created meanwhile is seen then).
_git_dirs: dict[str, tuple[float, str | None]] = {}
_real_entries: dict[str, tuple[float, str]] = {}
# The branch ref file HEAD names, read again only when HEAD's stamp changes.
_head_refs: dict[str, tuple[Any, str | None]] = {}


def _git_dir(cwd: str, now: float) -> str | None:
    cached = _git_dirs.get(cwd)
    if cached is not None and now - cached[0] < CODE_TTL:
        return cached[1]
    git_dir = None
    for folder in (cwd, *map(str, Path(cwd).parents)):
        candidate = os.path.join(folder, ".git")
        if os.path.exists(candidate):
            git_dir = candidate
            break
    _git_dirs[cwd] = (now, git_dir)
    return git_dir


def _real_entry(entry: str, now: float) -> str:
    cached = _real_entries.get(entry)
    if cached is not None and now - cached[0] < CODE_TTL:
        return cached[1]
    real = os.path.realpath(entry)
    _real_entries[entry] = (now, real)
    return real


def _branch_ref(git_dir: str, head: str, head_stamp: Any) -> str | None:
    """The loose ref file of the branch HEAD points at (None when HEAD is detached)."""
    cached = _head_refs.get(git_dir)
    if cached is not None and cached[0] == head_stamp:
        return cached[1]
    try:
        with open(head, encoding="utf-8", errors="replace") as f:
            text = f.read(4096)
    except OSError:
        text = ""
    ref = text[5:].strip() if text.startswith("ref: ") else ""
    path = os.path.join(git_dir, ref) if ref.startswith("refs/") and ".." not in ref else None
    _head_refs[git_dir] = (head_stamp, path)
    return path


def _code_key(cwd: str, entry: str | None, now: float | None = None) -> tuple[Any, ...]:
    git_dir = _git_dir(cwd, time.monotonic() if now is None else now)
    if git_dir is None:
        return (cwd, entry, None, _stamp(entry) if entry else None)
    head = os.path.join(git_dir, "HEAD")
    head_stamp = _stamp(head)
    ref = _branch_ref(git_dir, head, head_stamp)
    return (
        cwd,
        entry,
        head_stamp,
        _stamp(ref) if ref else None,  # a commit moves the branch, not HEAD
        _stamp(os.path.join(git_dir, "packed-refs")),
        _stamp(os.path.join(git_dir, "index")),
        _stamp(entry) if entry else None,
    )


def code_record(
    session: Session, *, cwd: str | None = None, entry: str | None = None
) -> dict[str, Any] | None:
    """The code anchor record of the working directory's repository; outside git, of the
    entry script alone (``script_anchor``); None when there is neither."""
    from forebear.capture.git import code_anchor, script_anchor

    where = cwd or os.getcwd()
    now = time.monotonic()
    entry = _real_entry(entry, now) if entry else _entry_point()
    key = _code_key(where, entry, now)
    with _lock:
        cached = _code_cache.get(key)
    if cached is not None and now - cached[0] < CODE_TTL:
        record, diff = cached[1], cached[2]
    else:
        anchor = code_anchor(where, entry_point=entry)
        if anchor is None and entry is not None:  # no repository: the script alone
            anchor = script_anchor(entry)
        if anchor is None:
            record, diff = None, None
        else:
            record = anchor.to_record()
            record["digest"] = anchor.digest
            record["name"] = _code_name(record)
            diff = anchor.diff
        with _lock:
            _code_cache[key] = (now, record, diff)
    if record is not None and diff and session.blobs is not None:
        digest = record.get("diff_digest")
        if digest and digest not in session.stored_blobs:
            session.blobs.put_bytes(diff)
            session.stored_blobs.add(digest)
    return record


def _code_name(record: dict[str, Any]) -> str:
    if record.get("root") is None and record.get("commit") is None \
            and record.get("entry_digest"):  # a script outside any repository
        return f"{record['entry_point']}@{str(record['entry_digest'])[7:19]}"
    commit = (record.get("commit") or "uncommitted")[:12]
    where = record.get("remote") or record.get("root") or "repo"
    return f"{where}@{commit}" + ("+dirty" if record.get("dirty") else "")


def environment_record(session: Session) -> dict[str, Any]:
    """The environment anchor record; its package manifest goes to the blob store."""
    from forebear.capture.environment import environment_anchor

    # A package installed or removed mid-process changes the folder it is installed in.
    # Only package folders count: a script's own folder on sys.path changes with every
    # output written there, and each change would cost a package scan (~5 ms).
    key = tuple((entry, _stamp(entry) if entry.endswith(_PACKAGE_DIRS) else None)
                for entry in sys.path)
    with _lock:
        cached = _env_cache.get(key)
    if cached is None:
        anchor = environment_anchor()
        record = anchor.to_record()
        manifest = anchor.manifest()
        record["digest"] = anchor.digest
        cached = (record, manifest)
        with _lock:
            _env_cache[key] = cached
    record, manifest = cached
    digest = record["digest"]
    if session.blobs is not None and digest not in session.stored_blobs:
        session.blobs.put_bytes(manifest)
        session.stored_blobs.add(digest)
    return dict(record)


def clear_caches() -> None:
    """Forget cached anchors (tests)."""
    with _lock:
        _code_cache.clear()
        _env_cache.clear()
        _git_dirs.clear()
        _real_entries.clear()
        _head_refs.clear()
