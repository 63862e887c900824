"""MLflow runs in: a tracking server's experiments and runs as forebear lineage.

Read through MLflow's REST API (``_mlflow_rest``), the contract every MLflow tracking
server keeps (``mlflow server`` over a local ``mlflow.db``, a team's server, Databricks),
with the standard library alone: forebear does not depend on mlflow. Each finished run becomes one
``execution`` journal entry (a run still going, an ``execution.start``):

- its id is the MLflow run id as a UUID (MLflow's are 32 hex digits); the MLflow id
  stays in the tag ``mlflow.run_id``; kind ``mlflow``, name the run's name, namespace the
  experiment's name, actor the MLflow user, times, status (FINISHED succeeded, FAILED
  failed, KILLED aborted), params as MLflow keeps them (text), the latest value of each
  metric, every tag, and ``mlflow.parentRunId`` as the parent run;
- the code anchor from MLflow's source tags (git commit, remote with credentials
  stripped, branch, entry point), identified by those fields;
- inputs: each logged dataset, known by name (``dataset:<source>:<name>``, MLflow's own
  digest, source and schema in its meta; the ``mlflow.data.context`` tag as its role),
  and each logged model the run used, by content;
- outputs: each artifact file, downloaded, hashed and (unless told not to) copied into
  the blob store, and each logged model (MLflow 3) as the folder it is, its digest that of
  its tree manifest (``forebear.hashing.manifest_of``), so the same folder on disk hashes
  to the same artifact, and a run that loads it later links to this one;
- the Model Registry's aliases and stages become forebear aliases over the version's
  model (``fraud@champion``, ``fraud@production``), each move an ``alias.set`` entry.

Files and metric histories are fetched several at once (``jobs``, each thread on its own
kept-alive connection), as MLflow's own client downloads: a tracking server is far away
more often than it is slow. Runs are taken oldest first, so the lineage between them is
found as it was made. A run already in the store is skipped, except that one imported
while it was still going gets its end once MLflow has it: importing again brings a store
up to date.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from forebear import _canonical
from forebear.errors import (
    InvalidInputError,
    NotFoundError,
)
from forebear.hashing import Digest, manifest_of
from forebear.importers._mlflow_rest import MlflowClient
from forebear.model.entries import MAX_NAME, artifact_ref, metric_value
from forebear.model.ids import format_time, utc_now
from forebear.sdk._names import guess_kind
from forebear.sdk._values import clean_text

__all__ = ["ImportReport", "MlflowClient", "import_runs", "run_entries"]

DEFAULT_JOBS = 8
"""Files downloaded at once by default."""
KIND = "mlflow"
"""The kind of an imported run (``forebear log --kind mlflow`` lists them)."""
_STATUS = {"FINISHED": "succeeded", "FAILED": "failed", "KILLED": "aborted"}


# -- the mapping ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fetched:
    """What an import read for one run beyond its record: files by artifact path, and
    logged models by id, each with its digest, size and location."""

    files: list[dict[str, Any]] = field(default_factory=list)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Metric key -> every value logged (``metrics/get-history``), for curves."""


def forebear_run_id(mlflow_run_id: str) -> str:
    """The forebear run id of an MLflow run: the same 128 bits as a UUID when MLflow's id
    is 32 hex digits (it always is), else a UUID derived from it."""
    try:
        return str(uuid.UUID(hex=mlflow_run_id))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "mlflow-run:" + mlflow_run_id))


def _time(millis: object) -> str | None:
    if not isinstance(millis, int | float) or isinstance(millis, bool):
        return None
    return format_time(datetime.fromtimestamp(millis / 1000, tz=UTC))


def _text(value: object, limit: int = MAX_NAME) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return clean_text(value)[:limit]


def _no_credentials(value: str) -> str:
    """A tag value that is a URL with credentials in it (``mlflow.source.git.repoURL``
    often is: a CI token) without them; any other value as it is."""
    scheme, sep, rest = value.partition("://")
    if sep and scheme.isascii() and scheme.replace("+", "").isalnum() \
            and "@" in rest.partition("/")[0]:
        from forebear.capture.git_remote import redact_url

        return redact_url(value)
    return value


