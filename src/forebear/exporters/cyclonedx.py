"""A CycloneDX 1.6 ML-BOM (JSON) of what an artifact was made from.

The subject (``metadata.component``) is the artifact, a ``machine-learning-model`` when
its kind is ``model``; every other artifact of its upstream closure is a component:

| forebear kind | component |
| --- | --- |
| ``model`` | ``machine-learning-model``, with a ``modelCard`` from the run that made it |
| ``data``, ``dataset`` | ``data`` (``dataset``) |
| ``config``, ``configuration`` | ``data`` (``configuration``) |
| ``code`` | ``data`` (``source-code``), the git remote as a ``vcs`` reference |
| ``environment`` | ``platform``, its packages as ``library`` components |
| anything else | ``file`` |

Each artifact's ``bom-ref`` is its forebear id and its digest a hash (``SHA-256``,
``BLAKE3``). A model card holds what forebear knows of the run that made the model: the
data it used (``modelParameters.datasets``), its metrics
(``quantitativeAnalysis.performanceMetrics``), and its parameters and run record as
``forebear:`` properties. Packages come from the environment manifests (``packages``:
environment digest -> name -> version) as ``pkg:pypi/<name>@<version>`` purls.
``dependencies`` says what each artifact was made from (the inputs of the runs that
produced it) and which packages each environment holds. Runs themselves are not
components; their ids are properties of what they made.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from forebear.exporters._graph import (
    ENV_FIELDS,
    Graph,
    digest_parts,
    flag_text,
    git_url,
    index,
    locations,
    require_artifact,
    value_text,
)
from forebear.graph._sql import ANCHOR_ROLES
from forebear.graph.lineage import Lineage

__all__ = ["SPEC_VERSION", "purl", "to_cyclonedx"]

SPEC_VERSION = "1.6"

_HASH_ALGORITHMS = {"sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512",
                    "blake3": "BLAKE3", "sha1": "SHA-1", "md5": "MD5"}
_DATA_TYPES = {"data": "dataset", "dataset": "dataset", "config": "configuration",
               "configuration": "configuration", "code": "source-code"}
_RUN_FIELDS = ("run_id", "kind", "name", "status", "actor", "reason", "started_at", "ended_at")

Packages = Mapping[str, Mapping[str, str]]


def purl(name: str, version: str) -> str:
    """The package URL of a PyPI distribution (name normalized as PyPI does, PEP 503)."""
    normal = re.sub(r"[-_.]+", "-", name).lower()
    return f"pkg:pypi/{quote(normal, safe='')}@{quote(version, safe='')}"


def _component_type(kind: object) -> str:
    if kind == "model":
        return "machine-learning-model"
    if kind == "environment":
        return "platform"
    return "data" if kind in _DATA_TYPES else "file"


def _prop(name: str, value: Any) -> dict[str, str]:
    return {"name": name, "value": value_text(value)}


def _hashes(digest: object) -> list[dict[str, str]]:
    parts = digest_parts(digest)
    if parts is None or parts[0] not in _HASH_ALGORITHMS:
        return []
    return [{"alg": _HASH_ALGORITHMS[parts[0]], "content": parts[1]}]


class _Bom:
    """The components and dependencies of one BOM, built from one closure."""

    def __init__(self, graph: Graph, packages: Packages, record: Mapping[str, Any]) -> None:
        self.graph = graph
        self.packages = packages
        self.libraries: dict[str, dict[str, Any]] = {}
        self.holds: dict[str, list[str]] = {}  # environment id -> library purls
        # The code and environment records of the runs, by their anchor's digest.
        self.anchors: dict[str, Mapping[str, Any]] = {}
        for run in graph.runs():
            for key in ("code", "environment"):
                anchor = run.get(key)
                if isinstance(anchor, Mapping) and isinstance(anchor.get("digest"), str):
                    self.anchors.setdefault(anchor["digest"], anchor)
        self.flags: dict[str, list[Mapping[str, Any]]] = {}
        for flag in record.get("flags") or ():
            self.flags.setdefault(str(flag.get("target")), []).append(flag)

    def component(self, node: Mapping[str, Any]) -> dict[str, Any]:
        kind = node.get("kind")
        ident = str(node["id"])
        out: dict[str, Any] = {"type": _component_type(kind), "bom-ref": ident,
                               "name": node.get("name") or ident}
        anchor = self.anchors.get(ident, {})
        if kind == "environment" and anchor.get("python"):
            out["version"] = f"python {anchor['python']}"
        hashes = _hashes(node.get("digest"))
        if hashes:
            out["hashes"] = hashes
        if kind == "code":
            remote = git_url(anchor.get("remote"))
            if remote:
                out["externalReferences"] = [{"type": "vcs", "url": remote}]
        if out["type"] == "machine-learning-model":
            card = self.model_card(ident)
            if card:
                out["modelCard"] = card
        if out["type"] == "data":
            data: dict[str, Any] = {"type": _DATA_TYPES[str(kind)], "name": out["name"]}
            url = next(iter(locations(node)), None)
            if url:
                data["contents"] = {"url": url}
            out["data"] = [data]
        props = [_prop("forebear:id", ident)]
        if kind:
            props.append(_prop("forebear:kind", kind))
        props += [_prop("forebear:uri", uri) for uri in node.get("uris") or ()]
        if kind == "code":
            props += [_prop(f"forebear:git.{k}", anchor[k]) for k in ("commit", "branch", "dirty")
                      if anchor.get(k) is not None]
        if kind == "environment":
            props += [_prop(f"forebear:environment.{k}", anchor[k]) for k in ENV_FIELDS
                      if anchor.get(k) is not None]
            self.add_libraries(ident, anchor)
        for flag in self.flags.get(ident, ()):
            props.append(_prop("forebear:flag", flag_text(flag)))
        out["properties"] = props
        return out

    def model_card(self, ident: str) -> dict[str, Any]:
        run = self.graph.maker(ident)
        if run is None:
            return {}
        card: dict[str, Any] = {}
        datasets = [{"ref": str(node["id"])} for node, role in self.graph.inputs(str(run["id"]))
                    if role not in ANCHOR_ROLES and _component_type(node.get("kind")) == "data"]
        if datasets:
            card["modelParameters"] = {"datasets": list({d["ref"]: d for d in datasets}.values())}
        metrics = run.get("metrics") or {}
        if metrics:
            card["quantitativeAnalysis"] = {"performanceMetrics": [
                {"type": str(name), "value": value_text(value)} for name, value in metrics.items()
            ]}
        props = [_prop(f"forebear:run.{k}", run[k]) for k in _RUN_FIELDS
                 if run.get(k) is not None]
        props += [_prop(f"forebear:param:{k}", v) for k, v in (run.get("params") or {}).items()]
        card["properties"] = props
        return card

    def add_libraries(self, ident: str, anchor: Mapping[str, Any]) -> None:
        listed = self.packages.get(ident)
        if listed is None and isinstance(anchor.get("packages"), Mapping):
            listed = anchor["packages"]
        refs = []
        for name, version in sorted((listed or {}).items()):
            ref = purl(name, version)
            self.libraries.setdefault(ref, {"type": "library", "bom-ref": ref, "name": name,
                                            "version": version, "purl": ref})
            refs.append(ref)
        if refs:
            self.holds[ident] = sorted(set(refs))

    def dependencies(self, refs: Sequence[str]) -> list[dict[str, Any]]:
        out = []
        for ref in refs:
            made_from = {a for run in self.graph.producers.get(ref, ())
                         for a, _ in self.graph.used.get(run, ())}
            made_from.update(self.holds.get(ref, ()))
            made_from.discard(ref)
            out.append({"ref": ref, "dependsOn": sorted(made_from)})
        return out


def to_cyclonedx(
    lineage: Lineage,
    *,
    serial: uuid.UUID,
    timestamp: str,
    tool_version: str,
    record: Mapping[str, Any] | None = None,
    packages: Packages | None = None,
) -> dict[str, Any]:
    """The ML-BOM of ``lineage``'s root (see the module docstring).

    ``serial`` and ``timestamp`` (RFC 3339) identify this BOM; ``tool_version`` is
    forebear's. ``record`` is ``show``'s record of the root: its aliases and the flags on
    it or its ancestors become ``forebear:alias`` and ``forebear:flag`` properties. The
    root must be an artifact and the closure upstream (UsageError otherwise).
    """
    graph = index(lineage)
    record = record or {}
    root = require_artifact(graph, "CycloneDX", record.get("outputs") or ())
    bom = _Bom(graph, packages or {}, record)
    subject = bom.component(root)
    subject["properties"] += [_prop("forebear:alias", a["name"])
                              for a in record.get("aliases") or ()]
    # A flag on an ancestor taints the subject too: say so on the subject itself.
    subject["properties"] += [
        _prop("forebear:flag.inherited", f"{flag_text(f)} (on {f.get('target')})")
        for f in record.get("flags") or () if f.get("target") != root["id"]
    ]
    components = [bom.component(n) for n in graph.artifacts() if n["id"] != graph.root]
    refs = [str(root["id"])] + [c["bom-ref"] for c in components]
    components += [bom.libraries[ref] for ref in sorted(bom.libraries)]
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{serial}",
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": {"components": [{"type": "application", "name": "forebear",
                                      "version": tool_version}]},
            "component": subject,
        },
        "components": components,
        "dependencies": bom.dependencies(refs),
    }
