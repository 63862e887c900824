"""``show REF``: the lineage record of one artifact or run.

The record is the standard lineage tuple: the node's id, its parent artifacts, the
transformation that made it (run kind, name, code anchor, params, actor), its environment,
the output metrics and the time; plus the aliases pointing at it now and ever, every flag
on it or on any ancestor (an ancestor's flag taints everything downstream of it), and its
stage history: the ``deploy`` runs that used it and the endpoints they produced.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from forebear.errors import NotFoundError
from forebear.graph._sql import ANCHOR_ROLES, Queryable, chunks, fetch_nodes, marks, run
from forebear.graph.lineage import closure_cte
from forebear.graph.refs import Resolved

__all__ = ["ancestor_flags", "show"]


def _flag_json(row: tuple[Any, ...], key: str) -> dict[str, Any]:
    seq, target, target_type, reason, actor, flagged_at = row
    return {"seq": int(seq), "target": target, "target_type": target_type, "reason": reason,
            "actor": actor, "flagged_at": flagged_at, "inherited": target != key}


def ancestor_flags(store: Queryable, node: int, key: str) -> list[dict[str, Any]]:
    """Flags on ``node`` or on anything upstream of it, oldest first."""
    if not run(store, "SELECT 1 FROM flag LIMIT 1"):
        return []  # the common case: no walk needed
    cte, params = closure_cte("upstream", None)
    rows = run(
        store,
        cte + "SELECT f.seq, f.target, f.target_type, f.reason, f.actor, f.flagged_at "
        "FROM c JOIN node n ON n.id = c.id JOIN flag f ON f.target = n.key ORDER BY f.seq",
        [node, *params],
    )
    return [_flag_json(row, key) for row in rows]


def _summary(node: dict[str, Any], role: str) -> dict[str, Any]:
    return {"role": role, "id": node["id"], "type": node["type"], "kind": node.get("kind"),
            "name": node.get("name")}


def _transformation(run_node: dict[str, Any], signed_by: str | None) -> dict[str, Any]:
    keys = ("run_id", "kind", "name", "status", "code", "params", "actor", "reason",
            "started_at", "ended_at")
    step = {k: run_node.get(k) for k in keys}
    if run_node.get("submitted_by"):  # the token a server took the run from
        step["submitted_by"] = run_node["submitted_by"]
    if signed_by is not None:
        step["signed_by"] = signed_by
    return step


def _signer(store: Queryable, run_node: dict[str, Any]) -> str | None:
    """The key (``name+id+public key``) that signed a human edit, as its entry in the
    journal carries it (``verify`` checks that signature): an auditor compares it with
    the person's published key."""
    if run_node.get("kind") != "human_edit":
        return None
    rows = run(store, "SELECT j.entry FROM execution x JOIN journal j ON j.seq = x.start_seq "
               "WHERE x.run_id = ?", (run_node["run_id"],))
    if not rows:
        return None
    try:
        signed = json.loads(bytes(rows[0][0])).get("signature")
    except (ValueError, AttributeError):
        return None
    return str(signed["key"]) if isinstance(signed, dict) and "key" in signed else None


def _edges(store: Queryable, node: int, column: str) -> list[tuple[int, str]]:
    other = "src" if column == "dst" else "dst"
    rows = run(store, f"SELECT {other}, role FROM edge WHERE {column} = ? ORDER BY seq, {other}",
               (node,))
    return [(int(ident), role) for ident, role in rows]


