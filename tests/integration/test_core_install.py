"""`pip install forebear` without extras: the SDK and the CLI work end to end.

Every other test runs in the development environment, which holds every extra; a command
that leans on an extra by accident (or on a package an extra happens to bring, as the CLI
once did on click) would pass there and fail for a user. This one installs the package
from this checkout into a fresh virtual environment with its core dependencies only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXTRAS_ONLY = ("uvicorn", "fastapi", "psycopg", "boto3", "starlette")

TRAIN = """
import pathlib
rows = pathlib.Path("data.csv").read_text()
pathlib.Path("model.txt").write_text(rows.upper())
"""


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("core") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                           str(REPO)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return venv


def test_the_core_install_has_no_extra(core_venv: Path) -> None:
    listed = subprocess.run([str(core_venv / "bin" / "python"), "-m", "pip", "list",
                             "--format", "json"], capture_output=True, text=True, check=True)
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "forebear" in names
    assert not names & set(EXTRAS_ONLY), names & set(EXTRAS_ONLY)


def test_the_core_install_built_the_capture_hook_in_c(core_venv: Path) -> None:
    # hatch_build.py compiles it into the wheel; the wheel is then platform-specific.
    probe = ("from forebear.capture import files, _audit; files._install(); "
             "print(files.hook_kind, _audit.__file__)")
    done = subprocess.run([str(core_venv / "bin" / "python"), "-c", probe],
                          capture_output=True, text=True, cwd=core_venv)
    assert done.returncode == 0, done.stderr[-2000:]
    kind, path = done.stdout.split()
    assert kind == "c" and Path(path).is_relative_to(core_venv), done.stdout


def test_the_core_install_tracks_and_answers_end_to_end(core_venv: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(TRAIN)
    (project / "data.csv").write_text("a,b\n1,2\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    for name in ("FOREBEAR_STORE", "FOREBEAR_KEY", "FOREBEAR_BLOBS", "VIRTUAL_ENV"):
        env.pop(name, None)
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=project, env=env, check=True)

    def forebear(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(core_venv / "bin" / "forebear"), *args], cwd=project,
                              env=env, capture_output=True, text=True, timeout=120)

    assert forebear("init").returncode == 0
    ran = forebear("exec", "--kind", "train", "--", str(core_venv / "bin" / "python"),
                   "train.py")
    assert ran.returncode == 0, ran.stderr
    lineage = json.loads(forebear("upstream", "model.txt", "--json").stdout)
    kinds = {node["kind"] for node in lineage["nodes"]}
    assert {"data", "code", "environment", "train"} <= kinds
    assert json.loads(forebear("log", "--json").stdout)[0]["status"] == "succeeded"
    assert "model.txt" in forebear("show", "model.txt").stdout
    assert forebear("verify").returncode == 0
    assert json.loads(forebear("checkpoint", "--json").stdout)["size"] == 2
    # What needs an extra says which one, in one line.
    for args, extra in ((["serve"], "server"),
                        (["log", "--store", "postgresql://u@127.0.0.1:1/x"], "postgres")):
        refused = forebear(*args)
        assert refused.returncode == 2, refused.stderr
        assert f"forebear[{extra}]" in refused.stderr and "Traceback" not in refused.stderr
        assert refused.stderr.count("\n") == 1
