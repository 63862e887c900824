"""Automatic file capture: what a tracked Python process reads and writes, undeclared.

An audit hook (PEP 578) sees every ``open`` made through Python. The hook only appends
``(path, mode, flags)`` to a list, so a script that opens thousands of files pays almost
nothing; filtering (the interpreter's own files, site-packages, ``/proc``, ``/dev``, temp
files, the store, user globs) happens once, when the run ends.

Native libraries that open files themselves (``torch.save``'s C++ writer, Arrow, HDF5)
are invisible to audit hooks; ``TreeWatch`` catches what they write by comparing the
working tree before and after the run.
"""

from __future__ import annotations

import fnmatch
import os
import sys
import sysconfig
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# Files that are code or interpreter machinery, not data: the code anchor covers code.
_CODE_SUFFIXES = (".py", ".pyc", ".pyi", ".so", ".pth", ".pyd", ".dylib")
_SKIP_DIRS = frozenset(
    {".git", ".forebear", ".hg", ".svn", "__pycache__", ".venv", "venv", "node_modules",
     ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis", ".tox", ".ipynb_checkpoints"}
)


@dataclass(slots=True)
class _Active:
    events: list[tuple[object, object, object]] = field(default_factory=list)


_active: list[_Active] = []
_installed = False
_install_lock = threading.Lock()


def _hook(event: str, args: tuple[object, ...]) -> None:
    # Runs for every audit event in the process: the first test must be the cheapest.
    if event == "open" and _active:
        _active[-1].events.append(args[:3])  # type: ignore[arg-type]


def _install() -> None:
    global _installed
    with _install_lock:
        if not _installed:
            sys.addaudithook(_hook)  # permanent by design of PEP 578; idle when no capture
            _installed = True


_ignores_cache: dict[tuple[object, ...], tuple[str, ...]] = {}


def default_ignores() -> list[str]:
    """Directories whose files are never lineage: the interpreter, packages, temp, devices."""
    # Every run asks: sysconfig and realpath cost ~1 ms, so keep the answer per layout.
    key = (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
           tuple(sys.path), tempfile.gettempdir())
    cached = _ignores_cache.get(key)
    if cached is None:
        cached = _ignores_cache[key] = tuple(_default_ignores())
    return list(cached)


def _default_ignores() -> list[str]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(path)
    roots.update(p for p in sys.path if "site-packages" in p or "dist-packages" in p)
    roots.update({"/proc", "/dev", "/sys", "/etc", "/usr", "/lib", "/run"})
    roots.add(tempfile.gettempdir())
    return sorted(os.path.realpath(r) for r in roots if r)


@dataclass(frozen=True, slots=True)
class Captured:
    """Files a run read (and did not write) and files it wrote, as absolute paths."""

    reads: tuple[str, ...]
    writes: tuple[str, ...]


class FileCapture:
    """Records the files opened between ``start()`` and ``stop()`` in this process."""

    def __init__(
        self,
        *,
        ignore_dirs: Iterable[str] = (),
        ignore_globs: Sequence[str] = (),
        cwd: str | None = None,
        include_temp: bool = False,
    ) -> None:
        self._cwd = cwd or os.getcwd()
        explicit = [os.path.realpath(d) for d in ignore_dirs]
        ignores = list(explicit)
        for root in default_ignores():
            if include_temp and root == os.path.realpath(tempfile.gettempdir()):
                continue
            ignores.append(root)
        # A directory never hides the project: a venv or temp dir that contains cwd
        # would otherwise swallow the whole working tree.
        cwd_real = os.path.realpath(self._cwd)
        self._ignore_dirs = tuple(
            d.rstrip(os.sep) + os.sep for d in ignores
            if not (cwd_real + os.sep).startswith(d.rstrip(os.sep) + os.sep)
            or d in explicit
        )
        self._globs = tuple(ignore_globs)
        self._state: _Active | None = None

    def start(self) -> None:
        _install()
        self._state = _Active()
        _active.append(self._state)

    def stop(self) -> Captured:
        state = self._state
        if state is None:
            return Captured((), ())
        if state in _active:
            _active.remove(state)
        self._state = None
        return self._classify(state.events)

    def _classify(self, events: list[tuple[object, object, object]]) -> Captured:
        reads: dict[str, None] = {}
        writes: dict[str, None] = {}
        resolved: dict[object, str | None] = {}
        dirs: dict[str, str] = {}  # each directory resolved once, not once per file in it
        for path, mode, flags in events:
            if isinstance(path, int):
                continue  # an fd: its file was opened (and seen) already
            target = resolved.get(path, "")
            if target == "":
                target = self._resolve(path, dirs)
                resolved[path] = target
            if target is None:
                continue
            if _is_write(mode, flags):
                writes[target] = None
            else:
                reads[target] = None
        inputs = tuple(p for p in reads if p not in writes and os.path.isfile(p))
        outputs = tuple(p for p in writes if os.path.isfile(p))
        return Captured(inputs, outputs)

    def _resolve(self, path: object, dirs: dict[str, str] | None = None) -> str | None:
        try:
            text = os.fsdecode(path)  # type: ignore[arg-type]
        except TypeError:
            return None
        if text.endswith(_CODE_SUFFIXES):
            return None
        full = _realpath(os.path.join(self._cwd, text), {} if dirs is None else dirs)
        if full.startswith(self._ignore_dirs):
            return None
        if any(part in _SKIP_DIRS for part in full.split(os.sep)):
            return None
        if self._globs:
            rel = os.path.relpath(full, self._cwd)
            if any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(full, g) for g in self._globs):
                return None
        return full


