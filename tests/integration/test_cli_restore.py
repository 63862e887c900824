"""``forebear restore REF DIR``: the code a run used, back from its anchor and diff blob."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from forebear.store.registry import init_store
from tests.clikit import cli_fails, cli_ok
from tests.integration.test_exec_review_fixes import _FOREBEAR, _git


def _exec(cwd: Path) -> None:
    subprocess.run([*_FOREBEAR, "exec", "--", sys.executable, "train.py"], cwd=cwd,
                   check=True, capture_output=True)


def test_restore_brings_back_the_commit_and_its_uncommitted_changes(
        project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init_store(project_dir)
    (project_dir / ".gitignore").write_text(".forebear/\n")
    (project_dir / "data.csv").write_text("a,b\n")
    (project_dir / "train.py").write_text("print('committed')\n")
    _git(project_dir, "init", "-q")
    _git(project_dir, "add", "-A")
    _git(project_dir, "commit", "-qm", "first")
    # What ran was not what was committed: a changed script and a new helper module.
    script = "import helper\nopen('model.pkl', 'w').write(open('data.csv').read().upper())\n"
    (project_dir / "train.py").write_text(script)
    (project_dir / "helper.py").write_text("X = 1\n")
    _exec(project_dir)
    (project_dir / "train.py").write_text("print('changed since')\n")

    dest = tmp_path / "restored"
    done = cli_ok(capsys, "restore", "model.pkl", str(dest), "--json")
    assert done["exact"] and done["diff_digest"] and done["repo"] == str(project_dir)
    assert (dest / "train.py").read_text() == script
    assert (dest / "helper.py").read_text() == "X = 1\n"
    assert (dest / "data.csv").read_text() == "a,b\n"
    code, message = cli_fails(capsys, "restore", "model.pkl", str(dest))
    assert code != 0 and "not an empty directory" in message


def test_restore_of_a_run_outside_git_says_what_the_record_holds(
        project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init_store(project_dir)
    (project_dir / "train.py").write_text("open('model.pkl', 'w').write('weights')\n")
    _exec(project_dir)
    code, message = cli_fails(capsys, "restore", "model.pkl", str(tmp_path / "out"))
    assert code != 0 and "no git commit or diff to restore" in message
    assert not (tmp_path / "out").exists()
    runs = json.loads(subprocess.run([*_FOREBEAR, "log", "--json"], cwd=project_dir,
                                     capture_output=True, text=True, check=True).stdout)
    assert runs[0]["status"] == "succeeded"
