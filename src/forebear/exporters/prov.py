"""W3C PROV-JSON (https://www.w3.org/Submission/prov-json/) from a lineage closure.

The mapping is PROV's own vocabulary, which forebear's edges already follow:

- each artifact is an ``entity``, each execution an ``activity`` (``prov:startTime``,
  ``prov:endTime``), each actor an ``agent``;
- an artifact -> execution edge is ``used`` and an execution -> artifact edge is
  ``wasGeneratedBy``, both with the edge's role as ``prov:role``: one relation per edge
  (a run that made one artifact under several roles has one generation, with each role);
- PROV lets an entity be generated once (PROV-CONSTRAINTS, generation-uniqueness), but
  content-addressed artifacts are often made again: a deterministic step re-run yields
  the same bytes. An artifact made by several runs stays one entity, the one its users
  ``used``, and each run generates its own ``specializationOf`` it,
  ``forebear:generation/<run id>/<artifact id>``;
- a run's actor gives ``wasAssociatedWith`` (its code anchor, when in the closure, as
  the ``prov:plan``);
- each output of a run ``wasDerivedFrom`` each data input of that run (not the code and
  environment anchors, which shape how a run works rather than what it worked on), with
  the run as ``prov:activity``.

Identifiers are qualified names whose prefixes are declared in ``prefix``, chosen so that
an artifact's PROV id *is* its forebear id: ``sha256:<hex>`` with ``sha256`` bound to
``urn:forebear:artifact:sha256:`` (``blake3`` likewise), ``dataset:<namespace>:<name>``
with ``dataset`` bound to ``urn:forebear:dataset:``, and ``run:<run id>`` with ``run``
bound to ``urn:uuid:``, so a run expands to the URN of its UUID. Actor names and dataset
names, which are free text, are percent-encoded into the local part (PROV-N's
``PN_LOCAL`` allows ``%XX`` escapes). Relations are anonymous (``_:u1``, ``_:g1``, ...),
as the submission's examples write them. forebear's own attributes (kind, status,
params, metrics, aliases, flags) are in the ``forebear`` namespace, ``urn:forebear:ns:``;
params and metrics are JSON text, as PROV attribute values are flat.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from forebear.exporters._graph import Graph, flag_text, index, locations, value_text
from forebear.graph._sql import ANCHOR_ROLES
from forebear.graph.lineage import Lineage

__all__ = ["PREFIXES", "to_prov"]

PREFIXES: Mapping[str, str] = {
    "forebear": "urn:forebear:ns:",
    "sha256": "urn:forebear:artifact:sha256:",
    "blake3": "urn:forebear:artifact:blake3:",
    "dataset": "urn:forebear:dataset:",
    "run": "urn:uuid:",
    "actor": "urn:forebear:actor:",
}
"""The ``prefix`` block of every document: the qualified names used in it."""

# Characters a local part keeps as they are; PROV-N escapes ':' and reads it back.
_LOCAL_SAFE = "-_.~:/@"


def _local(text: str) -> str:
    return quote(text, safe=_LOCAL_SAFE)


def entity_id(artifact_id: str) -> str:
    """The qualified name of an artifact: its forebear id, escaped where it must be."""
    prefix, sep, rest = artifact_id.partition(":")
    if sep and prefix in PREFIXES and prefix not in {"forebear", "run", "actor"}:
        return f"{prefix}:{_local(rest)}"
    return "forebear:artifact/" + _local(artifact_id)


def activity_id(run_id: str) -> str:
    """The qualified name of a run: ``run:<run id>`` (``urn:uuid:<run id>``)."""
    return "run:" + _local(run_id)


def agent_id(actor: str) -> str:
    """The qualified name of an actor."""
    return "actor:" + _local(actor)


def _generation_id(run_id: str, artifact_id: str) -> str:
    return f"forebear:generation/{_local(run_id)}/{_local(artifact_id)}"


def _roles_by_artifact(outputs: list[tuple[str, str]]) -> dict[str, list[str]]:
    roles: dict[str, list[str]] = {}
    for artifact, role in outputs:
        roles.setdefault(artifact, []).append(role)
    return roles


def _qname(value: str) -> dict[str, str]:
    return {"$": value, "type": "prov:QUALIFIED_NAME"}


def _entity(node: Mapping[str, Any], plans: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"forebear:id": node["id"]}
    if node.get("name"):
        out["prov:label"] = node["name"]
    if node.get("kind"):
        out["forebear:kind"] = node["kind"]
    found = locations(node)
    if found:
        out["prov:location"] = found[0] if len(found) == 1 else found
    if node["id"] in plans:
        out["prov:type"] = _qname("prov:Plan")
    return out


def _activity(node: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if node.get("started_at"):
        out["prov:startTime"] = node["started_at"]
    if node.get("ended_at"):
        out["prov:endTime"] = node["ended_at"]
    out["forebear:runId"] = node.get("run_id") or node["id"]
    for key, attr in (("name", "prov:label"), ("kind", "forebear:kind"),
                      ("status", "forebear:status"), ("reason", "forebear:reason")):
        if node.get(key) is not None:
            out[attr] = node[key]
    for key in ("params", "metrics"):
        if node.get(key):
            out[f"forebear:{key}"] = value_text(node[key])
    return out


def _annotate(out: dict[str, dict[str, Any]], key: str, attr: str, value: Any) -> None:
    """Add one more value to a (multi-valued) attribute of record ``key``."""
    record = out.get(key)
    if record is None:
        return
    have = record.get(attr)
    if have is None:
        record[attr] = value
    elif isinstance(have, list):
        have.append(value)
    else:
        record[attr] = [have, value]


def to_prov(lineage: Lineage, *, record: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The PROV-JSON document of ``lineage`` (see the module docstring).

    ``record`` is ``show``'s record of the root: its aliases become ``forebear:alias``
    on the root entity, and each flag in it ``forebear:flag`` on the node it was set on.
    """
    graph = index(lineage)
    return _document(graph, record or {})


