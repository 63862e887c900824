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
        (["log", "--bogus"], "No such option: --bogus"),
        (["alias", "set", "prod"], "Missing argument"),
    ],
)
def test_usage_errors_exit_2_with_the_usage_not_a_traceback(
    args: list[str], says: str, project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert says in err and "forebear" in err and "-h' for help" in err
    assert "Traceback" not in err + out


def test_help_lists_every_command_and_a_typo_gets_a_suggestion(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # main() builds only the command a line names; a line naming none keeps them all.
    from forebear.cli import _build

    names = [c.name for c in _build().registered_commands]
    names += [g.name for g in _build().registered_groups]
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


# A core install (`pip install forebear`) has typer but, with a typer that carries its own
# click, not the click package: the CLI must not need it.
_WITHOUT_CLICK = """
import sys
import typer
if "click" not in sys.modules:  # this typer carries its own click: forbid the package
    sys.modules["click"] = None
from forebear.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_cli_runs_without_the_click_package(project_dir: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", _WITHOUT_CLICK, *args], cwd=project_dir,
                              capture_output=True, text=True, timeout=120)

    assert cli("init").returncode == 0
    done = cli("log", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    wrong = cli("log", "--bogus")
    assert wrong.returncode == 2 and "No such option" in wrong.stderr
    assert "Traceback" not in wrong.stderr
