"""Loaded by Python children of a capture (this folder is first on their PYTHONPATH).

Under ``forebear exec`` (FOREBEAR_EXEC_REPORT set) it starts automatic file capture in
the command's Python process (one that no capturing Python started) and, at exit, writes
what it and its Python children read and wrote plus its environment anchor to
``$FOREBEAR_EXEC_REPORT/<pid>.json`` for the parent to record; the process ``forebear
exec`` started itself (its parent is FOREBEAR_EXEC_PID) writes the exception that ended
it, if one did, to FOREBEAR_EXEC_ERROR, the run's error and traceback. In a child a tracked
process started without forking (FOREBEAR_CAPTURE_SPOOL set: multiprocessing's spawn or
forkserver, a ``subprocess`` running Python) it spools the child's opens to the
parent's capture (``_forebear_spooler.py`` beside it). It never raises: lineage must
not break the program it watches.
"""

import os
import sys


def _start() -> None:
    spool = os.environ.get("FOREBEAR_CAPTURE_SPOOL")
    if spool:
        # A child of a capturing Python process (under `forebear exec` too: the command's
        # own Python captures, and its children report through it). Beside this file and
        # without forebear (see _forebear_spooler.py): cheap, and the same in a Python
        # that has no forebear installed.
        import _forebear_spooler as module  # type: ignore[import-not-found]

        module.start_child(spool)
        return
    report_dir = os.environ.get("FOREBEAR_EXEC_REPORT")
    if not report_dir:
        return
    import atexit
    import json

    from forebear.capture.files import FileCapture

    ignore = [d for d in os.environ.get("FOREBEAR_EXEC_IGNORE", "").split(os.pathsep) if d]
    globs = [g for g in os.environ.get("FOREBEAR_IGNORE", "").split(os.pathsep) if g]
    live = os.environ.get("FOREBEAR_EXEC_LIVE")
    if live and os.environ.get("FOREBEAR_EXEC_PID") == str(os.getppid()):
        try:  # what other execs in this folder must not claim (forebear.capture.live)
            from forebear.capture.files import publish_writes

            publish_writes(live)  # opened before the capture starts: not the run's file
        except OSError:
            live = None
    live_dir = [os.path.dirname(live)] if live else []
    capture = FileCapture(ignore_dirs=[*ignore, report_dir, *live_dir], ignore_globs=globs)
    capture.start()
    error_path = os.environ.get("FOREBEAR_EXEC_ERROR")
    if not error_path or os.environ.get("FOREBEAR_EXEC_PID") != str(os.getppid()):
        error_path = None  # a process the command started: its failure is not the run's
    failed_thread = _watch_threads() if error_path else []
    pid = os.getpid()

    def _report() -> None:
        # A program ended by Ctrl-C must still die of SIGINT (exit status 130 in a shell).
        # Python before 3.13 forgets that once an atexit handler runs any code object,
        # and the imports below do: note it now, and tell the interpreter again at the end.
        interrupted = isinstance(getattr(sys, "last_value", None), KeyboardInterrupt)
        if error_path and not interrupted and os.getpid() == pid:  # not a fork of it
            _write_error(error_path, failed_thread)
        try:
            found = capture.stop()
            from forebear.capture.environment import environment_anchor

            anchor = environment_anchor()
            record = anchor.to_record()
            record["digest"] = anchor.digest
            main = sys.modules.get("__main__")
            payload = {
                "pid": os.getpid(),
                "reads": list(found.reads),
                "writes": list(found.writes),
                "read_at": dict(found.read_at),
                "rewritten": dict(found.rewritten),
                "environment": record,
                "manifest": anchor.manifest().decode("utf-8"),
                "entry_point": getattr(main, "__file__", None),
                "executable": sys.executable,
            }
            path = os.path.join(report_dir, f"{os.getpid()}.json")
            with open(path + ".tmp", "w", encoding="utf-8") as handle:
                json.dump(payload, handle)
            os.replace(path + ".tmp", path)
        except Exception as exc:  # never break the user's program
            sys.stderr.write(f"forebear: capture report failed: {exc}\n")
        if interrupted:  # a KeyboardInterrupt left uncaught by exec'd code sets it back
            import contextlib

            with contextlib.suppress(KeyboardInterrupt):
                exec("raise KeyboardInterrupt")

    atexit.register(_report)


# Characters of an error message and of a traceback kept (the end of a traceback, where
# the exception is): a message can hold a whole array's repr, a chain of them much more.
# The run keeps 4096 of its error: room is left for the exit code exec adds.
_ERROR_CHARS = 4000
_TRACEBACK_CHARS = 65536


def _failure(exc: BaseException, where: str = "") -> dict[str, str]:
    import traceback  # only once something failed: no start-up cost

    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not hide the failure
        message = "<unprintable>"
    error = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    text = "".join(traceback.format_exception(exc))
    return {"error": error[:_ERROR_CHARS] + where, "traceback": text[-_TRACEBACK_CHARS:]}


def _watch_threads() -> list[dict[str, str]]:
    """Keep the first exception a thread left uncaught. It does not end the process, so it
    is the run's error only if the process then fails without one of its own (a main
    thread that sees its worker die and exits 1)."""
    failed: list[dict[str, str]] = []
    if "threading" not in sys.modules:  # loaded by the capture: importing it would cost
        return failed
    import threading

    previous = threading.excepthook

    def _excepthook(args: threading.ExceptHookArgs) -> None:
        if not failed and isinstance(args.exc_value, Exception):
            try:  # formatted now: a traceback kept would keep its frames' data alive
                name = args.thread.name if args.thread is not None else "?"
                failed.append(_failure(args.exc_value, f" (in thread {name})"))
            except Exception:
                pass
        previous(args)

    threading.excepthook = _excepthook
    return failed


def _write_error(path: str, failed_thread: list[dict[str, str]]) -> None:
    """Write the exception that ends this process (uncaught in its main thread, else in
    another thread) to ``path``. Python keeps the uncaught one in ``sys.last_value``
    whatever ``sys.excepthook`` a program installed; a ``KeyboardInterrupt`` is an abort,
    and ``SystemExit`` never lands there: its exit code says it all."""
    exc = getattr(sys, "last_value", None)
    try:
        if isinstance(exc, BaseException):
            failure = _failure(exc)
        elif failed_thread:
            failure = failed_thread[0]
        else:
            return
        import json

        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(failure, handle)
        os.replace(path + ".tmp", path)
    except Exception as error:  # never break the user's program
        sys.stderr.write(f"forebear: could not report the command's error: {error}\n")


def _chain() -> None:
    # Load the sitecustomize this one shadows, if any, as Python would have.
    here = os.path.dirname(os.path.abspath(__file__))
    for folder in sys.path:
        if not folder or os.path.abspath(folder) == here:
            continue
        candidate = os.path.join(folder, "sitecustomize.py")
        if os.path.isfile(candidate):
            import importlib.util  # only then: it costs a child a millisecond or two

            spec = importlib.util.spec_from_file_location("_forebear_chained_sitecustomize",
                                                          candidate)
            if spec and spec.loader:
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            return


try:
    _start()
except Exception as _exc:  # pragma: no cover - defensive
    sys.stderr.write(f"forebear: automatic capture is off: {_exc}\n")
try:
    _chain()
except Exception as _exc:  # pragma: no cover - defensive
    sys.stderr.write(f"forebear: could not load the shadowed sitecustomize: {_exc}\n")
