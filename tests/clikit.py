"""Running the CLI in-process in tests: a command that must work, and one that must fail
with one clear line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from forebear.cli import main


def cli_ok(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    """Run ``forebear ARGV``; exit 0 asserted. Its stdout, parsed when ``--json`` is given."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out) if "--json" in argv else out


def cli_fails(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run ``forebear ARGV``, which must fail with one ``error:`` line on stderr and
    nothing on stdout; (exit code, that line)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: "), err
    return code, err
