"""DVC pipelines in: the stage runs recorded in ``dvc.lock`` files, now and through git history.

A ``dvc.lock`` is DVC's log of what each pipeline stage last ran: its command, the
md5 of every dependency and output, and the parameters it read. Committed with the code,
its git history is the history of the pipeline's runs. Importing reconstructs them after
the fact as forebear lineage: each stage entry becomes one ``execution`` (kind ``dvc``,
its command and parameters as params, the commit that recorded it as its code anchor),
its dependencies inputs and its outputs outputs, so stages link through the data they
pass on, and a forebear run that later reads a DVC output links back to its stage.

Data is identified by content, as forebear identifies it, not by DVC's md5: a file's
bytes are found in DVC's cache (``.dvc/cache/files/md5/``, DVC 2's layout too, or the
configured ``cache.dir``), or in the workspace when they still have that md5, and hashed
(SHA-256; md5 checked on the same read). A directory output is its ``.dir`` listing in
the cache, each file hashed likewise, so its digest is the one the same folder has on
disk (``forebear.hashing.manifest_of``). Data whose bytes are nowhere to be found any
more is known by path and md5 alone (``dataset:dvc:<path>@<md5>``). Bytes stay where
DVC keeps them: nothing is copied into the blob store.

DVC's run cache (``<cache>/runs/``) keeps every run ``dvc repro`` made, committed or
not; with ``run_cache`` those come in too, named after the ``dvc.yaml`` stage with the
same command. A run's id is derived from what it ran, read and wrote, so a stage that
did not change between commits is one run, a run both a lock and the run cache hold is
one run (with the lock's commit), and importing again writes nothing twice. Everything an
import finds is written in one transaction.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import posixpath
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forebear import _canonical
from forebear.errors import InvalidInputError, NotFoundError, UsageError
from forebear.importers._dvc_objects import Objects
from forebear.importers._dvc_repo import (
    LOCK,
    Git,
    LockFile,
    cache_dirs,
    head,
    history_locks,
    lock_paths,
    read_text,
    working_tree_locks,
)
from forebear.model.entries import artifact_ref, metric_value
from forebear.model.ids import format_time, utc_now
from forebear.sdk._names import guess_kind

__all__ = ["DvcReport", "LockFile", "import_dvc", "run_cache_runs", "stage_entry",
           "stage_runs"]

KIND = "dvc"
"""The kind of an imported stage run (``forebear log --kind dvc`` lists them)."""


@dataclass(slots=True)
class DvcReport:
    """What an import did."""

    locks: int = 0
    stages: int = 0
    """Distinct stage runs found (a stage unchanged across commits is one)."""
    imported: int = 0
    skipped: int = 0
    """Stage runs already in the store."""
    by_content: int = 0
    """Artifacts of the imported runs identified by their bytes' digest."""
    by_name: int = 0
    """Artifacts of the imported runs whose bytes could not be found: known by path and
    md5 only."""
    commits: list[str] = field(default_factory=list)
    run_cache: int = 0
    """Runs read from DVC's run cache (with ``run_cache``)."""
    unreadable: list[str] = field(default_factory=list)
    """Why each ``dvc.lock`` of a past commit that DVC did not write was left out."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# -- parsing --------------------------------------------------------------------------------


@functools.cache
def _lock_loader() -> Any:
    """PyYAML's safe loader without anchors and aliases: DVC never writes them, and an
    alias bomb (a few lines that expand to billions of nodes) must not hang an import."""
    import yaml

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()  # type: ignore[no-untyped-call]
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise yaml.YAMLError("anchors and aliases are not allowed")
            return super().compose_node(parent, index)

    return Loader


def parse_lock(lock: LockFile) -> dict[str, dict[str, Any]]:
    """The stages of a ``dvc.lock``: name -> entry, shape checked."""
    where = lock.path + (f" at {lock.commit[:12]}" if lock.commit else "")
    data = _yaml(lock.text, where)
    if data is None:
        return {}
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, dict):
        raise InvalidInputError(f"{where}: no stages (DVC 1's lock format is not read)",
                                hint="run `dvc repro` with DVC 2 or later to rewrite it")
    for name, stage in stages.items():
        _check_stage(stage, f"{where}: stage {name!r}")
    return {str(name): stage for name, stage in stages.items()}


def _yaml(text: str, where: str) -> Any:
    """``text`` as YAML DVC writes it (no anchors or aliases; see ``_lock_loader``)."""
    try:
        import yaml
    except ImportError:
        raise UsageError("reading dvc.lock needs PyYAML",
                         hint="pip install 'forebear[dvc]'") from None
    try:
        return yaml.load(text, Loader=_lock_loader())  # a SafeLoader: no objects
    except (yaml.YAMLError, RecursionError) as exc:
        reason = "nested too deep" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidInputError(f"{where}: not YAML DVC wrote: {reason}".replace("\n", " "),
                                hint="give a dvc.lock that DVC wrote") from None


def _check_stage(stage: Any, where: str) -> None:
    """Refuse a stage entry that is not the shape DVC writes."""
    if not isinstance(stage, dict) or not isinstance(stage.get("cmd"), str | list):
        raise InvalidInputError(f"{where} has no command", hint="give a dvc.lock that DVC wrote")
    for section in ("deps", "outs"):
        items = stage.get(section) or []
        if not isinstance(items, list) or not all(
                isinstance(i, dict) and isinstance(i.get("path"), str) for i in items):
            raise InvalidInputError(f"{where}: {section} must be a list of paths",
                                    hint="give a dvc.lock that DVC wrote")
    if not isinstance(stage.get("params") or {}, dict):
        raise InvalidInputError(f"{where}: params must be a mapping",
                                hint="give a dvc.lock that DVC wrote")


# -- the mapping -----------------------------------------------------------------------------


_RUN_FIELDS = ("cmd", "deps", "params", "outs")


def _run_id(lock_path: str, stage: Mapping[str, Any]) -> str:
    """A run id that is the same for the same stage run wherever it is found: in a lock
    at any commit or in the run cache (which keeps no stage name), so it is made of what
    the stage ran, read and wrote, and the folder its paths are relative to."""
    entry = {key: stage[key] for key in _RUN_FIELDS if key in stage}
    data = _canonical.canonical_bytes({"folder": Path(lock_path).parent.as_posix(),
                                       "entry": _json_safe(entry)})
    return str(uuid.UUID(hex=hashlib.sha256(data).hexdigest()[:32]))


def _json_safe(value: Any) -> Any:
    """YAML's values as JSON has them (dates as text, floats that JSON cannot hold too)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and (value != value or abs(value) == float("inf")):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53 - 1:
        return str(value)  # past what a JSON number holds exactly (RFC 8785)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _params(stage: Mapping[str, Any]) -> dict[str, Any]:
    """The stage's command and the parameters it read (``params.yaml``'s keys as they
    are, another file's prefixed with its name)."""
    out: dict[str, Any] = {"command": _command(stage["cmd"])}
    for source, values in (stage.get("params") or {}).items():
        if not isinstance(values, dict):
            continue
        _dotted(values, "" if source == "params.yaml" else f"{source}:", out)
    return out