def _code(tags: Mapping[str, str]) -> dict[str, Any] | None:
    commit = tags.get("mlflow.source.git.commit")
    remote = tags.get("mlflow.source.git.repoURL") or tags.get("mlflow.gitRepoURL")
    entry = tags.get("mlflow.source.name")
    if not commit and not remote:
        return None
    identity = {"commit": commit, "remote": remote, "entry_point": entry}
    data = _canonical.canonical_bytes({"anchor": "code", "source": "mlflow", **identity})
    return {
        "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
        "name": f"{remote or 'source'}@{(commit or 'unversioned')[:12]}",
        "commit": commit, "branch": tags.get("mlflow.source.git.branch"), "remote": remote,
        "dirty": None, "entry_point": entry, "source": "mlflow",
    }


def _dataset(item: Mapping[str, Any]) -> dict[str, Any]:
    dataset = item.get("dataset") or {}
    tags = {t.get("key"): t.get("value") for t in item.get("tags") or ()}
    try:
        source = json.loads(dataset.get("source") or "{}")
    except (ValueError, RecursionError):
        source = {}
    where = source.get("uri") or source.get("url") or source.get("path") \
        if isinstance(source, dict) else None
    namespace = _text(where) or _text(dataset.get("source_type")) or "mlflow"
    meta = {k: v for k, v in (("mlflow_digest", dataset.get("digest")),
                              ("source_type", dataset.get("source_type")),
                              ("source", dataset.get("source")),
                              ("schema", dataset.get("schema")),
                              ("profile", dataset.get("profile"))) if v}
    return artifact_ref(digest=None, kind="dataset", name=_text(dataset.get("name")) or "dataset",
                        namespace=namespace, uri=_text(where),
                        role=_text(tags.get("mlflow.data.context")) or "input", meta=meta)


def _model_ref(model: Mapping[str, Any], role: str) -> dict[str, Any]:
    if model.get("digest") is None:  # not downloaded: known by its MLflow id alone
        return artifact_ref(digest=None, kind="model", name=model["id"], role=role,
                            namespace="mlflow-models", meta={"name": model.get("name")})
    return artifact_ref(digest=model["digest"], kind="model", name=model.get("name"),
                        uri=model.get("uri"), size=model.get("size"), role=role,
                        meta={"mlflow_model_id": model["id"]})


def run_entries(run: Mapping[str, Any], experiment: str | None,
                fetched: Fetched) -> dict[str, Any]:
    """The journal entry of one MLflow run (``runs/search``'s shape) and what was fetched
    for it (see the module docstring). Pure."""
    info = run.get("info") or {}
    data = run.get("data") or {}
    mlflow_id = str(info.get("run_id") or info.get("run_uuid"))
    tags = {str(t["key"]): _no_credentials(str(t.get("value") or ""))
            for t in data.get("tags") or () if t.get("key")}
    name = _text(info.get("run_name")) or _text(tags.get("mlflow.runName")) or mlflow_id
    status = _STATUS.get(str(info.get("status")))
    started = _time(info.get("start_time"))
    ended = _time(info.get("end_time"))
    entry: dict[str, Any] = {
        "type": "execution" if status and ended else "execution.start",
        "run_id": forebear_run_id(mlflow_id),
        "kind": KIND,
        "name": name,
        "time": (ended if status and ended else started) or _time(0),
        "actor": _text(info.get("user_id")) or _text(tags.get("mlflow.user")) or "mlflow",
        "params": {str(p["key"]): p.get("value") for p in data.get("params") or ()
                   if p.get("key")},
        "tags": {**tags, "mlflow.run_id": mlflow_id},
    }
    if experiment:
        entry["namespace"] = experiment
    parent = tags.get("mlflow.parentRunId")
    if parent:
        entry["parent_run_id"] = forebear_run_id(parent)
    code = _code(tags)
    if code is not None:
        entry["code"] = code
    inputs = [_dataset(item) for item in (run.get("inputs") or {}).get("dataset_inputs") or ()]
    for used in (run.get("inputs") or {}).get("model_inputs") or ():
        model = fetched.models.get(str(used.get("model_id")))
        if model is not None:
            inputs.append(_model_ref(model, "model"))
    entry["inputs"] = inputs
    if entry["type"] == "execution.start":
        return entry
    entry["started_at"] = started or entry["time"]
    entry["status"] = status
    entry["metrics"] = {str(m["key"]): _metric(m.get("value")) for m in data.get("metrics") or ()
                        if m.get("key")}
    steps = [[key, int(point.get("step") or 0), _metric(point.get("value"))]
             for key, points in sorted(fetched.history.items()) if len(points) > 1
             for point in sorted(points, key=lambda p: (p.get("timestamp") or 0,
                                                        p.get("step") or 0))]
    if steps:
        entry["metric_steps"] = steps
    outputs = [artifact_ref(digest=f["digest"], kind=guess_kind(f["path"]), name=f["path"],
                            uri=f.get("uri"), size=f.get("size"), role="output")
               for f in fetched.files]
    for made in (run.get("outputs") or {}).get("model_outputs") or ():
        model = fetched.models.get(str(made.get("model_id")))
        if model is not None:
            outputs.append(_model_ref(model, "output"))
    entry["outputs"] = outputs
    return entry


