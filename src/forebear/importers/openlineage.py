"""OpenLineage events in from files: lineage reconstructed after the fact from event logs.

Anything that speaks OpenLineage can write its events to files (the OpenLineage client's
``file`` transport, one JSON event per line; a Spark or Airflow integration configured
the same way; ``forebear export --format openlineage``, a JSON array). Importing them
journals each event exactly as ``forebear serve`` journals one it receives (an
``openlineage`` entry, mapped by ``forebear.model.openlineage``), so the lineage is the
same whichever way the events came in, and an event already journaled, by either road,
is not journaled again (the server's idempotency key, ``ol:<event digest>``).

Every event is checked before anything is written (against the OpenLineage schema when
``forebear[server]`` is installed, and always against what the mapping needs), and all
of them are written in one transaction: a file with one bad event writes nothing, and
the error names the file, line and field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from forebear import _canonical
from forebear._json import MAX_DEPTH, NotStrictJson, strict_loads
from forebear.errors import InvalidInputError
from forebear.model.entries import validate_entry
from forebear.model.ids import format_time, utc_now
from forebear.model.openlineage import event_key, static_event_type
from forebear.store.idempotency import known_keys, record_keys

__all__ = ["EventsReport", "import_events", "read_events"]


@dataclass(frozen=True, slots=True)
class EventsReport:
    """What an import did: events read, journaled, and already in the store."""

    read: int
    imported: int
    known: int
    schema_checked: bool
    static: int = 0
    """DatasetEvents and JobEvents read: valid, and not recorded (forebear records runs)."""

    def to_json(self) -> dict[str, Any]:
        return {"read": self.read, "imported": self.imported, "known": self.known,
                "static": self.static, "schema_checked": self.schema_checked}


def read_events(name: str, text: str) -> list[tuple[str, Any]]:
    """The events in one file's ``text``: a JSON array, one JSON object, or one object per
    line, each read as strictly as the server reads an OpenLineage request body
    (``forebear._json.strict_loads``; an integer beyond ±(2**53 - 1), such as an Iceberg
    facet's 64-bit ``snapshotId``, is kept as its exact decimal text, a JSON string).
    Each comes with where it was (``name:line``), for errors. A leading byte order mark
    (as some Windows editors save UTF-8) is skipped."""
    text = text.removeprefix("\ufeff")
    stripped = text.lstrip()
    if stripped.startswith("["):
        # The array holds the events: one level deeper than a body holding one.
        items = _strict(text, name, "give a JSON array of events, or one event per line",
                        depth=MAX_DEPTH + 1)
        return [(f"{name} item {i + 1}", item) for i, item in enumerate(items)]
    found: list[tuple[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            found.append((f"{name}:{number}", strict_loads(line, big_ints="text")))
        except NotStrictJson as exc:
            if number == 1 and stripped.startswith("{") and "\n" in stripped.rstrip() \
                    and _is_json(text):  # one pretty-printed event across several lines
                return [(name, _strict(text, name, exc.hint))]
            raise InvalidInputError(
                f"{name}:{number}: {exc.message}",
                hint="one OpenLineage event per line, as the OpenLineage client's file "
                "transport writes them" if exc.syntax else exc.hint,
            ) from None
    return found


def _is_json(text: str) -> bool:
    """Whether ``text`` is one JSON document, however lax."""
    import json

    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _strict(text: str, name: str, hint: str, *, depth: int = MAX_DEPTH) -> Any:
    try:
        return strict_loads(text, max_depth=depth, big_ints="text")
    except NotStrictJson as exc:
        raise InvalidInputError(f"{name}: {exc.message}",
                                hint=hint if exc.syntax else exc.hint) from None


def _schema_check() -> Any:
    """The OpenLineage schema check (of a RunEvent, or of any event for its type), or
    None in a core install (no validator)."""
    from forebear.server.validation import can_validate, validate_event, validate_run_event

    return (validate_run_event, validate_event) if can_validate() else None


def import_events(
    store: Any,
    events: Iterable[tuple[str, Any]],
    *,
    actor: str,
    clock: Any = utc_now,
) -> EventsReport:
    """Journal ``events`` (``read_events``'s pairs) into ``store`` in one transaction,
    each checked first and none twice (see the module docstring)."""
    check = _schema_check()
    now = format_time(clock())
    fresh: list[tuple[str, bytes, dict[str, Any]]] = []
    seen: set[str] = set()
    read = static = 0
    for where, event in events:
        read += 1
        if not isinstance(event, Mapping):
            raise InvalidInputError(f"{where}: an OpenLineage event must be a JSON object",
                                    hint="one RunEvent per line or array item")
        if static_event_type(event) is not None:
            # Static lineage (OpenLineage 2.x): checked as the server checks it, not kept.
            try:
                if check is not None:
                    check[1](dict(event))
            except InvalidInputError as exc:
                raise InvalidInputError(f"{where}: {exc.message}", hint=exc.hint) from None
            static += 1
            continue
        try:
            if check is not None:
                check[0](event)
            entry = {"type": "openlineage", "time": now, "actor": actor, "event": dict(event)}
            validate_entry(entry)
            key, digest = event_key(_canonical.canonical_bytes(event))
        except InvalidInputError as exc:
            raise InvalidInputError(f"{where}: {exc.message}", hint=exc.hint) from None
        if key in seen:
            continue
        seen.add(key)
        fresh.append((key, digest, entry))
    known = known_keys(store, [key for key, _, _ in fresh])
    todo = [(key, digest, entry) for key, digest, entry in fresh if key not in known]

    def keys(cur: Any, seqs: range) -> None:
        record_keys(cur, store, [(key, digest, seqs.start + i, 1, now)
                                 for i, (key, digest, _) in enumerate(todo)])

    if todo:
        store.append_batch([entry for _, _, entry in todo], before_commit=keys)
    return EventsReport(read=read, imported=len(todo), known=read - static - len(todo),
                        schema_checked=check is not None, static=static)
