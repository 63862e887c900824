"""Automatic file capture: the audit hook's recording, TreeWatch's scans, real paths."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from forebear.capture import files, watch
from forebear.capture.files import FileCapture, real_path
from forebear.capture.watch import TreeWatch


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("a\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "model.bin").write_bytes(b"v1")
    time.sleep(watch._RACY_NS / 1e9 + 0.01)  # old enough for TreeWatch to keep listings
    return tmp_path


# -- the audit hook -----------------------------------------------------------------------


def _captured(capture: FileCapture) -> tuple[set[str], set[str]]:
    found = capture.stop()
    return set(found.reads), set(found.writes)


def test_the_innermost_capture_records_and_the_hook_idles_after(tree: Path) -> None:
    a, b, c = (str(tree / "data" / n) for n in ("a.csv", "b.csv", "c.csv"))
    for path in (b, c):
        Path(path).write_text("x\n")
    outer = FileCapture(cwd=str(tree), include_temp=True)
    inner = FileCapture(cwd=str(tree), include_temp=True)
    outer.start()
    open(a).close()
    inner.start()
    open(b).close()
    assert _captured(inner) == ({b}, set())
    open(c).close()
    assert _captured(outer) == ({a, c}, set())
    assert files._record is None and not files._active


def test_relative_opens_after_a_chdir_are_the_files_really_opened(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both folders hold an a.csv: resolving against the run's first working directory
    # would record the wrong input, and drop the output as a file that does not exist.
    (tree / "a.csv").write_text("top\n")
    monkeypatch.chdir(tree)
    capture = FileCapture(cwd=str(tree), include_temp=True)
    capture.start()
    os.chdir("data")
    open("a.csv").close()
    with open("new.csv", "w") as handle:
        handle.write("x\n")
    assert _captured(capture) == ({str(tree / "data" / "a.csv")},
                                  {str(tree / "data" / "new.csv")})
    assert not files._cwd_moved  # no capture left: later opens pay nothing for that chdir
    os.chdir(tree)  # outside any capture: costs nothing either
    assert not files._cwd_moved


def test_a_file_saved_under_a_temporary_name_is_an_output_under_its_final_one(
    tree: Path,
) -> None:
    # Atomic saves (write a temporary file, os.replace it into place) are how careful
    # code writes checkpoints; without the rename only a vanished temp file was seen.
    scratch = tree / "scratch"  # a folder capture ignores, like the system's temp folder
    scratch.mkdir()
    (tree / "data" / "old.csv").write_text("o\n")
    capture = FileCapture(cwd=str(tree), include_temp=True, ignore_dirs=[str(scratch)])
    capture.start()
    with open(tree / "out" / "ckpt.tmp", "wb") as handle:
        handle.write(b"weights")
    os.replace(tree / "out" / "ckpt.tmp", tree / "out" / "ckpt.pt")
    (tree / "out" / "a.json").write_text("{}")
    (tree / "out" / "a.json").rename(tree / "out" / "b.json")
    (tree / "out" / "b.json").rename(tree / "out" / "c.json")
    (scratch / "cfg.yaml").write_text("lr: 1")
    os.rename(scratch / "cfg.yaml", tree / "out" / "cfg.yaml")
    open(tree / "data" / "old.csv").close()
    os.rename(tree / "data" / "old.csv", tree / "data" / "archived.csv")  # not written
    reads, writes = _captured(capture)
    assert writes == {str(tree / "out" / n) for n in ("ckpt.pt", "c.json", "cfg.yaml")}
    assert reads == set()  # the input it read is gone under that name


def _read_and_write(source: str, target: str) -> None:
    with open(source) as handle:
        data = handle.read()
    with open(target + ".part", "w") as handle:
        handle.write(data.upper())
    os.replace(target + ".part", target)  # saved atomically, as careful workers do
    os._exit(0)  # as multiprocessing workers leave: no atexit, no flush of anything


def test_what_forked_children_open_is_captured(tree: Path) -> None:
    import multiprocessing

    source, target = str(tree / "data" / "a.csv"), str(tree / "out" / "worker.csv")
    loader = str(tree / "data" / "loader.csv")
    Path(loader).write_text("b\n")
    capture = FileCapture(cwd=str(tree), include_temp=True)
    capture.start()
    context = multiprocessing.get_context("fork")
    worker = context.Process(target=_read_and_write, args=(source, target))
    worker.start()
    worker.join()
    assert worker.exitcode == 0
    pid = os.fork()  # a bare fork, with a relative path read in the child
    if pid == 0:
        os.chdir(str(tree / "data"))
        open("loader.csv").close()
        os._exit(0)
    os.waitpid(pid, 0)
    reads, writes = _captured(capture)
    assert reads == {source, loader} and writes == {target}
    assert files._record is None


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_what_children_started_without_fork_open_is_captured(
        tree: Path, method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # spawn is the default on macOS and Windows, forkserver on Linux from Python 3.14:
    # a DataLoader's workers are new interpreters there, which inherit no audit hook.
    import multiprocessing
    import subprocess

    monkeypatch.setenv("PYTHONPATH", "/nowhere")
    source, target = str(tree / "data" / "a.csv"), str(tree / "out" / "worker.csv")
    script_in, script_out = tree / "data" / "sub.csv", tree / "out" / "sub.csv"
    script_in.write_text("s\n")
    capture = FileCapture(cwd=str(tree), include_temp=True)
    capture.start()
    assert os.environ["PYTHONPATH"] == files.BOOT + os.pathsep + "/nowhere"
    context = multiprocessing.get_context(method)
    worker = context.Process(target=_read_and_write, args=(source, target))
    worker.start()
    worker.join()
    assert worker.exitcode == 0
    # A Python program the run starts is a child of the run too.
    subprocess.run([sys.executable, "-c", f"open({str(script_in)!r}).read(); "
                    f"open({str(script_out)!r}, 'w').write('x')"], check=True)
    reads, writes = _captured(capture)
    assert reads == {source, str(script_in)}
    assert writes == {target, str(script_out)}
    # Children started after the run are nobody's: the environment is as it was.
    assert os.environ["PYTHONPATH"] == "/nowhere" and files.SPOOL_ENV not in os.environ
    assert files._record is None and not files._active


def _read_one(path: str) -> None:
    with open(path) as handle:
        handle.read()


def test_a_forkserver_started_in_one_run_reports_to_the_runs_after_it(tree: Path) -> None:
    # multiprocessing keeps one forkserver per process (Linux's default from Python 3.14):
    # started during the first run, it forks the workers of every later one.
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    inputs = [tree / "data" / f"part{i}.csv" for i in range(3)]
    for path in inputs:
        path.write_text("x\n")
    for path in inputs:
        capture = FileCapture(cwd=str(tree), include_temp=True)
        capture.start()
        worker = context.Process(target=_read_one, args=(str(path),))
        worker.start()
        worker.join()
        assert worker.exitcode == 0
        assert _captured(capture) == ({str(path)}, set()), path
    # Between runs, what its workers open is nobody's; the ended workers' files are gone.
    worker = context.Process(target=_read_one, args=(str(inputs[0]),))
    worker.start()
    worker.join()
    capture = FileCapture(cwd=str(tree), include_temp=True)
    capture.start()
    assert _captured(capture) == (set(), set())
    assert files._spool is not None
    left = [name for name in os.listdir(files._spool) if name != str(os.getpid())]
    assert len(left) <= 2, left  # the forkserver's own file, and the last worker's


def test_a_nested_capture_keeps_what_children_opened_while_it_ran(tree: Path) -> None:
    import subprocess

    a, b, c = (tree / "data" / name for name in ("a.csv", "b.csv", "c.csv"))
    for path in (b, c):
        path.write_text("x\n")

    def child(path: Path) -> None:
        subprocess.run([sys.executable, "-c", f"open({str(path)!r}).read()"], check=True)

    outer = FileCapture(cwd=str(tree), include_temp=True)
    inner = FileCapture(cwd=str(tree), include_temp=True)
    outer.start()
    child(a)
    inner.start()
    child(b)
    assert _captured(inner) == ({str(b)}, set())
    child(c)
    assert _captured(outer) == ({str(a), str(c)}, set())


def test_a_python_child_without_forebear_reports_without_importing_it(
        tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Another interpreter or environment (here: no site-packages, so no forebear) still
    # reports what it opens, and pays for the standard library alone, not for forebear.
    import subprocess

    monkeypatch.delenv("PYTHONPATH", raising=False)
    data = tree / "data" / "a.csv"
    capture = FileCapture(cwd=str(tree), include_temp=True)
    capture.start()
    try:
        done = subprocess.run([sys.executable, "-S", "-c", "import sitecustomize, sys; "
                               f"open({str(data)!r}).read(); "
                               "print(sitecustomize.__file__, 'forebear' in sys.modules)"],
                              capture_output=True, text=True, check=True, cwd="/")
    finally:
        reads, _ = _captured(capture)
    where, imported = done.stdout.split()
    assert where.startswith(files.BOOT) and imported == "False" and done.stderr == ""
    assert reads == {str(data)}
    # Where forebear could be imported, the start-up hook still does not import it.
    capture = FileCapture(cwd=str(tree), include_temp=True)
    capture.start()
    try:
        found = subprocess.run([sys.executable, "-c", "import sys; "
                                "print(sorted(m for m in sys.modules if 'forebear' in m))"],
                               capture_output=True, text=True, check=True)
    finally:
        capture.stop()
    assert found.stdout.strip() == "['_forebear_spooler']", found.stdout
    assert "PYTHONPATH" not in os.environ


def test_a_child_that_starts_a_capture_of_its_own_keeps_its_files(tree: Path) -> None:
    # As nested captures in one process: the innermost takes the opens while it runs.
    import subprocess

    a, b, c = (str(tree / "data" / n) for n in ("a.csv", "b.csv", "c.csv"))
    for path in (b, c):
        Path(path).write_text("x\n")
    script = (
        f"open({a!r}).close()\n"
        "from forebear.capture.files import FileCapture\n"
        f"capture = FileCapture(cwd={str(tree)!r}, include_temp=True)\n"
        "capture.start()\n"
        f"open({b!r}).close()\n"
        "print(sorted(capture.stop().reads))\n"
        f"open({c!r}).close()\n"
    )
    capture = FileCapture(cwd=str(tree), include_temp=True)
    capture.start()
    try:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              check=True)
    finally:
        reads, _ = _captured(capture)
    assert done.stdout.strip() == repr([b]) and done.stderr == ""
    assert reads == {a, c}


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_child_forked_by_a_thread_reports_to_that_threads_capture(tree: Path) -> None:
    # The main thread's capture starts last (the innermost of all); the thread forks.
    (tree / "forked.csv").write_text("x\n")
    ready, main_started = threading.Event(), threading.Event()
    found: dict[str, set[str]] = {}

    def job() -> None:
        capture = FileCapture(cwd=str(tree), include_temp=True)
        capture.start()
        ready.set()
        main_started.wait()
        pid = os.fork()
        if pid == 0:
            open(tree / "forked.csv").close()
            os._exit(0)
        os.waitpid(pid, 0)
        found["thread"] = _captured(capture)[0]

    thread = threading.Thread(target=job)
    thread.start()
    ready.wait()
    main = FileCapture(cwd=str(tree), include_temp=True)
    main.start()
    main_started.set()
    thread.join()
    assert found["thread"] == {str(tree / "forked.csv")}
    assert _captured(main)[0] == set()


def test_stopping_the_outer_capture_first_keeps_the_inner_recording(tree: Path) -> None:
    outer = FileCapture(cwd=str(tree), include_temp=True)
    inner = FileCapture(cwd=str(tree), include_temp=True)
    outer.start()
    inner.start()
    assert _captured(outer) == (set(), set())
    with open(tree / "out" / "new.bin", "wb") as f:
        f.write(b"x")
    assert _captured(inner) == (set(), {str(tree / "out" / "new.bin")})
    assert files._record is None


def test_captured_paths_are_real_and_vanished_files_are_dropped(tree: Path) -> None:
    (tree / "link.csv").symlink_to(tree / "data" / "a.csv")
    (tree / "gone.bin").write_bytes(b"x")
    capture = FileCapture(cwd=str(tree), include_temp=True)
    capture.start()
    open(tree / "link.csv").close()
    open(tree / "data" / "." / "a.csv").close()  # the same file by another name
    with open(tree / "gone.bin", "rb+") as f:
        f.write(b"y")
    (tree / "gone.bin").unlink()
    assert _captured(capture) == ({str(tree / "data" / "a.csv")}, set())


def test_captures_in_threads_side_by_side_each_get_their_own_threads_opens(
    tree: Path,
) -> None:
    # Two runs in two threads: the one started last used to record both threads' files.
    for name in ("one.csv", "two.csv", "pool.csv"):
        (tree / name).write_text(name)
    first, started, opened = threading.Event(), threading.Barrier(2), threading.Barrier(2)
    found: dict[str, set[str]] = {}

    def job(name: str, worker: bool) -> None:
        if worker:
            first.wait()  # this capture starts second: it is the innermost of all
        capture = FileCapture(cwd=str(tree), include_temp=True)
        capture.start()
        first.set()
        started.wait()  # both captures are active before anyone opens anything
        open(tree / name).close()
        if worker:  # a thread of its own pool, with no capture: the innermost has it
            helper = threading.Thread(target=lambda: open(tree / "pool.csv").close())
            helper.start()
            helper.join()
        opened.wait()
        found[name] = _captured(capture)[0]

    threads = [threading.Thread(target=job, args=(name, name == "two.csv"))
               for name in ("one.csv", "two.csv")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found["one.csv"] == {str(tree / "one.csv")}
    assert found["two.csv"] == {str(tree / "two.csv"), str(tree / "pool.csv")}
    assert files._record is None and not files._active


def test_a_run_hides_its_own_reads_but_not_other_threads(tree: Path) -> None:
    from forebear.capture.files import uncaptured

    capture = FileCapture(cwd=str(tree), include_temp=True)
    capture.start()
    try:
        with uncaptured():
            open(tree / "data" / "a.csv").close()  # forebear's own read
            worker = threading.Thread(target=lambda: open(tree / "out" / "model.bin").close())
            worker.start()
            worker.join()
    finally:
        reads, writes = _captured(capture)
    assert reads == {str(tree / "out" / "model.bin")} and not writes



def test_hiding_one_runs_reads_leaves_a_run_in_another_thread_whole(tree: Path) -> None:
    from forebear.capture.files import uncaptured

    mine = FileCapture(cwd=str(tree), include_temp=True)
    mine.start()
    theirs: dict[str, set[str]] = {}
    hidden, go_on = threading.Event(), threading.Event()

    def other_run() -> None:
        capture = FileCapture(cwd=str(tree), include_temp=True)
        capture.start()
        hidden.wait()
        open(tree / "data" / "a.csv").close()
        go_on.set()
        theirs["reads"] = _captured(capture)[0]

    thread = threading.Thread(target=other_run)
    thread.start()
    try:
        with uncaptured():
            open(tree / "out" / "model.bin").close()  # this run's own read: dropped
            hidden.set()
            go_on.wait()
        open(tree / "data" / "b.csv", "w").close()
    finally:
        thread.join()
        reads, writes = _captured(mine)
    assert theirs["reads"] == {str(tree / "data" / "a.csv")}
    assert not reads and writes == {str(tree / "data" / "b.csv")}
    assert files._record is None and not files._active


# -- TreeWatch ------------------------------------------------------------------------------


def test_watch_sees_new_rewritten_and_nested_files_with_listings_kept(tree: Path) -> None:
    watch = TreeWatch(str(tree))
    watch.start()
    assert set(watch._listings) == {str(tree), str(tree / "data"), str(tree / "out")}
    (tree / "out" / "model.bin").write_bytes(b"v2 longer")  # in place: folder unchanged
    (tree / "data" / "b.csv").write_text("b\n")  # new entry: the folder is listed again
    (tree / "data" / "deep").mkdir()
    (tree / "data" / "deep" / "c.csv").write_text("c\n")
    assert watch.changed() == sorted(
        str(tree / p) for p in ("data/b.csv", "data/deep/c.csv", "out/model.bin")
    )


def test_a_clone_sharing_listings_sees_what_changed_after_the_first_watch(tree: Path) -> None:
    first = TreeWatch(str(tree))
    first.start()
    assert first.changed() == []
    second = object.__new__(TreeWatch)  # what forebear.sdk.run does per run
    second.__dict__.update(first.__dict__)
    second.start()
    (tree / "out" / "other.bin").write_bytes(b"x")
    assert second.changed() == [str(tree / "out" / "other.bin")]


def test_a_folder_changed_moments_ago_is_not_kept(tree: Path) -> None:
    (tree / "fresh").mkdir()
    watch = TreeWatch(str(tree))
    watch.start()
    assert str(tree / "fresh") not in watch._listings  # its times are too recent to trust
    assert str(tree / "data") in watch._listings


def test_a_folder_replaced_by_a_symlink_is_not_followed(
    tree: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "secret.bin").write_bytes(b"x")
    watch = TreeWatch(str(tree))
    watch.start()
    (tree / "data" / "a.csv").unlink()
    (tree / "data").rmdir()
    (tree / "data").symlink_to(elsewhere, target_is_directory=True)
    assert watch.changed() == []


# -- real paths -----------------------------------------------------------------------------


def test_real_path_agrees_with_realpath(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tree / "link").symlink_to(tree / "data", target_is_directory=True)
    (tree / "data" / "alias.csv").symlink_to("a.csv")
    (tree / "data" / "x (deleted)").write_text("odd name\n")
    monkeypatch.chdir(tree)
    for path in ("link/a.csv", "link/alias.csv", str(tree / "link" / ".." / "out"),
                 "data/x (deleted)", "missing/file", "link", "."):
        assert real_path(path) == os.path.realpath(path), path


def test_recording_an_output_is_not_captured_as_reading_it(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    import forebear
    from forebear.store.registry import init_store

    monkeypatch.delenv("FOREBEAR_STORE", raising=False)
    monkeypatch.chdir(tree)
    init_store(tree)
    with forebear.run("native", store=str(tree), watch=False, code=False,
                      environment=False) as run:
        subprocess.run(["sh", "-c", "printf weights > out/native.bin"], check=True)
        run.produce("out/native.bin", kind="model")  # written by another process
        assert run._capture is not None and run._capture._state is not None
        assert run._capture._state.events == []  # produce()'s own opens are not the run's
    assert run._inputs == {}
    assert [ref["name"] for ref in run._outputs.values()] == ["out/native.bin"]


def test_a_tree_over_the_limit_is_not_watched_and_says_so_once(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    watch = TreeWatch(str(tree), limit=1)
    watch.start()
    (tree / "out" / "new.bin").write_bytes(b"x")
    assert watch.changed() == []
    said = capsys.readouterr().err
    assert "too many to watch" in said and "run.produce()" in said
    TreeWatch(str(tree), limit=1).start()  # lineage may miss files: said, but not per run
    assert capsys.readouterr().err == ""


def test_captures_in_asyncio_tasks_side_by_side_each_get_their_tasks_opens(tree: Path) -> None:
    # Tasks of one event loop share a thread: by thread, every open went to the capture
    # started last. Each task's context names its own; asyncio.to_thread carries it.
    import asyncio

    names = [str(tree / "data" / f"t{i}.csv") for i in range(4)]
    for name in names:
        Path(name).write_text("x\n")

    async def task(i: int) -> tuple[set[str], set[str]]:
        capture = FileCapture(cwd=str(tree), include_temp=True)
        capture.start()
        await asyncio.sleep(0.01 * (4 - i))  # every task has started before any reads
        if i % 2:
            await asyncio.to_thread(lambda: open(names[i]).close())
        else:
            open(names[i]).close()
        inner = FileCapture(cwd=str(tree), include_temp=True)  # nested in this task's
        inner.start()
        out = tree / "out" / f"o{i}.txt"
        out.write_text(str(i))
        await asyncio.sleep(0.01 * i)
        assert _captured(inner) == (set(), {str(out)})
        return _captured(capture)

    async def main() -> list[tuple[set[str], set[str]]]:
        return await asyncio.gather(*(task(i) for i in range(4)))

    for i, found in enumerate(asyncio.run(main())):
        assert found == ({names[i]}, set()), i
    assert files._record is None and not files._active


def test_files_in_the_temp_folder_are_recorded_only_when_asked(
        tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    # A temp folder beside the project, not around it (one around it is not ignored).
    scratch = tree.parent / f"{tree.name}-temp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    data = scratch / "downloaded.csv"
    data.write_text("a,b\n")
    for setting, expected in (("", set()), ("1", {os.path.realpath(data)})):
        monkeypatch.setenv(files.TEMP_ENV, setting)
        capture = FileCapture(cwd=str(tree))
        capture.start()
        data.read_text()
        assert _captured(capture) == (expected, set()), setting
