"""What a review of the lifecycle commands found: folders never hashed whole, aliases that
would stand in for a prefix, numbers and dates out of range, and a refused edit that
left its file behind."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from forebear.journal.keys import SigningKey
from tests.serverkit import clean_env, cli


@pytest.fixture
def project(tmp_path: Path) -> Path:
    cli("init", str(tmp_path), env=clean_env())
    (tmp_path / "model.pkl").write_bytes(b"v1")
    return tmp_path


def _run(project: Path, *args: str) -> tuple[int, str]:
    done = cli(*args, env=clean_env(), check=False, cwd=project)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stderr


def _size(project: Path) -> int:
    return len(cli("journal", "--json", env=clean_env(), cwd=project).stdout.split('"seq"'))


@pytest.mark.parametrize("command", [
    ["alias", "set", "whole", "{where}"],
    ["deploy", "{where}", "--target", "api"],
    ["human-edit", "--actor", "a", "--reason", "r", "--before", "{where}", "--after",
     "model.pkl"],
])
@pytest.mark.parametrize("where", [".", "/"])
def test_a_project_or_the_file_system_is_never_hashed_as_one_artifact(
    project: Path, command: list[str], where: str
) -> None:
    before = _size(project)
    code, err = _run(project, *[part.format(where=where) for part in command])
    assert code != 0 and "is not hashed" in err, err
    assert _size(project) == before


@pytest.mark.parametrize("name", ["106675dc", "deadbeefcafe", "01a21cbb-8ba7"])
def test_an_alias_may_not_be_shaped_like_a_prefix_it_would_stand_in_for(
    project: Path, name: str
) -> None:
    code, err = _run(project, "alias", "set", name, "model.pkl")
    assert code != 0 and "prefix" in err, err
    assert _run(project, "alias", "set", "model-2026", "model.pkl")[0] == 0


@pytest.mark.parametrize("args", [
    ["log", "--limit", "99999999999999999999"],
    ["journal", "--from", "99999999999999999999"],
    ["upstream", "model.pkl", "--depth", "99999999999999999999"],
    ["downstream", "model.pkl", "--offset", "99999999999999999999"],
    ["log", "--since", "0001-01-01T00:00:00+01:00"],
    ["alias", "show", "production", "--at", "9999-12-31T23:59:59-01:00"],
])
def test_numbers_and_dates_out_of_range_are_one_line(project: Path, args: list[str]) -> None:
    code, err = _run(project, *args)
    assert code in (1, 2) and err.strip(), err


def test_a_refused_signed_edit_keeps_nothing(project: Path) -> None:
    SigningKey.generate("eve@example.com").save(project / "eve.key")
    (project / "after.csv").write_bytes(b"edited")
    code, err = _run(project, "human-edit", "--actor", "dana@example.com", "--reason", "r",
                     "--before", "model.pkl", "--after", "after.csv",
                     "--sign-key", "eve.key")
    assert code != 0 and "eve@example.com" in err
    digest = hashlib.sha256(b"edited").hexdigest()
    assert not (project / ".forebear" / "blobs" / "sha256" / digest[:2] / digest[2:]).exists()


def test_a_run_using_an_alias_records_the_artifact_not_the_name(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import forebear
    from forebear.sdk.session import reset_default_session

    assert _run(project, "alias", "set", "production", "model.pkl")[0] == 0
    monkeypatch.chdir(project)
    monkeypatch.delenv("FOREBEAR_STORE", raising=False)
    reset_default_session()
    try:
        with forebear.run("score", kind="evaluate", capture=False, watch=False, code=False,
                          environment=False) as run:
            used = run.use("production", role="model")
    finally:
        reset_default_session()
    assert (used.kind, used.name) == ("model", "model.pkl")
    records = json.loads(cli("journal", "--json", env=clean_env(), cwd=project).stdout)
    end = json.loads(records[-1]["canonical"])
    assert [(ref["name"], ref["kind"]) for ref in end["inputs"]] == [("model.pkl", "model")]


def test_a_human_edit_keeps_its_person_and_reason_through_an_openlineage_round_trip(
    project: Path, tmp_path: Path
) -> None:
    import json

    (project / "raw.csv").write_text("x,y\n1,2\n")
    (project / "fixed.csv").write_text("x,y\n1,3\n")
    assert _run(project, "human-edit", "--actor", "dana@example.com", "--reason",
                "row 1 mislabelled", "--before", "raw.csv", "--after", "fixed.csv")[0] == 0
    events = cli("export", "fixed.csv", "--format", "openlineage", env=clean_env(),
                 cwd=project).stdout
    other = tmp_path / "other"
    cli("init", str(other), env=clean_env())
    (other / "events.json").write_text(events)
    cli("import", "openlineage", "events.json", env=clean_env(), cwd=other)
    shown = json.loads(cli("show", str(project / "fixed.csv"), "--json", env=clean_env(),
                           cwd=other).stdout)
    step = shown["transformation"]
    assert (step["actor"], step["reason"]) == ("dana@example.com", "row 1 mislabelled")


def test_a_sign_key_that_is_no_key_is_told_so_not_to_chmod_it(project: Path) -> None:
    (project / "data.csv").write_text("x,y\n")
    (project / "data.csv").chmod(0o644)
    (project / "after.csv").write_bytes(b"edited")
    code, err = _run(project, "human-edit", "--actor", "dana@example.com", "--reason", "r",
                     "--before", "model.pkl", "--after", "after.csv", "--sign-key", "data.csv")
    assert code != 0 and "corrupt" in err and "chmod" not in err, err


def test_a_signed_edit_shows_the_key_that_signed_it(project: Path) -> None:
    import json

    made = json.loads(cli("key", "create", "dana@example.com", "--json", env=clean_env(),
                          cwd=project).stdout)
    assert (project / made["path"]).stat().st_mode & 0o777 == 0o600
    assert _run(project, "key", "create", "dana@example.com")[0] != 0  # never overwritten
    (project / "after.csv").write_bytes(b"edited")
    (project / "plain.csv").write_bytes(b"edited too")
    assert _run(project, "human-edit", "--actor", "dana@example.com", "--reason", "r",
                "--before", "model.pkl", "--after", "after.csv",
                "--sign-key", made["path"])[0] == 0
    assert _run(project, "human-edit", "--actor", "dana@example.com", "--reason", "r",
                "--before", "model.pkl", "--after", "plain.csv")[0] == 0

    def shown(path: str) -> dict[str, object]:
        out = cli("show", path, "--json", env=clean_env(), cwd=project).stdout
        step: dict[str, object] = json.loads(out)["transformation"]
        return step

    assert shown("after.csv")["signed_by"] == made["verifier"]
    assert "signed_by" not in shown("plain.csv")
    assert made["verifier"] in cli("show", "after.csv", env=clean_env(), cwd=project).stdout
    assert _run(project, "verify")[0] == 0


def test_an_openlineage_round_trip_keeps_one_environment(project: Path, tmp_path: Path) -> None:
    import json

    import forebear
    from forebear.sdk.session import reset_default_session

    reset_default_session()
    (project / "out.bin").write_bytes(b"out")
    try:
        with forebear.run("train", store=str(project), capture=False, watch=False) as run:
            run.produce(str(project / "out.bin"), kind="model")
    finally:
        reset_default_session()
    events = cli("export", str(project / "out.bin"), "--format", "openlineage",
                 env=clean_env(), cwd=project).stdout
    other = tmp_path / "other"
    cli("init", str(other), env=clean_env())
    (other / "events.json").write_text(events)
    cli("import", "openlineage", "events.json", env=clean_env(), cwd=other)

    def kinds(where: Path) -> list[str]:
        up = json.loads(cli("upstream", str(project / "out.bin"), "--json",
                            env=clean_env(), cwd=where).stdout)
        return sorted(n["kind"] for n in up["nodes"] if n["kind"] in ("code", "environment"))

    assert kinds(other) == kinds(project) == ["code", "environment"]
