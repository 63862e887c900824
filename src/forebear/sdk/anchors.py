"""Code and environment anchors for runs, computed once and shared by every run.

The code anchor costs a ``git status`` call; it is kept per process and computed again
when ``HEAD``, the current branch's ref, ``packed-refs``, the index or the entry script
changes (by inode, size and mtime), or after ``CODE_TTL`` seconds (an edit to a tracked
file that is not staged changes none of them). The environment anchor is kept per
process, ``sys.path`` and the stamps of its ``site-packages`` folders (a ``pip install``
changes the folder it installs into). Their blobs (the uncommitted diff, the package
manifest) go to the blob store once per digest.

The entry point is the script Python ran: the ``__main__`` file (a module's, under
``python -m``), or for ``python -c CODE`` the code text itself (``InlineCode``). A
process that ran no file (an interactive session, a notebook, code from stdin) has none
(``NO_SCRIPT``): the launcher in ``sys.argv[0]`` (``ipython``, ``ipykernel_launcher``,
forebear's own) is not the code. Its code record says so in its ``notes`` (``interactive
session: the code typed is not recorded``), so that a reader of the record knows that
the repository's anchor (or, outside git, nothing) is not all the code that ran; so does
the record of a script run under ``python -i`` once its prompt has started.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
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


NO_SCRIPT = os.devnull
"""An entry point that is never a file: the run's code is its repository's, and no
script in particular (``code_anchor`` given none would guess this process's own)."""


class InlineCode(str):
    """The entry point of ``python -c CODE``: code text, not a file.

    The string is how the code record names it (``-c``); ``text`` is the code, and its
    digest is the entry's content, as a script's bytes are.
    """

    text: str
    digest: str

    def __new__(cls, text: str, label: str = "-c") -> InlineCode:
        self = super().__new__(cls, label)
        self.text = text
        # Bytes as the command line gave them (surrogateescape), as a script's are read.
        self.digest = "sha256:" + hashlib.sha256(os.fsencode(text)).hexdigest()
        return self


# Options of CPython's command line that take a value (``python -W error x.py``).
_VALUED = frozenset("WX")


def python_target(args: Sequence[str]) -> tuple[str, str, str] | None:
    """What ``python ARGS...`` runs, read as CPython reads its command line.

    ``("script", PATH, FLAGS)``, ``("module", NAME, FLAGS)`` or ``("code", TEXT,
    FLAGS)``, FLAGS being the one-letter options seen before it (``-I``, ``-P``, ``-E``
    change where a module is found); None for stdin, an interactive session, ``-h``.
    """
    flags = ""
    rest = iter(args)
    for arg in rest:
        if arg == "--":
            script = next(rest, None)
            return ("script", script, flags) if script else None
        if arg.startswith("--"):  # --check-hash-based-pycs MODE takes a value
            if arg == "--check-hash-based-pycs":
                next(rest, None)
            elif arg.startswith(("--help", "--version")):
                return None
            continue
        if arg == "-" or not arg.startswith("-"):
            return ("script", arg, flags) if arg != "-" else None
        for i, letter in enumerate(arg[1:], 1):
            if letter in "cm":  # the value is the rest of this word or the next one
                value = arg[i + 1:] or next(rest, None)
                if value is None:
                    return None
                return ("code" if letter == "c" else "module", value, flags)
            if letter in _VALUED:
                if not arg[i + 1:]:
                    next(rest, None)
                break
            if letter in "hV?":
                return None
            flags += letter
    return None


def _entry_point() -> str:
    """This process's entry point: its ``__main__`` file, its ``-c`` code, or NO_SCRIPT."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None:
        # No file ran: an interactive session, IPython or a notebook (whose argv[0] is
        # their launcher), stdin, or -c, whose text only the original argv still holds.
        if sys.argv and sys.argv[0] == "-c":
            target = python_target(sys.orig_argv[1:])
            if target is not None and target[0] == "code":
                return InlineCode(target[1])
        return NO_SCRIPT
    if not os.path.isfile(path) and sys.argv and sys.argv[0]:
        path = sys.argv[0]  # a zipapp's __main__ lies inside the archive argv[0] names
    return os.path.realpath(path) if os.path.isfile(path) else NO_SCRIPT


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
    script = None if isinstance(entry, InlineCode) or entry == NO_SCRIPT else entry
    if isinstance(entry, InlineCode):  # equal labels, different code: different keys
        entry = entry.digest
    if git_dir is None:
        return (cwd, entry, None, _stamp(script) if script else None)
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
        _stamp(script) if script else None,
    )


def code_record(
    session: Session, *, cwd: str | None = None, entry: str | None = None
) -> dict[str, Any] | None:
    """The code anchor record of the working directory's repository; outside git, of the
    entry script alone (``script_anchor``); None when there is neither.

    ``entry`` is the entry script (default: this process's, see ``_entry_point``), an
    ``InlineCode`` or ``NO_SCRIPT``. Inline code is part of the code's identity even in a
    repository, since no commit or diff holds it; its text goes to the blob store.
    """
    from forebear.capture.git import code_anchor, script_anchor

    where = cwd or os.getcwd()
    now = time.monotonic()
    note = None
    if entry is None:
        entry = _entry_point()
        note = _unrecorded_code(entry)
    elif not isinstance(entry, InlineCode) and entry != NO_SCRIPT:
        entry = _real_entry(entry, now)
    inline = entry if isinstance(entry, InlineCode) else None
    key = _code_key(where, entry, now)
    with _lock:
        cached = _code_cache.get(key)
    if cached is not None and now - cached[0] < CODE_TTL:
        record, diff = cached[1], cached[2]
    else:
        anchor = code_anchor(where, entry_point=NO_SCRIPT if inline is not None else entry)
        if anchor is None and entry != NO_SCRIPT and inline is None:  # no repository:
            anchor = script_anchor(entry)  # the script alone
        if anchor is None and inline is None:
            record, diff = None, None
        else:
            record = {} if anchor is None else anchor.to_record()
            digest = None if anchor is None else anchor.digest
            if inline is not None:
                record = _inline_record(record, digest, inline)
            else:
                record["digest"] = digest
            record["name"] = _code_name(record)
            diff = None if anchor is None else anchor.diff
        with _lock:
            _code_cache[key] = (now, record, diff)
    if record is not None and session.blobs is not None:
        blobs = [(diff, record.get("diff_digest"))]
        if inline is not None:  # the -c text is kept nowhere else (a script is on disk)
            blobs.append((os.fsencode(inline.text), inline.digest))
        for blob, digest in blobs:
            if blob and digest and digest not in session.stored_blobs:
                session.blobs.put_bytes(blob)
                session.stored_blobs.add(digest)
    if note is not None:
        record = _with_note(record, note)
    return record


def _unrecorded_code(entry: str) -> str | None:
    """What this process ran that no code record holds, said as a note; None if nothing.

    Code typed at a prompt (``sys.ps1`` is set once the interactive prompt starts) or
    read from stdin or run by a notebook kernel (no ``__main__`` file) is kept nowhere:
    the note says so, rather than let two runs of different code look alike.
    """
    if hasattr(sys, "ps1"):
        if entry == NO_SCRIPT:
            return "interactive session: the code typed is not recorded"
        return "interactive session: code typed after the entry script is not recorded"
    if entry == NO_SCRIPT:
        return ("no script file (code from stdin or a notebook): the code run is not "
                "recorded")
    return None


def _with_note(record: dict[str, Any] | None, note: str) -> dict[str, Any]:
    """``record`` (a copy: the cached one is shared) with ``note`` added to its notes; for
    no record (outside git), one of the note alone, with no digest: it is no code anchor
    (runs of different code would share it) but says that the code is unknown."""
    if record is None:
        from forebear.capture.git import CodeAnchor

        record = CodeAnchor(commit=None, branch=None, remote=None, dirty=False).to_record()
        record["digest"] = None
        record["name"] = "unrecorded code"
    return {**record, "notes": [*record.get("notes", ()), note]}


def _inline_record(
    record: dict[str, Any], repo_digest: str | None, code: InlineCode
) -> dict[str, Any]:
    """The code record of ``python -c``: the repository's (if any) plus the code text."""
    from forebear.capture.git import CodeAnchor

    if repo_digest is None:  # outside git: the text alone, as script_anchor has a script
        record = CodeAnchor(
            commit=None, branch=None, remote=None, dirty=False,
            notes=("not in a git work tree: the code text alone identifies the code",),
        ).to_record()
    record["entry_point"] = str(code)
    record["entry_digest"] = code.digest
    if repo_digest is None:
        from forebear.capture.git import anchor_digest

        record["digest"] = anchor_digest(record)
    else:  # the repository's identity leaves the entry out: the text is no file in it
        ident = json.dumps({"code": repo_digest, "entry_digest": code.digest},
                           sort_keys=True, separators=(",", ":")).encode()
        record["digest"] = "sha256:" + hashlib.sha256(ident).hexdigest()
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
