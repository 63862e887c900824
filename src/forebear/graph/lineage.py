"""Upstream and downstream closures, computed by recursive SQL in the database.

Edges follow the data (artifact -> execution that used it, execution -> artifact it
produced), so *upstream* walks edges backwards (``dst`` -> ``src``) and *downstream*
forwards. There is no hop cap: the closure is a ``WITH RECURSIVE`` query whose ``UNION``
drops nodes already reached, so every node is visited once however deep the graph.

``depth`` counts edges from the root: from a model, depth 1 is the run that produced it
and depth 2 that run's inputs, code and environment. A depth-limited walk carries the
hop count, so a node reachable by paths of several lengths is expanded once per length
up to the limit; that is bounded by nodes x depth and cheap for the small depths people
ask for. Unlimited walks carry no hop count and stay linear.

``kinds`` keeps only nodes of those kinds (the root always stays; the walk still goes
through every kind) and then only the edges between kept nodes. ``limit``/``offset``
page through the nodes in a stable order (the root first, then by node id); a page
carries the edges whose far end (the end away from the root) is on the page, so the
pages together hold every edge exactly once.

``between`` answers "how did A reach B?": every path from one node to another, following
the data. Its nodes are those downstream of A and upstream of B, found by walking up from
B and then down from A *within* that closure, so neither walk strays into the rest of the
graph (a popular dataset's downstream can be most of it); its edges are all the edges
among them, each of which lies on such a path.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Literal

from forebear.errors import NotFoundError, UsageError
from forebear.graph._sql import Queryable, fetch_nodes, marks, no_gc, run

__all__ = [
    "Direction", "Lineage", "between", "closure", "closure_cte", "closure_edges", "downstream",
    "upstream",
]

Direction = Literal["upstream", "downstream"]

# An offset without a limit still needs a LIMIT clause in SQLite; this one never binds.
_NO_LIMIT = 1 << 62


@dataclass(frozen=True, slots=True, kw_only=True)
class Lineage:
    """One closure (or one page of it) in the DESIGN.md shape."""

    root: str
    direction: Direction
    nodes: list[dict[str, Any]]
    edges: list[tuple[str, str, str]]
    """``(source, target, role)``: following the data, like DESIGN.md's edge objects."""
    total: int
    """Nodes in the whole answer (every page), the root included."""
    offset: int = 0
    limit: int | None = None
    source: str | None = None
    """For ``between``: the id the paths start from (``root`` is where they end)."""

    @property
    def next_offset(self) -> int | None:
        """Where the next page starts, or None on the last page."""
        end = self.offset + len(self.nodes)
        return end if (self.limit is not None or self.offset) and end < self.total else None

    def to_json(self) -> dict[str, Any]:
        """``{"root", "nodes", "edges"}`` (plus ``page`` when paged)."""
        edges = [{"source": s, "target": t, "role": r} for s, t, r in self.edges]
        out: dict[str, Any] = {"root": self.root, "nodes": self.nodes, "edges": edges}
        if self.source is not None:
            out["from"] = self.source
        if self.limit is not None or self.offset:
            out["page"] = {
                "offset": self.offset,
                "limit": self.limit,
                "total": self.total,
                "next_offset": self.next_offset,
            }
        return out


def _ends(direction: Direction) -> tuple[str, str]:
    """(near, far) edge columns: the walk goes from the near end to the far end."""
    return ("dst", "src") if direction == "upstream" else ("src", "dst")


def closure_cte(direction: Direction, depth: int | None) -> tuple[str, list[Any]]:
    """``WITH RECURSIVE ... c(id)``: the closure's node ids, the root's first parameter."""
    near, far = _ends(direction)
    if depth is None:
        sql = (
            "WITH RECURSIVE c(id) AS (SELECT CAST(? AS BIGINT) UNION "
            f"SELECT e.{far} FROM edge e JOIN c ON e.{near} = c.id) "
        )
        return sql, []
    sql = (
        "WITH RECURSIVE w(id, d) AS (SELECT CAST(? AS BIGINT), 0 UNION "
        f"SELECT e.{far}, w.d + 1 FROM edge e JOIN w ON e.{near} = w.id WHERE w.d < ?), "
        "c(id) AS (SELECT DISTINCT id FROM w) "
    )
    return sql, [depth]


