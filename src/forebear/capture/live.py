"""Files that ``forebear exec`` commands running side by side in one folder were seen
writing, so that one's working-tree watch does not claim another's outputs.

A watch sees every file changed under its folder while its command ran, whoever wrote
it. The command's Python process publishes each file it opens for writing (at the open,
before any byte is written) to its own list in a folder shared by the execs of that
working directory; an exec leaves out of its watch's finds what any other exec that was
running at the same time published. Files written by native code or by a non-Python
program are not published: two commands running at once can still both see those.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from pathlib import Path

__all__ = ["LIVE_ENV", "LiveWrites"]

LIVE_ENV = "FOREBEAR_EXEC_LIVE"
"""Where the command's Python process publishes its writes (one file per exec)."""

_SUFFIX = ".writes"
_KEEP_SECONDS = 24 * 3600  # lists older than this belong to no exec still running


class LiveWrites:
    """This exec's list of published writes, and the lists of the others in its folder."""

    def __init__(self, root: str) -> None:
        key = hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:16]
        uid = os.getuid() if hasattr(os, "getuid") else 0
        self.folder = Path(tempfile.gettempdir()) / f"forebear-live-{uid}-{key}"
        self.folder.mkdir(mode=0o700, exist_ok=True)
        self.path = self.folder / f"{os.getpid()}-{time.time_ns()}{_SUFFIX}"
        self.path.touch(mode=0o600)
        self.started = time.time_ns()
        self._prune()

    def mine(self, paths: list[str]) -> list[str]:
        """``paths`` (a watch's finds) less what other execs published while this one
        ran, and less the lists themselves (when the temporary folder is in the tree)."""
        theirs = self.others_since_start()
        lists = str(self.folder) + os.sep
        return [path for path in paths if not path.startswith(lists)
                and (not theirs or os.path.realpath(path) not in theirs)]

    def others_since_start(self) -> set[str]:
        """Paths (resolved) the other execs published while this one ran: lists modified
        since it began, or of execs still running."""
        found: set[str] = set()
        for path in self.folder.glob(f"*{_SUFFIX}"):
            if path == self.path:
                continue
            with contextlib.suppress(OSError):
                if path.stat().st_mtime_ns >= self.started or _alive(path.name):
                    text = path.read_bytes().decode("utf-8", "surrogateescape")
                    found.update(line for line in text.split("\n") if line)
        return {os.path.realpath(path) for path in found}

    def _prune(self) -> None:
        old = time.time() - _KEEP_SECONDS
        for path in self.folder.glob(f"*{_SUFFIX}"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < old:
                    path.unlink()


def _alive(name: str) -> bool:
    """Whether the exec whose list this is (``<pid>-<ns>.writes``) still runs."""
    if os.name != "posix":  # os.kill(pid, 0) would not ask, elsewhere
        return False
    try:
        os.kill(int(name.split("-", 1)[0]), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True
