"""Logged values as the journal can hold them: text without NUL, JSON-safe parameters,
a call's arguments within a budget, and file names that are not Unicode escaped.

Recording must never cost a user's run its record: each helper turns what a script
hands the SDK into something every backend stores, rather than refusing it.

A parameter is recorded so that two runs given the same settings record the same
value: numpy scalars (``np.float32(0.1)``, ``np.int64(50)``, ``np.bool_``) as the JSON
number or bool they hold, arrays and tensors as ``<ndarray shape=(150, 4)
dtype=float64>``, sets sorted, and any other object by its repr without a memory
address (``<__main__.Trainer object>``), which would differ on every run. numpy is
never imported: its values are known by their type's module.

What a run is given is checked before any of it is recorded (``safe_mapping``,
``metric_step``, ...): a call that is refused leaves the run as it was, with a one-line
error naming the fix.
"""

from __future__ import annotations

import json
import math
import operator
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from forebear._canonical import canonical_bytes
from forebear.errors import InvalidInputError
from forebear.model.entries import MAX_NAME, metric_value

__all__ = ["append_as_unicode", "argument_params", "clean_text", "escape_surrogates",
           "json_safe", "metric_key", "metric_number", "metric_step", "plain_scalar",
           "safe_mapping", "too_large"]


def clean_text(value: object) -> str:
    # The journal refuses NUL characters (PostgreSQL cannot store them): shown as U+FFFD,
    # so that a stray NUL in a logged value never costs the run its end entry.
    text = value if isinstance(value, str) else str(value)
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def plain_scalar(value: Any) -> Any:
    """A numpy scalar (or 0-d array) as the Python bool, int or float it holds; anything
    else as it is. Metrics and params both take numbers through here.

    A float of less than double precision is the number as numpy prints it, the
    shortest that reads back as the same float32: ``np.float32(0.1)`` is ``0.1``, not
    ``0.10000000149011612``.
    """
    if type(value).__module__ != "numpy" or getattr(value, "ndim", None) != 0:
        return value
    try:
        item = value.item()
        if isinstance(item, float) and value.dtype.itemsize < 8:
            return float(str(value))
    except (AttributeError, TypeError, ValueError):
        return value
    if type(item).__module__ == "numpy":  # a long double has no Python equivalent
        try:
            return float(item)
        except (TypeError, ValueError):
            return value
    return item


# A default repr's memory address (`<Trainer object at 0x7f3a...>`): different each run.
_ADDRESS = re.compile(r" at 0x[0-9A-Fa-f]+")


def _described(value: Any) -> str:
    """An object that is not JSON data, as text that is the same on every run."""
    kind = type(value)
    name = f"<{kind.__module__}.{kind.__qualname__} object>"
    try:
        shape = None if isinstance(value, type) else getattr(value, "shape", None)
        if shape is not None:  # an array, a tensor, a data frame: its shape, not its data
            dims = tuple(int(n) for n in shape)
            dtype = getattr(value, "dtype", None)
            return f"<{kind.__name__} shape={dims}" + (
                f" dtype={dtype}>" if dtype is not None else ">")
    except Exception:  # a `shape` that is no shape: described as below
        pass
    own_repr: object = kind.__repr__
    if own_repr is object.__repr__:  # its repr would only add an address
        return name
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not cost the run its record
        return name
    return _ADDRESS.sub("", text)


def json_safe(value: Any, depth: int = 0, budget: list[int] | None = None) -> Any:
    """Parameters as JSON values: numbers, strings, lists, dicts; anything else as stable
    text (see the module docstring).

    ``budget``, ``[values, characters]``, is spent as containers and text are taken;
    a container or text over what is left is summarized instead (``argument_params``).
    """
    value = plain_scalar(value)
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
        items = [json_safe(v, depth + 1, budget) for v in value]
        if isinstance(value, set | frozenset):  # iterated in an order that varies by run
            items.sort(key=lambda item: json.dumps(item, sort_keys=True))
        return items
    text = clean_text(_described(value))
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


# -- what a run is given, checked before anything of it is recorded ----------------------


def safe_mapping(values: Any, what: str, example: str) -> dict[str, Any]:
    """Params or tags as JSON-safe values (``json_safe``); anything but a mapping is an
    InvalidInputError naming the call and an ``example`` of it."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise InvalidInputError(
            f"{what}: expected a mapping of names to values, not {type(values).__name__}",
            hint=example)
    return {clean_text(key): json_safe(value) for key, value in values.items()}


def metric_key(key: Any) -> str:
    """A metric's name as the journal keeps it: 1 to MAX_NAME characters."""
    name = clean_text(key)
    if not name or len(name) > MAX_NAME:
        raise InvalidInputError(f"a metric name must be 1 to {MAX_NAME} characters, not "
                                f"{len(name)}", hint='run.log_metric("loss", 0.5)')
    return name


def metric_number(key: Any, value: Any) -> float | str:
    """A metric's value (a numpy scalar too) as ``metric_value`` keeps it; something that
    is not a number is an InvalidInputError."""
    try:
        return metric_value(float(plain_scalar(value)))
    except (TypeError, ValueError):
        raise InvalidInputError(f"metric {key!r} is {str(value)[:80]!r}, not a number",
                                hint="log numbers (floats or ints)") from None


def metric_step(step: Any) -> int:
    """A metric step as the journal keeps it: a whole number (``2.0`` is ``2``)."""
    value = plain_scalar(step)
    number: int | None = None
    if isinstance(value, float):
        number = int(value) if value.is_integer() else None
    elif not isinstance(value, bool):
        try:
            number = operator.index(value)  # an int, or an integer type's (a tensor's)
        except TypeError:
            number = None
    if number is None or abs(number) >= 2**53:
        raise InvalidInputError(f"step {str(step)[:40]!r} is not a whole number",
                                hint="give the step as an integer (the epoch or batch): "
                                     "step=3")
    return number


def too_large(entry: Mapping[str, Any], refused: InvalidInputError) -> InvalidInputError:
    """The error of an entry the journal refused: for one over the size limit because of
    a param or tag, an error naming the largest; else ``refused`` itself."""
    from forebear.store.sql import MAX_ENTRY_BYTES

    try:
        size = len(canonical_bytes(escape_surrogates(entry)))
    except InvalidInputError:
        return refused
    if size <= MAX_ENTRY_BYTES:
        return refused
    sizes = [(len(canonical_bytes(escape_surrogates(value))), what, key)
             for section, what in (("params", "param"), ("tags", "tag"))
             for key, value in (entry.get(section) or {}).items()]
    if not sizes:
        return refused
    largest, what, key = max(sizes)
    return InvalidInputError(
        f"{what} {key!r} is {largest:,} bytes as JSON: the run's record would be {size:,} "
        f"bytes, over the {MAX_ENTRY_BYTES:,}-byte limit",
        hint="log a digest of it, or write it to a file and record that with run.use(path)")
