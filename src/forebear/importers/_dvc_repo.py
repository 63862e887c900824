"""Where a DVC project's records are: its ``dvc.lock`` files in the working tree, in git
history and in DVC experiments, read through git (a few git runs for any number of
commits); and its cache folders. Used by ``forebear.importers.dvc``."""

from __future__ import annotations

import configparser
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from forebear.errors import InvalidInputError, NotFoundError, UsageError
from forebear.model.ids import format_time

__all__ = ["LOCK", "Git", "LockFile", "cache_dirs", "head", "history_locks", "lock_paths",
           "read_text", "working_tree_locks"]

LOCK = "dvc.lock"
_SKIP = frozenset({".git", ".dvc", ".venv", "venv", "node_modules", "__pycache__", ".forebear"})


@dataclass(frozen=True, slots=True)
class LockFile:
    """One ``dvc.lock`` as it was: its path in the repository, its text, and the commit
    that holds it (None for the working tree's)."""

    path: str
    text: str
    commit: str | None = None
    time: str | None = None
    author: str | None = None
    pipeline: str | None = None
    """The ``dvc.yaml`` beside it, as it was then (which outputs are metrics)."""
    experiment: str | None = None
    """The DVC experiment whose commit holds it (``dvc exp run``), by name."""
    run_cache: str | None = None
    """For a run found in DVC's run cache rather than a lock: its entry there."""


def working_tree_locks(repo: Path) -> list[LockFile]:
    """Every ``dvc.lock`` under ``repo`` as it is on disk now; one that HEAD holds
    unchanged is HEAD's (its commit, time and author)."""
    at_head = head(repo)
    paths = lock_paths(repo, at_head[0] if at_head is not None else None)
    relatives = [path.relative_to(repo).as_posix() for path in paths]
    committed = (at_head[0].blobs([(at_head[1], name) for name in relatives])
                 if at_head is not None else [None] * len(paths))
    found = []
    for path, relative, was in zip(paths, relatives, committed, strict=True):
        text = read_text(path)
        beside = path.with_name("dvc.yaml")
        pipeline = read_text(beside) if beside.is_file() else None
        if at_head is not None and was == text.encode("utf-8"):
            _, commit, when, author = at_head
            found.append(LockFile(relative, text, commit=commit, time=when, author=author,
                                  pipeline=pipeline))
        else:
            stamp = format_time(datetime.fromtimestamp(path.stat().st_mtime, UTC))
            found.append(LockFile(relative, text, time=stamp, pipeline=pipeline))
    return found


def lock_paths(repo: Path, git: Git | None, name: str = LOCK) -> list[Path]:
    """The ``dvc.lock`` (or other ``name``) files in the working tree: those git tracks
    or would (DVC's outputs, gitignored by DVC, are not walked: a data folder can hold
    millions of files), or every one found outside a repository."""
    if git is not None:
        listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
                     f":(glob)**/{name}").split("\0")
        return sorted({repo / item for item in listed if item and (repo / item).is_file()})
    found = []
    for folder, dirs, files in os.walk(repo):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP)
        if name in files:
            found.append(Path(folder) / name)
    return found


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read {path}: {exc}",
                                hint="give a readable dvc.lock and dvc.yaml") from None


def head(repo: Path) -> tuple[Git, str, str, str] | None:
    """(git, HEAD's commit, its time, its author), or None outside a repository."""
    try:
        git = Git(repo)
        commit = git("rev-parse", "--verify", "HEAD^{commit}").strip()
        return (git, commit, *_commit_info(git, commit))
    except (InvalidInputError, UsageError):
        return None


def _commit_of(git: Git, rev: str) -> str:
    try:
        return git("rev-parse", "--verify", "--end-of-options", f"{rev}^{{commit}}").strip()
    except InvalidInputError:
        raise NotFoundError(f"{rev!r} names no commit in {git.repo}",
                            hint="give a commit, branch or tag (`git log` lists them)") from None


def _commit_info(git: Git, commit: str) -> tuple[str, str]:
    """(time, "author <email>") of ``commit``."""
    stamp, author = git("show", "-s", "--format=%ct%x1f%an <%ae>", commit).strip() \
        .split("\x1f", 1)
    return format_time(datetime.fromtimestamp(int(stamp), UTC)), author


class Git:
    def __init__(self, repo: Path) -> None:
        import shutil

        from forebear.capture._git_cmd import git_env

        exe = shutil.which("git")
        if exe is None:
            raise UsageError("git is not installed", hint="install git to read the history")
        self.exe, self.repo, self.env = exe, repo, git_env(os.environ)

    def __call__(self, *args: str) -> str:
        return self.raw(*args).decode("utf-8", "replace")

    def raw(self, *args: str, stdin: bytes | None = None) -> bytes:
        from forebear.capture._git_cmd import last_error, run_git

        done = run_git(self.exe, args, cwd=self.repo, env=self.env, timeout=600, stdin=stdin)
        if done.returncode != 0:
            raise InvalidInputError(f"git {' '.join(args[:2])} failed in {self.repo}: "
                                    f"{last_error(done)}",
                                    hint="give a commit, branch or tag of this repository")
        return done.stdout

    def blobs(self, specs: Sequence[tuple[str, str]]) -> list[bytes | None]:
        """``blob`` of each (commit, path), all read by one ``git cat-file --batch``."""
        if not specs:
            return []
        out = self.raw("cat-file", "--batch", stdin=b"".join(
            f"{commit}:./{path}\n".encode() for commit, path in specs))
        at = 0
        found: list[bytes | None] = []
        for _ in specs:
            end = out.index(b"\n", at)
            line = out[at:end]
            if line.endswith((b" missing", b" ambiguous")):  # "<spec> missing": the spec
                found.append(None)                           # is a path, spaces and all
                at = end + 1
                continue
            header = line.split()  # "<oid> <type> <size>"
            if header[1] != b"blob":  # a tree: its bytes follow, skipped
                found.append(None)
                at = end + 1 + int(header[2]) + 1
                continue
            size = int(header[2])
            found.append(out[end + 1 : end + 1 + size])
            at = end + 1 + size + 1
        return found

    def blob(self, commit: str, path: str) -> bytes | None:
        """The file at ``path`` (relative to the project, which may be a folder of the
        repository: ``dvc init --subdir``) in ``commit``, or None when it is not there."""
        return self.blobs([(commit, path)])[0]


