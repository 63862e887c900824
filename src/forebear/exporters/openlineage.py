"""OpenLineage out: a closure as the RunEvents that describe it (OpenLineage 2-0-2).

Each run becomes a START event at its start time and, once it has ended, a COMPLETE,
FAIL or ABORT event at its end time; the list is in time order, so a catalogue that
takes them one by one (Marquez, DataHub, OpenMetadata, another ``forebear serve``) sees
each run start before it ends and after the runs that made its inputs. The events say
what forebear's own OpenLineage ingest reads back (``forebear.model.openlineage``), so
runs, artifacts and data edges survive the trip from one store to another; the code and
environment anchors travel as the standard facets below.

- **job**: the run's namespace (``forebear`` when it has none) and name; facets
  ``jobType`` (integration ``FOREBEAR``, the run's kind) and ``sourceCodeLocation`` from
  the code anchor (git remote, commit, branch) when the repository has a remote, which
  the facet requires as its ``url``.
- **run**: the run id; facets ``parent``, ``processing_engine`` (Python and its version,
  forebear as the adapter), ``tags``, ``errorMessage`` (a failed run's error and
  traceback), and ``forebear`` (kind, params, actor, reason, and on the last event the
  metrics).
- **datasets**: an artifact recorded at a location is the dataset at that location (a
  path is namespace ``file``, ``s3://bucket/key`` is namespace ``s3://bucket`` and name
  ``key``, as OpenLineage's naming spec has them), and its digest is that dataset's
  version (``version`` facet); one without a location is named by its digest in
  namespace ``forebear``; a ``dataset:`` artifact (no digest) is its own namespace and
  name. The ``forebear`` dataset facet carries the digest and kind, the input and output
  facets the edge's role.

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
    ``tags``, ``parent_run_id``, ``error`` and ``traceback`` (each optional; see
    ``forebear.graph.show.run_details``).
    """
    graph = index(lineage)
    extra = details or {}
    producer = f"urn:forebear:{version}"
    events: list[tuple[str, int, dict[str, Any]]] = []
    for run in graph.runs():
        more = extra.get(run["id"]) or {}
        for order, event in enumerate(_events(graph, run, more, producer, version)):
            events.append((event["eventTime"], order, event))
    events.sort(key=lambda item: (item[0], item[1]))
    return [event for _, _, event in events]


def _facet(producer: str, facet: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": producer, "_schemaURL": _SCHEMAS[facet], **fields}


def _events(graph: Graph, run: Mapping[str, Any], more: Mapping[str, Any],
            producer: str, version: str) -> list[dict[str, Any]]:
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
    if isinstance(env, Mapping) and env.get("python"):
        run_facets["processing_engine"] = _facet(
            producer, "processing_engine", **{
                "name": str(env.get("implementation") or "python"),
                "version": str(env["python"]), "openlineageAdapterVersion": version})
    parent = more.get("parent_run_id")
    if parent:
        run_facets["parent"] = _facet(producer, "parent", run={"runId": parent},
                                      job=_parent_job(graph, parent, job_namespace))
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
    job = {"namespace": job_namespace, "name": _name(run.get("name"), run["id"]),
           "facets": job_facets}
    inputs = [_dataset(graph.nodes[a], role, "inputFacets", producer)
              for a, role in graph.used.get(run["id"], ())]
    outputs = [_dataset(graph.nodes[a], role, "outputFacets", producer)
               for a, role in graph.produced.get(run["id"], ())]

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


def _parent_job(graph: Graph, parent: str, namespace: str) -> dict[str, str]:
    # The parent facet names the parent's job too; a parent outside the closure is only
    # known by its id, so its job is named after it, in the child's namespace.
    node = graph.nodes.get(parent)
    return {"namespace": namespace, "name": _name(node.get("name"), parent) if node else parent}


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
