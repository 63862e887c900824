"""OpenLineage out: a closure as the RunEvents that describe it (OpenLineage 2-0-2).

Each run becomes a START event at its start time and, once it has ended, a COMPLETE,
FAIL or ABORT event at its end time; the list is in time order, so a catalogue that
takes them one by one (Marquez, DataHub, OpenMetadata, another ``forebear serve``) sees
each run start before it ends and after the runs that made its inputs. The closure picks
the runs; each run's events then list all of that run's inputs and outputs as the store
has them (``details``), those outside the closure included, for an event states what one
run read and wrote, and a consumer takes it as the whole of it. The events say what
forebear's own OpenLineage ingest reads back (``forebear.model.openlineage``), so runs,
artifacts, data edges and the runs' code and environment records survive the trip from
one store to another.

- **job**: the run's namespace (``forebear`` when it has none) and name; facets
  ``jobType`` (integration ``FOREBEAR``, the run's kind) and ``sourceCodeLocation`` from
  the code anchor (git remote, commit, branch) when the repository has a remote, which
  the facet requires as its ``url``.
- **run**: the run id; facets ``parent``, ``processing_engine``, ``tags``,
  ``errorMessage`` (a failed run's error and traceback), and ``forebear`` (kind, params,
  actor, reason, the ``code`` and ``environment`` records, and on the last event the
  metrics). ``processing_engine`` is the engine a run was received with from
  OpenLineage (its name, version and adapter), else Python and its version with forebear
  as the adapter. ``parent`` names the parent run and its job as that run's own events
  name it; a parent the store does not hold is known by its id alone, which stands as
  its job's name in namespace ``forebear`` (the facet requires a job), as forebear
  names a run it knows nothing more of.
- **datasets**: an artifact received from OpenLineage is the dataset it was received as
  (its recorded namespace and its name); any other recorded at a location is the dataset
  at that location (a path is namespace ``file``, ``s3://bucket/key`` is namespace
  ``s3://bucket`` and name ``key``, as OpenLineage's naming spec has them), and its
  digest is that dataset's version (``version`` facet); one without a location is named
  by its digest in namespace ``forebear``; a ``dataset:`` artifact (no digest) is its
  own namespace and name. The ``forebear`` dataset facet carries the digest and kind, the
  input and output facets the edge's role. A run's code and environment anchors are
  inputs in those roles, so that a reader links the run to the same anchor nodes.

Metrics that are not finite numbers (OpenLineage facets are JSON; ``NaN`` is not) go in
``forebear.otherMetrics`` as text. Job and dataset names are what OpenLineage readers
take as names (``forebear.model.openlineage.check_name``): NFC, without control or
format characters or surrounding spaces; a name that is none of that after tidying
(an unnamed run) is the run id.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from forebear.exporters._graph import Graph, index, locations
from forebear.graph.lineage import Lineage
from forebear.model.entries import MAX_NAME
from forebear.model.openlineage import DEFAULT_NAMESPACE, FACET

__all__ = ["SCHEMA_URL", "to_openlineage"]

SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
"""The ``schemaURL`` of every event."""

_FACETS = "https://openlineage.io/spec/facets/"
_SCHEMAS = {
    "jobType": _FACETS + "2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
    "sourceCodeLocation": _FACETS + "1-1-0/SourceCodeLocationJobFacet.json"
                                    "#/$defs/SourceCodeLocationJobFacet",
    "processing_engine": _FACETS + "1-1-1/ProcessingEngineRunFacet.json"
                                   "#/$defs/ProcessingEngineRunFacet",
    "parent": _FACETS + "1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet",
    "errorMessage": _FACETS + "1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
    "tags": _FACETS + "1-0-0/TagsRunFacet.json#/$defs/TagsRunFacet",
    "version": _FACETS + "1-0-1/DatasetVersionDatasetFacet.json"
                         "#/$defs/DatasetVersionDatasetFacet",
    FACET: "urn:forebear:openlineage:facet:1",
}
_TERMINAL = {"succeeded": "COMPLETE", "failed": "FAIL", "aborted": "ABORT"}


def to_openlineage(
    lineage: Lineage,
    *,
    version: str,
    details: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The RunEvents of every run in ``lineage``, in time order (see the module docstring).

    ``version`` is forebear's, named in each event's producer (``urn:forebear:<version>``);
    ``details`` gives, by run id, what a closure's nodes do not carry: ``namespace``,
    ``tags``, ``parent_run_id``, ``error`` and ``traceback`` (see
    ``forebear.graph.show.run_details``); ``inputs`` and ``outputs``, all of the run's
    ``(artifact NODE, role)`` pairs, each NODE with the ``namespace`` it was received under
    if any; and ``parent``, the parent run's ``name`` and ``namespace`` (see
    ``forebear.graph.export.openlineage_details``). Each is optional: without ``inputs``
    and ``outputs`` a run's events list its edges in the closure.
    """
    graph = index(lineage)
    extra = details or {}
    producer = f"urn:forebear:{version}"
    events: list[tuple[str, int, dict[str, Any]]] = []
    for run in graph.runs():
        more = extra.get(run["id"]) or {}
        parent = more.get("parent_run_id")
        job = _parent_job(graph, str(parent), more, extra) if parent else None
        for order, event in enumerate(_events(graph, run, more, job, producer, version)):
            events.append((event["eventTime"], order, event))
    events.sort(key=lambda item: (item[0], item[1]))
    return [event for _, _, event in events]


