"""SLSA provenance v1 in an in-toto Statement v1, for an artifact a recorded run made.

The run that made the artifact (the one with the smallest run id when several did, as
``show`` decides) is the build:

- ``subject``: the artifact, by name and digest (``{"sha256": "<hex>"}``), with its
  aliases and any flags on it or its ancestors as annotations;
- ``buildDefinition.buildType``: ``urn:forebear:buildType:run:v1``;
  ``externalParameters``: the run's parameters; ``internalParameters``: forebear's
  record of the run (kind, name, status, actor, reason);
- ``resolvedDependencies``: every input of the run, each with its role as an
  annotation: data and models by URI (where one was recorded) and digest, the code as
  ``git+<remote>`` with the commit as the ``gitCommit`` digest (and the code anchor's
  own digest, which also covers any uncommitted diff), the environment by the digest of
  its package manifest;
- ``runDetails``: builder ``urn:forebear:builder`` (forebear's version as its version),
  ``metadata.invocationId`` the run id, ``startedOn``/``finishedOn`` its times.

The statement is not signed: wrap it in a DSSE envelope with a signing tool of your
choice (forebear signs its journal, not attestations for people).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forebear.errors import UsageError
from forebear.exporters._graph import (
    ENV_FIELDS,
    Graph,
    digest_parts,
    git_url,
    index,
    locations,
    require_artifact,
)
from forebear.graph.lineage import Lineage

__all__ = ["BUILDER_ID", "BUILD_TYPE", "PREDICATE_TYPE", "STATEMENT_TYPE", "to_slsa"]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:forebear:buildType:run:v1"
BUILDER_ID = "urn:forebear:builder"

_RUN_FIELDS = ("kind", "name", "status", "actor", "reason")


def _digest_set(digest: object) -> dict[str, str]:
    parts = digest_parts(digest)
    return {} if parts is None else {parts[0]: parts[1]}


def _descriptor(node: Mapping[str, Any], role: str) -> dict[str, Any]:
    """A ResourceDescriptor of one artifact."""
    out: dict[str, Any] = {"name": node.get("name") or node["id"]}
    uri = next(iter(locations(node)), None)
    if uri:
        out["uri"] = uri
    digest = _digest_set(node.get("digest"))
    if digest:
        out["digest"] = digest
    notes: dict[str, Any] = {"role": role, "forebear.id": node["id"]}
    if node.get("kind"):
        notes["kind"] = node["kind"]
    out["annotations"] = notes
    return out


def _code(node: Mapping[str, Any], code: Mapping[str, Any]) -> dict[str, Any]:
    out = _descriptor(node, "code")
    url = git_url(code.get("remote"))
    if url:
        out["uri"] = "git+" + url
    if isinstance(code.get("commit"), str) and code["commit"]:
        out["digest"] = {"gitCommit": code["commit"], **out.get("digest", {})}
    for key in ("branch", "dirty"):
        if code.get(key) is not None:
            out["annotations"][key] = code[key]
    return out


def _environment(node: Mapping[str, Any], env: Mapping[str, Any]) -> dict[str, Any]:
    out = _descriptor(node, "environment")
    out["annotations"].update({k: env[k] for k in ENV_FIELDS if env.get(k) is not None})
    return out


def _dependencies(graph: Graph, run: Mapping[str, Any]) -> list[dict[str, Any]]:
    code = run.get("code") if isinstance(run.get("code"), Mapping) else {}
    env = run.get("environment") if isinstance(run.get("environment"), Mapping) else {}
    out = []
    for node, role in graph.inputs(str(run["id"])):
        if role == "code":
            out.append(_code(node, code or {}))
        elif role == "environment":
            out.append(_environment(node, env or {}))
        else:
            out.append(_descriptor(node, role))
    return out


def _subject(root: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, Any]:
    digest = _digest_set(root.get("digest"))
    if not digest:
        raise UsageError(
            f"{root['id']} has no content digest, and an in-toto subject needs one",
            hint="export an artifact recorded by its content (a file a run produced)")
    out: dict[str, Any] = {"name": root.get("name") or root["id"], "digest": digest}
    notes: dict[str, Any] = {}
    aliases = [a["name"] for a in record.get("aliases") or ()]
    if aliases:
        notes["aliases"] = aliases
    flags = [{k: f.get(k) for k in ("reason", "actor", "flagged_at", "target", "inherited")
              if f.get(k) is not None} for f in record.get("flags") or ()]
    if flags:
        notes["flags"] = flags
    if notes:
        out["annotations"] = notes
    return out


def to_slsa(
    lineage: Lineage, *, builder_version: str, record: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The in-toto Statement (SLSA provenance v1) of ``lineage``'s root.

    ``record`` is ``show``'s record of the root (aliases and flags become subject
    annotations). The root must be an artifact with a digest, made by a run in the
    upstream closure (UsageError otherwise).
    """
    graph = index(lineage)
    record = record or {}
    root = require_artifact(graph, "SLSA", record.get("outputs") or ())
    subject = _subject(root, record)
    run = graph.maker(str(root["id"]))
    if run is None:
        raise UsageError(
            f"{root.get('name') or root['id']} was not made by any recorded run, "
            "so there is no build to attest",
            hint="export an artifact a run produced, or use --format prov or cyclonedx")
    metadata: dict[str, Any] = {"invocationId": run["id"]}
    if run.get("started_at"):
        metadata["startedOn"] = run["started_at"]
    if run.get("ended_at"):
        metadata["finishedOn"] = run["ended_at"]
    details: dict[str, Any] = {
        "builder": {"id": BUILDER_ID, "version": {"forebear": builder_version}},
        "metadata": metadata,
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": [subject],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": dict(run.get("params") or {}),
                "internalParameters": {k: run[k] for k in _RUN_FIELDS
                                       if run.get(k) is not None},
                "resolvedDependencies": _dependencies(graph, run),
            },
            "runDetails": details,
        },
    }
