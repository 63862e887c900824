"""The file capture and working-tree watch each run starts, copied from prototypes."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from typing import Any

from forebear.capture.files import TEMP_ENV, FileCapture
from forebear.capture.watch import TreeWatch
from forebear.sdk.session import Session

__all__ = ["new_capture", "new_watch"]


# FileCapture and TreeWatch set up by realpath-ing the store, the working directory and
# the interpreter's folders (~30 us a run): each run copies a prototype made once per
# layout instead. A symlink among those folders retargeted while the process runs is not
# seen (the same trade-off as capture.files.default_ignores).
_prototypes: dict[tuple[Any, ...], Any] = {}
_prototypes_lock = threading.Lock()


def _layout_key() -> tuple[Any, ...]:
    return (os.getcwd(), sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
            tuple(sys.path), tempfile.gettempdir())


def _clone(proto: Any) -> Any:
    clone = object.__new__(type(proto))
    clone.__dict__.update(proto.__dict__)
    return clone


def new_capture(session: Session) -> FileCapture:
    store_dir = str(session.store_dir) if session.store_dir else None
    key = ("capture", store_dir, session.ignore_globs, os.environ.get(TEMP_ENV),
           *_layout_key())
    with _prototypes_lock:
        proto = _prototypes.get(key)
    if proto is None:
        proto = FileCapture(ignore_dirs=[store_dir] if store_dir else [],
                            ignore_globs=session.ignore_globs)
        with _prototypes_lock:
            _prototypes[key] = proto
    capture: FileCapture = _clone(proto)
    # A file the run read and then overwrites is hashed when the write opens it: through
    # the run's hash cache, so that an unchanged multi-GB checkpoint costs a stat.
    cache = session.hash_cache
    capture.digest = cache.digest if cache is not None else None
    return capture


def new_watch(root: str, globs: tuple[str, ...]) -> TreeWatch:
    key = ("watch", root, globs, os.getcwd())
    with _prototypes_lock:
        proto = _prototypes.get(key)
    if proto is None:
        proto = TreeWatch(root, ignore_globs=globs)
        with _prototypes_lock:
            _prototypes[key] = proto
    watch: TreeWatch = _clone(proto)
    return watch
