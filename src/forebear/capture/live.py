"""Files that processes running side by side in one folder were seen writing (``forebear
exec`` commands, or Python processes with runs of their own: the trials of a search in a
process pool), so that one's working-tree watch does not claim another's outputs.

A watch sees every file changed under its folder while its command ran, whoever wrote
it. The command's Python process publishes each file it opens for writing (at the open,
before any byte is written) to its own list in a folder shared by the execs of that
working directory; an exec leaves out of its watch's finds what any other exec that was
running at the same time published. Files written by native code or by a non-Python
program are not published: two commands running at once can still both see those.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["EXEC_MADE_ENV", "EXEC_PID_ENV", "EXEC_RUN_ENV", "LIVE_ENV", "LiveWrites",
           "process_list"]

LIVE_ENV = "FOREBEAR_EXEC_LIVE"
"""Where the command's Python process publishes its writes (one file per exec)."""
EXEC_PID_ENV = "FOREBEAR_EXEC_PID"
"""The pid of the ``forebear exec`` that started the command (its parent)."""
EXEC_RUN_ENV = "FOREBEAR_EXEC_RUN"
"""The run id of the ``forebear exec`` run a command's own runs are nested in."""
EXEC_MADE_ENV = "FOREBEAR_EXEC_MADE"
"""Where runs in a ``forebear exec`` command append the outputs they recorded."""

_SUFFIX = ".writes"
_KEEP_SECONDS = 24 * 3600  # lists older than this belong to no process still running
_COARSE_NS = 1_000_000_000  # more than any file system's time granularity here


class LiveWrites:
    """This process's list of published writes, and the lists of the others.

    One folder per user holds every list: they hold absolute paths, so a run's watch,
    whatever folder it watches, looks them up by path.
    """

    def __init__(self, *, path: str | None = None) -> None:
        """A new list for this process, or with ``path`` the list a ``forebear exec``
        gave this process to publish to (``LIVE_ENV``)."""
        if path is not None:
            self.path = Path(path)
            self.folder = self.path.parent
        else:
            uid = os.getuid() if hasattr(os, "getuid") else 0
            self.folder = Path(tempfile.gettempdir()) / f"forebear-live-{uid}"
            self.folder.mkdir(mode=0o700, exist_ok=True)
            self.path = self.folder / f"{os.getpid()}-{time.time_ns()}{_SUFFIX}"
            self.path.touch(mode=0o600)
            self._prune()
        self.started = time.time_ns()

    def mine(self, paths: list[str], since: int | None = None) -> list[str]:
        """``paths`` (a watch's finds) less what other processes published while this
        one ran (or since ``since``, ``time.time_ns()``, for one run of several), and
        less the lists themselves (when the temporary folder is in the tree)."""
        theirs = self.others_since_start(since)
        lists = str(self.folder) + os.sep
        return [path for path in paths if not path.startswith(lists)
                and (not theirs or os.path.realpath(path) not in theirs)]

    def others_since_start(self, since: int | None = None) -> set[str]:
        """Paths (resolved) the other processes published while this one ran (or since
        ``since``), and every path a process still running published: a log it opened
        before and writes on is its, not this run's."""
        started = self.started if since is None else since
        found: set[str] = set()
        for path in self.folder.glob(f"*{_SUFFIX}"):
            if path == self.path:
                continue
            with contextlib.suppress(OSError):
                alive = _alive(path.name)
                # A file's times tick coarsely (a clock tick, 4 ms and more): a list
                # written just after `started` may show a time just before it. Its lines
                # carry exact times, and decide.
                if alive or path.stat().st_mtime_ns >= started - _COARSE_NS:
                    text = path.read_bytes().decode("utf-8", "surrogateescape")
                    found.update(_since(text, 0 if alive else started))
        return {os.path.realpath(path) for path in found}

    def _prune(self) -> None:
        old = time.time() - _KEEP_SECONDS
        for path in self.folder.glob(f"*{_SUFFIX}"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < old:
                    path.unlink()


def _since(text: str, started: int) -> Iterator[str]:
    """The paths of a list's lines (``<time_ns> <path>``) published at ``started`` or
    later."""
    for line in text.split("\n"):
        stamp, _, path = line.partition(" ")
        if path and stamp.isdigit() and int(stamp) >= started:
            yield path


def _alive(name: str) -> bool:
    """Whether the process whose list this is (``<pid>-<ns>.writes``) still runs."""
    if os.name != "posix":  # os.kill(pid, 0) would not ask, elsewhere
        return False
    try:
        os.kill(int(name.split("-", 1)[0]), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


_mine: LiveWrites | None = None
_mine_pid = 0


def process_list() -> LiveWrites:
    """This process's published list, made (and published to) on first use: under
    ``forebear exec`` the list it was given; a forked child makes its own, or what it and
    its siblings write would be one list, each other's "own"."""
    global _mine, _mine_pid
    if _mine is None or _mine_pid != os.getpid():
        from forebear.capture.files import publish_writes, uncaptured

        given = os.environ.get(LIVE_ENV) if os.environ.get(EXEC_PID_ENV) == str(
            os.getppid()) else None
        with uncaptured():  # forebear's own files, never a run's
            _mine = LiveWrites(path=given) if given else LiveWrites()
            if not given:
                publish_writes(str(_mine.path))
        _mine_pid = os.getpid()
    return _mine
