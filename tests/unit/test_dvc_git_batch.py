"""The DVC importer reads many files from git history in one ``git cat-file --batch``:
its answers are parsed whatever the paths hold (spaces), and trees are skipped."""

from __future__ import annotations

import subprocess
from pathlib import Path

from forebear.importers._dvc_repo import Git


def test_paths_with_spaces_missing_or_present_and_trees(tmp_path: Path) -> None:
    env = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "A",
           "GIT_COMMITTER_EMAIL": "a@x", "PATH": "/usr/bin:/bin"}
    (tmp_path / "raw data.csv").write_bytes(b"x,y\n")
    (tmp_path / "sub dir").mkdir()
    (tmp_path / "sub dir" / "a b c.txt").write_bytes(b"three spaces")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "one"]):
        subprocess.run(["git", *args], cwd=tmp_path, env=env, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()
    found = Git(tmp_path).blobs([
        (head, "gone data.csv"),   # one space: "<spec> missing" has three fields
        (head, "raw data.csv"),
        (head, "sub dir"),         # a tree: its listing follows and is skipped
        (head, "not there at all.csv"),
        (head, "sub dir/a b c.txt"),
    ])
    assert found == [None, b"x,y\n", None, None, b"three spaces"]
