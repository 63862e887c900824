"""An export of a REF's lineage, read from a store: what ``forebear export`` prints and
``GET /api/v1/export`` sends. The mapping itself is ``forebear.exporters`` (pure); here
the store is read for it, and only for what the format uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from forebear.graph._sql import Queryable
from forebear.graph.refs import Resolved

__all__ = ["export_document"]


def export_document(store: Queryable, root: Resolved, fmt: str, direction: str, *,
                    version: str, loader: Callable[[], Any] | None = None,
                    source: Resolved | None = None) -> tuple[str, Any]:
    """(root id, the ``fmt`` document of ``root``'s closure in ``direction``), or, with
    ``source``, of the paths from ``source`` to ``root`` only (``forebear path``): an
    auditor's answer to "how did this dataset reach this model?".

    ``show``'s record is read for the formats that carry aliases and flags (not
    OpenLineage's events), and ``loader()`` (environment package lists, from a blob store
    the caller opens only then) is called for CycloneDX alone.
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
    return closure.root, exporters.document(
        fmt, closure, record=record, version=version, loader=packages,
        details=lambda runs: run_details(store, runs))