def _dotted(values: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    """A group of parameters (``params: [prepare]``) under dotted keys, as ``dvc params
    diff`` shows them (``prepare.seed``), so that ``forebear diff`` names what changed."""
    for key, value in values.items():
        if isinstance(value, dict) and value:
            _dotted(value, f"{prefix}{key}.", out)
        else:
            out[f"{prefix}{key}"] = _json_safe(value)


@functools.lru_cache(maxsize=64)  # one dvc.yaml serves every stage and run cache entry
def _pipeline_stages(text: str | None) -> dict[str, dict[str, Any]]:
    """The stages a ``dvc.yaml`` declares, by name (empty when it cannot be read: the
    lock is the record, and its ``dvc.yaml`` only names runs and their metrics files)."""
    if not text:
        return {}
    import yaml

    try:
        pipeline = yaml.safe_load(text)  # written by people: anchors are theirs to use
    except (yaml.YAMLError, RecursionError):
        return {}
    stages = pipeline.get("stages") if isinstance(pipeline, dict) else None
    if not isinstance(stages, dict):
        stages = {}
    found = {str(name): stage for name, stage in stages.items() if isinstance(stage, dict)}
    # The project-wide list (DVC 3, dvclive), kept under a name no stage can have.
    if isinstance(pipeline, dict) and isinstance(pipeline.get("metrics"), list):
        found[_TOP_LEVEL] = {"metrics": pipeline["metrics"]}
    return found


_TOP_LEVEL = "@top-level"
_TEMPLATE = re.compile(r"\$\{[^}]*\}")


def _definition(lock: LockFile, name: str) -> dict[str, Any]:
    """Stage ``name`` as ``dvc.yaml`` defines it (a ``foreach``/``matrix`` stage's
    ``gen@1`` by its definition ``gen``), or ``{}``."""
    stages = _pipeline_stages(lock.pipeline)
    own = stages.get(name) or stages.get(name.split("@", 1)[0], {})
    if isinstance(own.get("do"), dict):  # foreach: the stage is defined under `do`
        own = own["do"]
    return own


def _base(lock: LockFile, name: str) -> Path:
    """The folder a stage's paths in ``dvc.lock`` are relative to: its ``wdir`` (from
    ``dvc.yaml``) under the lock's folder. A ``wdir`` of a generated stage that names its
    item (``${key}``, or ``${item}`` of a list) is filled in; one that still holds a
    template after that cannot be known, and the lock's folder is taken."""
    folder = Path(lock.path).parent
    wdir = _definition(lock, name).get("wdir")
    if not isinstance(wdir, str) or wdir in ("", "."):
        return folder
    key = name.split("@", 1)[1] if "@" in name else None
    if key is not None:
        stages = _pipeline_stages(lock.pipeline)
        loop = stages.get(name.split("@", 1)[0], {}).get("foreach")
        wdir = wdir.replace("${key}", key)
        if isinstance(loop, list) and key in map(str, loop):
            wdir = wdir.replace("${item}", key)
    if "${" in wdir:
        return folder
    return Path(posixpath.normpath((folder / wdir).as_posix()))


def _declared_metrics(lock: LockFile, name: str) -> list[str]:
    """The paths ``dvc.yaml`` declares as metrics files of stage ``name``: its own
    (templates such as ``m${item}.json`` as patterns) and the project-wide ``metrics``
    list."""
    stages = _pipeline_stages(lock.pipeline)
    own = _definition(lock, name)
    found: list[str] = []
    for items in (own.get("metrics"), stages.get(_TOP_LEVEL, {}).get("metrics")):
        for item in items if isinstance(items, list) else ():
            if isinstance(item, str | dict):
                found += [_TEMPLATE.sub("*", str(path))
                          for path in ([item] if isinstance(item, str) else item)]
    return found


def _is_declared(path: str, declared: Sequence[str]) -> bool:
    return any(path == pattern or ("*" in pattern and fnmatch.fnmatchcase(path, pattern))
               for pattern in declared)


def _metrics(stage: Mapping[str, Any], declared: Any, base: Path, objects: Objects,
             commit: str | None) -> dict[str, Any]:
    """The numbers in the stage's metrics files (JSON or YAML), dotted keys for nested
    ones, read from wherever their bytes are."""
    out: dict[str, Any] = {}
    for item in stage.get("outs") or ():
        md5 = item.get("md5")
        if not isinstance(md5, str) or not _is_declared(item["path"], declared):
            continue
        data = objects.content(md5, (base / item["path"]).as_posix(), commit)
        if data is None:
            continue
        try:
            import yaml

            values = yaml.safe_load(data)  # YAML reads JSON too
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        _numbers(values, "", out)
    return out


def _numbers(value: Any, prefix: str, out: dict[str, Any]) -> None:
    """The numbers in ``value``, under dotted keys (``{"test": {"acc": 1}}``:
    ``test.acc``)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            _numbers(inner, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, int | float) and not isinstance(value, bool) and prefix:
        out[prefix] = metric_value(float(value)) if isinstance(value, float) else value


def _code(lock: LockFile, remote: str | None) -> dict[str, Any] | None:
    """The code anchor of the commit that holds the lock: the same node a forebear run
    made in a clean checkout of that commit has (``capture.git.anchor_digest``)."""
    if lock.commit is None:
        return None
    from forebear.capture.git import anchor_digest

    return {"digest": anchor_digest({"commit": lock.commit}), "commit": lock.commit,
            "branch": None, "remote": remote, "dirty": False, "source": "dvc",
            "name": f"{remote or 'repository'}@{lock.commit[:12]}"}


def stage_runs(locks: Sequence[LockFile], skipped: list[str] | None = None,
               ) -> dict[str, tuple[LockFile, str, dict[str, Any]]]:
    """Every stage entry of ``locks`` by its run id: (lock, stage name, entry), each from
    the first lock that holds it (a stage that did not change between commits is one
    run). A lock of a past commit that DVC did not write (a merge conflict committed by
    mistake) cannot be fixed any more: with ``skipped`` given, it is left out and why is
    added there; the working tree's own is refused."""
    found: dict[str, tuple[LockFile, str, dict[str, Any]]] = {}
    for lock in locks:
        try:
            stages = parse_lock(lock)
        except InvalidInputError as exc:
            if skipped is None or not lock.commit:
                raise
            skipped.append(exc.message)
            continue
        for name, stage in stages.items():
            found.setdefault(_run_id(lock.path, stage), (lock, name, stage))
    return found


def run_cache_runs(repo: Path) -> list[tuple[LockFile, str, dict[str, Any]]]:
    """The stage runs in DVC's run cache (``<cache>/runs/``): every ``dvc repro`` keeps
    one there, committed or not. The cache keeps no stage name: a run whose command is a
    stage's in a ``dvc.yaml`` of the working tree takes that stage's name and folder,
    another is named after its command."""
    at_head = head(repo)
    stages: dict[str, tuple[str, str, str]] = {}  # command -> (lock path, name, dvc.yaml)
    for path in lock_paths(repo, at_head[0] if at_head is not None else None, "dvc.yaml"):
        text = read_text(path)
        lock_path = path.with_name(LOCK).relative_to(repo).as_posix()
        for name, stage in _pipeline_stages(text).items():
            if isinstance(stage.get("cmd"), str | list):
                stages.setdefault(_command(stage["cmd"]), (lock_path, name, text))
    found = []
    for cache in cache_dirs(repo):
        for entry in sorted((cache / "runs").glob("*/*/*")):
            if not entry.is_file():
                continue
            stamp = format_time(datetime.fromtimestamp(entry.stat().st_mtime, UTC))
            key = f"{entry.parent.name}/{entry.name}"
            where = f"the run cache's {key}"
            stage = _yaml(read_text(entry), where)
            _check_stage(stage, where)
            lock_path, name, pipeline = stages.get(_command(stage["cmd"]),
                                                   (LOCK, _command(stage["cmd"])[:80], ""))
            found.append((LockFile(lock_path, "", time=stamp, pipeline=pipeline or None,
                                   run_cache=key), name, stage))
    return found


def _command(cmd: Any) -> str:
    return cmd if isinstance(cmd, str) else " && ".join(map(str, cmd))


def stage_entry(run_id: str, lock: LockFile, name: str, stage: Mapping[str, Any], repo: Path,
                objects: Objects, *, actor: str, remote: str | None = None
                ) -> dict[str, Any]:
    """The ``execution`` entry of one stage run (see the module docstring)."""
    base = _base(lock, name)
    time = lock.time or format_time(utc_now())
    entry: dict[str, Any] = {
        "type": "execution", "run_id": run_id, "kind": KIND, "name": name,
        "namespace": repo.name, "time": time, "started_at": time, "status": "succeeded",
        "actor": lock.author or actor, "params": _params(stage),
        "tags": {"dvc.lock": lock.path,
                 **({"git.commit": lock.commit} if lock.commit else {}),
                 **({"dvc.experiment": lock.experiment} if lock.experiment else {}),
                 **({"dvc.run_cache": lock.run_cache} if lock.run_cache else {})},
        "inputs": [_ref(item, base, repo, objects, "input", lock.commit)
                   for item in stage.get("deps") or ()],
        "outputs": [_ref(item, base, repo, objects, "output", lock.commit)
                    for item in stage.get("outs") or ()],
    }
    metrics = _metrics(stage, _declared_metrics(lock, name), base, objects, lock.commit)
    if metrics:
        entry["metrics"] = metrics
    code = _code(lock, remote)
    if code is not None:
        entry["code"] = code
    return entry


def _ref(item: Mapping[str, Any], base: Path, repo: Path, objects: Objects,
         role: str, commit: str | None) -> dict[str, Any]:
    relative = posixpath.normpath((base / str(item["path"])).as_posix())
    md5 = item.get("md5") or item.get("etag") or item.get("checksum")
    workspace = repo / relative
    digest = size = None
    if isinstance(md5, str) and md5:
        if md5.endswith(".dir"):
            digest, size = objects.tree(md5, relative, commit)
        else:
            digest, size = objects.file(md5, relative, commit)
    meta = {k: v for k, v in (("dvc_md5", md5), ("dvc_nfiles", item.get("nfiles")),
                              ("dvc_size", item.get("size"))) if v is not None}
    kind = "data" if isinstance(md5, str) and md5.endswith(".dir") else guess_kind(relative)
    if digest is None:
        return artifact_ref(digest=None, kind=kind, namespace=KIND,
                            name=f"{relative}@{md5}" if md5 else relative,
                            uri=str(workspace), role=role, meta=meta)
    return artifact_ref(digest=digest, kind=kind, name=relative, uri=str(workspace),
                        size=size, role=role, meta=meta)


# -- the import ------------------------------------------------------------------------------


def find_project(path: Path) -> Path:
    """The DVC project at or above ``path`` (the folder that holds ``.dvc/``)."""
    start = path.resolve()
    if not start.is_dir():
        raise UsageError(f"{path} is not a folder", hint="give the DVC project's folder")
    for folder in (start, *start.parents):
        if (folder / ".dvc").is_dir():
            return folder
    raise NotFoundError(f"{start} is not in a DVC project (no .dvc folder above it)",
                        hint="give the folder where `dvc init` was run")


def import_dvc(store: Any, path: Path, *, history: bool = False, revs: Sequence[str] = (),
               experiments: bool = False, run_cache: bool = False, actor: str = "dvc",
               progress: Callable[[int, int], None] | None = None) -> DvcReport:
    """Import the stage runs of the DVC project at ``path``: its working tree's
    ``dvc.lock`` files, or those of ``revs``, of every commit that changed one
    (``history``) and of its experiments (``experiments``), and with ``run_cache`` the
    runs DVC's run cache keeps (see the module docstring). Runs already in the store are
    skipped before their data is hashed; ``progress`` hears (done, of) as the others
    are; all of them are written in one transaction."""
    repo = find_project(path)
    report = DvcReport()
    remote = None
    if history or revs or experiments:
        locks, remote = history_locks(repo, revs, history=history, experiments=experiments)
        if not locks and experiments and not (history or revs):
            raise NotFoundError(f"{repo} has no DVC experiments (nothing under refs/exps)",
                                hint="run `dvc exp run` first, or import without "
                                "--experiments")
        if not locks:
            raise NotFoundError(f"no commit of {repo} asked for holds a dvc.lock",
                                hint="commit dvc.lock after `dvc repro`, or import the "
                                "working tree's without --history")
    else:
        locks = working_tree_locks(repo)
        if not locks:
            raise NotFoundError(f"no dvc.lock in {repo}",
                                hint="run `dvc repro` first: dvc.lock records its stages")
    report.locks = len(locks)
    report.commits = list(dict.fromkeys(lock.commit for lock in locks if lock.commit))
    # Parsed and checked before anything is hashed or written.
    runs = stage_runs(locks, report.unreadable if report.commits else None)
    if run_cache:
        cached = run_cache_runs(repo)
        report.run_cache = len(cached)
        for lock, name, stage in cached:  # a run a lock holds too comes with its commit
            runs.setdefault(_run_id(lock.path, stage), (lock, name, stage))
    known = _known_runs(store, list(runs))
    todo = [(run_id, found) for run_id, found in runs.items() if run_id not in known]
    report.stages, report.imported, report.skipped = len(runs), len(todo), len(known)
    objects = Objects(repo, Git(repo) if report.commits else None)
    entries = []
    for done, (run_id, (lock, name, stage)) in enumerate(todo, 1):
        entries.append(stage_entry(run_id, lock, name, stage, repo, objects, actor=actor,
                                   remote=remote))
        if progress is not None:
            progress(done, len(todo))
    artifacts = {ref["id"]: ref["digest"] for entry in entries
                 for ref in (*entry["inputs"], *entry["outputs"])}
    report.by_content = sum(digest is not None for digest in artifacts.values())
    report.by_name = len(artifacts) - report.by_content
    if entries:
        store.append_batch(entries)
    return report


def _known_runs(store: Any, run_ids: list[str]) -> set[str]:
    from forebear.graph._sql import chunks, marks, run

    found: set[str] = set()
    for part in chunks(run_ids):
        found.update(row[0] for row in run(
            store, f"SELECT run_id FROM execution WHERE run_id IN ({marks(len(part))})", part))
    return found