def _metric(value: object) -> Any:
    if isinstance(value, str):  # MLflow sends NaN and infinities as text
        return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity", "infinity": "Infinity",
                "-infinity": "-Infinity"}.get(value.lower(), value)
    if isinstance(value, float):  # JSON's NaN, Infinity
        return metric_value(value)
    return value


# -- the import ----------------------------------------------------------------------------


@dataclass(slots=True)
class ImportReport:
    """What an import did."""

    runs: int = 0
    imported: int = 0
    ended: int = 0
    skipped: int = 0
    files: int = 0
    bytes: int = 0
    experiments: list[str] = field(default_factory=list)
    aliases: int = 0
    """Registry aliases and stages recorded as forebear aliases (moved or new)."""
    aliases_unchanged: int = 0
    aliases_skipped: list[str] = field(default_factory=list)
    """``<model>@<alias>``: why each registry name could not become an alias."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def import_runs(
    store: Any,
    client: MlflowClient,
    *,
    blobs: Any = None,
    experiments: list[str] | None = None,
    artifacts: bool = True,
    history: bool = True,
    registry: bool = True,
    actor: str = "mlflow",
    progress: Callable[[str], None] | None = None,
    jobs: int = DEFAULT_JOBS,
) -> ImportReport:
    """Import the runs of ``experiments`` (names; every active one when empty) from
    ``client`` into ``store``, each run's entry written whole; artifact bytes go to
    ``blobs`` when given, ``jobs`` files downloaded at once (see the module docstring)."""
    if jobs < 1:
        raise InvalidInputError(f"jobs must be 1 or more, not {jobs}",
                                hint="give --jobs 1 to download one file at a time")
    report = ImportReport()
    downloads = _Downloads(client, blobs, report, jobs)
    try:
        _import(store, client, downloads, experiments=experiments, artifacts=artifacts,
                history=history, registry=registry, actor=actor, progress=progress)
    finally:
        downloads.close()
    return report


def _import(store: Any, client: MlflowClient, downloads: _Downloads, *,
            experiments: list[str] | None, artifacts: bool, history: bool, registry: bool,
            actor: str, progress: Callable[[str], None] | None) -> None:
    report = downloads.report
    known = client.experiments()
    by_name = {str(e.get("name")): e for e in known}
    if experiments:
        missing = [n for n in experiments if n not in by_name]
        if missing:
            raise NotFoundError(f"no MLflow experiment named {missing[0]!r} at {client.url}",
                                hint="experiments there: " + ", ".join(sorted(by_name)[:20]))
        chosen = [by_name[n] for n in experiments]
    else:
        chosen = known
    report.experiments = [str(e.get("name")) for e in chosen]
    names = {str(e["experiment_id"]): str(e.get("name")) for e in chosen}
    if not names:
        return
    models: dict[str, dict[str, Any]] = {}
    runs_seen: set[str] = set()
    for run in client.runs(list(names)):
        report.runs += 1
        info = run.get("info") or {}
        mlflow_id = str(info.get("run_id") or info.get("run_uuid"))
        runs_seen.add(mlflow_id)
        state = _status_of(store, forebear_run_id(mlflow_id))
        finished = str(info.get("status")) in _STATUS and info.get("end_time")
        if state is not None and (state != "running" or not finished):
            report.skipped += 1
            continue
        if progress is not None:
            progress(mlflow_id)
        fetched = Fetched()
        wanted = [*((run.get("inputs") or {}).get("model_inputs") or ()),
                  *((run.get("outputs") or {}).get("model_outputs") or ())]
        for item in wanted:
            model_id = str(item.get("model_id"))
            if model_id not in models:
                models[model_id] = (_fetch_model(client, model_id, downloads) if artifacts
                                    else {"id": model_id, "digest": None})
            fetched.models[model_id] = models[model_id]
        if history and finished:
            keys = [str(m["key"]) for m in (run.get("data") or {}).get("metrics") or ()]
            curves = downloads.each(partial(client.history, mlflow_id), keys)
            fetched.history.update(zip(keys, curves, strict=True))
        if artifacts and finished:
            items = list(client.run_files(mlflow_id))
            got = downloads.fetch([client.run_file_path(mlflow_id, i["path"]) for i in items])
            for item, (digest, size) in zip(items, got, strict=True):
                fetched.files.append({"path": item["path"], "digest": digest, "size": size,
                                      "uri": _join(info.get("artifact_uri"), item["path"])})
        entry = run_entries(run, names.get(str(info.get("experiment_id"))), fetched)
        if state == "running":  # imported while it was going: now its end
            entry = {**entry, "type": "execution.end"}
            entry.pop("started_at", None)
            report.ended += 1
        else:
            report.imported += 1
        store.append(entry)
    if registry:
        _import_registry(store, client, downloads, artifacts=artifacts, models=models,
                         runs=None if not experiments else runs_seen, actor=actor)


def _import_registry(store: Any, client: MlflowClient, downloads: _Downloads, *,
                     artifacts: bool, models: dict[str, dict[str, Any]], runs: set[str] | None,
                     actor: str) -> None:
    """The Model Registry's aliases (``fraud`` version 3 as ``champion``) and stages
    (``Production``) as forebear aliases ``fraud@champion``, ``fraud@production`` over
    the version's model, each move an ``alias.set`` entry whose reason names the version.
    Only versions of the imported runs when experiments were chosen."""
    from forebear.model.aliases import canonical_alias

    report = downloads.report
    now = format_time(utc_now())
    taken: dict[str, str] = {}  # alias prefix -> the registered model that has it
    folders: dict[str, list[tuple[str, str]]] = {}  # runs:/ source -> its files
    for model in client.registered_models():
        name = str(model.get("name") or "")
        # MLflow allows spaces in a model's name; an alias has none: "fraud model" is
        # fraud-model@..., unless another registered model is called that.
        prefix = "-".join(name.split())
        if taken.setdefault(prefix, name) != name:
            report.aliases_skipped.append(
                f"{name}: its aliases would be named {prefix}@..., as {taken[prefix]}'s are")
            continue
        names: dict[str, str] = {}  # alias -> version
        for version in model.get("latest_versions") or ():
            stage = str(version.get("current_stage") or "")
            if stage and stage not in ("None", "Archived"):
                names[f"{prefix}@{stage.lower()}"] = str(version.get("version"))
        for item in model.get("aliases") or ():
            names[f"{prefix}@{item.get('alias')}"] = str(item.get("version"))
        for alias, version in sorted(names.items()):
            found = client.model_version(name, version)
            if runs is not None and str(found.get("run_id")) not in runs:
                continue  # not of the runs imported: nothing to say about it
            try:
                canonical = canonical_alias(alias)
            except InvalidInputError as exc:
                report.aliases_skipped.append(f"{alias}: {exc.message}")
                continue
            if _points_at(store, canonical, found):  # no download to find that out
                report.aliases_unchanged += 1
                continue
            target = _version_model(client, found, downloads, artifacts=artifacts,
                                    models=models, folders=folders)
            if target is None:
                report.aliases_skipped.append(
                    f"{alias}: version {version}'s source {found.get('source')!r} is not a "
                    "logged model or a run's folder" + ("" if artifacts else
                                                         " (or --no-artifacts)"))
                continue
            if store.resolve_alias(canonical) == target["id"]:
                report.aliases_unchanged += 1
                continue
            source = str(found.get("source") or "")
            files = folders.get(source)
            made = ([_registration(source, name, version, target, files, now, actor)]
                    if files else [{"type": "artifact", "time": now, "artifact": target}])
            store.append_batch([
                *made,
                {"type": "alias.set", "time": now, "name": canonical, "target": target["id"],
                 "actor": actor, "reason": f"MLflow Model Registry: {name} version {version}"},
            ])
            report.aliases += 1


def _registration(source: str, name: str, version: str, target: Mapping[str, Any],
                  files: Sequence[tuple[str, str]], now: str, actor: str) -> dict[str, Any]:
    """A version registered from a run's folder (``runs:/<run>/<path>``, MLflow 2) as the
    step it was: a ``register`` run that used the run's files under that path and made
    the folder, so the version's upstream reaches the run, its data and its code. Its
    id comes from the source, so importing again writes the same run."""
    ident = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mlflow-registry:{source}"))
    return {
        "type": "execution", "run_id": ident, "kind": "register",
        "name": clean_text(f"register {name}")[:MAX_NAME], "time": now, "status": "succeeded",
        "actor": actor, "params": {"source": source, "version": str(version)},
        "inputs": [artifact_ref(digest=digest, kind=guess_kind(path), name=path, role="file")
                   for path, digest in files],
        "outputs": [{**target, "role": "model"}],
    }


def _points_at(store: Any, alias: str, version: Mapping[str, Any]) -> bool:
    """Whether ``alias`` already names the model of ``version``, by the MLflow model id
    or source recorded in the target's meta."""
    current = store.resolve_alias(alias)
    if current is None:
        return False
    p = store.placeholder
    rows = store.execute("SELECT a.meta FROM artifact a JOIN node n ON n.id = a.node "
                         f"WHERE n.key = {p}", (current,))
    try:
        meta = json.loads(rows[0][0]) if rows and rows[0][0] else {}
    except ValueError:
        return False
    source, model_id = str(version.get("source") or ""), _model_id_of(version)
    return bool((model_id and meta.get("mlflow_model_id") == model_id)
                or (source and meta.get("mlflow_source") == source))


