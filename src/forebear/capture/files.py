"""Automatic file capture: what a tracked Python process reads and writes, undeclared.

An audit hook (PEP 578) sees every ``open`` made through Python. The hook only appends
``(path, mode, flags, time)`` to a list, so a script that opens thousands of files pays
almost nothing (a file the run read and now opens for writing is hashed there and then:
see ``_before_write``); filtering (the interpreter's own files, site-packages,
``/proc``, ``/dev``, temp files, the store, user globs) happens once, when the run ends.

Child processes are captured too (see "processes started during a capture" below):
forked ones inherit the hook, and Python children started by spawn, forkserver or
``subprocess`` load it at start-up from the ``sitecustomize`` in ``_boot/``.

Native libraries that open files themselves (``torch.save``'s C++ writer, Arrow, HDF5)
are invisible to audit hooks; ``forebear.capture.watch.TreeWatch`` catches what they
write by comparing the working tree before and after the run.
"""

from __future__ import annotations

import atexit
import contextlib
import fnmatch
import os
import stat
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import ModuleType

from forebear.capture._boot._forebear_spooler import (
    CODE_SUFFIXES,
    ends,
    open_spool,
    read_spool,
    spooler,
)
from forebear.capture._boot._forebear_spooler import RENAME as _RENAME

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# Folders never captured nor watched: tools' and version control's, not the project's.
SKIP_DIRS = frozenset(
    {".git", ".forebear", ".hg", ".svn", "__pycache__", ".venv", "venv", "node_modules",
     ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis", ".tox", ".ipynb_checkpoints"}
)


@dataclass(slots=True)
class _Active:
    # path, mode, flags, time, path, mode, flags, time, ...: flat, so that recording an
    # open keeps no new container alive (10,000 kept tuples would wake the garbage
    # collector ~15 times, ~1% of a loop that opens small files). The time is None for a
    # rename and for what children spooled.
    events: list[object] = field(default_factory=list)
    # Where child processes write their opens (see _after_fork and
    # _boot/_forebear_spooler.py): this process's spool folder (made by the first child);
    # where each file in it ended when the capture started; the byte ranges a nested
    # capture read from them while this one ran. And, in a child, the function that
    # writes its opens there.
    spool: str | None = None
    since: dict[str, int] = field(default_factory=dict)
    skip: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    sink: Callable[[tuple[object, ...]], None] | None = None
    # The thread that started the capture: its opens are this capture's (see _route).
    thread: int = field(default_factory=threading.get_ident)
    # Pushed by uncaptured(): that thread's opens are dropped (forebear's own I/O).
    drop: bool = False
    # When it was pushed, against the others (the stack's order, kept after removal).
    order: int = 0
    # What _before_write needs: how to hash a file (the run's hash cache), the digests
    # of files read and then opened for writing, taken before the open (by path as
    # spelled), and the index of the events read so far (see _read_first).
    digest: Callable[[str], object] | None = None
    early: dict[str, str | None] = field(default_factory=dict)
    read_index: set[str] = field(default_factory=set)
    wrote_index: set[str] = field(default_factory=set)
    indexed: int = 0
    # The capture current where this one started (``_current``): the one it is nested in.
    parent: _Active | None = None

    def recorder(self) -> Callable[[tuple[object, ...]], None]:
        return self.sink or self.events.extend


_active: list[_Active] = []  # the stack of active captures; the innermost records
_active_lock = threading.Lock()
# The innermost capture's ``events.extend``, or None when no capture is active: the hook
# reads one global instead of indexing the stack and looking up two attributes per open.
# While captures started by several threads are active (runs in threads side by side) it
# is ``_route`` instead, which gives each thread's opens to that thread's own capture;
# so it is while a thread's opens are dropped (``uncaptured``).
_record: Callable[[tuple[object, ...]], None] | None = None
_routes: tuple[_Active, ...] = ()  # a snapshot of _active for _route, innermost last


# The capture the running code started (or its caller did): asyncio tasks and threads
# each see their own, so runs side by side in one thread (tasks of one event loop) take
# each their own task's opens. Code that runs in no such context (a pool's worker thread)
# has none, and falls back on the thread.
_current: ContextVar[_Active | None] = ContextVar("forebear_capture", default=None)


def _this_threads(states: Sequence[_Active]) -> _Active | None:
    """The capture the running code's context started (``_current``), else the innermost
    one this thread started, else, for a thread with none of its own (a worker of a run's
    pool), the innermost one of all; None while this thread's opens are dropped."""
    ident = threading.get_ident()
    own = None
    for state in reversed(states):
        if state.thread == ident:
            if state.drop:
                return None
            own = state
            break
    current = _current.get()
    if current is not None and own is not current and any(s is current for s in states):
        return current
    if own is not None:
        return own
    return next((state for state in reversed(states) if not state.drop), None)


def _route(args: tuple[object, ...]) -> None:
    """Record an open in ``_this_threads`` capture."""
    state = _this_threads(_routes)
    if state is not None:
        state.recorder()(args)


def _reroute() -> None:
    """Point ``_record`` at the right recorder for the stack as it is (lock held)."""
    global _record, _routes
    _routes = tuple(_active)
    if not _active:
        _record = None
    elif _one_chain(_active):
        _record = _active[-1].recorder()
    else:
        _record = _route
    _tell_compiled()
    _point_children()


def _one_chain(states: Sequence[_Active]) -> bool:
    """Whether every open goes to the innermost capture: all started by one thread, none
    dropping its opens, each nested in the one before (not runs side by side in tasks)."""
    first = states[0].thread
    return all(state.thread == first and not state.drop
               and (index == 0 or state.parent is states[index - 1])
               for index, state in enumerate(states))


# The compiled hook (``_audit.c``), when installed: told the recorder and whether it may
# record a read open itself (not while relative paths must be made absolute first).
_set_recorder: Callable[
    [list[object] | Callable[[tuple[object, ...]], None] | None, bool], None] | None = None


def _tell_compiled() -> None:
    if _set_recorder is None:
        return
    target: list[object] | Callable[[tuple[object, ...]], None] | None = _record
    top = _routes[-1] if _routes else None
    if top is not None and _record == top.events.extend:
        target = top.events  # appended to in C: no call per open
    _set_recorder(target, not _cwd_moved)


def _compiled_hook() -> ModuleType | None:
    """``forebear.capture._audit`` if it was built at install and not turned off."""
    if os.environ.get(HOOK_ENV, "").strip().lower() == "python":
        return None
    try:
        from forebear.capture import _audit
    except ImportError:
        return None
    return _audit


TEMP_ENV = "FOREBEAR_CAPTURE_TEMP"
"""``1`` records files in the system's temp folder too (ignored by default: scratch)."""
HOOK_ENV = "FOREBEAR_CAPTURE_HOOK"
"""``python`` makes capture use its pure-Python audit hook even where the C one was built."""
hook_kind = "none"
"""Which audit hook capture installed in this process: ``c``, ``python`` or ``none`` yet."""
_installed = False
_install_lock = threading.Lock()
# Set when the process changes its working directory during a capture: a relative path
# opened after that is made absolute when it is opened, or stop() would resolve it
# against the old one. Cleared when no capture is left (the next one takes the working
# directory as it is then), so one chdir does not cost every later open an abspath.
_cwd_moved = False


def _hook(event: str, args: tuple[object, ...]) -> None:
    # Runs for every audit event in the process, so it is as short as it can be: two
    # comparisons for any other event; for "open" (path, mode, flags), one unpacking (an
    # extension module could raise "open" with other arguments), one test of the flags,
    # the clock and one C call. Everything else waits for stop().
    global _cwd_moved
    if event == "open" and _record is not None:
        try:
            path, mode, flags = args
        except ValueError:
            return
        if _cwd_moved:
            path = _absolute(path)
        try:
            if flags & _WRITE_FLAGS:  # type: ignore[operator]  # rare: see _before_write
                _before_write(path)
                if _live_fd is not None:
                    _publish(path)
        except TypeError:
            pass  # not os.open's or io.open's int flags
        # The time, with each open, says when a file was first read: one that changed
        # later was not read as it is at the end (see Captured.read_at). It is taken
        # before the open, so never after the bytes were read.
        _record((path, mode, flags, _now()))
    elif event == "os.rename" and _record is not None and len(args) == 4:
        # os.rename, os.replace, shutil.move: a file written under a temporary name and
        # renamed into place (an atomic save) is an output under its final name.
        if args[2] in (None, -1) and args[3] in (None, -1):  # no directory descriptors
            source, target = args[0], args[1]
            if _cwd_moved:
                source, target = _absolute(source), _absolute(target)
            _before_write(target)  # an atomic save over a file the run read
            if _live_fd is not None:
                _publish(target)
            _record((source, _RENAME, target, None))
    elif event == "os.chdir" and _record is not None:  # raised before the change
        with _active_lock:  # as a start or stop tells the compiled hook, not between
            _cwd_moved = True
            _tell_compiled()


_now = time.time_ns

# Under `forebear exec`, the command's process publishes the files it opens for writing
# (see forebear.capture.live): an fd of its list, appended to at each write open.
_live_fd: int | None = None


def publish_writes(path: str) -> None:
    """Append every file this process opens for writing from now on to ``path``."""
    global _live_fd
    old, _live_fd = _live_fd, os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    if old is not None:  # a list inherited from the process this one was forked from
        with contextlib.suppress(OSError):
            os.close(old)


def _publish(path: object) -> None:
    """One line per write open (never raises: the program's open must go on)."""
    try:
        if not isinstance(path, int):
            name = os.path.abspath(os.fsdecode(path))  # type: ignore[arg-type]
            line = b"%d %s\n" % (_now(), name.encode("utf-8", "surrogateescape"))
            os.write(_live_fd, line)  # type: ignore[arg-type]
    except (OSError, TypeError, ValueError):
        pass


def _absolute(path: object) -> object:
    """A relative path made absolute (it never raises)."""
    if isinstance(path, int):
        return path
    try:
        return os.path.abspath(path)  # type: ignore[call-overload]
    except (TypeError, ValueError, OSError):
        return path


# -- a file read, then opened for writing ---------------------------------------------
# Inputs are hashed when the run ends; a file the run read and then overwrote (loading a
# model's weights to fine-tune them in place) no longer holds what was read by then. So
# when a file is opened for writing, a capture that read it (by the same spelling) before
# writing it hashes it at once: the hook runs before the open truncates it. Only write
# opens come here, and each capture's list of reads is indexed once, as far as it has
# grown; the hash cache makes hashing an unchanged file free.
_before_write_lock = threading.Lock()
_hash_file: Callable[[str], object] | None = None  # forebear.hashing.hash_path, once needed


def _before_write(path: object) -> None:
    """Hash ``path`` now if a capture read it and has not written it yet (never raises)."""
    if isinstance(path, int):
        return
    key = path if path.__class__ is str else _key(path)
    if key is None:
        return
    try:
        with _before_write_lock:
            readers = [state for state in _routes  # not a forked child's, which spools
                       if not state.drop and state.sink is None and state.events
                       and _read_first(state, key)]
        if not readers:
            return
        digest = None
        with uncaptured():  # forebear's own read of it
            if os.path.isfile(key):
                digest = str((readers[0].digest or _default_digest())(key))
        for state in readers:
            state.early.setdefault(key, digest)
    except Exception:  # never fail the program's own open
        return


def _key(path: object) -> str | None:
    try:
        return os.fsdecode(path)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _read_first(state: _Active, key: str) -> bool:
    """Whether ``state`` read ``key`` before writing it, and holds no digest of it yet;
    its events are indexed on from where the last call left off (lock held)."""
    events, reads, wrote = state.events, state.read_index, state.wrote_index
    end = len(events) - len(events) % 4  # whole records (extend adds one at once)
    for index in range(state.indexed, end, 4):
        name, mode, flags = events[index], events[index + 1], events[index + 2]
        if isinstance(name, int) or mode == _RENAME:
            continue
        name = name if name.__class__ is str else _key(name)
        if _is_write(mode, flags):
            wrote.add(name)  # type: ignore[arg-type]
        elif name not in wrote:
            reads.add(name)  # type: ignore[arg-type]
    state.indexed = end
    return key in reads and key not in wrote and key not in state.early


def _default_digest() -> Callable[[str], object]:
    global _hash_file
    if _hash_file is None:
        from forebear.hashing import hash_path

        _hash_file = hash_path
    return _hash_file


_pushed = 0  # captures pushed so far (each one's ``order``)


def _push(state: _Active) -> None:
    """Make ``state`` the innermost active capture."""
    global _pushed
    with _active_lock:
        _pushed += 1
        state.order = _pushed
        _active.append(state)
        _reroute()


def _remove(state: _Active) -> None:
    """Take ``state`` off the stack of active captures, wherever it is."""
    global _cwd_moved
    with _active_lock:
        for index in range(len(_active) - 1, -1, -1):
            if _active[index] is state:
                del _active[index]
                break
        if not _active:
            _cwd_moved = False
        _reroute()


def _install() -> None:
    global _installed, _set_recorder, hook_kind
    with _install_lock:
        if not _installed:
            # Permanent by design of PEP 578; idle when no capture. The compiled hook
            # records read opens itself and passes the rest to _hook.
            compiled = _compiled_hook()
            if compiled is not None:
                compiled.install(_hook, _WRITE_FLAGS)
                _set_recorder = compiled.set_recorder
                hook_kind = "c"
            else:
                sys.addaudithook(_hook)
                hook_kind = "python"
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_after_fork)
            _installed = True
            # A Python child of a capture elsewhere reports to it from start-up (the
            # _boot sitecustomize): from now on through this module, at the bottom of
            # the stack, so a capture of its own takes its opens, as nested ones do.
            child = sys.modules.get("_forebear_spooler")
            found = child.take_over() if child is not None else None
            if found is not None:
                reporter = _Active(spool=found[0], sink=spooler(found[1]))
                _current.set(reporter)  # captures started from here on nest in it
                _push(reporter)