def _aliases(store: Queryable, key: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    current = [
        {"name": n, "set_at": s, "actor": a, "reason": r}
        for n, s, a, r in run(
            store, "SELECT name, set_at, actor, reason FROM alias WHERE target = ? ORDER BY name",
            (key,),
        )
    ]
    now = {a["name"] for a in current}
    history = [
        {"name": n, "set_at": s, "actor": a, "reason": r, "current": n in now}
        for n, s, a, r in run(
            store,
            "SELECT name, set_at, actor, reason FROM alias_history WHERE target = ? ORDER BY seq",
            (key,),
        )
    ]
    return current, history


def _deployments(store: Queryable, node: int) -> list[dict[str, Any]]:
    rows = run(
        store,
        "SELECT x.run_id, x.name, x.status, x.started_at, x.ended_at, x.actor, x.params, a.name "
        "FROM edge e JOIN execution x ON x.node = e.dst "
        "LEFT JOIN edge o ON o.src = x.node LEFT JOIN artifact a ON a.node = o.dst "
        "WHERE e.src = ? AND x.kind = 'deploy' ORDER BY x.started_at, x.run_id",
        (node,),
    )
    out = []
    for run_id, name, status, started, ended, actor, params, endpoint in rows:
        target = endpoint or (json.loads(params or "{}").get("target")) or name
        out.append({"run_id": run_id, "target": target, "status": status,
                    "at": ended or started, "actor": actor})
    return out


def show(store: Queryable, resolved: Resolved) -> dict[str, Any]:
    """The lineage record of ``resolved`` (see the module docstring)."""
    ident = resolved.node
    into = _edges(store, ident, "dst")
    out_of = _edges(store, ident, "src")
    producers = sorted({src for src, _ in into}) if resolved.type == "artifact" else []
    step = ident if resolved.type == "execution" else None
    wanted = {ident, *producers}
    nodes = fetch_nodes(store, sorted(wanted))
    if producers:
        # The earliest run that produced it is its transformation (run ids sort by time).
        step = min(producers, key=lambda p: nodes[p]["id"])
    step_inputs = into if resolved.type == "execution" else (
        _edges(store, step, "dst") if step is not None else []
    )
    parents = fetch_nodes(store, sorted({src for src, _ in step_inputs}))
    if ident not in nodes:
        raise NotFoundError(f"{resolved.key} is not in the lineage graph")
    node = nodes[ident]
    run_node = nodes.get(step) if step is not None else None
    record: dict[str, Any] = {
        "id": resolved.key,
        "type": resolved.type,
        "node": node,
        "parents": [
            _summary(parents[src], role)
            for src, role in step_inputs
            if role not in ANCHOR_ROLES and src in parents
        ],
        "transformation": _transformation(run_node, _signer(store, run_node))
        if run_node else None,
        "environment": run_node.get("environment") if run_node else None,
        "metrics": (run_node.get("metrics") or {}) if run_node else {},
        "time": (run_node.get("ended_at") or run_node.get("started_at")) if run_node else None,
    }
    if resolved.type == "artifact":
        size, meta = run(store, "SELECT size, meta FROM artifact WHERE node = ?", (ident,))[0]
        record["size"] = size
        record["meta"] = json.loads(meta) if meta else None
        record["produced_by"] = [nodes[p]["id"] for p in producers]
        record["used_by"] = len(out_of)
        current, history = _aliases(store, resolved.key)
        record["aliases"] = current
        record["alias_history"] = history
        record["deployments"] = _deployments(store, ident)
    else:
        outputs = fetch_nodes(store, sorted({dst for dst, _ in out_of}))
        record["outputs"] = [_summary(outputs[d], role) for d, role in out_of if d in outputs]
        record["aliases"] = []
        record.update(run_details(store, [node["run_id"]]).get(node["run_id"], {}))
    record["flags"] = ancestor_flags(store, ident, resolved.key)
    return record


def run_details(store: Queryable, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """By run id: the fields of runs that a closure's NODEs leave out (``namespace``,
    ``tags``, ``parent_run_id``, ``error``, ``traceback``, ``exit_code``): what ``show``
    adds to a run's record, and exports carry."""
    found: dict[str, dict[str, Any]] = {}
    for part in chunks(list(run_ids)):
        rows = run(store, "SELECT run_id, namespace, tags, parent_run_id, error, traceback, "
                   f"exit_code FROM execution WHERE run_id IN ({marks(len(part))})", part)
        for run_id, namespace, tags, parent, error, trace, exit_code in rows:
            found[run_id] = {"namespace": namespace, "tags": json.loads(tags) if tags else {},
                             "parent_run_id": parent, "error": error, "traceback": trace,
                             "exit_code": exit_code}
    return found
