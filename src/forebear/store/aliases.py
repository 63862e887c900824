"""Alias reads shared by the SQL backends: the current target, the target at a moment,
and the history of moves, from the ``alias`` and ``alias_history`` projections.

Times are compared as text: every ``alias.set`` entry forebear writes carries RFC 3339
UTC with microseconds (``forebear.model.ids.format_time``), which sorts as it reads, and a
query time is normalized to the same form first. Two moves at the same instant are
ordered by their journal sequence number.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from forebear.errors import InvalidInputError
from forebear.model.aliases import canonical_alias
from forebear.model.ids import format_time, parse_time

__all__ = ["alias_history", "alias_record", "normalize_time", "previous_target"]

Cursor = Any

_COLUMNS = "name, target, set_at, actor, reason, seq"


def normalize_time(at: str | datetime) -> str:
    """``at`` as forebear's sortable UTC text; a time without an offset is UTC."""
    if isinstance(at, datetime):
        return format_time(at)
    try:
        return format_time(parse_time(at))
    except ValueError:
        raise InvalidInputError(
            f"cannot read {at[:60]!r} as a time",
            hint="give ISO 8601, e.g. 2026-05-01T12:00:00Z or 2026-05-01 12:00",
        ) from None


def _record(row: tuple[Any, ...]) -> dict[str, Any]:
    name, target, set_at, actor, reason, seq = row
    return {"name": name, "digest": target, "set_at": set_at, "actor": actor,
            "reason": reason, "seq": int(seq)}


def _name(name: str) -> str | None:
    try:
        return canonical_alias(name)
    except InvalidInputError:
        return None  # a string that cannot be an alias names no alias


def alias_record(
    cur: Cursor, name: str, *, at: str | datetime | None = None, placeholder: str = "?"
) -> dict[str, Any] | None:
    """The alias's latest move (at or before ``at`` when given), or None if there is none."""
    canonical = _name(name)
    if canonical is None:
        return None
    p = placeholder
    if at is None:
        cur.execute(f"SELECT {_COLUMNS} FROM alias WHERE name = {p}", (canonical,))
    else:
        cur.execute(
            f"SELECT {_COLUMNS} FROM alias_history WHERE name = {p} AND set_at <= {p} "
            "ORDER BY set_at DESC, seq DESC LIMIT 1",
            (canonical, normalize_time(at)),
        )
    row = cur.fetchone()
    return None if row is None else _record(tuple(row))


def alias_history(cur: Cursor, name: str, *, placeholder: str = "?") -> list[dict[str, Any]]:
    """Every move of the alias, oldest first."""
    canonical = _name(name)
    if canonical is None:
        return []
    cur.execute(
        f"SELECT {_COLUMNS} FROM alias_history WHERE name = {placeholder} "
        "ORDER BY set_at, seq",
        (canonical,),
    )
    return [_record(tuple(row)) for row in cur.fetchall()]


def previous_target(
    cur: Cursor, name: str, before_seq: int, *, placeholder: str = "?"
) -> str | None:
    """Where the alias pointed just before journal entry ``before_seq`` (inside a write)."""
    p = placeholder
    cur.execute(
        f"SELECT target FROM alias_history WHERE name = {p} AND seq < {p} "
        "ORDER BY seq DESC LIMIT 1",
        (name, before_seq),
    )
    row = cur.fetchone()
    return None if row is None else str(row[0])
