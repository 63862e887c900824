"""Spool files: how processes report the files they open to a capture in another process.

A capturing process names one spool folder for its whole life; each process that
reports to it appends ``path NUL mode NUL flags NUL`` records (``path NUL rename NUL
destination NUL`` for a rename) to a file named after its pid, one write per record as
it happens, since a worker may leave by ``os._exit``. ``forebear.capture.files`` notes
where each file ends when a capture starts and reads on from there when it stops, so a
helper that outlives a run (multiprocessing's forkserver, a pool kept for the next run)
reports to the run that is going on when its children open files, not to the one that
started it.

Standard library only, and importable on its own: a Python child started during a
capture (spawn, forkserver, a ``subprocess``) imports it as ``_forebear_spooler`` from
the ``sitecustomize`` beside it at start-up, without importing forebear, which would
cost every child several times Python's own start-up. If the child later starts a
capture of its own, ``forebear.capture.files`` takes the spool over (``take_over``), so
nested captures behave there as they do in one process.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's: every Python child would import typing for nothing
if TYPE_CHECKING:
    from collections.abc import Callable

RENAME = "rename"
"""The mode of a recorded rename, ``(source, RENAME, destination)``: no open has it."""
_RENAME_BYTES = RENAME.encode()
CODE_SUFFIXES = (".py", ".pyc", ".pyi", ".so", ".pth", ".pyd", ".dylib")
"""Files that are code or interpreter machinery, not data: the code anchor covers code."""
_CODE_BYTES = tuple(suffix.encode() for suffix in CODE_SUFFIXES)

_child: tuple[str, int] | None = None  # this child's (folder, fd) until taken over


def open_spool(folder: str, capture: str = "") -> int | None:
    """This process's own file in ``folder`` (made if need be), or None. A process
    forked by a thread in a capture names that ``capture``: its opens are that capture's
    alone; the others' are any capture's that runs when they happen."""
    name = f"{os.getpid()}-{capture}" if capture else str(os.getpid())
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        return os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                       0o600)
    except OSError:
        return None


def spooler(fd: int) -> Callable[[tuple[object, ...]], None]:
    """A recorder of ``(path, mode, flags)`` opens and ``(source, RENAME, destination)``
    renames that appends each to ``fd``; it never raises. A fourth item (the time
    ``forebear.capture.files`` records with an open) is not spooled."""
    write, abspath, fsencode, fsdecode = os.write, os.path.abspath, os.fsencode, os.fsdecode

    def spool(args: tuple[object, ...]) -> None:
        path, mode, flags = args[0], args[1], args[2]
        if isinstance(path, int):
            return
        try:
            where = fsencode(abspath(fsdecode(path)))  # type: ignore[arg-type]
            if mode == RENAME:
                to = fsencode(abspath(fsdecode(flags)))  # type: ignore[arg-type]
                write(fd, b"%s\0%s\0%s\0" % (where, _RENAME_BYTES, to))
            elif not where.endswith(_CODE_BYTES):  # imports: the reader drops them anyway
                mode_text = mode.encode() if isinstance(mode, str) else b""
                write(fd, b"%s\0%s\0%d\0" % (where, mode_text,
                                             flags if isinstance(flags, int) else 0))
        except (TypeError, ValueError, OSError):
            return  # never fail the program's own open

    return spool


def start_child(folder: str) -> None:
    """Report this process's opens and renames to the spool ``folder`` from now on
    (called at start-up by the ``sitecustomize`` beside this file)."""
    global _child
    fd = open_spool(folder)
    if fd is None:
        return
    record = spooler(fd)
    _child = (folder, fd)

    def hook(event: str, args: tuple[object, ...]) -> None:
        if _child is None:  # taken over by forebear.capture.files
            return
        if event == "open" and len(args) == 3:
            record(args)
        elif event == "os.rename" and len(args) == 4 and args[2] in (None, -1) \
                and args[3] in (None, -1):  # no directory descriptors
            record((args[0], RENAME, args[1]))

    def reopen() -> None:
        # A process forked from this one (every worker of a forkserver) writes to a file
        # of its own: the reader may delete a file once its process is gone.
        global _child
        nonlocal record
        if _child is None:
            return
        fd = open_spool(folder)
        if fd is None:
            _child = None
            return
        _child = (folder, fd)
        record = spooler(fd)

    sys.addaudithook(hook)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=reopen)


def take_over() -> tuple[str, int] | None:
    """The ``(folder, fd)`` this process reports to, if ``start_child`` ran here; its hook
    goes quiet, as the caller records from now on."""
    global _child
    found, _child = _child, None
    return found


def ends(folder: str) -> dict[str, int]:
    """Where each spool file in ``folder`` ends now: a capture starting reads on from
    there when it stops."""
    found: dict[str, int] = {}
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    found[entry.name] = entry.stat().st_size
                except OSError:
                    continue
    except OSError:
        pass
    return found


def read_spool(folder: str, since: dict[str, int], capture: str,
               skip: dict[str, list[tuple[int, int]]] | None = None) -> list[object]:
    """The ``(path, mode, flags, None)`` events spooled into ``folder`` after ``since``
    (where each file ended, as ``ends`` gave it) by any process or by one that names
    ``capture``, flat (a rename as ``(source, RENAME, destination, None)``; the time
    of an open is not spooled), leaving out the
    ``skip`` byte ranges of each file (what a nested capture read). ``since`` is moved
    on to where each file ends now."""
    events: list[object] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return events
    for name in names:
        named = name.partition("-")[2]
        if named and named != capture:
            continue
        start = since.get(name, 0)
        try:
            with open(os.path.join(folder, name), "rb") as handle:
                handle.seek(start)
                data = handle.read()
        except OSError:
            continue
        since[name] = start + len(data)
        # Each record is one append, so the ends noted and read to are records' ends; a
        # nested capture's ranges lie within what is read here and are cut out.
        position = 0
        for first, last in sorted((skip or {}).get(name, ())):
            cut_from, cut_to = max(first - start, position), min(last - start, len(data))
            if cut_to <= cut_from:
                continue
            _parse(data[position:cut_from], events)
            position = cut_to
        _parse(data[position:], events)
    return events


def _parse(data: bytes, events: list[object]) -> None:
    fields = data.split(b"\0")
    for index in range(0, len(fields) - 2, 3):
        path, mode, flags = fields[index : index + 3]
        if mode == _RENAME_BYTES:
            events += (os.fsdecode(path), RENAME, os.fsdecode(flags), None)
            continue
        try:
            events += (os.fsdecode(path), mode.decode() or None, int(flags or 0), None)
        except ValueError:  # not a record this module wrote
            continue
