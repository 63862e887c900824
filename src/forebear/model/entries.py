"""Journal entries: the records every write becomes, and their validation.

An entry is a plain JSON object (``dict``) whose canonical JSON (RFC 8785) is a leaf of
the Merkle journal. Entries are never edited; the graph tables are projections of them.

Entry types (``"type"``):

``execution.start``   a run began: run_id, kind, name, actor, params, tags, code,
                      environment, parent_run_id, inputs known at start
``execution.end``     a run ended: run_id, status, metrics, metric_steps, more params,
                      inputs found during the run, outputs, error, traceback, exit_code
``execution``         a whole run in one entry (imports, batch writers, human edits)
``artifact``          an artifact registered on its own (``artifact``: an artifact ref)
``alias.set``         a mutable name moved to an artifact: name, target, actor, reason
``flag``              an artifact or run marked bad: target, reason, actor
``openlineage``       an OpenLineage RunEvent as the server received it (``event``), with
                      ``actor``; its projection is ``forebear.model.openlineage.to_entries``

An *artifact ref* is ``{"id", "digest", "kind", "name", "uri", "size", "role", "meta"}``;
``id`` is the digest text, or ``dataset:<namespace>:<name>`` for an artifact known only
by name (``digest`` is then ``null``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final

from forebear.errors import InvalidInputError
from forebear.hashing import is_digest_text
from forebear.model.ids import parse_time

ENTRY_VERSION: Final = 1
STATUSES: Final = frozenset({"running", "succeeded", "failed", "aborted"})
FINAL_STATUSES: Final = frozenset({"succeeded", "failed", "aborted"})
ENTRY_TYPES: Final = frozenset(
    {"execution.start", "execution.end", "execution", "artifact", "alias.set", "flag",
     "openlineage"}
)
MAX_NAME: Final = 1024



# A NUL escape in canonical JSON: "\u0000" after an even number of backslashes (an odd
# number would make it the text \u0000, escaped).
_NUL_ESCAPE: Final = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def refuse_nul(canonical: bytes) -> None:
    """Refuse an entry whose canonical JSON holds a NUL character in any string.

    PostgreSQL stores no NUL in text or jsonb: such an entry would be journaled and then
    fail its projection there (for a server's worker, again at every retry), while SQLite
    took it. One rule for every backend: no NUL anywhere, refused before it is written.
    """
    if b"\\u0000" in canonical and _NUL_ESCAPE.search(canonical):
        raise _fail("strings in an entry must not contain a NUL character (\\u0000)",
                    hint="remove NUL characters from names, params, tags and facets")


def dataset_id(namespace: str, name: str) -> str:
    """The id of an artifact known only by namespace and name."""
    return f"dataset:{namespace}:{name}"


def artifact_ref(
    *,
    digest: str | None,
    kind: str = "data",
    role: str = "",
    name: str | None = None,
    uri: str | None = None,
    size: int | None = None,
    namespace: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build an artifact ref; one without a digest is identified by namespace and name."""
    if digest is None:
        if not name:
            raise InvalidInputError(
                "an artifact without a content digest needs a name",
                hint="give the artifact's digest, or a namespace and name",
            )
        ident = dataset_id(namespace or "default", name)
    else:
        ident = digest
    ref: dict[str, Any] = {
        "id": ident,
        "digest": digest,
        "kind": kind,
        "name": name,
        "uri": uri,
        "size": size,
        "role": role,
    }
    if meta:
        ref["meta"] = dict(meta)
    return ref


def _fail(what: str, *, hint: str = "") -> InvalidInputError:
    return InvalidInputError(what, hint=hint or "see the entry types in forebear.model.entries")


def _text(entry: Mapping[str, Any], key: str, *, required: bool = True) -> None:
    value = entry.get(key)
    if value is None:
        if required:
            raise _fail(f"{entry.get('type')} entry is missing {key!r}")
        return
    if not isinstance(value, str) or not value or len(value) > MAX_NAME:
        raise _fail(f"{key!r} must be a non-empty string of at most {MAX_NAME} characters")
    if "\x00" in value:
        raise _fail(f"{key!r} must not contain a NUL character")


_FREE_TEXT: Final = ("namespace", "actor", "reason", "parent_run_id", "error", "traceback")
"""Optional text fields of execution entries."""


def _time(entry: Mapping[str, Any], key: str, *, required: bool = True) -> None:
    # Times are shown, ordered and asked about (``--since``, ``alias show --at``): one
    # that is not a time ("yesterday at noon") would be listed as if it were.
    _text(entry, key, required=required)
    value = entry.get(key)
    if value is None:
        return
    try:
        parse_time(value)
        if len(value) < 16 or value[10] not in "Tt ":
            raise ValueError(value)
    except ValueError:
        raise _fail(f"{key!r} must be an RFC 3339 date and time, not {value[:64]!r}",
                    hint="write times as forebear.model.ids.format_time does, e.g. "
                         "2026-01-01T00:00:00.000000Z") from None


def _text_or_none(value: object, what: str) -> None:
    # Free text such as an error or a traceback: any length, but text (PostgreSQL stores
    # no NUL) and never another type, which one backend would store and another refuse.
    if value is not None and (not isinstance(value, str) or "\x00" in value):
        raise _fail(f"{what} must be a string without NUL characters")


def _optional_text(entry: Mapping[str, Any], key: str) -> None:
    _text_or_none(entry.get(key), repr(key))


def _anchor(entry: Mapping[str, Any], key: str) -> None:
    record = entry.get(key)
    if not record or not record.get("digest"):
        return
    if not is_digest_text(record["digest"]):
        raise _fail(f"{key!r} digest must be sha256:<64 lowercase hex>, not "
                    f"{str(record['digest'])[:80]!r}")
    _text_or_none(record.get("name"), f"{key!r} name")


def _mapping(entry: Mapping[str, Any], key: str) -> None:
    value = entry.get(key)
    if value is not None and not isinstance(value, dict):
        raise _fail(f"{key!r} must be an object")


NON_FINITE: Final = frozenset({"NaN", "Infinity", "-Infinity"})
"""How a metric that is not a finite number is spelled (JSON has no NaN or Infinity)."""


def metric_value(value: float) -> float | str:
    """A metric value as the journal keeps it: the number, or for one that is not finite
    its ``NON_FINITE`` spelling."""
    if math.isfinite(value):
        return value
    return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")


def _metric_steps(entry: Mapping[str, Any]) -> None:
    # Projected into rows as they are: a malformed history must be refused here, before
    # it is journaled, not found by the projection (or a server's worker) afterwards.
    steps = entry.get("metric_steps")
    if steps is None:
        return
    shape = "[key, step, value]"
    if not isinstance(steps, list):
        raise _fail(f"'metric_steps' must be a list of {shape}")
    for item in steps:
        if not isinstance(item, list) or len(item) != 3:
            raise _fail(f"each item of 'metric_steps' must be {shape}, not {str(item)[:60]}")
        key, step, value = item
        if not isinstance(key, str) or not key or len(key) > MAX_NAME:
            raise _fail(f"a metric key must be a non-empty string of at most {MAX_NAME} "
                        "characters")
        if step is not None and (not isinstance(step, int) or isinstance(step, bool)):
            raise _fail(f"metric {key[:60]!r}: the step must be an integer or null")
        finite = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (finite or value is None or (isinstance(value, str) and value in NON_FINITE)):
            raise _fail(f"metric {key[:60]!r}: the value must be a number, null, or one of "
                        '"NaN", "Infinity", "-Infinity"')


def _refs(entry: Mapping[str, Any], key: str) -> None:
    refs = entry.get(key)
    if refs is None:
        return
    if not isinstance(refs, list):
        raise _fail(f"{key!r} must be a list of artifact refs")
    for ref in refs:
        validate_ref(ref)


def validate_ref(ref: object) -> None:
    """Check one artifact ref; raise InvalidInputError naming what is wrong."""
    if not isinstance(ref, dict):
        raise _fail("an artifact ref must be an object")
    ident = ref.get("id")
    digest = ref.get("digest")
    if digest is not None:
        if not is_digest_text(digest):
            raise _fail(
                f"bad digest {str(digest)[:80]!r}", hint="digests are sha256:<64 lowercase hex>"
            )
        if ident != digest:
            raise _fail("an artifact's id must equal its digest")
    elif not isinstance(ident, str) or not ident.startswith("dataset:"):
        raise _fail("an artifact without a digest needs an id of the form dataset:<ns>:<name>")
    if "\x00" in ident:
        raise _fail("an artifact's id must not contain a NUL character")
    for key in ("kind", "role"):
        value = ref.get(key, "")
        if not isinstance(value, str) or "\x00" in value:
            raise _fail(f"artifact {key!r} must be a string without NUL characters")
    for key in ("name", "uri"):
        value = ref.get(key)
        if value is not None and (value.__class__ is not str or "\x00" in value):
            _text_or_none(value, f"artifact {key!r}")
    size = ref.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise _fail("artifact 'size' must be a non-negative integer")


def validate_entry(entry: object) -> None:
    """Check that ``entry`` is a well-formed journal entry; raise InvalidInputError if not."""
    if not isinstance(entry, dict):
        raise _fail("a journal entry must be a JSON object")
    kind = entry.get("type")
    if not isinstance(kind, str) or kind not in ENTRY_TYPES:
        raise _fail(
            f"unknown entry type {str(kind)[:40]!r}",
            hint="use one of " + ", ".join(sorted(ENTRY_TYPES)),
        )
    _time(entry, "time")
    if kind.startswith("execution"):
        _time(entry, "started_at", required=False)
        _text(entry, "run_id")
        for key in ("params", "metrics", "tags", "code", "environment"):
            _mapping(entry, key)
        _refs(entry, "inputs")
        _refs(entry, "outputs")
        _metric_steps(entry)
        _anchor(entry, "code")
        _anchor(entry, "environment")
        for key in _FREE_TEXT:
            value = entry.get(key)
            # The common case (absent, or plain text) in one test; the rest explained.
            if value is not None and (value.__class__ is not str or "\x00" in value):
                _optional_text(entry, key)
        exit_code = entry.get("exit_code")
        if exit_code is not None and (not isinstance(exit_code, int)
                                      or isinstance(exit_code, bool)
                                      or not -(2**31) <= exit_code < 2**32):
            raise _fail("'exit_code' must be an integer a process can exit with "
                        "(-2**31 to 2**32 - 1)")
        if kind != "execution.end":
            _text(entry, "kind")
            _text(entry, "name")
        else:
            _optional_text(entry, "kind")
            _optional_text(entry, "name")
        status = entry.get("status")
        if kind != "execution.start" and (not isinstance(status, str)
                                          or status not in FINAL_STATUSES):
            raise _fail(
                f"status must be one of {sorted(FINAL_STATUSES)}, not {str(status)[:40]!r}"
            )
    elif kind == "artifact":
        validate_ref(entry.get("artifact"))
    elif kind == "alias.set":
        _text(entry, "name")
        _text(entry, "target")
        _text(entry, "actor")
        _optional_text(entry, "reason")
        from forebear.model.aliases import check_canonical

        check_canonical(entry["name"])
    elif kind == "flag":
        _text(entry, "target")
        _text(entry, "reason")
        _optional_text(entry, "actor")
        _optional_text(entry, "target_type")
    elif kind == "openlineage":
        _text(entry, "actor", required=False)
        # Imported here: the mapping builds on this module. Every entry it maps onto must
        # validate too, so a journaled event can always be projected.
        from forebear.model.openlineage import to_entries

        for mapped in to_entries(entry.get("event"), actor=entry.get("actor")):
            validate_entry(mapped)
