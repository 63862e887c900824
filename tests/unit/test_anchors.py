"""The SDK's per-process anchor caches: reused while nothing moved, recomputed when it did."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forebear.capture import environment as envmod
from forebear.capture import git as gitmod
from forebear.sdk import anchors
from forebear.sdk.session import Session

_PAST_NS = 3600 * 10**9


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    anchors.clear_caches()
    yield
    anchors.clear_caches()


@pytest.fixture
def session() -> Session:
    return Session(object(), actor="tester")


def _counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    calls: list[int] = []
    real = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text("print(1)\n")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "one")
    return root


def test_the_code_anchor_is_reused_until_a_commit_moves_the_branch(
    repo: Path, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting(monkeypatch, gitmod, "code_anchor")
    first = anchors.code_record(session, cwd=str(repo))
    assert first is not None and anchors.code_record(session, cwd=str(repo)) == first
    assert len(calls) == 1
    (repo / "train.py").write_text("print(2)\n")
    _git(repo, "commit", "-qam", "two")
    second = anchors.code_record(session, cwd=str(repo))
    assert second is not None and second["commit"] == _git(repo, "rev-parse", "HEAD")
    assert second["commit"] != first["commit"] and len(calls) == 2


def test_moving_only_the_branch_ref_is_seen(
    repo: Path, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _git(repo, "rev-parse", "HEAD")
    (repo / "train.py").write_text("print(2)\n")
    _git(repo, "commit", "-qam", "two")
    new = anchors.code_record(session, cwd=str(repo))
    assert new is not None and new["commit"] != old
    _git(repo, "update-ref", "refs/heads/main", old)  # neither HEAD nor the index changes
    moved = anchors.code_record(session, cwd=str(repo))
    assert moved is not None and moved["commit"] == old


def test_switching_branches_is_seen(repo: Path, session: Session) -> None:
    first = anchors.code_record(session, cwd=str(repo))
    _git(repo, "checkout", "-qb", "feature")
    second = anchors.code_record(session, cwd=str(repo))
    assert first is not None and second is not None
    assert (first["branch"], second["branch"]) == ("main", "feature")


def test_the_environment_anchor_is_reused_until_a_package_is_installed(
    tmp_path: Path, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    past = site.stat().st_mtime_ns - _PAST_NS
    os.utime(site, ns=(past, past))
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    calls = _counting(monkeypatch, envmod, "environment_anchor")
    first = anchors.environment_record(session)
    assert anchors.environment_record(session) == first and len(calls) == 1
    info = site / "freshly_installed-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Name: freshly-installed\nVersion: 1.0\n")
    second = anchors.environment_record(session)
    assert len(calls) == 2 and second["digest"] != first["digest"]
    assert second["package_count"] == first["package_count"] + 1


def test_a_new_file_beside_the_script_does_not_rescan_packages(
    tmp_path: Path, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    script_dir = tmp_path / "project"
    script_dir.mkdir()
    monkeypatch.setattr(sys, "path", [str(script_dir), *sys.path])
    calls = _counting(monkeypatch, envmod, "environment_anchor")
    first = anchors.environment_record(session)
    (script_dir / "model.pt").write_bytes(b"weights")  # what a training script writes
    assert anchors.environment_record(session) == first and len(calls) == 1