def _realpath(path: str, dirs: dict[str, str]) -> str:
    """``os.path.realpath(path)``, its directory taken from (or added to) ``dirs``.

    One ``lstat`` per file instead of one per path component: 10,000 captured files in
    a few folders cost 10,000 ``lstat`` calls, not 60,000.
    """
    head, tail = os.path.split(path)
    if not head or tail in ("", ".", ".."):
        return os.path.realpath(path)
    real_head = dirs.get(head)
    if real_head is None:
        real_head = dirs[head] = os.path.realpath(head)
    candidate = os.path.join(real_head, tail)
    return os.path.realpath(candidate) if os.path.islink(candidate) else candidate


def _is_write(mode: object, flags: object) -> bool:
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    if isinstance(flags, int):
        return bool(flags & _WRITE_FLAGS)
    return False


class TreeWatch:
    """Files created or changed under a directory between two scans (native writers)."""

    def __init__(self, root: str, *, limit: int = 20_000, ignore_globs: Sequence[str] = ()) -> None:
        self.root = os.path.realpath(root)
        self._limit = limit
        self._globs = tuple(ignore_globs)
        self._before: dict[str, tuple[int, int]] | None = None

    def _scan(self) -> dict[str, tuple[int, int]] | None:
        seen: dict[str, tuple[int, int]] = {}
        stack = [self.root]
        while stack:
            folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if entry.name in _SKIP_DIRS:
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        st = entry.stat(follow_symlinks=False)
                        seen[entry.path] = (st.st_size, st.st_mtime_ns)
                except OSError:
                    continue
                if len(seen) > self._limit:
                    return None  # too big to watch cheaply: give up rather than slow the run
        return seen

    def start(self) -> None:
        self._before = self._scan()

    def changed(self) -> list[str]:
        """Files new or modified since ``start()`` (empty if the tree was too big to watch)."""
        if self._before is None:
            return []
        after = self._scan()
        if after is None:
            return []
        out = []
        for path, stamp in after.items():
            if self._before.get(path) != stamp and not path.endswith(_CODE_SUFFIXES):
                rel = os.path.relpath(path, self.root)
                if self._globs and any(fnmatch.fnmatch(rel, g) for g in self._globs):
                    continue
                out.append(path)
        return sorted(out)
