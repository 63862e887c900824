"""Lineage out, in the formats other tools read: PROV-JSON, CycloneDX ML-BOM, SLSA.

Each exporter is a pure function from a closure (``forebear.graph.lineage.Lineage``) and
``show``'s record of its root to a JSON-ready dict; none reads a store or a file. What
they need from outside (environment package lists, a BOM serial number, the time) is
passed in. Graphviz DOT and Mermaid live in ``forebear.graph.render``.
"""

from __future__ import annotations

from forebear.exporters.cyclonedx import to_cyclonedx
from forebear.exporters.prov import to_prov
from forebear.exporters.slsa import to_slsa

__all__ = ["to_cyclonedx", "to_prov", "to_slsa"]