def _facet(producer: str, facet: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": producer, "_schemaURL": _SCHEMAS[facet], **fields}


def _events(graph: Graph, run: Mapping[str, Any], more: Mapping[str, Any],
            parent_job: Mapping[str, str] | None, producer: str, version: str
            ) -> list[dict[str, Any]]:
    kind = str(run.get("kind") or "run")
    job_namespace = _name(more.get("namespace"), DEFAULT_NAMESPACE)
    job_facets: dict[str, Any] = {
        "jobType": _facet(producer, "jobType", processingType="BATCH",
                          integration="FOREBEAR", jobType=kind.upper()),
    }
    code = run.get("code")
    # The facet's url is required: code from a repository without a remote has none, and
    # its commit stays in the code node's digest and the run's own facet.
    if isinstance(code, Mapping) and code.get("remote"):
        job_facets["sourceCodeLocation"] = _facet(
            producer, "sourceCodeLocation", type="git",
            **{k: v for k, v in (("url", code.get("remote")), ("repoUrl", code.get("remote")),
                                 ("version", code.get("commit")),
                                 ("branch", code.get("branch")),
                                 ("path", code.get("entry_point"))) if v})
    run_facets: dict[str, Any] = {}
    env = run.get("environment")
    engine = _engine(env, version) if isinstance(env, Mapping) else None
    if engine is not None:
        run_facets["processing_engine"] = _facet(producer, "processing_engine", **engine)
    if parent_job is not None:
        run_facets["parent"] = _facet(producer, "parent",
                                      run={"runId": more["parent_run_id"]}, job=parent_job)
    tags = more.get("tags") or {}
    if tags:
        run_facets["tags"] = _facet(producer, "tags", tags=[
            {"key": str(k), "value": "" if v is None else str(v), "source": "FOREBEAR"}
            for k, v in sorted(tags.items())])
    ours: dict[str, Any] = {"kind": kind, "params": dict(run.get("params") or {})}
    if run.get("actor"):
        ours["actor"] = run["actor"]
    if run.get("reason"):
        ours["reason"] = run["reason"]
    # The records themselves, for a forebear reader: the facets above are what OpenLineage
    # can say of them, and a record rebuilt from those would be another anchor.
    for anchor in ("code", "environment"):
        record = run.get(anchor)
        if isinstance(record, Mapping) and record.get("digest"):
            ours[anchor] = dict(record)
    job = {"namespace": job_namespace, "name": _name(run.get("name"), run["id"]),
           "facets": job_facets}
    used = more.get("inputs")
    made = more.get("outputs")
    inputs = [_dataset(node, role, "inputFacets", producer) for node, role in (
        used if used is not None else graph.inputs(run["id"]))]
    outputs = [_dataset(node, role, "outputFacets", producer) for node, role in (
        made if made is not None
        else [(graph.nodes[a], role) for a, role in graph.produced.get(run["id"], ())])]

    def event(event_type: str, when: Any, facets: dict[str, Any], *,
              outputs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"eventType": event_type, "eventTime": when, "producer": producer,
                "schemaURL": SCHEMA_URL, "run": {"runId": run["id"], "facets": facets},
                "job": job, "inputs": inputs, "outputs": outputs}

    start = event("START", run.get("started_at") or run.get("ended_at"),
                  {**run_facets, FACET: _facet(producer, FACET, **ours)}, outputs=[])
    terminal = _TERMINAL.get(str(run.get("status")))
    if terminal is None or not run.get("ended_at"):
        return [start]
    numbers, other = _metrics(run.get("metrics") or {})
    last = {**ours, "metrics": numbers, **({"otherMetrics": other} if other else {})}
    end_facets = {**run_facets, FACET: _facet(producer, FACET, **last)}
    if terminal == "FAIL" and more.get("error"):
        end_facets["errorMessage"] = _facet(
            producer, "errorMessage", message=str(more["error"]), programmingLanguage="python",
            **({"stackTrace": str(more["traceback"])} if more.get("traceback") else {}))
    return [start, event(terminal, run["ended_at"], end_facets, outputs=outputs)]


def _engine(env: Mapping[str, Any], version: str) -> dict[str, str] | None:
    """The ``processing_engine`` facet's fields for an environment record, if it names an
    engine and its version (the facet requires the version)."""
    if env.get("engine_version"):  # received from OpenLineage: the engine it ran on
        fields = {"version": str(env["engine_version"])}
        if env.get("engine"):
            fields["name"] = str(env["engine"])
        if env.get("openlineage_adapter"):
            fields["openlineageAdapterVersion"] = str(env["openlineage_adapter"])
        return fields
    if env.get("python"):  # captured by forebear: Python, with forebear as the adapter
        return {"name": str(env.get("implementation") or "python"),
                "version": str(env["python"]), "openlineageAdapterVersion": version}
    return None


def _parent_job(graph: Graph, parent: str, more: Mapping[str, Any],
                extra: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The parent's job as its own events name it (see the module docstring)."""
    known = more.get("parent")
    if not isinstance(known, Mapping):
        node = graph.nodes.get(parent)
        known = None if node is None else {
            "name": node.get("name"), "namespace": (extra.get(parent) or {}).get("namespace")}
    if known is None:
        return {"namespace": DEFAULT_NAMESPACE, "name": parent}
    return {"namespace": _name(known.get("namespace"), DEFAULT_NAMESPACE),
            "name": _name(known.get("name"), parent)}


def _dataset(node: Mapping[str, Any], role: str, io_key: str, producer: str) -> dict[str, Any]:
    namespace, name = _dataset_name(node)
    facets: dict[str, Any] = {}
    digest = node.get("digest")
    ours: dict[str, Any] = {"kind": node.get("kind") or "artifact"}
    if digest:
        facets["version"] = _facet(producer, "version", datasetVersion=digest)
        ours["digest"] = digest
    facets[FACET] = _facet(producer, FACET, **ours)
    return {"namespace": namespace, "name": name, "facets": facets,
            io_key: {FACET: _facet(producer, FACET, role=role)}}


def _dataset_name(node: Mapping[str, Any]) -> tuple[str, str]:
    ident = str(node["id"])
    if not node.get("digest") and ident.startswith("dataset:"):
        # dataset:<namespace>:<name>, where both may hold ':': the recorded name says where
        # to split, else the last ':' does; either way the id is the same again.
        rest, name = ident[len("dataset:"):], str(node.get("name") or "")
        namespace, sep, last = rest.rpartition(":")
        if name and rest.endswith(":" + name):
            namespace, last = rest[: -len(name) - 1], name
        if sep or name:
            return namespace, last
    recorded = node.get("namespace")
    if isinstance(recorded, str) and _name(recorded, "") == recorded and node.get("name"):
        # Received from OpenLineage as this namespace and name: it goes back out as them.
        return recorded, _name(node.get("name"), ident)
    for uri in locations(node):
        parts = urlsplit(uri)
        if parts.scheme == "file":
            return "file", _name(unquote(parts.path), ident)
        if parts.scheme and parts.netloc:
            return (f"{parts.scheme}://{parts.netloc}",
                    _name(unquote(parts.path).lstrip("/"), "/"))
    return DEFAULT_NAMESPACE, _name(node.get("name"), ident)


def _name(text: object, fallback: str) -> str:
    """``text`` as an OpenLineage name (see the module docstring), else ``fallback``."""
    if not isinstance(text, str):
        return fallback
    if not (text.isascii() and text.isprintable()):
        text = "".join(c for c in unicodedata.normalize("NFC", text)
                       if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn"))
    text = text.strip()[:MAX_NAME].strip()
    return text or fallback


def _metrics(metrics: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    numbers: dict[str, float] = {}
    other: dict[str, str] = {}
    for key, value in metrics.items():
        if isinstance(value, int | float) and not isinstance(value, bool) \
                and math.isfinite(value):
            numbers[key] = value
        else:
            other[key] = str(value)
    return numbers, other
