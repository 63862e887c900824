"""``diff A B``: what differs between two lineages, across data, code, params and environment.

The comparison is over the two upstream closures, in these terms:

- The *root step* of a node is the node itself when it is a run, else the run that
  produced it (the one with the smallest run id when several did).
- Runs present in both closures (the same run id) are the same step and cannot differ.
  Among the others, each step name is paired with the run of that name nearest to the
  root (fewest edges; then smallest run id) on each side.
- Each pair is compared: params, metrics, code record, environment record, packages and
  inputs (keyed by role, then by artifact name; the value is the artifact id, a sorted
  list when one role and name hold several). The two root steps are always paired and
  their keys are bare (``lr``); every other pair's keys are prefixed with its step name
  (``preprocess.min_length``).
- ``steps`` counts runs per step name in each closure: a name in one lineage only, or a
  different number of runs of it (one more fine-tune), shows there.

Every section is CHANGES: ``{"added": {...}, "removed": {...}, "changed": {KEY: [OLD,
NEW]}}``; ``environment`` is CHANGES of the record's fields plus ``packages``, taken from
the record when it lists them, else from the package manifest blob when a loader is given.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from forebear.graph._sql import ANCHOR_ROLES, Queryable
from forebear.graph.lineage import Lineage, upstream

__all__ = ["PackageLoader", "blob_packages", "changes", "diff", "diff_lineages"]

PackageLoader = Callable[[str], Mapping[str, str] | None]
"""Environment digest -> package name -> version, or None when unknown."""

# Fields of the code record that describe the machine it ran on, not the code.
_CODE_NOISE = frozenset({"root", "notes", "skipped", "name"})
_ENV_NOISE = frozenset({"packages", "name"})

Changes = dict[str, dict[str, Any]]


def _same(a: Any, b: Any) -> bool:
    # JSON equality: 1 and True are different values, 1 and 1.0 the same number.
    if a is b:
        return True
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> Changes:
    """CHANGES between two flat mappings."""
    return {
        "added": {k: new[k] for k in sorted(new) if k not in old},
        "removed": {k: old[k] for k in sorted(old) if k not in new},
        "changed": {
            k: [old[k], new[k]] for k in sorted(old) if k in new and not _same(old[k], new[k])
        },
    }


def _nested_changes(old: Mapping[str, Mapping[str, Any]],
                    new: Mapping[str, Mapping[str, Any]]) -> Changes:
    out: Changes = {"added": {}, "removed": {}, "changed": {}}
    for role in sorted(set(old) | set(new)):
        part = changes(old.get(role, {}), new.get(role, {}))
        for section, values in part.items():
            if values:
                out[section][role] = values
    return out


class _Closure:
    """One side of the diff: a closure indexed for the comparison."""

    def __init__(self, lineage: Lineage) -> None:
        self.key = lineage.root
        self.nodes = {node["id"]: node for node in lineage.nodes}
        self.parents: dict[str, list[tuple[str, str]]] = {}
        for source, target, role in lineage.edges:
            self.parents.setdefault(target, []).append((source, role))
        self.distance = self._distances()
        self.runs = {k: n for k, n in self.nodes.items() if n["type"] == "execution"}
        self.root_step = self._root_step()

    def _distances(self) -> dict[str, int]:
        distance = {self.key: 0}
        queue = deque([self.key])
        while queue:
            here = queue.popleft()
            for parent, _ in self.parents.get(here, ()):
                if parent not in distance:
                    distance[parent] = distance[here] + 1
                    queue.append(parent)
        return distance

    def _root_step(self) -> str | None:
        root = self.nodes[self.key]
        if root["type"] == "execution":
            return str(root["id"])
        producers = [p for p, _ in self.parents.get(self.key, ()) if p in self.nodes]
        return min(producers) if producers else None

    def nearest(self, exclude: Iterable[str]) -> dict[str, str]:
        """Step name -> the run of that name nearest the root, outside ``exclude``."""
        skip = set(exclude)
        best: dict[str, tuple[int, str]] = {}
        for key, node in self.runs.items():
            if key in skip:
                continue
            rank = (self.distance.get(key, 1 << 30), key)
            name = str(node["name"])
            if name not in best or rank < best[name]:
                best[name] = rank
        return {name: rank[1] for name, rank in best.items()}

    def inputs(self, run: str) -> dict[str, dict[str, Any]]:
        """Role -> artifact name -> artifact id for the data a run used."""
        grouped: dict[str, dict[str, list[str]]] = {}
        for source, role in self.parents.get(run, ()):
            if role in ANCHOR_ROLES or source not in self.nodes:
                continue
            node = self.nodes[source]
            name = node.get("name") or source
            grouped.setdefault(role, {}).setdefault(name, []).append(source)
        return {
            role: {n: ids[0] if len(ids) == 1 else sorted(ids) for n, ids in names.items()}
            for role, names in grouped.items()
        }

    def step_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in self.runs.values():
            counts[str(node["name"])] = counts.get(str(node["name"]), 0) + 1
        return counts


def _record(value: Any, noise: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if k not in noise}


def _packages(env: Any, loader: PackageLoader | None) -> dict[str, Any]:
    if not isinstance(env, dict):
        return {}
    inline = env.get("packages")
    if isinstance(inline, dict):
        return dict(inline)
    digest = env.get("digest")
    if loader is None or not isinstance(digest, str):
        return {}
    return dict(loader(digest) or {})


def _prefixed(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {prefix + k: v for k, v in values.items()} if prefix else dict(values)


def diff_lineages(
    a: Lineage, b: Lineage, *, packages: PackageLoader | None = None
) -> dict[str, Any]:
    """The DESIGN.md diff of two upstream closures (see the module docstring)."""
    left, right = _Closure(a), _Closure(b)
    shared = set(left.runs) & set(right.runs)
    roots = {s for s in (left.root_step, right.root_step) if s is not None}
    pairs: list[tuple[str, str, str]] = []
    if left.root_step is not None and right.root_step is not None:
        pairs.append(("", left.root_step, right.root_step))
    near_left = left.nearest(shared | roots)
    near_right = right.nearest(shared | roots)
    for name in sorted(set(near_left) & set(near_right)):
        pairs.append((name + ".", near_left[name], near_right[name]))

    sides: dict[str, list[dict[str, Any]]] = {
        section: [{}, {}] for section in ("params", "metrics", "code", "env", "packages")
    }
    inputs: list[dict[str, dict[str, Any]]] = [{}, {}]
    for prefix, *runs in pairs:
        for side, (closure, run) in enumerate(zip((left, right), runs, strict=True)):
            node = closure.runs[run]
            sides["params"][side].update(_prefixed(prefix, node.get("params") or {}))
            sides["metrics"][side].update(_prefixed(prefix, node.get("metrics") or {}))
            sides["code"][side].update(_prefixed(prefix, _record(node.get("code"), _CODE_NOISE)))
            env = node.get("environment")
            sides["env"][side].update(_prefixed(prefix, _record(env, _ENV_NOISE)))
            sides["packages"][side].update(_prefixed(prefix, _packages(env, packages)))
            for role, names in closure.inputs(run).items():
                inputs[side][prefix + role] = names
    environment: dict[str, Any] = {"packages": changes(*sides["packages"])}
    environment.update(changes(*sides["env"]))
    warnings = [
        f"{closure.key}: {note}; code differences in steps such as {node.get('name')!r} "
        "cannot be told"
        for closure, run in ((left, left.root_step), (right, right.root_step))
        if run is not None
        for node in [closure.runs[run]]
        for note in _unrecorded(node.get("code"))
    ]
    return {
        "from": left.key,
        "to": right.key,
        "params": changes(*sides["params"]),
        "inputs": _nested_changes(*inputs),
        "code": changes(*sides["code"]),
        "environment": environment,
        "metrics": changes(*sides["metrics"]),
        "steps": changes(left.step_counts(), right.step_counts()),
        "warnings": warnings,
    }


def _unrecorded(code: Any) -> list[str]:
    """The notes of a code record that say some code that ran is not recorded (typed at
    a prompt, read from stdin): two such runs can differ in code and show no change."""
    notes = code.get("notes") if isinstance(code, Mapping) else None
    return [note for note in notes or () if isinstance(note, str) and "not recorded" in note]


def diff(store: Queryable, a: int, b: int, *, packages: PackageLoader | None = None,
         ) -> dict[str, Any]:
    """Diff the lineages of nodes ``a`` and ``b`` (integer node ids) in ``store``."""
    return diff_lineages(upstream(store, a), upstream(store, b), packages=packages)


def blob_packages(blobs: Any) -> PackageLoader:
    """A loader reading environment manifests from a blob store; None where one is missing."""
    from forebear.errors import ForebearError
    from forebear.hashing import Digest

    cache: dict[str, Mapping[str, str] | None] = {}

    def load(digest: str) -> Mapping[str, str] | None:
        if digest not in cache:
            # Imported here: manifest parsing belongs to capture, and the query layer only
            # needs it when a blob store is at hand.
            from forebear.capture.environment import parse_manifest

            try:
                cache[digest] = parse_manifest(blobs.get_bytes(Digest.parse(digest)))
            except ForebearError:
                cache[digest] = None  # no manifest stored: diff what the records carry
        return cache[digest]

    return load