# -- processes started during a capture ------------------------------------------------
# A child forked while a capture runs (multiprocessing's fork start, so PyTorch DataLoader
# workers on Linux before Python 3.14) inherits the hook but no way back: what it opens
# would die with it. So a capturing process has a spool folder; in the child every open
# is appended there at once (``_boot/_forebear_spooler.py``), and stop() reads what was
# appended since start(). Children that start a new interpreter (spawn, the default on
# macOS and Windows; forkserver, the default on Linux from Python 3.14; a ``subprocess``
# running Python) find the folder in FOREBEAR_CAPTURE_SPOOL and first on PYTHONPATH the
# ``sitecustomize`` that starts ``_forebear_spooler.start_child``: both are set in
# os.environ while a capture is active. The folder is the same for every capture of the
# process, so a helper started during one run and kept (the forkserver, a pool) reports
# its later children's files to the run going on then. A nested capture keeps what it
# read from the spool; runs in threads side by side each get what children opened while
# they ran. A forkserver started before any capture, and programs not written in
# Python, are not seen here (``forebear exec --watch`` reports those).

SPOOL_ENV = "FOREBEAR_CAPTURE_SPOOL"
"""The spool folder of the capture a Python child reports to (``_boot/_forebear_spooler``)."""
BOOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_boot")
"""The folder of the ``sitecustomize`` that starts capture in Python children."""
_pointed: str | None = None  # the spool os.environ points children at (_point_children)


