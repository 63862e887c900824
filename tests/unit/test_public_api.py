"""The public surface: a sorted ``__all__``, every name importable, a light import."""

from __future__ import annotations

import subprocess
import sys

import forebear


def test_all_is_sorted_and_every_name_resolves() -> None:
    names = [n for n in forebear.__all__ if n != "__version__"]
    assert names == sorted(names)
    for name in forebear.__all__:
        assert getattr(forebear, name) is not None, name
    assert sorted(dir(forebear)) == sorted(forebear.__all__)


def test_import_forebear_stays_light() -> None:
    code = (
        "import sys, forebear\n"
        "heavy = {'fastapi', 'starlette', 'uvicorn', 'psycopg', 'boto3', 'botocore', "
        "'click', 'typer', 'pydantic', 'rich', 'cryptography', 'blake3', 'sqlite3', 'numpy', "
        "'httpx'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_errors_share_one_root_and_carry_a_hint() -> None:
    from forebear import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.ForebearError), name
    exc = errors.StoreNotFoundError("no store here")
    assert "forebear init" in str(exc) and exc.exit_code == 2
