"""``forebear exec`` of ``python -m``/``-c`` anchors the code that ran, not forebear's own
launcher; a Python command's uncaught exception is its failed run's error and traceback."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from forebear.store.registry import init_store

_FOREBEAR = [sys.executable, "-m", "forebear"]


@pytest.fixture
def project(project_dir: Path) -> Path:
    """A store, and no git: the entry script alone identifies the code."""
    init_store(project_dir)
    (project_dir / "data.csv").write_text("d\n")
    return project_dir


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                   cwd=cwd, check=True, capture_output=True)


def _exec(cwd: Path, *command: str, options: tuple[str, ...] = ()) -> tuple[int, dict[str, Any]]:
    """Run ``forebear exec -- COMMAND``; its exit code and ``forebear show RUN --json``."""
    done = subprocess.run([*_FOREBEAR, "exec", "--json", *options, "--", *command], cwd=cwd,
                          capture_output=True, text=True)
    assert done.stdout, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    shown = subprocess.run([*_FOREBEAR, "show", run_id, "--json"], cwd=cwd,
                           capture_output=True, text=True, check=True)
    return done.returncode, json.loads(shown.stdout)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- defect 1: the code of python -m / python -c ---------------------------------------


def test_exec_of_a_module_anchors_its_file_and_sees_it_change(project: Path) -> None:
    _write(project / "pkg" / "__init__.py", "open('imported.log', 'a').write('x')\n")
    module = project / "pkg" / "tr.py"
    _write(module, "open('data.csv').read(); open('m.pkl', 'w').write('x')\n")
    _, first = _exec(project, sys.executable, "-m", "pkg.tr")
    _write(module, "open('data.csv').read(); open('m.pkl', 'w').write('y')\n")
    _, second = _exec(project, sys.executable, "-m", "pkg.tr")
    for shown in (first, second):
        run = shown["transformation"]
        assert run["name"] == "pkg.tr"
        assert run["code"]["entry_point"] == str(module.resolve())
        assert run["code"]["name"].startswith(f"{module.resolve()}@")
    assert first["transformation"]["code"]["digest"] != second["transformation"]["code"]["digest"]
    assert second["transformation"]["code"]["entry_digest"] == _sha256(module.read_bytes())
    # Found without importing the package in forebear: only the two commands ran it.
    assert (project / "imported.log").read_text() == "xx"
    differs = subprocess.run([*_FOREBEAR, "diff", first["id"], second["id"], "--json"],
                             cwd=project, capture_output=True, text=True, check=True)
    assert "entry_digest" in json.loads(differs.stdout)["code"]["changed"]


def test_exec_of_a_package_anchors_its_main(project: Path) -> None:
    _write(project / "pkg" / "__init__.py", "")
    _write(project / "pkg" / "__main__.py", "open('m.pkl', 'w').write('x')\n")
    code, shown = _exec(project, sys.executable, "-B", "-m", "pkg")
    assert code == 0
    assert shown["transformation"]["name"] == "pkg"
    assert shown["transformation"]["code"]["entry_point"] == str(
        (project / "pkg" / "__main__.py").resolve())


@pytest.mark.parametrize("in_git", [False, True], ids=["no-git", "clean-git-tree"])
def test_exec_of_python_c_anchors_the_code_text(project: Path, in_git: bool) -> None:
    if in_git:  # the commit alone cannot tell two -c texts apart: the text counts too
        _git(project, "init", "-q", "-b", "main")
        _write(project / ".gitignore", ".forebear/\n*.pkl\n")
        _git(project, "add", ".")
        _git(project, "commit", "-qm", "init")
    texts = ["open('m.pkl', 'w').write('x')", "open('m.pkl', 'w').write('y')"]
    codes = []
    for text in texts:
        _, shown = _exec(project, sys.executable, "-c", text)
        run = shown["transformation"]
        assert run["name"] == f"{os.path.basename(sys.executable)} -c"
        assert run["code"]["entry_point"] == "-c"
        assert run["code"]["entry_digest"] == _sha256(text.encode())
        assert (run["code"]["commit"] is not None) == in_git
        codes.append(run["code"]["digest"])
    assert codes[0] != codes[1]
    # The text is kept, as the diff of a dirty tree is: the code can be read back.
    blob = project / ".forebear" / "blobs" / "sha256"
    assert any(p.read_bytes() == texts[1].encode() for p in blob.rglob("*") if p.is_file())


def test_exec_of_python_reading_stdin_names_no_script_not_forebear(project: Path) -> None:
    done = subprocess.run([*_FOREBEAR, "exec", "--json", "--", sys.executable, "-"],
                          cwd=project, input="open('m.pkl', 'w').write('x')\n",
                          capture_output=True, text=True)
    run_id = json.loads(done.stdout)["run_id"]
    shown = json.loads(subprocess.run([*_FOREBEAR, "show", run_id, "--json"], cwd=project,
                                      capture_output=True, text=True, check=True).stdout)
    # No git and no script: nothing identifies the code, and nothing is made up.
    assert shown["transformation"]["code"] is None


def test_the_sdk_in_python_c_anchors_the_code_text(project: Path) -> None:
    text = "import forebear\nwith forebear.run('t') as run: print(run.run_id)\n"
    done = subprocess.run([sys.executable, "-c", text], cwd=project, capture_output=True,
                          text=True, check=True)
    shown = json.loads(subprocess.run([*_FOREBEAR, "show", done.stdout.strip(), "--json"],
                                      cwd=project, capture_output=True, text=True,
                                      check=True).stdout)
    code = shown["transformation"]["code"]
    assert code["entry_point"] == "-c" and code["entry_digest"] == _sha256(text.encode())


def test_the_sdk_in_a_notebook_is_not_anchored_to_its_launcher(project: Path) -> None:
    # IPython and Jupyter run cells in a __main__ of their own, with no __file__, while
    # sys.argv[0] names their launcher (ipython, ipykernel_launcher.py).
    _git(project, "init", "-q", "-b", "main")
    _write(project / "launcher.py", """\
        import sys, types
        main = types.ModuleType("__main__")
        sys.modules["__main__"] = main
        exec("import forebear\\nwith forebear.run('cell') as run: print(run.run_id)",
             main.__dict__)
        """)
    _write(project / ".gitignore", ".forebear/\nlauncher.py\n")
    _git(project, "add", ".gitignore")
    _git(project, "commit", "-qm", "init")
    done = subprocess.run([sys.executable, "launcher.py"], cwd=project, capture_output=True,
                          text=True, check=True)
    shown = json.loads(subprocess.run([*_FOREBEAR, "show", done.stdout.strip(), "--json"],
                                      cwd=project, capture_output=True, text=True,
                                      check=True).stdout)
    code = shown["transformation"]["code"]
    assert code["commit"] is not None  # the repository is still the code's anchor
    assert code["entry_point"] is None and code["entry_digest"] is None


# -- defect 2: the error and traceback of a failed Python command ------------------------


def test_exec_records_the_uncaught_exception_of_a_python_command(project: Path) -> None:
    _write(project / "bad.py", """\
        def fit():
            raise ValueError("diverged")
        fit()
        """)
    code, shown = _exec(project, sys.executable, "bad.py", options=("--kind", "train"))
    assert code == 1
    assert shown["error"] == "ValueError: diverged (exit code 1)"
    assert shown["traceback"].startswith("Traceback (most recent call last):")
    assert 'raise ValueError("diverged")' in shown["traceback"]
    assert shown["traceback"].endswith("ValueError: diverged\n")


def test_exec_records_the_exception_whatever_excepthook_the_program_set(
    project: Path,
) -> None:
    _write(project / "bad.py", """\
        import sys
        sys.excepthook = lambda *exc: print("handled by the program", file=sys.stderr)
        raise KeyError("lr")
        """)
    code, shown = _exec(project, sys.executable, "bad.py")
    assert code == 1
    assert shown["error"] == "KeyError: 'lr' (exit code 1)"
    assert "KeyError: 'lr'" in shown["traceback"]


def test_what_is_not_an_uncaught_exception_keeps_its_exit_code(project: Path) -> None:
    # First one that is, so that this test needs the fix: then exits, an interrupt and
    # a program that is no Python, which keep the words they had.
    _write(project / "bad.py", "raise RuntimeError('boom')\n")
    assert _exec(project, sys.executable, "bad.py")[1]["error"] == \
        "RuntimeError: boom (exit code 1)"
    cases = [
        ([sys.executable, "-c", "import sys; sys.exit(3)"], "failed", "exit code 3"),
        ([sys.executable, "-c", "raise KeyboardInterrupt"], "aborted", "killed by SIGINT"),
        (["sh", "-c", "exit 4"], "failed", "exit code 4"),
    ]
    for command, status, error in cases:
        _, shown = _exec(project, *command)
        assert (shown["transformation"]["status"], shown["error"], shown.get("traceback")) == \
            (status, error, None), command


def test_only_the_process_exec_started_reports_its_exception(project: Path) -> None:
    _write(project / "bad.py", "raise ValueError('diverged')\n")
    python = sys.executable
    # A shell that replaces itself with Python: that Python is the one exec started.
    _, shown = _exec(project, "sh", "-c", f"exec {python} bad.py")
    assert shown["error"] == "ValueError: diverged (exit code 1)"
    # A Python the command starts in turn fails; the command goes on and fails alone.
    _, shown = _exec(project, "sh", "-c", f"{python} bad.py; exit 3")
    assert (shown["error"], shown.get("traceback")) == ("exit code 3", None)
    # A fork of the command's Python that dies of an exception is not the command.
    _write(project / "forks.py", """\
        import os, sys
        if os.fork() == 0:
            raise ValueError("in the fork")
        os.wait()
        sys.exit(2)
        """)
    _, shown = _exec(project, python, "forks.py")
    assert (shown["error"], shown.get("traceback")) == ("exit code 2", None)


def test_a_threads_exception_is_the_error_of_a_process_that_then_fails(
    project: Path,
) -> None:
    _write(project / "worker.py", """\
        import sys, threading
        def work():
            raise RuntimeError("worker died")
        thread = threading.Thread(target=work, name="worker")
        thread.start(); thread.join()
        sys.exit(int(sys.argv[1]))
        """)
    _, shown = _exec(project, sys.executable, "worker.py", "1")
    assert shown["error"] == "RuntimeError: worker died (in thread worker) (exit code 1)"
    assert "worker died" in shown["traceback"]
    _, shown = _exec(project, sys.executable, "worker.py", "0")  # it did not end the run
    assert shown["transformation"]["status"] == "succeeded" and shown.get("error") is None


def test_a_huge_exception_is_kept_within_bounds(project: Path) -> None:
    _write(project / "bad.py", """\
        def deep(n):
            if n == 0:
                raise ValueError("x" * 100_000)
            deep(n - 1)
        deep(300)
        """)
    _, shown = _exec(project, sys.executable, "bad.py")
    assert shown["error"].startswith("ValueError: xxx")
    assert shown["error"].endswith("(exit code 1)") and len(shown["error"]) <= 4096
    assert 0 < len(shown["traceback"]) <= 65536
    assert shown["traceback"].endswith("x\n")  # the end, where the exception is, is kept


# -- a command that uses the SDK itself --------------------------------------------------


def test_runs_a_command_starts_are_nested_in_the_exec_run_and_keep_their_outputs(
        project: Path) -> None:
    # The exec run claimed the model its command's own forebear.run made (two producers,
    # one without inputs), and the inner run had no parent.
    _write(project / "train.py", """\
        import forebear
        with forebear.run("fit", kind="train") as run:
            rows = open("data.csv").read()
            open("model.txt", "w").write(rows.upper())
        """)
    code, outer = _exec(project, sys.executable, "train.py", options=("--kind", "pipeline"))
    assert code == 0
    assert not outer["outputs"], outer["outputs"]
    lineage = json.loads(subprocess.run(
        [*_FOREBEAR, "upstream", "model.txt", "--json"], cwd=project, capture_output=True,
        text=True, check=True).stdout)
    producers = [e["source"] for e in lineage["edges"] if e["target"] == lineage["root"]]
    assert len(producers) == 1
    inner = json.loads(subprocess.run([*_FOREBEAR, "show", producers[0], "--json"],
                                      cwd=project, capture_output=True, text=True,
                                      check=True).stdout)
    assert inner["parent_run_id"] == outer["id"]
    assert [p["name"] for p in inner["parents"] if p.get("name") == "data.csv"]
