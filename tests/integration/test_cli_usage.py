"""Mistyped command lines: a usage message and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import forebear
from forebear.cli import main


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["upstream"], "Missing argument"),
        (["log", "--limit", "abc"], "Invalid value for '--limit'"),
        (["nosuch"], "No such command 'nosuch'"),
        (["log", "--bogus"], "No such option"),
        (["alias", "set", "prod"], "Missing argument"),
    ],
)
def test_usage_errors_exit_2_with_the_usage_not_a_traceback(
    args: list[str], says: str, project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert says in err and "forebear" in err and "help' for help" in err
    assert "Traceback" not in err + out


def test_help_lists_every_command_and_a_typo_gets_a_suggestion(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from forebear.cli import _build

    names = list(_build().commands)
    assert main(["--help"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in names) and len(names) > 20
    assert main(["lgo"]) == 2
    assert "Did you mean 'log'" in capsys.readouterr().err
    assert main(["alias", "--help"]) == 0
    group_help = capsys.readouterr().out
    assert all(sub in group_help for sub in ("set", "show", "history"))


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"forebear {forebear.__version__}\n"


def test_the_cli_imports_neither_typer_nor_pydantic(project_dir: Path) -> None:
    # Each would cost a short command most of its time (typer imports pydantic and
    # inspects every command on each call).
    probe = ("import sys\nfrom forebear.cli import main\ncode = main(['log', '--json'])\n"
             "heavy = sorted(m for m in ('typer', 'pydantic', 'rich') if m in sys.modules)\n"
             "sys.exit(f'{code} {heavy}' if code or heavy else 0)")
    assert main(["init"]) == 0
    done = subprocess.run([sys.executable, "-c", probe], cwd=project_dir, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
