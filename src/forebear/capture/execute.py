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
from forebear.capture.files import TreeWatch
from forebear.errors import UsageError
from forebear.sdk._names import guess_kind
from forebear.sdk.run import Run

_BOOT = str(Path(__file__).with_name("_boot"))
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
    parts = [_BOOT, _SRC] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env["FOREBEAR_EXEC_REPORT"] = report_dir
    env["FOREBEAR_EXEC_IGNORE"] = os.pathsep.join(ignore)
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
    if not command:
        raise UsageError("no command given", hint="forebear exec -- python train.py")
    program = shutil.which(command[0]) or command[0]
    if not os.path.exists(program):
        raise UsageError(f"command not found: {command[0]}", hint="check the command's spelling")
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
    status, code = "succeeded", 0
    try:
        child = subprocess.Popen(list(command), env=env)
        try:
            code = child.wait()
        except KeyboardInterrupt:
            child.send_signal(signal.SIGINT)
            code = child.wait()
            status = "aborted"
        if status != "aborted":
            status = "succeeded" if code == 0 else ("aborted" if code < 0 else "failed")
        _record_reports(run, report_dir)
        for path in outputs:
            if os.path.exists(path):
                run.produce(path, kind=guess_kind(path))
        for watcher in watchers:
            run.record_found(writes=watcher.changed())
    finally:
        shutil.rmtree(report_dir, ignore_errors=True)
        error = None if status == "succeeded" else f"exit code {code}"
        run.end(status, error=error, exit_code=code)
    return (code if code >= 0 else 128 - code), run


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