def _model_id_of(version: Mapping[str, Any]) -> str:
    """The logged model (MLflow 3) a registry version is, or "" for another source."""
    source = str(version.get("source") or "")
    return str(version.get("model_id") or "") or (
        source[len("models:/"):].split("/", 1)[0] if source.startswith("models:/m-") else "")


def _version_model(client: MlflowClient, version: Mapping[str, Any], downloads: _Downloads,
                   *, artifacts: bool, models: dict[str, dict[str, Any]],
                   folders: dict[str, list[tuple[str, str]]]) -> dict[str, Any] | None:
    """The artifact ref of a model version's model: a logged model (``models:/m-...``)
    or a folder of a run's artifacts (``runs:/<run>/<path>``), whose files (path,
    digest) go to ``folders`` under its source."""
    source, model_id = str(version.get("source") or ""), _model_id_of(version)
    if model_id:
        if model_id not in models:
            models[model_id] = (_fetch_model(client, model_id, downloads) if artifacts
                                else {"id": model_id, "digest": None})
        return _model_ref(models[model_id], "")
    if source.startswith("runs:/") and artifacts:
        cached = models.get(source)
        if cached is not None:
            return cached
        run_id, _, folder = source[len("runs:/"):].partition("/")
        folder = folder.strip("/")
        items = list(client.run_files(run_id, folder))
        if not items:
            return None
        digest, _, digests = downloads.folder(
            [(item["path"][len(folder):].lstrip("/") if folder else item["path"],
              client.run_file_path(run_id, item["path"])) for item in items])
        models[source] = artifact_ref(digest=digest, kind="model", name=folder or run_id,
                                      meta={"mlflow_source": source})
        # The run's own files that make the folder: what links the version to its run.
        folders[source] = sorted(zip((item["path"] for item in items), digests, strict=True))
        return models[source]
    return None