_spool: str | None = None  # this process's spool folder, once a capture named it
_spool_owner = 0  # the pid that named it (a forked child names its own)


def _process_spool() -> str:
    """This process's spool folder: named once (made by the first child to report, mode
    0700) and removed when the process exits."""
    global _spool, _spool_owner
    pid = os.getpid()
    if _spool is None or _spool_owner != pid:
        # An unguessable name in the temp folder cannot be made first by someone else.
        _spool = os.path.join(os.path.realpath(tempfile.gettempdir()),
                              "forebear-spool-" + os.urandom(8).hex())
        _spool_owner = pid
        atexit.register(_remove_spool, _spool, pid)
    return _spool


def _remove_spool(folder: str, owner: int) -> None:
    if os.getpid() == owner:  # not in a forked child leaving through sys.exit
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def _prune(folder: str) -> None:
    """Delete the spool files of processes that have ended (lock held, no capture of this
    folder active): nothing writes to them any more, and a long-lived process that starts
    many workers would otherwise list and stat each one at every run."""
    if os.name == "nt":  # os.kill(pid, 0) there is Ctrl-C, not a question: keep them
        return
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        pid = name.partition("-")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, name))
        except OSError:
            continue  # alive, another user's: keep


def _point_children() -> None:
    """Point Python children started from now on at the innermost capture's spool, or,
    with no capture left, take the pointer out of the environment (lock held)."""
    global _pointed
    state = next((s for s in reversed(_active) if not s.drop and s.spool), None)
    spool = state.spool if state is not None else None
    if spool == _pointed:
        return  # e.g. uncaptured() around a run's own reads: nothing to point elsewhere
    environ = os.environ
    if spool is not None:
        environ[SPOOL_ENV] = spool
        path = environ.get("PYTHONPATH", "")
        if path.split(os.pathsep, 1)[0] != BOOT:
            environ["PYTHONPATH"] = BOOT + os.pathsep + path if path else BOOT
        _pointed = spool
    else:
        _pointed = None
        environ.pop(SPOOL_ENV, None)
        parts = environ.get("PYTHONPATH", "").split(os.pathsep)
        if parts[0] == BOOT:  # as it was, unless the program changed it meanwhile
            if len(parts) > 1:
                environ["PYTHONPATH"] = os.pathsep.join(parts[1:])
            else:
                del environ["PYTHONPATH"]


