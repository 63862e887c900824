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
    # Written out, not read from the CLI: a command left out of it must fail this.
    names = ["alias", "checkpoint", "deploy", "diff", "downstream", "exec", "export", "flag",
             "flagged", "human-edit", "import", "init", "journal", "log", "migrate", "prove",
             "serve", "show", "spool", "token", "upstream", "verify", "worker"]
    assert main(["--help"]) == 0
    listed = capsys.readouterr().out
    assert all(f"  {name} " in listed for name in names)
    assert main(["lgo"]) == 2
    assert "Did you mean 'log'" in capsys.readouterr().err
    assert main(["alias", "--help"]) == 0
    group_help = capsys.readouterr().out
    assert all(sub in group_help for sub in ("set", "show", "history"))


def test_store_and_json_may_come_before_the_command(
    project_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init"]) == 0
    capsys.readouterr()
    store = str(project_dir / ".forebear")
    for args in (["--json", "log"], ["--store", store, "--json", "log"],
                 [f"--store={store}", "log", "--json"], ["log", "--json"]):
        assert main(args) == 0, args
        assert capsys.readouterr().out.strip() == "[]"
    assert main(["--json", "alias", "history", "prod"]) == 0  # after a group's subcommand
    assert capsys.readouterr().out.strip() == "[]"
    assert main(["--json", "nosuch"]) == 2  # still a usage error, not a crash
    assert main(["--bogus", "log"]) == 2


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


@pytest.fixture
def busy_store(project_dir: Path) -> Path:
    from forebear.store.registry import init_store, open_store
    from tests.conftest import make_run, ref

    init_store(project_dir)
    store = open_store(str(project_dir))
    store.append_batch([make_run(name=f"run-{i}", outputs=[ref(f"m{i}")]) for i in range(1500)])
    store.close()
    return project_dir


@pytest.mark.parametrize("args", [["journal"], ["journal", "--json"], ["log", "--limit", "2000"],
                                  ["upstream", "--format", "dot"]],
                         ids=["text", "json", "table", "dot"])
def test_output_that_cannot_be_written_is_one_error_line(
    busy_store: Path, args: list[str]
) -> None:
    import os

    if args[0] == "upstream":
        from tests.conftest import ref

        args = ["upstream", ref("m7")["id"], *args[1:]]
    cli = [sys.executable, "-m", "forebear", *args]
    with open(os.devnull if not Path("/dev/full").exists() else "/dev/full", "w") as full:
        done = subprocess.run(cli, cwd=busy_store, stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    if Path("/dev/full").exists():  # a disk with no space left
        assert done.returncode == 1
        assert done.stderr == "error: cannot write the output: No space left on device " \
            "(free space where it goes, or send it elsewhere)\n"
    closed = subprocess.run(["sh", "-c", 'exec "$@" >&-', "sh", *cli], cwd=busy_store,
                            capture_output=True, text=True, timeout=120)
    assert closed.returncode == 1 and closed.stderr.startswith("error: standard output is "
                                                               "closed")
    reader = subprocess.Popen(cli, cwd=busy_store, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.read(1)  # `| head -c 1`: the reader goes away with the output unread
    reader.stdout.close()
    err = reader.stderr.read().decode()
    reader.stderr.close()
    assert reader.wait(timeout=120) in (0, 1) and "Traceback" not in err and "Error" not in err
