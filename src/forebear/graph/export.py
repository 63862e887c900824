"""An export of a REF's lineage, read from a store: what ``forebear export`` prints and
``GET /api/v1/export`` sends. The mapping itself is ``forebear.exporters`` (pure); here
the store is read for it, and only for what the format uses."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from forebear._json import loads
from forebear.graph._sql import Queryable, chunks, fetch_nodes, marks, run
from forebear.graph.refs import Resolved

__all__ = ["export_document", "openlineage_details"]


def export_document(store: Queryable, root: Resolved, fmt: str, direction: str, *,
                    version: str, loader: Callable[[], Any] | None = None,
                    source: Resolved | None = None) -> tuple[str, Any]:
    """(root id, the ``fmt`` document of ``root``'s closure in ``direction``), or, with
    ``source``, of the paths from ``source`` to ``root`` only (``forebear path``): an
    auditor's answer to "how did this dataset reach this model?".

    ``show``'s record is read for the formats that carry aliases and flags (not
    OpenLineage's events), and ``loader()`` (environment package lists, from a blob store
    the caller opens only then) is called for CycloneDX alone. OpenLineage's events also
    get each run's own inputs, outputs and parent job (``openlineage_details``).
    """
    from forebear import exporters
    from forebear.errors import NotFoundError, UsageError
    from forebear.graph import lineage
    from forebear.graph.show import run_details, show

    exporters.check(fmt, direction)
    if source is None:
        closure = lineage.closure(store, root.node, "upstream" if direction == "upstream"
                                  else "downstream")
    else:
        if direction != "upstream":
            raise UsageError("--from exports the paths to REF, which run upstream",
                             hint="drop --direction downstream, or --from")
        closure = lineage.between(store, source.node, root.node)
        if not closure.nodes:
            raise NotFoundError(f"no path: {root.key} does not come from {source.key}",
                                hint="swap them if the other came first; `forebear "
                                "path` draws the paths")
    record = show(store, root) if fmt != "openlineage" else None
    packages = loader() if loader is not None and fmt == "cyclonedx" else None
    read = openlineage_details if fmt == "openlineage" else run_details
    return closure.root, exporters.document(
        fmt, closure, record=record, version=version, loader=packages,
        details=lambda runs: read(store, runs))


def openlineage_details(store: Queryable, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``run_details`` of each run, and what its OpenLineage events say beyond a closure.

    An event states what one run read and wrote, so it lists all of the run's inputs and
    outputs, not those a closure happens to hold: ``inputs`` and ``outputs`` are
    ``(artifact NODE, role)`` pairs in recorded order, each NODE with the ``namespace``
    its artifact was received under, if any. ``parent`` is the parent run's ``name`` and
    ``namespace`` when the store holds that run.
    """
    from forebear.graph.show import run_details

    found = run_details(store, run_ids)
    nodes: dict[int, str] = {}
    for part in chunks(list(found)):
        nodes.update((int(node), run_id) for node, run_id in run(
            store, f"SELECT node, run_id FROM execution WHERE run_id IN ({marks(len(part))})",
            part))
    edges: list[tuple[int, str, int, str, str]] = []  # (seq, run id, artifact, role, side)
    for part in chunks(sorted(nodes)):
        for near, far, side in (("dst", "src", "inputs"), ("src", "dst", "outputs")):
            rows = run(store, f"SELECT e.{near}, e.{far}, e.role, e.seq FROM edge e "
                       f"WHERE e.{near} IN ({marks(len(part))})", part)
            edges += [(int(seq), nodes[int(here)], int(there), role, side)
                      for here, there, role, seq in rows]
    artifacts = fetch_nodes(store, {artifact for _, _, artifact, _, _ in edges})
    for part in chunks(sorted(artifacts)):
        rows = run(store, "SELECT node, meta FROM artifact WHERE meta IS NOT NULL AND node "
                   f"IN ({marks(len(part))})", part)
        for node, meta in rows:
            recorded = loads(meta)
            namespace = recorded.get("namespace") if isinstance(recorded, dict) else None
            if isinstance(namespace, str):
                artifacts[int(node)]["namespace"] = namespace
    for details in found.values():
        details["inputs"], details["outputs"] = [], []
    for _, run_id, artifact, role, side in sorted(edges, key=lambda e: (e[0], e[2], e[3])):
        if artifact in artifacts:
            found[run_id][side].append((artifacts[artifact], role))
    parents = sorted({str(d["parent_run_id"]) for d in found.values() if d["parent_run_id"]})
    known: dict[str, dict[str, Any]] = {}
    for part in chunks(parents):
        rows = run(store, "SELECT run_id, name, namespace FROM execution "
                   f"WHERE run_id IN ({marks(len(part))})", part)
        known.update((run_id, {"name": name, "namespace": namespace})
                     for run_id, name, namespace in rows)
    for details in found.values():
        if details["parent_run_id"] in known:
            details["parent"] = known[details["parent_run_id"]]
    return found
