"""Loaded by Python children of a capture (this folder is first on their PYTHONPATH).

Under ``forebear exec`` (FOREBEAR_EXEC_REPORT set) it starts automatic file capture in
the command's Python process (one that no capturing Python started) and, at exit, writes
what it and its Python children read and wrote plus its environment anchor to
``$FOREBEAR_EXEC_REPORT/<pid>.json`` for the parent to record. In a child a tracked
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
    capture = FileCapture(ignore_dirs=[*ignore, report_dir], ignore_globs=globs)
    capture.start()

    def _report() -> None:
        # A program ended by Ctrl-C must still die of SIGINT (exit status 130 in a shell).
        # Python before 3.13 forgets that once an atexit handler runs any code object,
        # and the imports below do: note it now, and tell the interpreter again at the end.
        interrupted = isinstance(getattr(sys, "last_value", None), KeyboardInterrupt)
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
