"""Running git for the code anchor: locating the work tree, a sanitized environment,
bounded runs and streams, and ``git status --porcelain=v2`` parsing."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import subprocess

__all__ = ["HEX", "Git", "GitFailed", "Status", "Stream", "git_env", "last_error",
           "parse_status", "run_git"]

HEX = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
"""A full SHA-1 or SHA-256 object name."""

# Variables that would point git at another repository, index or object store than the
# one found from ``path``, or change how pathspecs and diffs are read.
_DROPPED_ENV = frozenset(
    {
        "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX",
        "GIT_LITERAL_PATHSPECS", "GIT_GLOB_PATHSPECS", "GIT_NOGLOB_PATHSPECS",
        "GIT_ICASE_PATHSPECS", "GIT_EXTERNAL_DIFF", "GIT_DIFF_OPTS", "GIT_CEILING_DIRECTORIES",
    }
)  # fmt: skip
_GIT_OPTS = ("-c", "core.quotepath=off", "-c", "color.ui=never", "--no-pager")


def last_error(done: subprocess.CompletedProcess[bytes]) -> str:
    lines = done.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"git exited with {done.returncode}"


def git_env(environ: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if k not in _DROPPED_ENV}
    # LC_ALL=C: messages we parse; no optional locks: status must not rewrite the user's
    # index (and cannot race their own git commands); never prompt for credentials.
    env.update(LC_ALL="C", GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0")
    return env


def run_git(
    exe: str,
    args: Sequence[str],
    *,
    cwd: Path | None,
    env: Mapping[str, str],
    timeout: float,
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    import subprocess

    return subprocess.run(
        [exe, *_GIT_OPTS, *args],
        cwd=cwd,
        env=env,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


class GitFailed(Exception):
    """Git ran but refused (dubious ownership, corrupt repository, timeout, ...)."""


class Git(NamedTuple):
    """A located work tree and how to run git on it."""

    exe: str
    root: Path
    gitdir: Path
    common: Path
    env: dict[str, str]
    timeout: float

    @classmethod
    def find(cls, start: Path, environ: Mapping[str, str], timeout: float) -> Git | None:
        import shutil

        exe = shutil.which("git", path=environ.get("PATH"))
        if exe is None:
            return None
        here = start.resolve()
        if not here.is_dir():
            here = here.parent
        for root in (here, *here.parents):
            dotgit = root / ".git"
            if dotgit.is_dir():
                gitdir = dotgit
            elif dotgit.is_file():  # worktrees and submodules: "gitdir: <path>"
                text = dotgit.read_text(encoding="utf-8", errors="replace").strip()
                if not text.startswith("gitdir:"):
                    return None
                gitdir = (root / text.removeprefix("gitdir:").strip()).resolve()
            else:
                continue
            commondir = gitdir / "commondir"
            common = gitdir
            if commondir.is_file():
                common = (gitdir / commondir.read_text(encoding="utf-8").strip()).resolve()
            env = git_env(environ)
            if root.parent != root:  # a broken .git must not make git use a parent repo
                env["GIT_CEILING_DIRECTORIES"] = str(root.parent)
            return cls(exe, root, gitdir, common, env, timeout)
        return None

    def run(
        self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        import subprocess

        try:
            return run_git(
                self.exe,
                args,
                cwd=self.root,
                env=env or self.env,
                timeout=self.timeout,
                stdin=stdin,
            )
        except subprocess.TimeoutExpired as exc:
            raise GitFailed(f"git {args[0]} took over {self.timeout} s") from exc

    def stream(self, args: Sequence[str], env: Mapping[str, str], cap: int) -> Stream:
        """Run git, hashing all of stdout but keeping at most ``cap`` bytes of it."""
        import subprocess
        import threading

        cmd = [self.exe, *_GIT_OPTS, *args]
        proc = subprocess.Popen(
            cmd,
            cwd=self.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        timer = threading.Timer(self.timeout, proc.kill)
        timer.start()
        hasher = hashlib.sha256()
        chunks: list[bytes] | None = []
        size = 0
        try:
            assert proc.stdout is not None
            while chunk := proc.stdout.read(1 << 20):
                hasher.update(chunk)
                size += len(chunk)
                if chunks is not None and size > cap:
                    chunks = None
                elif chunks is not None:
                    chunks.append(chunk)
            returncode = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        kept = None if chunks is None else b"".join(chunks)
        return Stream(returncode, kept, "sha256:" + hasher.hexdigest(), size)


class Stream(NamedTuple):
    returncode: int
    kept: bytes | None
    digest: str
    size: int


class Status:
    """What one ``git status`` said. Paths are bytes, relative to the root."""

    def __init__(self) -> None:
        self.commit: str | None = None
        self.branch: str | None = None
        self.changed: list[bytes] = []
        self.untracked: list[bytes] = []
        # Deleted in the index: already right in a copy of it, and `git add` of a path
        # in neither the index nor the tree would abort the whole add.
        self.staged_deletions: list[bytes] = []


def parse_status(out: bytes) -> Status:
    """Parse ``git status --porcelain=v2 --branch -z``; paths are relative to the root."""
    status = Status()
    records = iter(out.split(b"\0"))
    for rec in records:
        if rec.startswith(b"# branch.oid "):
            oid = rec[13:].decode()
            status.commit = oid if HEX.fullmatch(oid) else None  # "(initial)"
        elif rec.startswith(b"# branch.head "):
            head = rec[14:].decode(errors="replace")
            status.branch = None if head == "(detached)" else head
        elif rec.startswith(b"1 "):
            path = rec.split(b" ", 8)[8]
            (status.staged_deletions if rec[2:3] == b"D" else status.changed).append(path)
        elif rec.startswith(b"2 "):  # renames, in case status.renames sneaks through
            status.changed.append(rec.split(b" ", 9)[9])
            status.staged_deletions.append(next(records, b""))
        elif rec.startswith(b"u "):
            status.changed.append(rec.split(b" ", 10)[10])
        elif rec.startswith(b"? "):
            status.untracked.append(rec[2:])
    return status