def history_locks(repo: Path, revs: Sequence[str] = (), *, history: bool = False,
                  experiments: bool = False) -> tuple[list[LockFile], str | None]:
    """The ``dvc.lock`` files of ``revs``, of every commit of HEAD's history that changed
    one (``history``, oldest first), and of every DVC experiment (``experiments``: the
    commits ``dvc exp run`` keeps under ``refs/exps/``); and the repository's remote URL
    without credentials."""
    git = Git(repo)
    try:
        git("rev-parse", "--is-inside-work-tree")
    except InvalidInputError:
        raise UsageError(f"{repo} is not in a git repository: --history, --rev and "
                         "--experiments read its commits",
                         hint="import the working tree's dvc.lock files without them"
                         ) from None
    named: dict[str, str | None] = {}  # commit -> experiment name
    if history:
        for commit in git("log", "--reverse", "--format=%H", "HEAD", "--",
                          ":(glob)**/dvc.lock").split():
            named.setdefault(commit, None)
    for rev in revs:
        named.setdefault(_commit_of(git, rev), None)
    if experiments:
        listed = git("for-each-ref", "--sort=creatordate",
                     "--format=%(objectname) %(refname)", "refs/exps/")
        for line in listed.splitlines():
            commit, _, ref = line.partition(" ")
            if ref.count("/") >= 4:  # refs/exps/<xx>/<rest of the baseline>/<name>
                named[commit] = ref.rsplit("/", 1)[1]
    # A few git runs for any number of commits: their times and authors in one, the lock
    # files' paths (those each commit of the history changed; all of a named commit's),
    # then every lock and dvc.yaml in one `cat-file --batch`.
    info: dict[str, tuple[str, str]] = {}
    dated = git.raw("log", "--no-walk=unsorted", "--stdin", "--format=%H%x1f%ct%x1f%an <%ae>",
                    stdin="\n".join(named).encode()) if named else b""
    for line in dated.decode("utf-8", "replace").splitlines():
        commit, stamp, author = line.split("\x1f", 2)
        info[commit] = format_time(datetime.fromtimestamp(int(stamp), UTC)), author
    paths: dict[str, list[str]] = {}
    if history:
        changed = git("log", "--format=%x1e%H", "--name-only", "--relative", "HEAD", "--",
                      ":(glob)**/dvc.lock")
        for chunk in changed.split("\x1e")[1:]:
            commit, *names = chunk.split("\n")
            paths[commit] = [name for name in names if name]
    for commit, experiment in named.items():
        # A merge lists no changed files: its locks are read whole, as a named commit's.
        if not paths.get(commit) or experiment is not None:
            paths[commit] = [name for name in git("ls-tree", "-r", "--name-only", "-z",
                                                   commit).split("\0")
                             if name == LOCK or name.endswith("/" + LOCK)]
    wanted = [(commit, name) for commit in named for name in paths.get(commit, ())]
    texts = git.blobs([spec for commit, name in wanted
                       for spec in ((commit, name),
                                    (commit, name.removesuffix(LOCK) + "dvc.yaml"))])
    found = []
    for index, (commit, name) in enumerate(wanted):
        lock, pipeline = texts[2 * index], texts[2 * index + 1]
        if lock is None:  # deleted by this commit
            continue
        when, author = info[commit]
        found.append(LockFile(
            name, lock.decode("utf-8", "replace"), commit=commit, time=when, author=author,
            experiment=named[commit],
            pipeline=None if pipeline is None else pipeline.decode("utf-8", "replace")))
    return found, _remote(repo)


def _remote(repo: Path) -> str | None:
    """The repository's remote URL, credentials stripped, as a code anchor records it
    (``forebear.capture.git_remote``: origin, else the first remote)."""
    from forebear.capture._git_cmd import Git as Located
    from forebear.capture.git_remote import read_config, remote_url

    located = Located.find(repo, os.environ, timeout=60)
    return None if located is None else remote_url(read_config(located.common / "config"))


def cache_dirs(repo: Path) -> list[Path]:
    """DVC's cache folders: ``cache.dir`` from ``.dvc/config`` (and ``config.local``),
    then the default ``.dvc/cache``."""
    found = []
    for name in ("config.local", "config"):
        parser = configparser.ConfigParser()
        try:
            parser.read(repo / ".dvc" / name, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            continue
        configured = parser.get("cache", "dir", fallback=None)
        if configured:
            found.append((repo / ".dvc" / configured).resolve())
    found.append(repo / ".dvc" / "cache")
    return list(dict.fromkeys(found))
