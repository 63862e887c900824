"""``forebear exec``: run any command as a tracked execution.

Python children get automatic file capture through a ``sitecustomize`` put first on
their ``PYTHONPATH``; they report what they read and wrote and their environment. Any
program's files created or changed under the watched directories are outputs, and
``--input``/``--output`` declare the rest. The child's exit code passes through; a
non-zero exit is a failed run.
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
from forebear.capture.watch import TreeWatch
from forebear.errors import UsageError
from forebear.sdk._names import guess_kind
from forebear.sdk.run import Run

_SRC = str(Path(forebear.__file__).resolve().parent.parent)


def _entry_script(command: Sequence[str]) -> str | None:
    """The script a command runs, for the code anchor (``python x.py`` -> ``x.py``)."""
    first = os.path.basename(command[0])
    if first.startswith("python"):
        for arg in command[1:]:
            if arg == "-m" or arg == "-c":
                return None
            if not arg.startswith("-"):
                return arg if os.path.isfile(arg) else None
        return None
    if os.path.isfile(command[0]):
        return command[0]
    found = shutil.which(command[0])
    return found


def child_env(report_dir: str, ignore: Sequence[str], base: Mapping[str, str]) -> dict[str, str]:
    """The environment of a tracked child: our sitecustomize and forebear importable."""
    env = dict(base)
    parts = [BOOT, _SRC] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env["FOREBEAR_EXEC_REPORT"] = report_dir
    env["FOREBEAR_EXEC_IGNORE"] = os.pathsep.join(ignore)
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
    entry = _entry_script(command)
    run = Run(
        name or os.path.basename(entry or command[0]),
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
    run.start()
    for watcher in watchers:
        watcher.start()
    status, code, interrupted = "succeeded", 0, False
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
        _record_reports(run, report_dir)
        for path in outputs:
            if os.path.exists(path):
                run.produce(path, kind=guess_kind(path))
            else:  # the run stands as it ran; the gap in its lineage must not be silent
                sys.stderr.write(f"forebear: declared output {path} was not written: "
                                 "not recorded\n")
        for watcher in watchers:
            run.record_found(writes=watcher.changed())
    finally:
        shutil.rmtree(report_dir, ignore_errors=True)
        error = None if status == "succeeded" else _exit_text(code)
        if interrupted and code >= 0:
            error = f"interrupted, {error}"
        run.end(status, error=error, exit_code=code)
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


def _record_reports(run: Run, report_dir: str) -> None:
    reads: dict[str, None] = {}
    writes: dict[str, None] = {}
    environment: dict[str, Any] | None = None
    for report in sorted(Path(report_dir).glob("*.json")):
        try:
            payload = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        reads.update(dict.fromkeys(payload.get("reads", ())))
        writes.update(dict.fromkeys(payload.get("writes", ())))
        if environment is None and isinstance(payload.get("environment"), dict):
            environment = payload["environment"]
            manifest = payload.get("manifest")
            blobs = run.session.blobs
            if blobs is not None and isinstance(manifest, str):
                blobs.put_bytes(manifest.encode("utf-8"))
    run.record_found(reads=reads, writes=writes)
    if environment is None:
        from forebear.sdk.anchors import environment_record

        environment = environment_record(run.session)
    run.child_environment = environment


def main_exit(code: int) -> None:
    sys.exit(code)
