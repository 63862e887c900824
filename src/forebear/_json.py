"""JSON fast: orjson where it agrees with the standard library, ``json`` elsewhere.

orjson parses in about a third of ``json.loads``' time and returns the same values, with
two exceptions handed to ``json.loads`` instead, so that callers always get exactly what
the standard library would give (the journal's projections and ``verify``'s rebuild must
agree with stores written before): text orjson refuses (``NaN``, a lone surrogate escape;
the caller then sees the standard library's result or its ``ValueError``), and text with
a run of 19 or more digits, where an integer may pass 64 bits and orjson would return a
float (RFC 8785 spells the double 1e20 as ``100000000000000000000``, which ``json.loads``
reads as an int).

``strict_loads`` reads JSON that comes from outside (a request body, an event log) as
strictly as the journal needs it (``forebear._canonical.loads``: no duplicate keys,
which canonicalisation would silently drop, no NaN or Infinity, no lone surrogates, no
integer beyond what a JSON number holds), with bounded nesting. OpenLineage events are
the one exception to the integer rule (``big_ints="text"``): their facets are other
tools' documents, where a 64-bit id (an Iceberg ``snapshotId``) is ordinary, so such an
integer is kept as its exact decimal text, a JSON string, as I-JSON (RFC 7493) advises,
rather than refusing the whole event; forebear's own documents stay refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forebear._canonical import BigInts

__all__ = ["MAX_DEPTH", "NotStrictJson", "dumps", "loads", "strict_loads"]

MAX_DEPTH = 64
"""The deepest nesting ``strict_loads`` reads (an OpenLineage event needs a dozen)."""


def _loader() -> Callable[[str | bytes], Any]:
    try:
        from orjson import loads as fast
    except ImportError:  # pragma: no cover - orjson is a dependency; a bare checkout may lack it
        return json.loads

    slow = json.loads
    # Digits become b"0", everything else a space: a long digit run is then one fast
    # substring search (a regex over the text costs four times orjson's parse).
    digits = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))
    long_run = b"0" * 19

    def loads(text: str | bytes) -> Any:
        try:
            data = text.encode("utf-8") if isinstance(text, str) else text
        except UnicodeEncodeError:  # a lone surrogate: the standard library's answer
            return slow(text)
        if long_run not in data.translate(digits):
            try:
                return fast(data)
            except ValueError:
                pass
        return slow(text)

    return loads


loads = _loader()


def _dumper() -> Callable[..., bytes]:
    def slow(value: Any, indent: bool) -> bytes:
        if indent:
            text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
        else:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
        return text.encode("utf-8", "surrogatepass")

    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is a dependency; a bare checkout may lack it
        return slow

    fast = orjson.dumps
    # What json.dumps(default=str) gives: datetimes and dataclasses through str(), keys
    # that are not strings as text; orjson serialises the rest the same way.
    flat = (orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
            | orjson.OPT_PASSTHROUGH_DATACLASS)
    pretty = flat | orjson.OPT_INDENT_2

    def dumps(value: Any, indent: bool = False) -> bytes:
        try:
            return fast(value, default=str, option=pretty if indent else flat)
        except TypeError:  # an int past 64 bits, a lone surrogate: the standard library's
            return slow(value, indent)

    return dumps


_dumps = _dumper()


def dumps(value: Any, *, indent: bool = False) -> bytes:
    """``value`` as UTF-8 JSON, as ``json.dumps(ensure_ascii=False, default=str)`` writes it.

    Compact, or with ``indent`` two spaces per level; about 20 times faster than the
    standard library on large answers. Floats keep their shortest round-trip spelling
    (``1e-07`` may come out as ``1e-7``: the same number).
    """
    return _dumps(value, indent)


# -- strict JSON from outside ----------------------------------------------------------


class NotStrictJson(ValueError):
    """Why a text is not strict JSON (``message``, a sentence) and what to do (``hint``);
    ``syntax`` when it is not JSON at all (rather than JSON that is not strict)."""

    def __init__(self, message: str, hint: str, *, syntax: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.syntax = syntax


def _depth_ok(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, dict | list))
    return True


def strict_loads(text: str, *, max_depth: int = MAX_DEPTH, big_ints: BigInts = "refuse") -> Any:
    """``text`` read as strictly as the journal needs it (``forebear._canonical.loads``:
    what it returns canonical JSON can encode), and nested at most ``max_depth`` deep;
    ``NotStrictJson`` naming what is wrong otherwise.

    An integer beyond ±(2**53 - 1) that is not a double's canonical spelling is refused,
    or with ``big_ints="text"`` (OpenLineage events only, see the module docstring)
    returned as its exact decimal text: ``4236560510546011815`` reads as
    ``"4236560510546011815"``. Everything else stays as strict either way.
    """
    from forebear import _canonical
    from forebear.errors import InvalidInputError

    try:
        value = _canonical.loads(text, big_ints=big_ints)
    except InvalidInputError as exc:
        raise NotStrictJson(exc.message, exc.hint,
                            syntax=exc.message.startswith("invalid JSON")) from None
    # Nesting deeper than max_depth needs more than max_depth openers: most texts have
    # fewer, and are spared the walk.
    if text.count("{") + text.count("[") > max_depth and not _depth_ok(value, max_depth):
        raise NotStrictJson(f"JSON is nested deeper than {max_depth} levels", "flatten it")
    return value