def _kind_filter(kinds: Collection[str]) -> tuple[str, list[Any]]:
    """A WHERE clause over ``n``/``a``/``x`` keeping the root and nodes of ``kinds``."""
    if not kinds:
        return "", []
    return (
        "LEFT JOIN artifact a ON a.node = c.id LEFT JOIN execution x ON x.node = c.id "
        f"WHERE (c.id = ? OR COALESCE(a.kind, x.kind) IN ({marks(len(kinds))})) ",
        sorted(kinds),
    )


def _check(depth: int | None, limit: int | None, offset: int) -> None:
    if depth is not None and depth < 0:
        raise UsageError(f"--depth must be 0 or more, not {depth}")
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be 1 or more, not {limit}")
    if offset < 0:
        raise UsageError(f"--offset must be 0 or more, not {offset}")


def closure(
    store: Queryable,
    root: int,
    direction: Direction,
    *,
    depth: int | None = None,
    kinds: Collection[str] = (),
    limit: int | None = None,
    offset: int = 0,
) -> Lineage:
    """The upstream or downstream closure of node ``root`` (an integer node id)."""
    _check(depth, limit, offset)
    with no_gc():
        if limit is None and offset == 0:
            return _whole(store, root, direction, depth, frozenset(kinds))
        return _page(store, root, direction, depth, frozenset(kinds), limit, offset)


def upstream(store: Queryable, root: int, **options: Any) -> Lineage:
    """Everything ``root`` came from (see ``closure``)."""
    return closure(store, root, "upstream", **options)


def downstream(store: Queryable, root: int, **options: Any) -> Lineage:
    """Everything that came from ``root`` (see ``closure``)."""
    return closure(store, root, "downstream", **options)


def closure_edges(
    store: Queryable, root: int, direction: Direction, depth: int | None = None
) -> list[tuple[Any, ...]]:
    """``(src, dst, role)`` rows, node ids, of every edge in the closure of ``root``."""
    near, far = _ends(direction)
    cte, params = closure_cte(direction, depth)
    # Every edge whose near end is in the closure has its far end there too, unless a
    # depth limit cut the walk: then the far end must be checked as well.
    inside = "" if depth is None else f"JOIN c c2 ON c2.id = e.{far} "
    return run(
        store,
        cte + f"SELECT e.src, e.dst, e.role FROM c JOIN edge e ON e.{near} = c.id {inside}",
        [root, *params],
    )


def _whole(
    store: Queryable,
    root: int,
    direction: Direction,
    depth: int | None,
    kinds: frozenset[str],
) -> Lineage:
    # One walk yields the closure's edges; their far ends (and the root) are its nodes,
    # whose details then come from the artifact and execution tables in a few batches.
    rows = closure_edges(store, root, direction, depth)
    far = 0 if direction == "upstream" else 1
    ids = set(map(itemgetter(far), rows))
    ids.add(root)
    order = sorted(ids)  # once: the fetch walks the indexes in order, the answer lists so
    keys: dict[int, str] = {}
    nodes = fetch_nodes(store, order, ordered=True, keys=keys)
    top = nodes.get(root)
    if top is None:
        raise _gone(root)
    if kinds:
        nodes = {i: n for i, n in nodes.items() if i == root or n["kind"] in kinds}
        keys = {i: keys[i] for i in nodes}
        edges = [(keys[s], keys[d], r) for s, d, r in rows if s in keys and d in keys]
    else:
        edges = [(keys[s], keys[d], r) for s, d, r in rows]
    # The root first, then by node id; ids without details (none in a consistent
    # store) are left out, as their edges would be.
    del nodes[root]
    listed = [top]
    listed += [node for node in map(nodes.get, order) if node is not None]
    return Lineage(
        root=keys[root], direction=direction, nodes=listed, edges=edges, total=len(listed)
    )


