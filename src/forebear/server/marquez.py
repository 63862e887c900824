"""forebear's lineage graph in Marquez's shape, so tools built for Marquez can read it.

Marquez draws jobs and datasets, not runs and artifact versions. Here a JOB is every
execution with one namespace and name (runs recorded without a namespace appear under
``forebear``), and a DATASET is every artifact with one ``dataset:<namespace>:<name>``
id. An OpenLineage dataset without a digest has exactly that id; an artifact with a
content digest appears under the namespace its OpenLineage event gave it, else the
namespace of the run that produced it (or first used it), by its recorded name (or its
digest when it has none); its versions are the digests grouped there.

``lineage(store, node_id, depth)`` walks both directions from the node, ``depth`` hops at
most (a hop is job -> dataset or dataset -> job), level by level with set-based queries,
and stops adding nodes at ``MAX_NODES``. Code and environment anchors are not datasets
and are left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Final

from forebear.errors import InvalidInputError, NotFoundError
from forebear.model.entries import dataset_id
from forebear.model.openlineage import DEFAULT_NAMESPACE

__all__ = ["MAX_DEPTH", "MAX_NODES", "lineage"]

MAX_DEPTH: Final = 100
MAX_NODES: Final = 10_000
_ANCHORS = ("code", "environment")
_CHUNK = 500
_STATE = {"running": "RUNNING", "succeeded": "COMPLETED", "failed": "FAILED",
          "aborted": "ABORTED"}

Key = tuple[str, str, str]  # ("job" | "dataset", namespace, name)


class _Db:
    def __init__(self, store: Any) -> None:
        self._store = store
        self._p = store.placeholder

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._p != "?":
            sql = sql.replace("?", self._p)
        rows: list[tuple[Any, ...]] = self._store.execute(sql, tuple(params))
        return rows

    def rows_in(self, sql: str, values: Sequence[Any]) -> Iterable[tuple[Any, ...]]:
        """``sql`` with ``{in}`` replaced by a placeholder list, over ``values`` in chunks."""
        values = list(values)
        for start in range(0, len(values), _CHUNK):
            part = values[start : start + _CHUNK]
            yield from self.rows(sql.format(marks=", ".join(["?"] * len(part))), part)


def _node_id(key: Key) -> str:
    return f"{key[0]}:{key[1]}:{key[2]}"


def _splits(rest: str) -> list[tuple[str, str]]:
    # Namespaces hold colons (``postgres://host:5432``) and so may names: try every split.
    return [(rest[:i], rest[i + 1 :]) for i, char in enumerate(rest) if char == ":"
            and 0 < i < len(rest) - 1]


class _Graph:
    def __init__(self, store: Any, namespace: str | None = None) -> None:
        self.db = _Db(store)
        self.namespace = namespace
        self.dataset_of: dict[int, Key] = {}
        self.job_of: dict[int, Key] = {}
        self.members: dict[Key, set[int]] = {}

    # -- node ids -> group keys ----------------------------------------------------------
    def classify_executions(self, ids: Iterable[int]) -> None:
        todo = [i for i in ids if i not in self.job_of]
        for node, namespace, name in self.db.rows_in(
            "SELECT node, namespace, name FROM execution WHERE node IN ({marks})", todo
        ):
            key = ("job", namespace or DEFAULT_NAMESPACE, name or "")
            self.job_of[int(node)] = key
            self.members.setdefault(key, set()).add(int(node))

    def classify_artifacts(self, ids: Iterable[int]) -> None:
        todo = [i for i in ids if i not in self.dataset_of]
        if not todo:
            return
        unplaced: dict[int, tuple[str, str | None]] = {}
        for node, key, name, digest, meta in self.db.rows_in(
            "SELECT n.id, n.key, a.name, a.digest, a.meta FROM node n "
            "JOIN artifact a ON a.node = n.id WHERE n.id IN ({marks})", todo
        ):
            node = int(node)
            namespace = (json.loads(meta) or {}).get("namespace") if meta else None
            if key.startswith("dataset:") and digest is None:
                # Known by name alone: its id is already the Marquez id.
                rest = key[len("dataset:"):]
                if not (namespace and rest.startswith(namespace + ":")):
                    namespace = rest.partition(":")[0]
                self._place(node, ("dataset", namespace, rest[len(namespace) + 1 :]))
            elif namespace:
                self._place(node, ("dataset", namespace, name or digest))
            else:
                unplaced[node] = (name or digest or key, None)
        if unplaced:
            # The namespace of the run that produced it, else of the first that used it.
            found: dict[int, str] = {}
            for column, other in (("dst", "src"), ("src", "dst")):
                missing = [n for n in unplaced if n not in found]
                for node, namespace in self.db.rows_in(
                    f"SELECT e.{column}, x.namespace FROM edge e JOIN execution x "
                    f"ON x.node = e.{other} WHERE e.{column} IN ({{marks}}) ORDER BY e.seq",
                    missing,
                ):
                    found.setdefault(int(node), namespace or DEFAULT_NAMESPACE)
            for node, (name, _) in unplaced.items():
                self._place(node, ("dataset", found.get(node, DEFAULT_NAMESPACE), name))

    def _place(self, node: int, key: Key) -> None:
        self.dataset_of[node] = key
        self.members.setdefault(key, set()).add(node)

    # -- group keys -> node ids ----------------------------------------------------------
    def resolve(self, node_id: str) -> Key:
        kind, _, rest = node_id.partition(":")
        if kind == "job":
            for namespace, name in _splits(rest):
                if self.namespace is not None and namespace != self.namespace:
                    continue  # "job:a:b:c" may be job "c" of namespace "a:b", not of "a"
                key = ("job", namespace, name)
                self.expand_job(key)
                if key in self.members:
                    return key
        elif kind == "dataset":
            exact = self.db.rows("SELECT id FROM node WHERE key = ?", (node_id,))
            if exact:
                self.classify_artifacts([int(exact[0][0])])
                key = self.dataset_of[int(exact[0][0])]
                if self.namespace is None or key[1] == self.namespace:
                    self.expand_dataset(key)
                    return key
            for namespace, name in _splits(rest):
                if self.namespace is not None and namespace != self.namespace:
                    continue
                self.classify_artifacts(self._named(name))
                key = ("dataset", namespace, name)
                if key in self.members:
                    self.expand_dataset(key)
                    return key
        else:
            raise InvalidInputError(
                f"nodeId {node_id[:200]!r} is not job:<namespace>:<name> or "
                "dataset:<namespace>:<name>")
        raise NotFoundError(f"no node {node_id[:200]!r} in the lineage graph",
                            hint="node ids are job:<namespace>:<name> or "
                            "dataset:<namespace>:<name>")

    def _named(self, name: str) -> list[int]:
        # By name (indexed), or by digest: a digest is its artifact's node key (indexed).
        return [int(r[0]) for r in self.db.rows(
            "SELECT node FROM artifact WHERE name = ? UNION SELECT id FROM node WHERE key = ?",
            (name, name))]

    def expand_dataset(self, key: Key) -> None:
        """Add every artifact version of a dataset to its members."""
        self.classify_artifacts(self._named(key[2]))

    def expand_job(self, key: Key) -> None:
        """Add every run of a job to its members."""
        self.classify_executions(int(r[0]) for r in self.db.rows(
            "SELECT node FROM execution WHERE name = ? AND (namespace = ? OR "
            "(namespace IS NULL AND ? = ?))", (key[2], key[1], key[1], DEFAULT_NAMESPACE)))

    # -- edges ---------------------------------------------------------------------------
    def neighbours(self, keys: Sequence[Key]) -> list[tuple[Key, Key]]:
        """Edges (origin, destination) between the groups ``keys`` and their neighbours."""
        ids = sorted({node for key in keys for node in self.members.get(key, ())})
        rows = list(self.db.rows_in(
            "SELECT src, dst, role FROM edge WHERE src IN ({marks})", ids))
        rows += list(self.db.rows_in(
            "SELECT src, dst, role FROM edge WHERE dst IN ({marks})", ids))
        rows = [r for r in rows if r[2] not in _ANCHORS]
        ends = {int(n) for r in rows for n in r[:2]}
        self.classify_executions(ends)
        self.classify_artifacts(n for n in ends if n not in self.job_of)
        pairs = set()
        for src, dst, _ in rows:
            a = self.job_of.get(int(src)) or self.dataset_of.get(int(src))
            b = self.job_of.get(int(dst)) or self.dataset_of.get(int(dst))
            if a is not None and b is not None and a != b:
                pairs.add((a, b))
        return sorted(pairs)

    # -- node data -----------------------------------------------------------------------
    def job_data(self, key: Key, edges: list[tuple[Key, Key]]) -> dict[str, Any]:
        ids = sorted(self.members.get(key, ()))
        latest = None
        kinds: set[str] = set()
        for run_id, status, kind, started, ended in self.db.rows_in(
            "SELECT run_id, status, kind, started_at, ended_at FROM execution "
            "WHERE node IN ({marks})", ids
        ):
            kinds.add(kind or "")
            if latest is None or (started or "") > (latest[2] or ""):
                latest = (run_id, status, started, ended)
        return {
            "id": {"namespace": key[1], "name": key[2]},
            "type": "BATCH",
            "name": key[2],
            "simpleName": key[2],
            "namespace": key[1],
            "inputs": [{"namespace": a[1], "name": a[2]} for a, b in edges if b == key],
            "outputs": [{"namespace": b[1], "name": b[2]} for a, b in edges if a == key],
            "latestRun": None if latest is None else {
                "id": latest[0], "state": _STATE.get(latest[1] or "", "NEW"),
                "startedAt": latest[2], "endedAt": latest[3],
            },
            "forebear": {"runs": len(ids), "kinds": sorted(k for k in kinds if k)},
        }

    def dataset_data(self, key: Key) -> dict[str, Any]:
        ids = sorted(self.members.get(key, ()))
        digests: list[str] = []
        kinds: set[str] = set()
        for digest, kind in self.db.rows_in(
            "SELECT digest, kind FROM artifact WHERE node IN ({marks})", ids
        ):
            if digest:
                digests.append(digest)
            kinds.add(kind)
        return {
            "id": {"namespace": key[1], "name": key[2]},
            "type": "DB_TABLE",
            "name": key[2],
            "physicalName": key[2],
            "namespace": key[1],
            "forebear": {"id": dataset_id(key[1], key[2]), "kinds": sorted(kinds),
                         "versions": sorted(digests)[:100]},
        }


def lineage(store: Any, node_id: str, depth: int = 20, *,
            namespace: str | None = None) -> dict[str, Any]:
    """The Marquez lineage graph around ``node_id`` (see the module docstring).

    ``namespace``, when given, is the only namespace the job or dataset ``node_id`` may be
    read in (a token limited to that namespace): namespaces and names may hold colons, so
    a node id alone could name a node of another namespace.
    """
    if not 0 <= depth <= MAX_DEPTH:
        raise InvalidInputError(f"depth must be between 0 and {MAX_DEPTH}, not {depth}")
    graph = _Graph(store, namespace)
    root = graph.resolve(node_id)
    seen = {root}
    frontier = [root]
    edges: set[tuple[Key, Key]] = set()
    for _ in range(depth):
        if not frontier or len(seen) >= MAX_NODES:
            break
        found = graph.neighbours(frontier)
        frontier = []
        for a, b in found:
            for key in (a, b):
                if key not in seen and len(seen) < MAX_NODES:
                    seen.add(key)
                    frontier.append(key)
            if a in seen and b in seen:
                edges.add((a, b))
        for key in frontier:
            if key[0] == "dataset":
                graph.expand_dataset(key)
            else:
                graph.expand_job(key)
    ordered = sorted(edges)
    nodes = []
    for key in sorted(seen, key=lambda k: (k != root, k)):
        ident = _node_id(key)
        data = (graph.job_data(key, ordered) if key[0] == "job" else graph.dataset_data(key))
        nodes.append({
            "id": ident,
            "type": "JOB" if key[0] == "job" else "DATASET",
            "data": data,
            "inEdges": [{"origin": _node_id(a), "destination": ident}
                        for a, b in ordered if b == key],
            "outEdges": [{"origin": ident, "destination": _node_id(b)}
                         for a, b in ordered if a == key],
        })
    return {"graph": nodes}