def _after_fork() -> None:
    global _record, _active_lock
    _active_lock = threading.Lock()  # another thread may have held it at the fork
    state = _this_threads(_active)  # the forking thread goes on in the child
    if state is None or state.spool is None:
        return
    fd = open_spool(state.spool, str(state.order))
    if fd is not None:
        state.sink = _record = spooler(fd)
        _tell_compiled()


def _read_children(state: _Active) -> None:
    """Add what children spooled while ``state`` ran to its events; the captures still
    active that started before it leave those bytes out (the innermost capture keeps
    them, as it keeps this process's own opens)."""
    folder = state.spool
    assert folder is not None
    started = dict(state.since)
    state.events += read_spool(folder, state.since, str(state.order), state.skip)
    with _active_lock:
        sharing = [other for other in _active if other.spool == folder]
        outer = [other for other in sharing if other.order < state.order]
        for name, end in state.since.items():
            first = started.get(name, 0)
            if end > first:
                for other in outer:
                    other.skip.setdefault(name, []).append((first, end))
        if not sharing:
            _prune(folder)


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
    """Files a run read (and did not write) and files it wrote, as absolute paths.

    ``read_at``: when each of ``reads`` was first opened (``time.time_ns``), where known
    (not for what child processes spooled): a file modified later than that does not
    hold what the run read. ``rewritten``: files the run read and then overwrote (or
    replaced by a rename), with the digest they had before the first write, or None when
    it could not be taken (opened by another spelling, by a child process): they are
    inputs as read, and outputs in ``writes`` as well.
    """

    reads: tuple[str, ...]
    writes: tuple[str, ...]
    read_at: Mapping[str, int] = field(default_factory=dict)
    rewritten: Mapping[str, str | None] = field(default_factory=dict)


