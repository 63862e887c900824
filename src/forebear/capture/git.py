"""The code anchor: which commit ran, plus the exact uncommitted changes.

A run's code is identified by the commit SHA and the digest of a binary patch that turns
that commit into the code as it was: staged and unstaged changes to tracked files, plus
untracked *source* files that are not ignored (``is_source``: code, notebooks,
configuration, scripts). ``restore`` replays both into a new directory. Untracked data and
outputs (``model.pkl``, ``X.npy``, ``metrics.json``) are lineage of their own, recorded as
artifacts when a run reads or writes them; in the patch they would give identical code a
new digest at every run that writes one. ``untracked="all"`` keeps every untracked file.

Capture must never fail or slow down a training run, so ``code_anchor`` answers ``None``
outside a work tree, without git, or on a broken repository, and it calls git as little
as possible: one ``git status`` when the tree is clean, plus ``git add`` into a throw-away
index and object directory and one ``git diff-index`` when it is dirty. The user's index
and object database are never written.

Git is run with ``LC_ALL=C``, without repository-locating ``GIT_*`` variables, with no
optional locks, and with every output-shaping option given explicitly, so user
configuration cannot change the patch. Content filters (eol conversion, LFS) still apply,
as they define what the repository's content is. Requires git >= 2.26.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forebear.capture._git_cmd import (
    HEX,
    Git,
    GitFailed,
    Status,
    git_env,
    last_error,
    parse_status,
    run_git,
)
from forebear.capture.git_remote import read_config, redact_url, remote_url
from forebear.errors import IntegrityError, InvalidInputError, NotFoundError, UsageError

if TYPE_CHECKING:
    import subprocess

__all__ = [
    "DEFAULT_MAX_DIFF_BYTES",
    "DEFAULT_MAX_UNTRACKED_FILE_BYTES",
    "SOURCE_NAMES",
    "SOURCE_SUFFIXES",
    "CodeAnchor",
    "anchor_digest",
    "code_anchor",
    "is_source",
    "redact_url",
    "restore",
    "script_anchor",
]

DEFAULT_MAX_DIFF_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_UNTRACKED_FILE_BYTES = 10 * 1024 * 1024
_TIMEOUT = 10.0
_MAX_LISTED = 100  # skipped paths kept in the record; the rest are counted in a note

SOURCE_SUFFIXES = frozenset({
    # code
    "py", "pyi", "pyx", "pxd", "pxi", "ipynb", "r", "rmd", "jl", "scala", "sc", "java", "kt",
    "kts", "go", "rs", "c", "h", "cc", "cpp", "cxx", "hh", "hpp", "hxx", "cu", "cuh", "m",
    "mm", "swift", "js", "mjs", "cjs", "ts", "tsx", "jsx", "lua", "pl", "pm", "rb", "php",
    "sql", "proto", "thrift", "graphql", "sh", "bash", "zsh", "fish", "ps1", "bat",
    # build and configuration
    "toml", "yaml", "yml", "cfg", "ini", "conf", "properties", "in", "j2", "jinja", "mk",
    "cmake", "gradle", "bzl", "nix", "lock",
})
"""Suffixes (lower case) of the untracked files kept in the code anchor's patch.

