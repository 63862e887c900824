"""Lineage out, in the formats other tools read: PROV-JSON, CycloneDX ML-BOM, SLSA, and
OpenLineage RunEvents.

Each exporter is a pure function from a closure (``forebear.graph.lineage.Lineage``) and
``show``'s record of its root to a JSON-ready dict; none reads a store or a file. What
they need from outside (environment package lists, a BOM serial number, the time) is
passed in: ``loader`` and ``details`` are the callers' reads of the store.
Graphviz DOT and Mermaid live in ``forebear.graph.render``. ``document`` picks
the exporter by name, for the CLI (``forebear export``) and the server alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from forebear.errors import UsageError
from forebear.exporters.cyclonedx import to_cyclonedx
from forebear.exporters.openlineage import to_openlineage
from forebear.exporters.prov import to_prov
from forebear.exporters.slsa import to_slsa

__all__ = ["BOTH_WAYS", "FORMATS", "check", "document", "packages_of", "to_cyclonedx",
           "to_openlineage", "to_prov", "to_slsa"]

FORMATS = ("prov", "cyclonedx", "slsa", "openlineage")
"""Export formats by name: W3C PROV-JSON, CycloneDX 1.6 ML-BOM, SLSA provenance v1, and
OpenLineage 2-0-2 RunEvents (a JSON array)."""
BOTH_WAYS = ("prov", "openlineage")
"""The formats that also export a downstream closure; the others describe what an
artifact came from."""


def packages_of(closure: Any, loader: Callable[[str], Any] | None) -> dict[str, Any]:
    """Environment digest -> packages, for each environment in ``closure`` whose manifest
    ``loader`` can read (``forebear.graph.diff.blob_packages``); none without a loader."""
    if loader is None:
        return {}
    found = {}
    for node in closure.nodes:
        if node.get("type") == "artifact" and node.get("kind") == "environment" \
                and isinstance(node.get("digest"), str):
            listed = loader(node["digest"])
            if listed is not None:
                found[node["digest"]] = listed
    return found


def check(fmt: str, direction: str) -> None:
    """Refuse a format that does not exist, or a downstream CycloneDX or SLSA export: those
    describe what an artifact came from."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}", hint=", ".join(FORMATS))
    if fmt not in BOTH_WAYS and direction != "upstream":
        raise UsageError(f"a {fmt} export describes what an artifact came from, "
                         "so it is upstream only",
                         hint="drop --direction downstream, or use --format prov or "
                         "openlineage")


def document(fmt: str, closure: Any, *, record: Mapping[str, Any] | None, version: str,
             loader: Callable[[str], Any] | None = None,
             details: Callable[[list[str]], Mapping[str, Mapping[str, Any]]] | None = None,
             ) -> Any:
    """``closure`` (its root's ``show`` record beside it) as a ``fmt`` document (``check``).

    A CycloneDX BOM gets a new serial number and the current time, and its environments'
    package lists through ``loader`` (only that format reads them). OpenLineage events
    get the runs' namespaces, tags, parents and errors through ``details``
    (``forebear.graph.show.run_details``).
    """
    check(fmt, closure.direction)
    if fmt == "prov":
        return to_prov(closure, record=record)
    if fmt == "openlineage":
        runs = [str(n["id"]) for n in closure.nodes if n.get("type") == "execution"]
        return to_openlineage(closure, version=version,
                              details=details(runs) if details is not None else None)
    if fmt == "cyclonedx":
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return to_cyclonedx(closure, record=record, packages=packages_of(closure, loader),
                            serial=uuid.uuid4(), timestamp=now, tool_version=version)
    return to_slsa(closure, record=record, builder_version=version)