class FileCapture:
    """Records the files opened between ``start()`` and ``stop()`` in this process."""

    def __init__(
        self,
        *,
        ignore_dirs: Iterable[str] = (),
        ignore_globs: Sequence[str] = (),
        cwd: str | None = None,
        include_temp: bool | None = None,
    ) -> None:
        if include_temp is None:  # FOREBEAR_CAPTURE_TEMP: data kept in the temp folder
            include_temp = os.environ.get(TEMP_ENV, "").strip().lower() in ("1", "true", "yes")
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
        self._token: Token[_Active | None] | None = None
        self._written: tuple[str, ...] = ()  # what written() answers once stopped
        # How a file read and then opened for writing is hashed there and then (a run
        # gives its hash cache's); forebear.hashing.hash_path when None.
        self.digest: Callable[[str], object] | None = None

    def start(self) -> None:
        _install()
        spool = _process_spool()
        # Reading the spool is forebear's own I/O, whichever capture is recording then.
        if spool + os.sep not in self._ignore_dirs:
            self._ignore_dirs += (spool + os.sep,)
        self._state = _Active(spool=spool, since=ends(spool), digest=self.digest,
                              parent=_current.get())
        self._token = _current.set(self._state)
        _push(self._state)

    def stop(self) -> Captured:
        state = self._state
        if state is None:
            return Captured((), ())
        _remove(state)
        token, self._token = self._token, None
        if token is not None:
            # ValueError: stopped in another context than it started in (nothing to undo)
            with contextlib.suppress(ValueError):
                _current.reset(token)
        if state.spool is not None:
            _read_children(state)
        found = self._classify(state.events, state.early)
        # written() answers from the events until now, from the result from now on.
        self._written = found.writes
        self._state = None
        return found

    def _classify(self, events: list[object], early: Mapping[str, str | None]) -> Captured:
        reads: dict[str, int | None] = {}  # each file read, when it was first opened
        writes: dict[str, None] = {}
        read_first: set[str] = set()  # files read before this run wrote them
        resolved: dict[object, str | None] = {}
        dirs: dict[str, str] = {}  # each directory resolved once, not once per file in it
        regular: set[str] = set()  # found to be regular files while resolving (one lstat)
        records = iter(events)
        for path, mode, flags, when in zip(records, records, records, records, strict=False):
            if isinstance(path, int):
                continue  # an fd: its file was opened (and seen) already
            target = resolved.get(path, "")
            if target == "":
                target = self._resolve(path, dirs, regular)
                resolved[path] = target
            if mode == _RENAME:
                # What the run wrote (or wrote where capture does not look, like a temp
                # folder) and then renamed is an output under its new name.
                if target is None or target in writes:
                    writes.pop(target, None)  # type: ignore[arg-type]
                    moved = self._resolve(flags, dirs, regular)
                    if moved is not None:
                        resolved[flags] = moved
                        writes[moved] = None
                continue
            if target is None:
                continue
            if _is_write(mode, flags):
                writes[target] = None
                if when is None:  # a child's: whether before or after this run read it,
                    read_first.discard(target)  # unknown; what it made, the run reads
            elif target not in reads:
                reads[target] = when  # type: ignore[assignment]
                if target not in writes:
                    read_first.add(target)
        isfile = os.path.isfile
        outputs = tuple(p for p in writes if p in regular or isfile(p))
        rewritten: dict[str, str | None] = dict.fromkeys(
            p for p in outputs if p in read_first)
        for key, digest in early.items():
            # Taken before the first write or rename over it (which another process, or a
            # native writer the watch finds, may have made).
            target = resolved.get(key, "")
            if target == "":
                target = self._resolve(key, dirs, regular)
            if target is not None and (target in rewritten or target in reads) \
                    and rewritten.get(target) is None:
                rewritten[target] = digest
        inputs = tuple(p for p in reads if p not in writes and p not in rewritten
                       and (p in regular or isfile(p)))
        read_at = {p: when for p in inputs if (when := reads[p]) is not None}
        return Captured(inputs, outputs, read_at, rewritten)

    def written(self) -> set[str]:
        """The files this capture has seen opened for writing (or renamed into place) so
        far, as real paths, while it runs (in this process; children's come at stop);
        once stopped, the files it recorded as written."""
        state = self._state
        if state is None:
            return set(self._written)
        events = state.events[:]  # a copy in one step: other threads append meanwhile
        found: set[str] = set()
        records = iter(events)
        for path, mode, flags, _ in zip(records, records, records, records, strict=False):
            if mode == _RENAME:
                path = flags
            elif isinstance(path, int) or not _is_write(mode, flags):
                continue
            target = self._resolve(path)
            if target is not None:
                found.add(target)
        return found

    def _resolve(
        self, path: object, dirs: dict[str, str] | None = None, regular: set[str] | None = None
    ) -> str | None:
        try:
            text = os.fsdecode(path)  # type: ignore[arg-type]
        except TypeError:
            return None
        if text.endswith(CODE_SUFFIXES):
            return None
        full = _realpath(os.path.join(self._cwd, text), {} if dirs is None else dirs,
                         set() if regular is None else regular)
        if full.startswith(self._ignore_dirs):
            return None
        if not SKIP_DIRS.isdisjoint(full.split(os.sep)):
            return None
        if self._globs:
            rel = os.path.relpath(full, self._cwd)
            if any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(full, g) for g in self._globs):
                return None
        return full