def between(store: Queryable, source: int, target: int) -> Lineage:
    """Every path from node ``source`` to node ``target`` along the data.

    The answer is drawn like an upstream closure of ``target`` (its ``root``), cut down
    to the nodes that came from ``source`` (its ``source``), ``target`` first. When
    ``target`` does not come from ``source`` it has no nodes and no edges.
    """
    with no_gc():
        rows = run(
            store,
            "WITH RECURSIVE up(id) AS (SELECT CAST(? AS BIGINT) UNION "
            "SELECT e.src FROM edge e JOIN up ON e.dst = up.id), "
            "ue(src, dst, role) AS (SELECT e.src, e.dst, e.role FROM up "
            "JOIN edge e ON e.dst = up.id), "
            "p(id) AS (SELECT CAST(? AS BIGINT) UNION "
            "SELECT ue.dst FROM ue JOIN p ON ue.src = p.id) "
            "SELECT ue.src, ue.dst, ue.role FROM ue WHERE ue.src IN (SELECT id FROM p)",
            [target, source],
        )
        on_path = {target, source} if rows or source == target else set()
        on_path.update(src for src, _, _ in rows)
        order = sorted(on_path | {source, target})
        keys: dict[int, str] = {}
        nodes = fetch_nodes(store, order, ordered=True, keys=keys)
        for end in (source, target):
            if end not in nodes:
                raise _gone(end)
        listed = [nodes[target]] if on_path else []
        listed += [nodes[i] for i in order if i in on_path and i != target]
        edges = [(keys[s], keys[d], r) for s, d, r in rows]
    return Lineage(root=keys[target], direction="upstream", nodes=listed, edges=edges,
                   total=len(listed), source=keys[source])


def _gone(root: int) -> NotFoundError:
    return NotFoundError(f"node {root} is not in the lineage graph")


def _page(
    store: Queryable,
    root: int,
    direction: Direction,
    depth: int | None,
    kinds: frozenset[str],
    limit: int | None,
    offset: int,
) -> Lineage:
    near, far = _ends(direction)
    cte, params = closure_cte(direction, depth)
    where, filter_params = _kind_filter(kinds)
    keep = [root, *filter_params] if kinds else []
    # The page's ids and the total in one pass over the closure (COUNT(*) OVER () is
    # computed before LIMIT, in SQLite and PostgreSQL alike).
    page_rows = run(
        store,
        cte + f"SELECT c.id, COUNT(*) OVER () FROM c {where}"
        "ORDER BY CASE WHEN c.id = ? THEN 0 ELSE 1 END, c.id LIMIT ? OFFSET ?",
        [root, *params, *keep, root, _NO_LIMIT if limit is None else limit, offset],
    )
    if page_rows:
        total = int(page_rows[0][1])
    else:
        total = int(run(store, cte + f"SELECT COUNT(*) FROM c {where}",
                        [root, *params, *keep])[0][0])
    page = [int(row[0]) for row in page_rows]
    nodes = fetch_nodes(store, page)
    edges: list[tuple[str, str, str]] = []
    if page:
        # Edges whose far end is on this page and whose near end is a kept node.
        edge_rows = run(
            store,
            cte + f", k(id) AS (SELECT c.id FROM c {where}) "
            f"SELECT e.src, e.dst, e.role, nk.key FROM edge e JOIN k ON k.id = e.{near} "
            f"JOIN node nk ON nk.id = e.{near} WHERE e.{far} IN ({marks(len(page))})",
            [root, *params, *keep, *page],
        )
        for src, dst, role, near_key in sorted(edge_rows):
            far_key = nodes[src if far == "src" else dst]["id"]
            edges.append((far_key, near_key, role) if far == "src" else (near_key, far_key, role))
    root_key = run(store, "SELECT key FROM node WHERE id = ?", (root,))
    if not root_key:
        raise _gone(root)
    return Lineage(
        root=root_key[0][0],
        direction=direction,
        nodes=[nodes[ident] for ident in page if ident in nodes],
        edges=edges,
        total=total,
        offset=offset,
        limit=limit,
    )
