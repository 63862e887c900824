"""``forebear exec``: run any command as a tracked execution.

Python children get automatic file capture through a ``sitecustomize`` put first on
their ``PYTHONPATH``; they report what they read and wrote and their environment. Any
program's files created or changed under the watched directories are outputs, and
``--input``/``--output`` declare the rest. The child's exit code passes through; a
non-zero exit is a failed run, whose error and traceback are those of the exception a
Python command died of. The code anchor is of what Python ran: the script, the module
of ``-m``, the text of ``-c``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import forebear
from forebear.capture.files import BOOT, SPOOL_ENV
from forebear.capture.live import EXEC_MADE_ENV, EXEC_PID_ENV, EXEC_RUN_ENV, LIVE_ENV, LiveWrites
from forebear.capture.watch import TreeWatch
from forebear.errors import UsageError
from forebear.sdk._names import guess_kind
from forebear.sdk.anchors import NO_SCRIPT, InlineCode, python_target
from forebear.sdk.run import Run

_SRC = str(Path(forebear.__file__).resolve().parent.parent)
_FAILURE_FILE = "failure"  # JSON, but not *.json: no process's report
_MADE_FILE = "made"  # one output path per line, appended by runs in the command


def _entry(command: Sequence[str]) -> tuple[str, str]:
    """The entry point of a command, for the code anchor, and the run's default name.

    ``python x.py`` runs ``x.py``; ``python -m pkg.mod`` the module's file, found as that
    Python will find it; ``python -c CODE`` the code text. Never forebear's own
    ``__main__``: a Python command that runs no file (stdin, a module not found) has
    NO_SCRIPT. Any other command is its own entry point.
    """
    program = os.path.basename(command[0])
    if program.startswith("python"):
        target = python_target(command[1:])
        if target is None:
            return NO_SCRIPT, program
        what, value, flags = target
        if what == "code":
            return InlineCode(value), f"{program} -c"
        if what == "module":
            return _module_file(value, command[0], flags) or NO_SCRIPT, value
        return (value if os.path.isfile(value) else NO_SCRIPT), os.path.basename(value)
    if os.path.isfile(command[0]):
        return command[0], program
    return shutil.which(command[0]) or NO_SCRIPT, program


def _module_file(name: str, python: str, flags: str) -> str | None:
    """The file ``python -m NAME`` runs (a package's ``__main__``), found along the path
    the child will search, without importing anything here: importing a package runs
    its ``__init__``, and the child is the one to run the user's code."""
    from importlib.machinery import PathFinder

    path: list[str] = []
    if not ({"I", "P"} & set(flags) or os.environ.get("PYTHONSAFEPATH")):
        path.append(os.getcwd())  # where -m looks first
    if not {"I", "E"} & set(flags):
        path += [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    found = shutil.which(python)
    if found and os.path.dirname(os.path.abspath(found)) == os.path.dirname(sys.executable):
        path += [p for p in sys.path if p]  # our own Python: the same installed packages
    spec = None
    parts = name.split(".")
    for i in range(len(parts)):
        spec = PathFinder.find_spec(".".join(parts[: i + 1]), path)
        if spec is None or spec.submodule_search_locations is None:
            if i < len(parts) - 1:
                return None
            break
        path = list(spec.submodule_search_locations)
    if spec is not None and spec.submodule_search_locations is not None:
        spec = PathFinder.find_spec(f"{name}.__main__", path)  # python -m PACKAGE
    origin = spec.origin if spec is not None else None
    return origin if origin and os.path.isfile(origin) else None


def child_env(report_dir: str, ignore: Sequence[str], base: Mapping[str, str]) -> dict[str, str]:
    """The environment of a tracked child: our sitecustomize and forebear importable."""
    env = dict(base)
    parts = [BOOT, _SRC] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env["FOREBEAR_EXEC_REPORT"] = report_dir
    env["FOREBEAR_EXEC_IGNORE"] = os.pathsep.join(ignore)
    # The uncaught exception of the process we start (its parent is us), not of the ones
    # it starts in turn, is the run's error (see sitecustomize).
    env["FOREBEAR_EXEC_ERROR"] = os.path.join(report_dir, _FAILURE_FILE)
    env[EXEC_PID_ENV] = str(os.getpid())
    # Run under a capture elsewhere, the command still reports to this run, not past it.
    env.pop(SPOOL_ENV, None)
    return env


def execute(
    command: Sequence[str],
    *,
    name: str | None = None,
    kind: str = "run",
    params: Mapping[str, Any] | None = None,
    inputs: Sequence[str] = (),
    outputs: Sequence[str] = (),
    watch: Sequence[str] | None = None,
    capture: bool = True,
    store: Any = None,
) -> tuple[int, Run]:
    """Run ``command`` tracked; return its exit code and the recorded run."""
    check_command(command)
    for folder in watch or ():
        if not os.path.isdir(folder):
            raise UsageError(f"--watch {folder}: no such folder",
                             hint="give a folder whose new or changed files are outputs")
    entry, default_name = _entry(command)
    run = Run(
        name or default_name,
        kind=kind,
        params={**(params or {}), "command": list(command)},
        store=store,
        capture=False,
        watch=False,
        environment=False,  # the child reports its own interpreter's environment
        entry_point=entry,
    )
    watchers = [TreeWatch(w, ignore_globs=run.session.ignore_globs) for w in
                (watch if watch is not None else [os.getcwd()])]
    for path in inputs:
        run.use(path, role="input")
    report_dir = tempfile.mkdtemp(prefix="forebear-exec-")
    ignore = [str(run.session.store_dir)] if run.session.store_dir else []
    env = child_env(report_dir, ignore, os.environ) if capture else dict(os.environ)
    # Runs the command starts with the SDK are this run's children, and what they record
    # as outputs is theirs: this run's watch leaves those files to them (as a run leaves
    # the outputs of runs nested in it), told through EXEC_MADE_ENV.
    env[EXEC_RUN_ENV] = run.run_id
    env[EXEC_MADE_ENV] = os.path.join(report_dir, _MADE_FILE)
    live = LiveWrites() if watchers else None
    if live is not None and capture:
        env[LIVE_ENV] = str(live.path)
    run.start()
    for watcher in watchers:
        watcher.start()
    status, code, interrupted = "succeeded", 0, False
    failure: dict[str, str] = {}
    try:
        try:
            child = subprocess.Popen(list(command), env=env)
        except OSError as exc:  # what the checks cannot foresee: a script without #!
            status, code = "failed", 127
            raise UsageError(f"cannot run {command[0]}: {exc.strerror or exc}",
                             hint="give its interpreter: forebear exec -- sh SCRIPT") from None
        code, interrupted = _wait(child)
        if interrupted:
            status = "aborted"
        else:
            status = "succeeded" if code == 0 else ("aborted" if code < 0 else "failed")
        failure = _read_failure(report_dir)
        made = _made_by_nested_runs(report_dir)
        _record_reports(run, report_dir, made)
        for path in outputs:
            if os.path.exists(path):
                run.produce(path, kind=guess_kind(path))
            else:  # the run stands as it ran; the gap in its lineage must not be silent
                sys.stderr.write(f"forebear: declared output {path} was not written: "
                                 "not recorded\n")
        # What another exec in this folder, running meanwhile, was seen writing is its.
        for watcher in watchers:
            found = [path for path in watcher.changed() if path not in made]
            run.record_found(writes=live.mine(found) if live is not None else found)
    finally:
        shutil.rmtree(report_dir, ignore_errors=True)
        error = traceback = None
        if status != "succeeded":
            error = _exit_text(code)
            if failure.get("error"):  # the exception a Python command died of
                error = f"{failure['error']} ({error})"
                traceback = failure.get("traceback")
            if interrupted and code >= 0:
                error = f"interrupted, {error}"
        run.end(status, error=error, traceback_text=traceback, exit_code=code)
    return (code if code >= 0 else 128 - code), run


def check_command(command: Sequence[str]) -> None:
    """Refuse, before anything is recorded, a command that cannot be started."""
    if not command:
        raise UsageError("no command given", hint="forebear exec -- python train.py")
    program = command[0]
    if os.sep not in program:
        if shutil.which(program) is None:
            hint = "check the command's spelling"
            if os.path.isfile(program):  # like a shell, exec does not look in the folder
                hint = f"to run the file here, write ./{program}"
            raise UsageError(f"command not found: {program}", hint=hint)
        return
    if not os.path.exists(program):
        raise UsageError(f"command not found: {program}", hint="check the path")
    if os.path.isdir(program):
        raise UsageError(f"{program} is a folder, not a command",
                         hint="give the program to run: forebear exec -- python train.py")
    if not os.access(program, os.X_OK):
        raise UsageError(
            f"{program} is not an executable file",
            hint=f"chmod +x {program}, or give its interpreter: forebear exec -- sh {program}",
        )


class _Terminated(Exception):
    """SIGTERM came to ``forebear exec`` while its command ran."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated


def _wait(child: subprocess.Popen[bytes]) -> tuple[int, bool]:
    """Wait for ``child`` to exit, through any number of Ctrl-C or SIGTERM; return (code,
    interrupted).

    A Ctrl-C at the terminal reaches the child by itself: it is in our process group, the
    terminal's foreground one. Sending it another SIGINT would interrupt the clean-up a
    training script does on the first (saving a checkpoint), so one is forwarded only
    when the signal came to us alone (``kill -INT``, a supervisor). SIGTERM (``docker
    stop``, Kubernetes, a batch scheduler) often comes to us alone: it is passed on, as
    init processes like tini do, instead of ending us at once with the run left
    "running", its outputs unrecorded and the command orphaned. We wait on: the run is
    recorded once the child has really ended.
    """
    interrupted, ours = False, True
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread: signals are not ours to handle
        ours = False
    try:
        while True:
            try:
                return child.wait(), interrupted
            except KeyboardInterrupt:
                interrupted = True
                if not _terminal_signals_our_group() and child.poll() is None:
                    child.send_signal(signal.SIGINT)
            except _Terminated:
                interrupted = True
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
    finally:
        if ours:  # None: a handler not set from Python, so the default one
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _exit_text(code: int) -> str:
    """How the child ended, for the run's error: ``exit code 3`` or ``killed by SIGINT``."""
    if code >= 0:
        return f"exit code {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


def _terminal_signals_our_group() -> bool:
    """Whether our process group is the foreground group of our controlling terminal,
    so that a Ctrl-C there is delivered to the child as well as to us."""
    for fd in (0, 1, 2):
        try:
            return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:  # not a terminal
            continue
    return False


def _read_failure(report_dir: str) -> dict[str, str]:
    """The uncaught exception the command's Python process reported: error and traceback."""
    try:
        with open(os.path.join(report_dir, _FAILURE_FILE), encoding="utf-8") as handle:
            found = json.load(handle)
    except (OSError, ValueError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {k: v for k, v in found.items() if k in ("error", "traceback") and isinstance(v, str)}


def _made_by_nested_runs(report_dir: str) -> set[str]:
    """The outputs that runs the command started (``forebear.run`` in it) recorded."""
    try:
        with open(os.path.join(report_dir, _MADE_FILE), encoding="utf-8",
                  errors="surrogateescape") as handle:
            return {line.rstrip("\n") for line in handle if line.strip()}
    except OSError:
        return set()


def _record_reports(run: Run, report_dir: str, made: set[str]) -> None:
    reads: dict[str, None] = {}
    writes: dict[str, None] = {}
    read_at: dict[str, int] = {}  # a path's first read, in any process
    rewritten: dict[str, str | None] = {}  # its digest as read, before a rewrite
    environment: dict[str, Any] | None = None
    for report in sorted(Path(report_dir).glob("*.json")):
        try:
            payload = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        reads.update(dict.fromkeys(payload.get("reads", ())))
        writes.update(dict.fromkeys(payload.get("writes", ())))
        for path, when in (payload.get("read_at") or {}).items():
            read_at[path] = min(when, read_at.get(path, when))
        for path, digest in (payload.get("rewritten") or {}).items():
            if rewritten.get(path) is None:
                rewritten[path] = digest
        if environment is None and isinstance(payload.get("environment"), dict):
            environment = payload["environment"]
            manifest = payload.get("manifest")
            blobs = run.session.blobs
            if blobs is not None and isinstance(manifest, str):
                blobs.put_bytes(manifest.encode("utf-8"))
    run.record_found(reads=reads, writes=[w for w in writes if w not in made],
                     read_at=read_at, rewritten=rewritten)
    if environment is None:
        from forebear.sdk.anchors import environment_record

        environment = environment_record(run.session)
    run.child_environment = environment


def main_exit(code: int) -> None:
    sys.exit(code)
