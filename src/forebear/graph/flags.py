"""Flags: marking an artifact or run as bad, and listing what is marked.

A flag is a journal entry, never an edit: the record of what happened stays as it was,
and the flag says what is now known about it. It taints everything downstream of its
target: ``downstream`` of a flagged dataset lists every model and deployment it reached,
and ``show`` warns about a flag on any ancestor.
"""

from __future__ import annotations

from typing import Any

from forebear.errors import InvalidInputError
from forebear.graph._sql import Queryable, run
from forebear.graph.refs import Resolved
from forebear.model.ids import Clock, format_time, utc_now

__all__ = ["flag", "flag_entry", "flagged"]


def flag_entry(
    target: Resolved, *, reason: str, actor: str | None, clock: Clock = utc_now
) -> dict[str, Any]:
    """The ``flag`` journal entry marking ``target`` as bad for ``reason``."""
    if not reason.strip():
        raise InvalidInputError("a flag needs a reason", hint="say why with --reason TEXT")
    entry: dict[str, Any] = {
        "type": "flag",
        "time": format_time(clock()),
        "target": target.key,
        "target_type": target.type,
        "reason": reason.strip(),
    }
    if actor:
        entry["actor"] = actor
    return entry


def flag(
    store: Any, target: Resolved, *, reason: str, actor: str | None, clock: Clock = utc_now
) -> dict[str, Any]:
    """Append a flag on ``target``; return it as ``flagged`` lists it."""
    entry = flag_entry(target, reason=reason, actor=actor, clock=clock)
    seq = store.append(entry)
    return {
        "seq": seq,
        "target": entry["target"],
        "target_type": entry["target_type"],
        "reason": entry["reason"],
        "actor": entry.get("actor"),
        "flagged_at": entry["time"],
    }


def flagged(store: Queryable) -> list[dict[str, Any]]:
    """Every flag, newest first, with its target's kind and name."""
    rows = run(
        store,
        "SELECT f.seq, f.target, f.target_type, f.reason, f.actor, f.flagged_at, "
        "COALESCE(a.kind, x.kind), COALESCE(a.name, x.name) "
        "FROM flag f LEFT JOIN node n ON n.key = f.target "
        "LEFT JOIN artifact a ON a.node = n.id LEFT JOIN execution x ON x.node = n.id "
        "ORDER BY f.seq DESC",
    )
    return [
        {"seq": int(seq), "target": target, "target_type": target_type, "reason": reason,
         "actor": actor, "flagged_at": flagged_at, "kind": kind, "name": name}
        for seq, target, target_type, reason, actor, flagged_at, kind, name in rows
    ]
