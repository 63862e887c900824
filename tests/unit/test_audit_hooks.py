"""The file capture's two audit hooks, the C one built at install and the pure-Python one,
record the same things."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from forebear.capture import files
from forebear.capture.files import FileCapture

HERE = Path(__file__).resolve().parent

# Opens of every kind the hook tells apart, in a capture, then the raw events it kept.
SCENARIO = r"""
import json, os, sys, threading
from forebear.capture import files
from forebear.capture.files import FileCapture

os.chdir(sys.argv[1])
capture = FileCapture(cwd=os.getcwd(), include_temp=True)
capture.start()
open("data/a.csv").close()                              # a read
with open("data/a.csv", "a") as handle:                 # read, then opened for writing
    handle.write("more\n")
os.close(os.open("data/b.csv", os.O_RDONLY))            # os.open's read
os.close(os.open("out/new.bin", os.O_WRONLY | os.O_CREAT, 0o644))
with open("out/tmp.bin", "wb") as handle:
    handle.write(b"x")
os.replace("out/tmp.bin", "out/model.bin")              # an atomic save
worker = threading.Thread(target=lambda: open("data/b.csv", "rb").close())
worker.start(); worker.join()                           # a thread's open
with open(os.open("data/b.csv", os.O_RDONLY), closefd=True):
    pass                                                # open() of a descriptor
os.chdir("data")
open("a.csv").close()                                   # relative, after a chdir
os.chdir("..")
events = list(files._active[-1].events)
found = capture.stop()
print(json.dumps({
    "hook": files.hook_kind,
    "events": [[str(e) for e in events[i:i + 3]] for i in range(0, len(events), 4)],
    "times": [e for e in events[3::4]],
    "reads": sorted(found.reads), "writes": sorted(found.writes),
    "rewritten": sorted(found.rewritten), "read_at": sorted(found.read_at),
}))
"""


def _record(tree: Path, hook: str) -> dict[str, object]:
    env = {**os.environ, files.HOOK_ENV: hook}
    done = subprocess.run([sys.executable, "-c", SCENARIO, str(tree)], capture_output=True,
                          text=True, env=env, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def _tree(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "out").mkdir()
    (root / "data" / "a.csv").write_text("a\n")
    (root / "data" / "b.csv").write_text("b\n")
    return root


def test_capture_uses_the_compiled_hook_where_it_was_built() -> None:
    # make test installs forebear with the C hook built; a fallback here would mean the
    # build hook failed quietly and every tracked script pays the slower hook.
    capture = FileCapture(include_temp=True)
    capture.start()
    capture.stop()
    expected = "python" if os.environ.get(files.HOOK_ENV) == "python" else "c"
    assert files.hook_kind == expected, (
        "forebear.capture._audit is not built: reinstall with a C compiler present "
        "(`make` does) or see hatch_build.py's message"
    )


def test_both_hooks_record_the_same_opens_renames_and_directory_changes(
    tmp_path: Path,
) -> None:
    compiled = _record(_tree(tmp_path / "c"), "")
    python = _record(_tree(tmp_path / "py"), "python")
    assert (compiled.pop("hook"), python.pop("hook")) == ("c", "python")
    for result, root in ((compiled, tmp_path / "c"), (python, tmp_path / "py")):
        text = json.dumps(result).replace(str(root.resolve()), "ROOT").replace(str(root), "ROOT")
        result.clear()
        result.update(json.loads(text))
    compiled_times, python_times = compiled.pop("times"), python.pop("times")
    assert compiled == python
    assert len(compiled["events"]) >= 10  # type: ignore[arg-type]
    assert compiled["reads"] == ["ROOT/data/b.csv"]  # a.csv, read then written: rewritten
    assert compiled["writes"] == ["ROOT/data/a.csv", "ROOT/out/model.bin", "ROOT/out/new.bin"]
    assert compiled["rewritten"] == ["ROOT/data/a.csv"]
    # Read opens carry the wall clock in nanoseconds, in order, from either hook; a
    # rename's record carries none.
    for times in (compiled_times, python_times):
        stamps = [t for t in times if t is not None]  # type: ignore[union-attr]
        assert stamps == sorted(stamps) and len(stamps) == len(times) - 1  # type: ignore[arg-type]
        assert all(abs(t - stamps[0]) < 60 * 10**9 for t in stamps)


def test_the_file_capture_suite_passes_on_the_python_hook() -> None:
    env = {**os.environ, files.HOOK_ENV: "python"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(HERE / "test_file_capture.py"), str(HERE / "test_audit_hooks.py") + "::"
         "test_capture_uses_the_compiled_hook_where_it_was_built"],
        capture_output=True, text=True, env=env, check=False, timeout=240,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
