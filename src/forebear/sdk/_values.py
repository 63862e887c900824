"""Logged values as the journal can hold them: text without NUL, JSON-safe parameters,
a call's arguments within a budget, and file names that are not Unicode escaped.

Recording must never cost a user's run its record: each helper turns what a script
hands the SDK into something every backend stores, rather than refusing it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any

from forebear.errors import InvalidInputError

__all__ = ["append_as_unicode", "argument_params", "clean_text", "escape_surrogates",
           "json_safe"]


def clean_text(value: object) -> str:
    # The journal refuses NUL characters (PostgreSQL cannot store them): shown as U+FFFD,
    # so that a stray NUL in a logged value never costs the run its end entry.
    text = value if isinstance(value, str) else str(value)
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def json_safe(value: Any, depth: int = 0, budget: list[int] | None = None) -> Any:
    """Parameters as JSON values: numbers, strings, lists, dicts; anything else by repr.

    ``budget``, ``[values, characters]``, is spent as containers and text are taken;
    a container or text over what is left is summarized instead (``argument_params``).
    """
    if isinstance(value, str):
        if budget is not None:
            if len(value) > budget[1]:
                kept = max(budget[1], 0)
                budget[1] = 0
                return clean_text(value[:kept]) + f"... ({len(value):,} characters)"
            budget[1] -= len(value)
        return clean_text(value)
    if value is None or isinstance(value, bool | int):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
            return str(value)
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, os.PathLike):
        return clean_text(os.fspath(value))
    if depth < 5 and isinstance(value, Mapping | list | tuple | set | frozenset):
        if budget is not None:
            if len(value) > budget[0]:
                return f"<{type(value).__name__} of {len(value):,} items>"
            budget[0] -= len(value)
        if isinstance(value, Mapping):
            return {clean_text(k): json_safe(v, depth + 1, budget) for k, v in value.items()}
        return [json_safe(v, depth + 1, budget) for v in value]
    text = clean_text(repr(value))
    return text if len(text) <= 200 else text[:197] + "..."


def append_as_unicode(append: Callable[[dict[str, Any]], Any], entry: dict[str, Any]) -> None:
    """``append(entry)``; an entry the journal refused for text that is not Unicode is
    appended again with that text escaped.

    A file name on Linux is bytes: one that is not UTF-8 (``caf\\xe9.csv`` from an old
    archive) reaches Python as lone surrogates, which no JSON journal can hold. Such a
    name must not cost the run its record: it is kept as ``caf\\xe9.csv``.
    """
    try:
        append(entry)
    except InvalidInputError:
        escaped = escape_surrogates(entry)
        if escaped == entry:
            raise
        append(escaped)


def escape_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate in its text written out: an undecodable byte
    (U+DC80..U+DCFF, Python's surrogateescape) as ``\\xNN``, any other as U+FFFD."""
    if isinstance(value, str):
        if not any("\ud800" <= char <= "\udfff" for char in value):
            return value
        return "".join(
            char if not "\ud800" <= char <= "\udfff"
            else f"\\x{ord(char) - 0xDC00:02x}" if "\udc80" <= char <= "\udcff"
            else "\ufffd"
            for char in value
        )
    if isinstance(value, dict):
        return {escape_surrogates(k): escape_surrogates(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [escape_surrogates(v) for v in value]
    return value


# A tracked function's arguments are often data (a list of samples, a dict of features):
# each call's params keep at most this many values and characters in all, the rest
# summarized, so that no argument can make the run's entry too large to journal and stop
# the function from running at all.
_ARGUMENT_VALUES = 10_000
_ARGUMENT_TEXT = 100_000


def argument_params(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A call's arguments as params (``json_safe``), within the budgets above."""
    budget = [_ARGUMENT_VALUES, _ARGUMENT_TEXT]
    return {clean_text(k): json_safe(v, 0, budget) for k, v in arguments.items()}