_O_PATH = getattr(os, "O_PATH", 0)


def real_path(path: str) -> str:
    """``os.path.realpath(path)``, asked of the kernel when the path exists (Linux).

    ``realpath`` lstat()s each component in Python (~12 us for a path six deep); an
    ``O_PATH`` descriptor and its ``/proc/self/fd`` link give the same answer in three
    system calls. Anything unusual (no /proc, a file deleted meanwhile, a missing path)
    falls back to ``os.path.realpath``.
    """
    if _O_PATH:
        try:
            fd = os.open(path, _O_PATH | os.O_CLOEXEC)
        except OSError:
            return os.path.realpath(path)
        try:
            real = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            real = ""
        finally:
            os.close(fd)
        if real.startswith("/") and not real.endswith(" (deleted)"):
            return real
    return os.path.realpath(path)


def _realpath(path: str, dirs: dict[str, str], regular: set[str]) -> str:
    """``os.path.realpath(path)``, its directory taken from (or added to) ``dirs``.

    One ``lstat`` per file instead of one per path component: 10,000 captured files in
    a few folders cost 10,000 ``lstat`` calls, not 60,000. A path that lstat shows to be
    a regular file is added to ``regular``, so nobody needs to stat it again.
    """
    head, tail = os.path.split(path)
    if not head or tail in ("", ".", ".."):
        return os.path.realpath(path)
    real_head = dirs.get(head)
    if real_head is None:
        real_head = dirs[head] = real_path(head)
    candidate = os.path.join(real_head, tail)
    try:
        mode = os.lstat(candidate).st_mode
    except OSError:
        return candidate
    if stat.S_ISLNK(mode):
        return os.path.realpath(candidate)
    if stat.S_ISREG(mode):
        regular.add(candidate)
    return candidate


_WRITE_MODE = frozenset("wax+")


def _is_write(mode: object, flags: object) -> bool:
    if isinstance(mode, str):
        return not _WRITE_MODE.isdisjoint(mode)
    if isinstance(flags, int):
        return bool(flags & _WRITE_FLAGS)
    return False


@contextlib.contextmanager
def uncaptured() -> Iterator[None]:
    """This thread's opens inside are not recorded by automatic capture (forebear's own I/O).

    Other threads' opens go where they would have gone (``_this_threads``). In a Python
    child reporting to a capture elsewhere (``_boot``), the report is taken over first, so
    forebear's own reads there (``forebear exec`` hashing its command's outputs) are not
    reported as that capture's.
    """
    if not _active and "_forebear_spooler" in sys.modules:
        _install()
    if not _active:
        yield
        return
    sink = _Active(drop=True)
    _push(sink)
    try:
        yield
    finally:
        _remove(sink)