Plain text and documents (``.txt``, ``.md``, ``.rst``) are not among them: runs write
predictions, logs and model cards in those forms, and docs do not change what code does.
The text files that do (``requirements.txt`` and its kin) are kept by name instead.
"""

SOURCE_NAMES = frozenset({
    "Makefile", "GNUmakefile", "Dockerfile", "Containerfile", "Jenkinsfile", "Procfile",
    "Justfile", "Snakefile", "Vagrantfile", "BUILD", "WORKSPACE", "MLproject", "dvc.yaml",
    "CMakeLists.txt", "runtime.txt", "Pipfile", "Gemfile", "DESCRIPTION",
})
"""Untracked files kept by name whatever their suffix."""

_SOURCE_TEXT_PREFIXES = ("requirements", "constraints")
"""``requirements*.txt`` and ``constraints*.txt`` (pip's files) are source."""


def is_source(name: str, mode: int = 0) -> bool:
    """Whether an untracked file belongs in the code anchor: a source or configuration
    file by its suffix or name, or any executable (a script) or symlink."""
    base = name.rsplit("/", 1)[-1]
    suffix = base.rsplit(".", 1)[-1].lower() if "." in base.lstrip(".") else ""
    return (suffix in SOURCE_SUFFIXES or base in SOURCE_NAMES
            or (suffix == "txt" and base.lower().startswith(_SOURCE_TEXT_PREFIXES))
            or stat.S_ISLNK(mode) or bool(mode & 0o111))

_EMPTY_TREE = {
    "sha1": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    "sha256": "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321",
}
_DIFF_ARGS = (
    "diff-index", "--cached", "-p", "--binary", "--full-index", "--no-renames",
    "--no-textconv", "--no-ext-diff", "--no-color", "--src-prefix=a/", "--dst-prefix=b/",
    "--unified=3",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True, slots=True)
class CodeAnchor:
    """The code a run used: commit, branch, remote and the uncommitted diff.

    ``diff`` is None when the tree is clean or the patch was over the size cap;
    ``diff_digest`` is then still the digest of the whole patch, so identity stays exact.
    ``truncated`` says the patch cannot rebuild the tree exactly (``skipped`` untracked
    files, a patch over the cap, or a git failure, explained in ``notes``).
    """

    commit: str | None
    branch: str | None
    remote: str | None
    dirty: bool
    diff: bytes | None = field(default=None, repr=False)
    diff_digest: str | None = None
    diff_size: int = 0
    truncated: bool = False
    skipped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    entry_point: str | None = None
    entry_digest: str | None = None
    root: str | None = field(default=None, compare=False)

    @property
    def digest(self) -> str:
        """The code artifact's identity (see `anchor_digest`)."""
        return anchor_digest(self.to_record())

    def to_record(self) -> dict[str, Any]:
        """A JSON-safe summary; the diff bytes themselves belong in a blob."""
        return {
            "commit": self.commit,
            "branch": self.branch,
            "remote": self.remote,
            "dirty": self.dirty,
            "diff_digest": self.diff_digest,
            "diff_size": self.diff_size,
            "truncated": self.truncated,
            "skipped": list(self.skipped),
            "notes": list(self.notes),
            "entry_point": self.entry_point,
            "entry_digest": self.entry_digest,
            "root": self.root,
        }


def anchor_digest(record: Mapping[str, Any]) -> str:
    """Identity of a code snapshot: ``sha256:`` of the JSON of commit and diff digest.

    A dirty tree whose patch could not be made has no diff digest; ``"dirty": true`` is
    then added so it can never pass for the clean commit.
    """
    ident: dict[str, Any] = {
        "commit": record.get("commit"),
        "diff_digest": record.get("diff_digest"),
    }
    if record.get("dirty") and ident["diff_digest"] is None:
        ident["dirty"] = True
    if ident["commit"] is None and ident["diff_digest"] is None and record.get("entry_digest"):
        # No repository (see ``script_anchor``): the script's bytes are all there is.
        ident["entry_digest"] = record["entry_digest"]
    data = json.dumps(ident, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def code_anchor(
    path: str | os.PathLike[str] | None = None,
    *,
    entry_point: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    max_diff_bytes: int = DEFAULT_MAX_DIFF_BYTES,
    max_untracked_file_bytes: int = DEFAULT_MAX_UNTRACKED_FILE_BYTES,
    timeout: float = _TIMEOUT,
    untracked: str = "source",
) -> CodeAnchor | None:
    """Anchor the code at ``path`` (default: the entry script's repository, else the cwd's).

    ``untracked`` says which untracked files go into the patch: ``"source"`` (the
    default, see ``is_source``) or ``"all"`` (the exact working tree).

    ``entry_point`` defaults to the ``__main__`` script (``sys.argv[0]``) when that is a
    file; it is recorded relative to the repository root, or absolute when outside it.
    Returns None outside a git work tree, without git, or when git fails; never raises.
    """
    try:
        env = os.environ if environ is None else environ
        script = _entry_script(entry_point)
        starts = [Path(path)] if path is not None else [Path.cwd()]
        if path is None and script is not None:
            starts.insert(0, script.parent)
        git = next(filter(None, (Git.find(s, env, timeout) for s in starts)), None)
        if git is None:
            return None
        return _capture(git, script, max_diff_bytes, max_untracked_file_bytes,
                        every_untracked=untracked == "all")
    except GitFailed as exc:
        _log().warning("forebear: could not anchor the code: %s", exc)
    except Exception:  # a lineage tracker must never be why a training run dies
        _log().warning("forebear: could not anchor the code", exc_info=True)
    return None


def script_anchor(
    entry_point: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_DIFF_BYTES
) -> CodeAnchor | None:
    """The code anchor of a script run outside any git work tree: its path and digest.

    Without it two runs of different code there would share one anchor (no commit, no
    diff) and ``forebear diff`` would call their code the same. None when the script
    cannot be read or is over ``max_bytes``.
    """
    script = Path(entry_point).absolute()
    digest = _script_digest(script, max_bytes)
    if digest is None:
        return None
    return CodeAnchor(
        commit=None, branch=None, remote=None, dirty=False, entry_point=str(script),
        entry_digest=digest,
        notes=("not in a git work tree: the entry script alone identifies the code",),
    )


def _script_digest(script: Path, max_bytes: int) -> str | None:
    """The digest of a script, or None when it is not a readable file of ``max_bytes`` at
    most."""
    try:
        if not script.is_file() or script.stat().st_size > max_bytes:
            return None
        return _sha256(script.read_bytes())
    except OSError:
        return None


def restore(
    commit: str | None,
    diff: bytes | None,
    dest_dir: str | os.PathLike[str],
    *,
    repo: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
    timeout: float = 600.0,
) -> Path:
    """Rebuild a captured working tree: clone ``repo`` into ``dest_dir``, check out
    ``commit`` (detached) and apply ``diff``. ``commit=None`` (a repository with no
    commits) starts from an empty repository. ``dest_dir`` keeps its ``.git``.

    Raises UsageError (no git, ``dest_dir`` not empty), InvalidInputError (not a commit
    id), NotFoundError (repository or commit unreachable), IntegrityError (the diff does
    not apply).
    """
    import shutil

    exe = shutil.which("git", path=(environ or os.environ).get("PATH"))
    if exe is None:
        raise UsageError("git is not installed", hint="install git and put it on PATH")
    if commit is not None and not HEX.fullmatch(commit):
        raise InvalidInputError(f"not a commit id: {commit!r}", hint="give the full hex SHA")
    dest = Path(dest_dir)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UsageError(f"{dest} is not an empty directory", hint="choose a new directory")
    env = git_env(os.environ if environ is None else environ)

    def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return run_git(exe, args, cwd=None, env=env, timeout=timeout, stdin=stdin)

    if commit is None:
        done = run("init", "--quiet", "--", str(dest))
        if done.returncode:
            raise UsageError(f"cannot create a repository in {dest}: {last_error(done)}")
    else:
        done = run("clone", "--quiet", "--no-checkout", "--", os.fspath(repo), str(dest))
        if done.returncode:
            raise NotFoundError(f"cannot clone {repo}: {last_error(done)}")
        done = run("-C", str(dest), "checkout", "--quiet", "--detach", commit)
        if done.returncode:  # not reachable from any ref: servers often still serve it
            run("-C", str(dest), "fetch", "--quiet", "origin", commit)
            done = run("-C", str(dest), "checkout", "--quiet", "--detach", commit)
        if done.returncode:
            raise NotFoundError(f"commit {commit} is not in {repo}: {last_error(done)}")
    if diff:
        done = run("-C", str(dest), "apply", "--binary", "--whitespace=nowarn", "-", stdin=diff)
        if done.returncode:
            raise IntegrityError(
                f"the diff does not apply to {commit or 'an empty repository'}: {last_error(done)}",
                hint="check that the diff belongs to this commit and is not truncated",
            )
    return dest


# -- internals -------------------------------------------------------------------------


def _log() -> Any:
    import logging  # lazily: only on the rare failure path

    return logging.getLogger(__name__)


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _entry_script(given: str | os.PathLike[str] | None) -> Path | None:
    if given is None:
        # __main__.__file__ is absolute (3.9+), so a later chdir cannot mislead it
        given = getattr(sys.modules.get("__main__"), "__file__", None) or (
            sys.argv[0] if sys.argv else ""
        )
        if given in {"", "-c", "-m"}:
            return None
    candidate = Path(given).absolute()
    return candidate if candidate.is_file() else None


def _capture(git: Git, script: Path | None, max_diff: int, max_untracked: int, *,
             every_untracked: bool = False) -> CodeAnchor:
    done = git.run(
        "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all",
        "--no-renames", "--no-ahead-behind", "--ignore-submodules=dirty",
    )  # fmt: skip
    if done.returncode:
        raise GitFailed(f"git status failed in {git.root}: {last_error(done)}")
    status = parse_status(done.stdout)
    config = read_config(git.common / "config")
    fields: dict[str, Any] = {"dirty": False}
    if status.changed or status.untracked:
        try:
            fields = _capture_diff(git, status, config, max_diff, max_untracked,
                                   every_untracked)
        except (GitFailed, OSError) as exc:  # still worth recording: commit, dirty
            fields = {"dirty": True, "truncated": True, "notes": (f"no diff: {exc}",)}
    entry_point = entry_digest = None
    if script is not None:
        try:
            entry_point = script.resolve().relative_to(git.root).as_posix()
        except ValueError:
            entry_point = str(script)
        entry_digest = _script_digest(script, max_diff)  # None: the path alone is kept
    return CodeAnchor(
        commit=status.commit,
        branch=status.branch,
        remote=remote_url(config),
        entry_point=entry_point,
        entry_digest=entry_digest,
        root=str(git.root),
        **fields,
    )


def _capture_diff(
    git: Git,
    status: Status,
    config: list[tuple[str, str, str]],
    max_diff: int,
    max_untracked: int,
    every_untracked: bool,
) -> dict[str, Any]:
    import shutil
    import tempfile

    notes: list[str] = []
    skipped: list[str] = []
    paths = list(status.changed)
    budget = max_diff
    for rel in status.untracked:
        name = os.fsdecode(rel)
        if rel.endswith(b"/"):  # a nested repository: a patch cannot hold it
            skipped.append(name)
            continue
        try:
            found = os.lstat(git.root / name)
        except OSError:
            continue  # gone since `git status`
        if not (every_untracked or is_source(name, found.st_mode)):
            continue  # data or an output: not code (module docstring)
        size = found.st_size
        if size > max_untracked or size > budget:
            skipped.append(name)
            continue
        budget -= size
        paths.append(rel)
    if skipped:
        notes.append(
            f"{len(skipped)} untracked path(s) left out of the diff (nested repositories, "
            f"files over {max_untracked} bytes, or over the {max_diff}-byte budget)"
        )
    fmt = next((v for s, k, v in config if s == "extensions" and k == "objectformat"), "")
    base = status.commit or _EMPTY_TREE.get(fmt.lower() or "sha1", _EMPTY_TREE["sha1"])
    with tempfile.TemporaryDirectory(prefix="forebear-git-") as tmp:
        # A throw-away index and object directory: the user's index and .git/objects
        # stay untouched, yet diff-index sees their objects through the alternate.
        env = dict(git.env)
        env.update(
            GIT_INDEX_FILE=os.path.join(tmp, "index"),
            GIT_OBJECT_DIRECTORY=os.path.join(tmp, "objects"),
            GIT_ALTERNATE_OBJECT_DIRECTORIES=str(git.common / "objects"),
        )
        os.mkdir(env["GIT_OBJECT_DIRECTORY"])
        try:
            shutil.copyfile(git.gitdir / "index", env["GIT_INDEX_FILE"])
        except FileNotFoundError:
            if status.commit is not None:
                git.run("read-tree", status.commit, env=env)
                paths += status.staged_deletions
        if paths:  # never an empty pathspec list: `add -A` would then take everything
            done = git.run(
                "add", "-A", "--ignore-errors", "--pathspec-from-file=-", "--pathspec-file-nul",
                stdin=b"\0".join(paths) + b"\0", env={**env, "GIT_LITERAL_PATHSPECS": "1"},
            )  # fmt: skip
            if done.returncode:
                notes.append(f"git add: {last_error(done)}")
        out = git.stream([*_DIFF_ARGS, base], env, max_diff)
    if out.returncode:
        notes.append(f"git diff-index exited with {out.returncode}")
        return {"dirty": True, "truncated": True, "notes": tuple(notes), **_listed(skipped)}
    if out.size == 0 and not skipped and not notes:
        return {"dirty": False}  # e.g. only stat changes, or reverted since `git status`
    if out.kept is None:
        notes.append(f"diff of {out.size} bytes is over the {max_diff}-byte cap: not kept")
    return {
        "dirty": True,
        "diff": out.kept,
        "diff_digest": out.digest,
        "diff_size": out.size,
        "truncated": bool(notes),
        "notes": tuple(notes),
        **_listed(skipped),
    }


def _listed(skipped: list[str]) -> dict[str, tuple[str, ...]]:
    return {"skipped": tuple(sorted(skipped)[:_MAX_LISTED])}
