"""The README is the user's manual: its examples run, and every command is in it."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from forebear.cli import _build, main
from forebear.sdk.anchors import clear_caches
from forebear.sdk.session import reset_default_session

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def _commands(block: str) -> list[list[str]]:
    return [shlex.split(line[2:]) for line in block.splitlines() if line.startswith("$ ")]


@pytest.fixture
def project(project_dir: Path) -> Path:
    subprocess.run(["git", "init", "-q"], cwd=project_dir, check=True)
    (project_dir / "data").mkdir()
    (project_dir / "data" / "train.csv").write_text("x,y\n1,2\n3,4\n")
    (project_dir / "train.py").write_text(
        "rows = open('data/train.csv').read()\nopen('model.pkl', 'w').write(rows[::-1])\n"
    )
    clear_caches()
    reset_default_session()
    yield project_dir
    reset_default_session()


def _run_console(block: str, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in _commands(block):
        assert argv[0] == "forebear"
        args = [sys.executable if a == "python" else a for a in argv[1:]]
        code = main(args)
        _, err = capsys.readouterr()
        assert code == 0, f"{' '.join(argv)} -> {code}: {err}"


def test_the_readme_examples_run(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    consoles = _blocks("console")
    assert len(consoles) >= 2
    _run_console(consoles[0], capsys)  # quickstart
    for source in _blocks("python"):
        exec(compile(source, str(README), "exec"), {"__name__": "__readme__"})
    reset_default_session()
    for block in consoles[1:]:  # the CLI session, aliases
        _run_console(block, capsys)
    assert (project / "model.txt").exists()


def test_every_command_has_help_and_is_in_the_readme(capsys: pytest.CaptureFixture[str]) -> None:
    text = README.read_text()
    for name, command in _build().commands.items():
        assert f"forebear {name}" in text or f"`{name} " in text, f"{name} is not in the README"
        assert command.help, f"{name} has no help"
        sub = getattr(command, "commands", None)
        if sub:
            for child in sub:
                assert main([name, child, "--help"]) == 0
        else:
            assert main([name, "--help"]) == 0
        capsys.readouterr()
