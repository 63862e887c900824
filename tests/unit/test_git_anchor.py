"""The code anchor: capture from real temporary repositories, and restore byte for byte."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forebear.capture.git import (
    CodeAnchor,
    anchor_digest,
    code_anchor,
    is_source,
    redact_url,
    restore,
)
from forebear.errors import IntegrityError, InvalidInputError, NotFoundError, UsageError

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git binary")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment where the machine's git configuration cannot leak in."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("")
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }


def git(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, check=True, timeout=60
    )
    return done.stdout.decode().strip()


def make_repo(env: dict[str, str], path: Path, *extra: str) -> Path:
    path.mkdir(parents=True)
    git(env, path, "init", "--quiet", "-b", "main", *extra)
    (path / "train.py").write_text("print('train')\n")
    (path / "data.bin").write_bytes(bytes(range(256)) * 4)
    (path / "gone.txt").write_text("to be deleted\n")
    (path / "lib").mkdir()
    (path / "lib" / "util.py").write_text("A = 1\nB = 2\nC = 3\n")
    (path / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (path / "run.sh").chmod(0o755)
    (path / ".gitignore").write_text("*.log\n/outputs/\n")
    git(env, path, "add", "-A")
    git(env, path, "commit", "--quiet", "-m", "init")
    return path


def snapshot(root: Path) -> dict[str, tuple[str, bytes]]:
    """Every file and symlink under ``root`` but .git, ignored logs and outputs."""
    out: dict[str, tuple[str, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in {".git", "outputs"}]
        for name in [*filenames, *(d for d in dirnames if Path(dirpath, d).is_symlink())]:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            if rel.endswith(".log") or rel == ".git":  # a worktree's .git is a file
                continue
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path).encode())
            else:
                mode = "exec" if path.stat().st_mode & stat.S_IXUSR else "file"
                out[rel] = (mode, path.read_bytes())
    return out


def dirty_up(repo: Path, env: dict[str, str]) -> None:
    """Staged, unstaged, untracked, binary, deleted, renamed, exec, symlink, odd names."""
    (repo / "lib" / "util.py").write_text("A = 1\nB = 20\nC = 3\n")
    git(env, repo, "add", "lib/util.py")  # staged ...
    (repo / "lib" / "util.py").write_text("A = 1\nB = 20\nC = 30\n")  # ... and unstaged on top
    (repo / "data.bin").write_bytes(bytes(reversed(range(256))) * 5 + b"\0\xff")
    (repo / "gone.txt").unlink()
    (repo / "staged_new.py").write_text("NEW = True\n")
    git(env, repo, "add", "staged_new.py")
    git(env, repo, "mv", "train.py", "train_v2.py")
    (repo / "train_v2.py").write_text("print('train v2')\n")
    (repo / "untracked dir").mkdir()
    (repo / "untracked dir" / "notes ü.yaml").write_text("untracked, unicode name\n")
    (repo / "untracked dir" / "blob.npy").write_bytes(os.urandom(3000))
    (repo / "no_newline.txt").write_text("no newline at end")
    (repo / "empty.txt").write_bytes(b"")
    (repo / "tab\tand\nnewline.txt").write_text("odd name\n")
    (repo / os.fsdecode(b"latin1-\xe9.txt")).write_text("not utf-8 name\n")
    (repo / "tool.sh").write_text("#!/bin/sh\n")
    (repo / "tool.sh").chmod(0o755)
    (repo / "run.sh").chmod(0o644)
    (repo / "link").symlink_to("lib/util.py")
    (repo / "train.log").write_text("ignored\n")
    (repo / "outputs").mkdir()
    (repo / "outputs" / "model.pt").write_bytes(b"ignored weights")


def index_state(repo: Path) -> tuple[bytes, int, int]:
    index = repo / ".git" / "index"
    objects = sum(len(files) for _, _, files in os.walk(repo / ".git" / "objects"))
    return index.read_bytes(), index.stat().st_mtime_ns, objects


def test_clean_repo(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(env, tmp_path / "repo")
    anchor = code_anchor(repo, environ=env)
    assert anchor is not None
    head = git(env, repo, "rev-parse", "HEAD")
    assert (anchor.commit, anchor.branch, anchor.remote) == (head, "main", None)
    assert not anchor.dirty and anchor.diff is None and anchor.diff_digest is None
    assert anchor.root == str(repo.resolve())
    assert anchor.digest == anchor_digest({"commit": head, "diff_digest": None})
    assert not any(isinstance(v, bytes) for v in anchor.to_record().values())


def test_subdirectory_finds_the_root(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(env, tmp_path / "repo")
    anchor = code_anchor(repo / "lib", environ=env)
    assert anchor is not None and anchor.root == str(repo.resolve())


def test_dirty_tree_restores_byte_identical(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(env, tmp_path / "repo")
    dirty_up(repo, env)
    anchor = code_anchor(repo, environ=env, untracked="all")
    assert anchor is not None and anchor.dirty and anchor.diff
    assert not anchor.truncated and anchor.skipped == ()
    assert anchor.diff_digest == "sha256:" + hashlib.sha256(anchor.diff).hexdigest()
    assert anchor.diff_size == len(anchor.diff)
    assert b"outputs/model.pt" not in anchor.diff and b"train.log" not in anchor.diff
    assert anchor.commit is not None
    dest = restore(anchor.commit, anchor.diff, tmp_path / "restored", repo=repo, environ=env)
    assert snapshot(dest) == snapshot(repo)
    assert "untracked dir/notes ü.yaml" in snapshot(dest)


def test_untracked_data_is_not_code(tmp_path: Path, env: dict[str, str]) -> None:
    # The "untracked source files": a run's outputs written into the project
    # (model.pkl, X.npy, metrics.json) must not give identical code a new digest.
    repo = make_repo(env, tmp_path / "repo")
    dirty_up(repo, env)
    anchor = code_anchor(repo, environ=env)
    assert anchor is not None and anchor.dirty and anchor.diff and not anchor.truncated
    for kept in (b"untracked dir/notes", b"tool.sh", b"staged_new.py", b"link"):
        assert kept in anchor.diff, kept
    assert b"blob.npy" not in anchor.diff  # data.bin is tracked: its change is kept
    for output in ("model.pkl", "X.npy", "metrics.json", "predictions.csv", "predictions.txt",
                   "MODEL_CARD.md"):
        (repo / output).write_bytes(os.urandom(64))
        again = code_anchor(repo, environ=env)
        assert again is not None and again.digest == anchor.digest, output
    (repo / "new_module.py").write_text("X = 1\n")  # new code: a new digest
    changed = code_anchor(repo, environ=env)
    assert changed is not None and changed.digest != anchor.digest
    # A tree whose only change is untracked data is clean code.
    other = make_repo(env, tmp_path / "other")
    (other / "model.pkl").write_bytes(b"weights")
    only_data = code_anchor(other, environ=env)
    assert only_data is not None and not only_data.dirty
    assert only_data.digest == anchor_digest({"commit": only_data.commit, "diff_digest": None})


def test_is_source() -> None:
    for name in ("train.py", "a/b/conf.YAML", "requirements.txt", "Makefile", "notebook.ipynb",
                 "dir/Dockerfile", "pyproject.toml", "uv.lock", "requirements-dev.txt",
                 "ci/Constraints.txt", "CMakeLists.txt"):
        assert is_source(name), name
    for name in ("model.pkl", "X.npy", "metrics.json", "data.csv", "weights.bin", ".env",
                 "run.log", "Makefile.bak", "predictions.txt", "MODEL_CARD.md", "report.rst",
                 "requirements.csv"):
        assert not is_source(name), name
    assert is_source("tool", 0o100755)  # an executable script without a suffix
    assert not is_source("tool", 0o100644)


def test_capture_does_not_touch_the_index_or_objects(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(env, tmp_path / "repo")
    dirty_up(repo, env)
    status_before = git(env, repo, "status", "--porcelain=v2")  # may refresh the index
    before = index_state(repo)
    assert code_anchor(repo, environ=env) is not None
    assert index_state(repo) == before
    assert git(env, repo, "status", "--porcelain=v2") == status_before


def test_same_tree_same_digest_and_changes_change_it(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(env, tmp_path / "repo")
    dirty_up(repo, env)
    first, second = code_anchor(repo, environ=env), code_anchor(repo, environ=env)
    assert first is not None and second is not None
    assert first.digest == second.digest and first == second
    (repo / "untracked dir" / "notes ü.yaml").write_text("edited\n")
    third = code_anchor(repo, environ=env)
    assert third is not None and third.digest != first.digest


def test_reverted_change_is_clean(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(env, tmp_path / "repo")
    original = (repo / "lib" / "util.py").read_bytes()
    (repo / "lib" / "util.py").write_text("changed\n")
    git(env, repo, "add", "lib/util.py")
    (repo / "lib" / "util.py").write_bytes(original)  # staged differs, tree equals HEAD
    anchor = code_anchor(repo, environ=env)
    assert anchor is not None and not anchor.dirty and anchor.diff is None


def test_detached_head(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(env, tmp_path / "repo")
    git(env, repo, "checkout", "--quiet", "--detach")
    anchor = code_anchor(repo, environ=env)
    assert anchor is not None
    assert anchor.branch is None and anchor.commit == git(env, repo, "rev-parse", "HEAD")


def test_repo_without_commits(tmp_path: Path, env: dict[str, str]) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(env, repo, "init", "--quiet", "-b", "trunk")
    (repo / "a.py").write_text("x = 1\n")
    (repo / "b.bin").write_bytes(b"\0\1\2")
    git(env, repo, "add", "b.bin")
    anchor = code_anchor(repo, environ=env)
    assert anchor is not None
    assert (anchor.commit, anchor.branch, anchor.dirty) == (None, "trunk", True)
    dest = restore(None, anchor.diff, tmp_path / "restored", repo=repo, environ=env)
    assert snapshot(dest) == snapshot(repo)


def test_empty_repo_without_commits_is_clean(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "empty").mkdir()
    git(env, tmp_path / "empty", "init", "--quiet")
    anchor = code_anchor(tmp_path / "empty", environ=env)
    assert anchor is not None and anchor.commit is None and not anchor.dirty


def test_sha256_repository(tmp_path: Path, env: dict[str, str]) -> None:
    try:
        repo = make_repo(env, tmp_path / "repo", "--object-format=sha256")
    except subprocess.CalledProcessError:
        pytest.skip("this git cannot make sha256 repositories")
    dirty_up(repo, env)
    anchor = code_anchor(repo, environ=env, untracked="all")
    assert anchor is not None and anchor.commit is not None and len(anchor.commit) == 64
    dest = restore(anchor.commit, anchor.diff, tmp_path / "restored", repo=repo, environ=env)
    assert snapshot(dest) == snapshot(repo)


def test_outside_a_repository(tmp_path: Path, env: dict[str, str]) -> None:
    assert code_anchor(tmp_path, environ=env) is None
    assert code_anchor(tmp_path / "does" / "not" / "exist", environ=env) is None


def test_without_git_binary(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(env, tmp_path / "repo")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    assert code_anchor(repo, environ={**env, "PATH": str(empty)}) is None


def test_broken_repository_is_none_not_the_parent(tmp_path: Path, env: dict[str, str]) -> None:
    parent = make_repo(env, tmp_path / "parent")
    child = parent / "child"
    (child / ".git").mkdir(parents=True)  # not a repository at all
    assert code_anchor(child, environ=env) is None
    (child / ".git").rmdir()
    (child / ".git").write_text("gitdir: /nowhere/at/all\n")
    assert code_anchor(child, environ=env) is None


def test_environment_cannot_redirect_git(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(env, tmp_path / "repo")
    other = make_repo(env, tmp_path / "other")
    (other / "x").write_text("dirty\n")
    redirected = {**env, "GIT_DIR": str(other / ".git"), "GIT_WORK_TREE": str(other)}
    anchor = code_anchor(repo, environ=redirected)
    assert anchor is not None and not anchor.dirty
    assert anchor.commit == git(env, repo, "rev-parse", "HEAD")


def test_worktree(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(env, tmp_path / "repo")
    git(env, repo, "remote", "add", "origin", "https://tok@example.com/x.git")
    git(env, repo, "worktree", "add", "--quiet", "-b", "side", str(tmp_path / "wt"))
    (tmp_path / "wt" / "new.py").write_text("IN_THE_WORKTREE = 1\n")
    anchor = code_anchor(tmp_path / "wt", environ=env)
    assert anchor is not None and anchor.branch == "side" and anchor.dirty
    assert anchor.remote == "https://example.com/x.git"
    assert anchor.commit is not None
    dest = restore(anchor.commit, anchor.diff, tmp_path / "restored", repo=repo, environ=env)
    assert snapshot(dest) == snapshot(tmp_path / "wt")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:token@github.com/org/x.git", "https://github.com/org/x.git"),
        ("https://ghp_abc123@github.com/org/x.git", "https://github.com/org/x.git"),
        ("http://oauth2:t0k@gitlab.local:8080/g/x", "http://gitlab.local:8080/g/x"),
        ("https://github.com/org/x.git?private_token=s3cret", "https://github.com/org/x.git"),
        ("https://github.com/org/x.git", "https://github.com/org/x.git"),
        ("HTTPS://u:p@[::1]:3000/x", "HTTPS://[::1]:3000/x"),
        ("ssh://git:pw@host.example/x.git", "ssh://git@host.example/x.git"),
        ("ssh://git@host.example:2222/x.git", "ssh://git@host.example:2222/x.git"),
        ("git+ssh://me:pw@host/x", "git+ssh://me@host/x"),
        ("git@github.com:org/x.git", "git@github.com:org/x.git"),
        ("me:pw@host:org/x.git", "me@host:org/x.git"),
        ("/srv/git/x.git", "/srv/git/x.git"),
        ("../x", "../x"),
        ("file:///srv/git/x.git", "file:///srv/git/x.git"),
        ("https://u:ab/cd+ef@host/x.git", "https://host/x.git"),
        ("https://host", "https://host"),
    ],
    ids=lambda v: v if "://" not in v else v.split("://")[0],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


SECRET = st.text("abcdefXYZ0123456789/+=-_.~%!$&'()*,;:", min_size=6, max_size=40)


@given(
    scheme=st.sampled_from(["https", "http", "ssh", "git+ssh"]),
    user=st.text("abcxyz_-", min_size=1, max_size=8),
    secret=SECRET,
    host=st.sampled_from(["github.com", "host.example:8443", "[::1]"]),
)
def test_redact_url_never_leaks_a_password(scheme: str, user: str, secret: str, host: str) -> None:
    redacted = redact_url(f"{scheme}://{user}:QQ{secret}@{host}/org/repo.git")
    assert "QQ" not in redacted
    kept_user = "" if scheme.startswith("http") else f"{user}@"
    assert redacted == f"{scheme}://{kept_user}{host}/org/repo.git"


def test_remote_prefers_origin_then_first(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(env, tmp_path / "repo")
    git(env, repo, "remote", "add", "upstream", "https://a:b@example.com/up.git")
    anchor = code_anchor(repo, environ=env)
    assert anchor is not None and anchor.remote == "https://example.com/up.git"
    git(env, repo, "remote", "add", "origin", "git@github.com:org/x.git")
    anchor = code_anchor(repo, environ=env)
    assert anchor is not None and anchor.remote == "git@github.com:org/x.git"


def test_entry_point(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(env, tmp_path / "repo")
    anchor = code_anchor(entry_point=repo / "lib" / "util.py", environ=env)
    assert anchor is not None and anchor.root == str(repo.resolve())
    assert anchor.entry_point == "lib/util.py"
    digest = hashlib.sha256((repo / "lib" / "util.py").read_bytes()).hexdigest()
    assert anchor.entry_digest == f"sha256:{digest}"
    outside = tmp_path / "script.py"
    outside.write_text("pass\n")
    anchor = code_anchor(repo, entry_point=outside, environ=env)
    assert anchor is not None and anchor.entry_point == str(outside)
    assert anchor.entry_digest is not None


def test_diff_over_the_cap_keeps_its_digest(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(env, tmp_path / "repo")
    dirty_up(repo, env)
    full = code_anchor(repo, environ=env, untracked="all")
    capped = code_anchor(repo, environ=env, max_diff_bytes=100, max_untracked_file_bytes=10**6,
                         untracked="all")
    assert full is not None and capped is not None
    assert capped.diff is None and capped.truncated and capped.dirty
    assert capped.diff_size > 100 and capped.notes
    # the budget left out big untracked files, so the (unkept) patch is a smaller one
    assert capped.digest != full.digest
    big = code_anchor(repo, environ=env, max_diff_bytes=full.diff_size, untracked="all")
    assert big is not None and big.digest == full.digest and big.diff == full.diff


def test_big_untracked_files_are_skipped(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(env, tmp_path / "repo")
    (repo / "weights.bin").write_bytes(b"\0" * 5000)
    (repo / "small.txt").write_text("small\n")
    anchor = code_anchor(repo, environ=env, max_untracked_file_bytes=1000, untracked="all")
    assert anchor is not None and anchor.dirty and anchor.truncated
    assert anchor.skipped == ("weights.bin",)
    assert anchor.diff is not None and b"small.txt" in anchor.diff
    assert b"weights.bin" not in anchor.diff
    only_big = tmp_path / "only_big"
    make_repo(env, only_big)
    (only_big / "weights.bin").write_bytes(b"\0" * 5000)
    anchor = code_anchor(only_big, environ=env, max_untracked_file_bytes=1000, untracked="all")
    assert anchor is not None and anchor.dirty and anchor.diff == b""
    assert anchor.digest != anchor_digest({"commit": anchor.commit, "diff_digest": None})


def test_dirty_without_diff_never_passes_for_clean() -> None:
    clean = CodeAnchor(commit="a" * 40, branch=None, remote=None, dirty=False)
    failed = CodeAnchor(commit="a" * 40, branch=None, remote=None, dirty=True, truncated=True)
    assert clean.digest != failed.digest


def test_restore_errors(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(env, tmp_path / "repo")
    head = git(env, repo, "rev-parse", "HEAD")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    with pytest.raises(UsageError):
        restore(head, None, busy, repo=repo, environ=env)
    with pytest.raises(InvalidInputError):
        restore("--upload-pack=evil", None, tmp_path / "a", repo=repo, environ=env)
    with pytest.raises(NotFoundError):
        restore("f" * 40, None, tmp_path / "b", repo=repo, environ=env)
    with pytest.raises(NotFoundError):
        restore(head, None, tmp_path / "c", repo=tmp_path / "no-repo", environ=env)
    bad = b"diff --git a/nope b/nope\n--- a/nope\n+++ b/nope\n@@ -1 +1 @@\n-x\n+y\n"
    with pytest.raises(IntegrityError):
        restore(head, bad, tmp_path / "d", repo=repo, environ=env)


def test_restore_clean_commit(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(env, tmp_path / "repo")
    anchor = code_anchor(repo, environ=env)
    assert anchor is not None and anchor.commit is not None
    dest = restore(anchor.commit, anchor.diff, tmp_path / "restored", repo=repo, environ=env)
    assert snapshot(dest) == snapshot(repo)


def test_merge_conflict_restores(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(env, tmp_path / "repo")
    git(env, repo, "checkout", "--quiet", "-b", "other")
    (repo / "lib" / "util.py").write_text("A = 'other'\n")
    git(env, repo, "commit", "--quiet", "-am", "other")
    git(env, repo, "checkout", "--quiet", "main")
    (repo / "lib" / "util.py").write_text("A = 'main'\n")
    git(env, repo, "commit", "--quiet", "-am", "main")
    with pytest.raises(subprocess.CalledProcessError):
        git(env, repo, "merge", "--quiet", "other")
    anchor = code_anchor(repo, environ=env)
    assert anchor is not None and anchor.dirty and not anchor.truncated
    assert anchor.commit is not None
    dest = restore(anchor.commit, anchor.diff, tmp_path / "restored", repo=repo, environ=env)
    assert b"<<<<<<<" in (dest / "lib" / "util.py").read_bytes()
    assert snapshot(dest) == snapshot(repo)


def test_defaults_to_the_working_directory(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(env, tmp_path / "repo")
    script = tmp_path / "outside.py"  # not in a repository, so the cwd's repository counts
    script.write_text("pass\n")
    monkeypatch.chdir(repo / "lib")
    anchor = code_anchor(entry_point=script, environ=env)
    assert anchor is not None and anchor.root == str(repo.resolve())
    assert anchor.entry_point == str(script)


@pytest.mark.parametrize(
    "script",
    [
        "#!/bin/sh\nexec /bin/sleep 10\n",
        "#!/bin/sh\necho 'fatal: dubious ownership' >&2\nexit 128\n",
    ],
    ids=["hangs", "refuses"],
)
def test_a_misbehaving_git_gives_none(tmp_path: Path, env: dict[str, str], script: str) -> None:
    repo = make_repo(env, tmp_path / "repo")
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    (fake / "git").write_text(script)
    (fake / "git").chmod(0o755)
    assert code_anchor(repo, environ={**env, "PATH": str(fake)}, timeout=0.5) is None