def _document(graph: Graph, record: Mapping[str, Any]) -> dict[str, Any]:
    plans = {run["code"]["digest"] for run in graph.runs()
             if isinstance(run.get("code"), Mapping) and run["code"].get("digest") in graph.nodes}
    entities = {entity_id(n["id"]): _entity(n, plans) for n in graph.artifacts()}
    activities = {activity_id(n["id"]): _activity(n) for n in graph.runs()}
    agents: dict[str, dict[str, Any]] = {}
    used: dict[str, dict[str, Any]] = {}
    generated: dict[str, dict[str, Any]] = {}
    specializations: dict[str, dict[str, Any]] = {}
    associated: dict[str, dict[str, Any]] = {}
    derived: dict[str, dict[str, Any]] = {}
    for run in graph.runs():
        act = activity_id(run["id"])
        inputs = graph.used.get(run["id"], [])
        outputs = graph.produced.get(run["id"], [])
        for artifact, role in inputs:
            used[f"_:u{len(used) + 1}"] = {"prov:activity": act, "prov:entity":
                                           entity_id(artifact), "prov:role": role}
        made: dict[str, str] = {}  # artifact -> the entity this run generated
        for artifact, roles in _roles_by_artifact(outputs).items():
            made[artifact] = entity = entity_id(artifact)
            if len(graph.producers[artifact]) > 1:
                made[artifact] = specific = _generation_id(run["id"], artifact)
                entities[specific] = {"forebear:id": artifact, "forebear:runId": run["id"]}
                specializations[f"_:s{len(specializations) + 1}"] = {
                    "prov:specificEntity": specific, "prov:generalEntity": entity}
            generated[f"_:g{len(generated) + 1}"] = {
                "prov:entity": made[artifact], "prov:activity": act,
                "prov:role": roles[0] if len(roles) == 1 else roles}
        actor = run.get("actor")
        if actor:
            agents.setdefault(agent_id(actor), {"prov:label": actor})
            association = {"prov:activity": act, "prov:agent": agent_id(actor)}
            code = run.get("code")
            if isinstance(code, Mapping) and code.get("digest") in plans:
                association["prov:plan"] = entity_id(code["digest"])
            associated[f"_:a{len(associated) + 1}"] = association
        data = list(dict.fromkeys(a for a, role in inputs if role not in ANCHOR_ROLES))
        for output, entity in made.items():
            for source in data:
                if source != output:
                    derived[f"_:d{len(derived) + 1}"] = {
                        "prov:generatedEntity": entity,
                        "prov:usedEntity": entity_id(source), "prov:activity": act}
    root = graph.nodes.get(graph.root)
    if root is not None and root.get("type") == "artifact":
        for alias in record.get("aliases") or ():
            _annotate(entities, entity_id(graph.root), "forebear:alias", alias["name"])
    for flag in record.get("flags") or ():
        target = graph.nodes.get(str(flag.get("target")))
        if target is None:
            continue
        key = entity_id(target["id"]) if target.get("type") == "artifact" else activity_id(
            target["id"])
        _annotate(entities if key in entities else activities, key, "forebear:flag",
                  flag_text(flag))
    document: dict[str, Any] = {"prefix": dict(PREFIXES)}
    for name, part in (("entity", entities), ("activity", activities), ("agent", agents),
                       ("used", used), ("wasGeneratedBy", generated),
                       ("specializationOf", specializations),
                       ("wasAssociatedWith", associated), ("wasDerivedFrom", derived)):
        if part:
            document[name] = part
    return document