def _status_of(store: Any, run_id: str) -> str | None:
    rows = store.execute("SELECT status FROM execution WHERE run_id = "
                         + store.placeholder, (run_id,))
    return str(rows[0][0]) if rows else None


def _join(base: object, path: str) -> str | None:
    if not isinstance(base, str) or not base:
        return None
    return base.rstrip("/") + "/" + path


_T = TypeVar("_T")
_R = TypeVar("_R")


class _Downloads:
    """Files (and metric histories) fetched from the server ``jobs`` at a time, the
    counts kept in ``report``."""

    def __init__(self, client: MlflowClient, blobs: Any, report: ImportReport,
                 jobs: int) -> None:
        self.client = client
        self.blobs = blobs
        self.report = report
        self._pool = (ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="forebear-mlflow")
                      if jobs > 1 else None)

    def each(self, action: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
        """``action`` of each item, ``jobs`` at a time (requests, each on its thread's
        connection), in the order of ``items``."""
        if self._pool is None or len(items) < 2:
            return [action(item) for item in items]
        return list(self._pool.map(action, items))

    def fetch(self, paths: Sequence[str]) -> list[tuple[str, int]]:
        """Each file's digest and size, in the order of ``paths``."""
        found = self.each(self._one, paths)
        self.report.files += len(found)
        self.report.bytes += sum(size for _, size in found)
        return found

    def folder(self, files: Sequence[tuple[str, str]]) -> tuple[str, int, list[str]]:
        """(digest, size, each file's digest) of the folder of ``(relative path, download
        path)`` files: the digest of its tree manifest (``manifest_of``), the one the
        same folder has on disk; the manifest goes to the blob store with the files."""
        got = self.fetch([path for _, path in files])
        manifest = manifest_of([(name, Digest.parse(digest))
                                for (name, _), (digest, _) in zip(files, got, strict=True)])
        if self.blobs is not None:
            self.blobs.put_bytes(manifest)
        return (str(Digest.of_bytes(manifest)), sum(size for _, size in got),
                [digest for digest, _ in got])

    def _one(self, path: str) -> tuple[str, int]:
        """Download one file; its digest and size. With a blob store, the bytes go to a
        temporary file that the blob store hashes as it stores it; without, they are
        hashed on the way and kept nowhere."""
        size = 0
        if self.blobs is None:
            hasher = hashlib.sha256()

            def count(chunk: bytes) -> None:
                nonlocal size
                hasher.update(chunk)
                size += len(chunk)

            self.client.download(path, count)
            return "sha256:" + hasher.hexdigest(), size
        with tempfile.NamedTemporaryFile(prefix="forebear-mlflow-", delete=False) as handle:
            try:
                self.client.download(path, handle.write)
                handle.flush()
                size = handle.tell()
                digest = str(self.blobs.put_file(handle.name))
            finally:
                handle.close()
                os.unlink(handle.name)
        return digest, size

    def close(self) -> None:
        """Stop the download threads (files not started yet are not fetched)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _fetch_model(client: MlflowClient, model_id: str, downloads: _Downloads
                 ) -> dict[str, Any]:
    info = client.model(model_id)
    digest, size, _ = downloads.folder([
        (item["path"], client.model_file_path(model_id, item["path"]))
        for item in client.model_files(model_id)])
    return {"id": model_id, "digest": digest, "size": size,
            "name": _text(info.get("name")) or model_id, "uri": _text(info.get("artifact_uri"))}
