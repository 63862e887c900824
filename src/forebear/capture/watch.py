"""Watching a folder for files that native code writes, out of the audit hook's sight.

``torch.save``'s C++ writer, Arrow and HDF5 write files without Python's ``open``, so the
capture hook (``forebear.capture.files``) never hears of them. A ``TreeWatch`` scans the
working tree when a run starts and again when it ends; files new or changed between the
two scans are the run's outputs too.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import sys
import time
from collections.abc import Sequence

from forebear.capture._boot._forebear_spooler import CODE_SUFFIXES
from forebear.capture.files import SKIP_DIRS

__all__ = ["TreeWatch"]

# Coarse file-system clocks lag the system clock by a tick (1-10 ms): a folder whose
# times are this close to the listing's start may still change without moving them.
_RACY_NS = 50_000_000

_too_big_said: set[str] = set()  # folders already reported too big to watch


class TreeWatch:
    """Files created or changed under a directory between two scans (native writers).

    Each scan lstat()s every file; a folder is listed again only when its inode, mtime or
    ctime moved since it was last listed (adding, removing or renaming an entry moves
    them). A listing is kept only once the folder's times are older than ``_RACY_NS``,
    so a change in the same clock tick as the listing cannot hide behind equal times.
    Clones of one watch (``forebear.sdk.run`` copies a prototype per run) share the
    listings.
    """

    def __init__(self, root: str, *, limit: int = 20_000, ignore_globs: Sequence[str] = ()) -> None:
        self.root = os.path.realpath(root)
        self._limit = limit
        self._globs = tuple(ignore_globs)
        self._before: dict[str, tuple[int, int]] | None = None
        self._listings: dict[str, tuple[tuple[int, int, int], list[str], list[str]]] = {}

    def _list(self, folder: str, now: int) -> tuple[list[str], list[str]]:
        """The sub-folders and files directly in ``folder`` (skipped names left out)."""
        st = os.lstat(folder)
        if not stat.S_ISDIR(st.st_mode):
            return [], []  # replaced by a file or a symlink since its parent was listed
        stamp = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
        cached = self._listings.get(folder)
        if cached is not None and cached[0] == stamp:
            return cached[1], cached[2]
        folders: list[str] = []
        files: list[str] = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name in SKIP_DIRS:
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        files.append(entry.path)
                except OSError:
                    continue
        if max(st.st_mtime_ns, st.st_ctime_ns) < now - _RACY_NS:
            self._listings[folder] = (stamp, folders, files)
        return folders, files

    def _scan(self) -> dict[str, tuple[int, int]] | None:
        seen: dict[str, tuple[int, int]] = {}
        stack = [self.root]
        limit, lstat, is_reg = self._limit, os.lstat, stat.S_ISREG
        now = time.time_ns()  # before any listing: see _list
        while stack:
            try:
                folders, files = self._list(stack.pop(), now)
            except OSError:
                continue
            if len(seen) + len(files) > limit:
                return None  # too big to watch cheaply: give up rather than slow the run
            stack.extend(folders)
            for path in files:
                try:
                    st = lstat(path)
                except OSError:
                    continue
                if is_reg(st.st_mode):
                    seen[path] = (st.st_size, st.st_mtime_ns)
        return seen

    def start(self) -> None:
        self._before = self._scan()
        if self._before is None and self.root not in _too_big_said:
            _too_big_said.add(self.root)  # once per folder and process, not per run
            sys.stderr.write(
                f"forebear: {self.root} holds over {self._limit:,} files, too many to watch:"
                " files that native code writes there (torch.save, Arrow, HDF5) are not"
                " captured; watch a smaller folder (watch=, --watch) or record them with"
                " run.produce()\n"
            )

    def changed(self) -> list[str]:
        """Files new or modified since ``start()`` (empty if the tree was too big to watch)."""
        if self._before is None:
            return []
        after = self._scan()
        if after is None:
            return []
        out = []
        for path, stamp in after.items():
            if self._before.get(path) != stamp and not path.endswith(CODE_SUFFIXES):
                rel = os.path.relpath(path, self.root)
                if self._globs and any(fnmatch.fnmatch(rel, g) for g in self._globs):
                    continue
                out.append(path)
        return sorted(out)
