"""Spool files: how processes report the files they open to a capture in another process.

A capture names a spool folder; each process that reports to it appends
``path NUL mode NUL flags NUL`` records (``path NUL rename NUL destination NUL`` for a
rename) to a file named after its pid, one write per record as it happens, since a
worker may leave by ``os._exit``. ``forebear.capture.files`` reads the folder when the
capture stops.

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


def open_spool(folder: str) -> int | None:
    """This process's own file in ``folder`` (made if need be), or None."""
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        return os.open(os.path.join(folder, str(os.getpid())),
                       os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError:
        return None


def spooler(fd: int) -> Callable[[tuple[object, ...]], None]:
    """A recorder of ``(path, mode, flags)`` opens and ``(source, RENAME, destination)``
    renames that appends each to ``fd``; it never raises."""
    write, abspath, fsencode, fsdecode = os.write, os.path.abspath, os.fsencode, os.fsdecode

    def spool(args: tuple[object, ...]) -> None:
        path, mode, flags = args
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

    sys.addaudithook(hook)


def take_over() -> tuple[str, int] | None:
    """The ``(folder, fd)`` this process reports to, if ``start_child`` ran here; its hook
    goes quiet, as the caller records from now on."""
    global _child
    found, _child = _child, None
    return found


def read_spool(folder: str) -> list[object]:
    """The ``(path, mode, flags)`` events spooled into ``folder``, flat (a rename as
    ``(source, RENAME, destination)``); the folder is removed."""
    import shutil

    events: list[object] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return events
    for name in names:
        try:
            with open(os.path.join(folder, name), "rb") as handle:
                fields = handle.read().split(b"\0")
        except OSError:
            continue
        for index in range(0, len(fields) - 2, 3):
            path, mode, flags = fields[index : index + 3]
            if mode == _RENAME_BYTES:
                events += (os.fsdecode(path), RENAME, os.fsdecode(flags))
                continue
            try:
                events += (os.fsdecode(path), mode.decode() or None, int(flags or 0))
            except ValueError:  # a record cut short by a worker's sudden end
                continue
    shutil.rmtree(folder, ignore_errors=True)
    return events
