"""A closure indexed the way the exporters read it, and the small encodings they share.

Every exporter walks the same relations: which run used which artifact in which role,
which run produced it, and which run counts as an artifact's maker when several did
(the one with the smallest run id, as ``show`` decides). ``Graph`` holds them once.
Edges whose ends are not among the nodes (a page, a ``--kind`` filter) are left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from forebear.errors import InvalidInputError, UsageError
from forebear.graph.lineage import Lineage
from forebear.hashing import Digest

__all__ = ["ENV_FIELDS", "Graph", "as_uri", "digest_parts", "flag_text", "git_url", "index",
           "locations", "require_artifact", "value_text"]

Node = dict[str, Any]

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
# scp-like git remotes: user@host:path (no scheme; the ':' comes before any '/').
_SCP = re.compile(r"(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]+):(?P<path>(?!//).*)")
# What may stay unescaped in a URI built here (RFC 3986 unreserved, sub-delims, ':@/').
_URI_SAFE = "/:@!$&'()*+,;=~-._"


@dataclass(frozen=True, slots=True)
class Graph:
    """One closure: nodes by id and the edges by run, in the closure's order."""

    root: str
    direction: str
    nodes: dict[str, Node]
    used: dict[str, list[tuple[str, str]]]
    """Run id -> ``(artifact id, role)`` of each input."""
    produced: dict[str, list[tuple[str, str]]]
    """Run id -> ``(artifact id, role)`` of each output."""
    producers: dict[str, list[str]]
    """Artifact id -> the runs that produced it, sorted (the first is its maker)."""

    def artifacts(self) -> list[Node]:
        """Artifact NODEs in closure order (the root first when it is one)."""
        return [n for n in self.nodes.values() if n.get("type") == "artifact"]

    def runs(self) -> list[Node]:
        """Execution NODEs in closure order."""
        return [n for n in self.nodes.values() if n.get("type") == "execution"]

    def maker(self, artifact: str) -> Node | None:
        """The run that made ``artifact`` (smallest run id of its producers), if any."""
        makers = self.producers.get(artifact)
        return self.nodes[makers[0]] if makers else None

    def inputs(self, run: str) -> list[tuple[Node, str]]:
        """``(artifact NODE, role)`` of each input of ``run``."""
        return [(self.nodes[a], role) for a, role in self.used.get(run, ())]


def index(lineage: Lineage) -> Graph:
    """Index ``lineage`` (see the module docstring)."""
    nodes: dict[str, Node] = {}
    for node in lineage.nodes:
        nodes.setdefault(str(node["id"]), node)
    used: dict[str, list[tuple[str, str]]] = {}
    produced: dict[str, list[tuple[str, str]]] = {}
    seen: set[tuple[str, str, str]] = set()
    for source, target, role in lineage.edges:
        a, b = nodes.get(source), nodes.get(target)
        if a is None or b is None or (source, target, role) in seen:
            continue
        seen.add((source, target, role))
        if a.get("type") == "artifact" and b.get("type") == "execution":
            used.setdefault(target, []).append((source, role))
        elif a.get("type") == "execution" and b.get("type") == "artifact":
            produced.setdefault(source, []).append((target, role))
    producers: dict[str, list[str]] = {}
    for run, outputs in produced.items():
        for artifact, _ in outputs:
            producers.setdefault(artifact, []).append(run)
    for runs in producers.values():
        runs[:] = sorted(set(runs))
    return Graph(root=lineage.root, direction=lineage.direction, nodes=nodes, used=used,
                 produced=produced, producers=producers)


def require_artifact(graph: Graph, what: str, outputs: Sequence[Mapping[str, Any]] = ()
                     ) -> Node:
    """The root NODE, which must be an artifact for a ``what`` export (else UsageError).

    ``outputs`` (``show``'s summaries of a run's outputs) name the artifacts to give
    instead when the root is a run.
    """
    root = graph.nodes.get(graph.root)
    if root is None:
        raise UsageError(f"the closure of {graph.root} does not hold it",
                         hint="export the whole closure (no paging or kind filter)")
    if root.get("type") != "artifact":
        names = ", ".join(f"{o.get('name') or o['id']} ({o['id']})" for o in outputs
                          if o.get("type", "artifact") == "artifact")
        hint = (f"give one of its outputs instead: {names}" if names
                else "give the model file or its digest instead, not the run that made it")
        raise UsageError(
            f"a {what} export describes an artifact, and {graph.root} is a run", hint=hint)
    if graph.direction != "upstream":
        raise UsageError(f"a {what} export describes what an artifact came from",
                         hint="use --direction upstream, or --format prov for downstream")
    return root


def digest_parts(digest: object) -> tuple[str, str] | None:
    """``("sha256", hex)`` from ``sha256:<hex>``; None for anything else (no digest)."""
    if not isinstance(digest, str):
        return None
    try:
        parsed = Digest.parse(digest)
    except InvalidInputError:
        return None
    return parsed.algorithm, parsed.hex


def value_text(value: Any) -> str:
    """A parameter or metric value as one string: text as it is, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def flag_text(flag: Mapping[str, Any]) -> str:
    """One line for a flag: its reason, who set it and when (where known)."""
    who = f" by {flag['actor']}" if flag.get("actor") else ""
    when = f" at {flag['flagged_at']}" if flag.get("flagged_at") else ""
    return f"{flag.get('reason') or 'flagged'}{who}{when}"


ENV_FIELDS = ("python", "implementation", "platform", "machine", "image_digest", "cuda")
"""The environment anchor's fields an export names (beside its package list)."""


def locations(node: Mapping[str, Any]) -> list[str]:
    """An artifact's recorded locations that are URIs (``as_uri``), in recorded order."""
    return [u for u in map(as_uri, node.get("uris") or ()) if u]


def as_uri(location: object) -> str | None:
    """A recorded location as a URI: a URI stays one, an absolute path becomes file://.

    Characters a URI cannot hold (spaces, non-ASCII) are percent-encoded; a relative
    path, which names nothing outside the machine it was recorded on, gives None.
    """
    if not isinstance(location, str) or not location:
        return None
    if _SCHEME.match(location) and not re.match(r"[A-Za-z]:[\\/]", location):
        return quote(location, safe=_URI_SAFE + "#?%")
    if location.startswith("/"):
        return "file://" + quote(location, safe=_URI_SAFE)
    return None


def git_url(remote: object) -> str | None:
    """A git remote as a URL: scp-like ``git@host:org/repo.git`` becomes ``ssh://``."""
    if not isinstance(remote, str) or not remote:
        return None
    if "://" not in remote:
        scp = _SCP.fullmatch(remote)
        if scp is not None and not remote.startswith("/"):
            user = f"{scp['user']}@" if scp["user"] else ""
            path = scp["path"].lstrip("/")
            return f"ssh://{user}{scp['host']}/" + quote(path, safe=_URI_SAFE)
    return as_uri(remote)
