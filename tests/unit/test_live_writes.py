"""What processes side by side publish about the files they write (forebear.capture.live)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from forebear.capture import live


@pytest.fixture
def lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(live.tempfile, "gettempdir", lambda: str(tmp_path))
    return tmp_path / f"forebear-live-{os.getuid()}"


def _publish(folder: Path, pid: int, *lines: tuple[int, Path]) -> None:
    folder.mkdir(mode=0o700, exist_ok=True)
    text = "".join(f"{stamp} {path}\n" for stamp, path in lines)
    (folder / f"{pid}-{time.time_ns()}.writes").write_text(text)


def test_a_file_a_live_process_opened_before_this_run_is_still_its(
        lists: Path, tmp_path: Path) -> None:
    # A training process keeps appending to the log it opened before this run began.
    log, made = tmp_path / "train.log", tmp_path / "model.bin"
    before = time.time_ns() - 10**9
    _publish(lists, os.getppid(), (before, log))  # a process that runs on
    mine = live.LiveWrites()
    assert mine.mine([str(log), str(made)]) == [str(made)]


def test_what_an_ended_process_published_before_this_run_is_not_its(
        lists: Path, tmp_path: Path) -> None:
    old, new, made = (tmp_path / n for n in ("old.csv", "new.csv", "model.bin"))
    gone = 2**22 + 12345  # beyond pid_max's default: no process has it
    _publish(lists, gone, (time.time_ns() - 10**9, old))
    mine = live.LiveWrites()
    _publish(lists, gone, (time.time_ns() + 1, new))
    assert mine.mine([str(old), str(new), str(made)]) == [str(old), str(made)]


def test_lists_of_every_watched_folder_are_one_per_user(lists: Path) -> None:
    # Runs in one process watching different folders publish to one list, found by all.
    first, second = live.LiveWrites(), live.LiveWrites()
    assert first.folder == second.folder == lists
    assert first.path != second.path
