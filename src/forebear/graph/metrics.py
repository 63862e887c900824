"""``metrics REF``: a run's metric history, every ``log_metrics(..., step=)`` point.

A run keeps its history in one of two places (``forebear.sdk.run``): a short one in its
end entry, which the store projects into the ``metric`` table, one row per point; a long
one (over 1 MiB as JSON) in a blob, ``{"metric_steps": [[key, step, value], ...]}``,
recorded as an output of the run with role ``metric_history``. Both are read here and
merged, key by key, each key's points ordered by step (points of one step in the order
they were logged; a point logged without a step, as an importer may record, first).

The ``metric`` table holds a value that is not finite as NULL; its spelling (``"NaN"``,
``"Infinity"``, ``"-Infinity"``) is read back from the journal entry the row came from,
so the history says what was logged. A REF naming an artifact stands for the run that
made it (its ``show`` transformation): ``forebear metrics model.pt`` is the curve of
the training that produced the model.

The answer is ``{"run": RUN_ID, "metrics": {KEY: [[STEP, VALUE], ...]}}``: the shape
``forebear metrics --json`` prints. ``history_lines`` draws it for a person: every point
of a short history, and of a long one (a loss logged each batch: 50,000 points) its
count, steps, first, last, min and max and a one-line sparkline of the curve.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

from forebear._json import loads
from forebear.errors import NotFoundError
from forebear.graph._sql import Queryable, run
from forebear.graph.refs import Resolved

__all__ = ["HISTORY_ROLE", "SHORT", "history_lines", "metric_history"]

HISTORY_ROLE = "metric_history"
"""The edge role of the blob that holds a long metric history."""

SHORT = 20
"""A history of at most this many points is printed whole; a longer one is summarized."""

_BARS = "▁▂▃▄▅▆▇█"
_SPARK_WIDTH = 48

Point = list[Any]
"""``[step, value]``: the step an int or None, the value a float, a ``NON_FINITE``
spelling, or None."""


def _history_run(store: Queryable, resolved: Resolved) -> tuple[int, str]:
    """The node and run id of the run whose history REF names: the run itself, or the
    earliest run that produced the artifact (run ids sort by time)."""
    if resolved.type == "execution":
        return resolved.node, resolved.key
    rows = run(store, "SELECT x.node, x.run_id FROM edge e JOIN execution x ON x.node = e.src "
               "WHERE e.dst = ? ORDER BY x.run_id LIMIT 1", (resolved.node,))
    if not rows:
        raise NotFoundError(f"{resolved.key} was made by no recorded run, so it has no metrics",
                            hint="give the run id, or the file a run produced")
    return int(rows[0][0]), str(rows[0][1])


def _spelled(store: Queryable, run_id: str, seqs: Iterable[int]) -> dict[int, list[Point]]:
    """By seq: the points of ``run_id`` that the journal entries ``seqs`` carry, as
    journaled (keys included: ``[key, step, value]``)."""
    found: dict[int, list[Point]] = {}
    for seq in seqs:
        rows = run(store, "SELECT entry FROM journal WHERE seq = ?", (seq,))
        if not rows:
            continue
        entry = loads(bytes(rows[0][0]))
        if entry.get("run_id") == run_id:
            found[seq] = list(entry.get("metric_steps") or ())
    return found


def _table(store: Queryable, node: int, run_id: str) -> list[Point]:
    """The projected points of run ``node`` as ``[key, step, value]``: where a value is
    NULL (not finite), the points of that entry come from the journal instead."""
    rows = run(store, "SELECT key, step, value, seq FROM metric WHERE run_node = ? "
               "ORDER BY seq, key, step", (node,))
    unspelled = sorted({int(seq) for _, _, value, seq in rows if value is None})
    journaled = _spelled(store, run_id, unspelled)
    points = [[key, step, value] for key, step, value, seq in rows
              if int(seq) not in journaled]
    for steps in journaled.values():
        points.extend(steps)
    return points


def _blob_points(store: Queryable, node: int,
                 read_blob: Callable[[str], bytes] | None) -> list[Point]:
    """The points of the run's ``metric_history`` blobs (none for a short history)."""
    digests = [str(d) for (d,) in run(
        store, "SELECT a.digest FROM edge e JOIN artifact a ON a.node = e.dst "
        "WHERE e.src = ? AND e.role = ? AND a.digest IS NOT NULL ORDER BY e.seq",
        (node, HISTORY_ROLE))]
    if not digests:
        return []
    if read_blob is None:
        raise NotFoundError(
            f"the metric history is kept in blob {digests[0]} and no blob store is configured",
            hint="set FOREBEAR_BLOBS to the blob store the run wrote to")
    points: list[Point] = []
    for digest in digests:
        points.extend(loads(read_blob(digest)).get("metric_steps") or ())
    return points


def _step_order(point: Point) -> tuple[bool, int]:
    step = point[0]
    return (step is not None, step if step is not None else 0)


def metric_history(
    store: Queryable,
    resolved: Resolved,
    *,
    keys: Collection[str] = (),
    read_blob: Callable[[str], bytes] | None = None,
) -> dict[str, Any]:
    """The metric history of the run ``resolved`` names (see the module docstring):
    every key, or only ``keys`` (NotFoundError names the keys there are when one is not
    in it). ``read_blob`` returns a blob's bytes by digest; it is called only for a
    history kept as a blob."""
    node, run_id = _history_run(store, resolved)
    by_key: dict[str, list[Point]] = {}
    for key, step, value in [*_table(store, node, run_id),
                             *_blob_points(store, node, read_blob)]:
        by_key.setdefault(str(key), []).append([step, value])
    missing = [key for key in keys if key not in by_key]
    if missing:
        there = ", ".join(sorted(by_key)) or "none"
        raise NotFoundError(f"run {run_id} has no history of metric {missing[0]!r}",
                            hint=f"its metrics with a history: {there}")
    wanted = list(dict.fromkeys(keys)) if keys else sorted(by_key)
    # sorted() is stable: the points of one step stay in the order they were logged.
    return {"run": run_id,
            "metrics": {key: sorted(by_key[key], key=_step_order) for key in wanted}}


# -- for a person ------------------------------------------------------------------------


def _value(value: Any) -> str:
    """A value for reading: 6 significant digits, a non-finite spelling as it is."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


def _step(step: Any) -> str:
    return "-" if step is None else f"{step:,}"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _spark(values: list[float]) -> str:
    """The curve in at most ``_SPARK_WIDTH`` characters, each the mean of its points."""
    width = min(_SPARK_WIDTH, len(values))
    means = []
    for i in range(width):
        part = values[i * len(values) // width:(i + 1) * len(values) // width]
        means.append(sum(part) / len(part))
    low, high = min(means), max(means)
    if high == low:
        return _BARS[0] * width
    top = len(_BARS) - 1
    return "".join(_BARS[round((m - low) / (high - low) * top)] for m in means)


def _summary(points: list[Point]) -> list[str]:
    """The lines of a long history: first, last, min, max (with their steps), the curve,
    and how many points are not finite."""
    numbers = [(step, value) for step, value in points if _number(value)]
    lines = ["  " + "  ".join(
        f"{what} {_value(value)} (step {_step(step)})" for what, (step, value) in (
            ("first", points[0]), ("last", points[-1]),
            *((("min", min(numbers, key=lambda p: p[1])),
               ("max", max(numbers, key=lambda p: p[1]))) if numbers else ()),
        ))]
    values = [float(value) for _, value in numbers]
    if len(values) > 1 and min(values) != max(values):  # a constant draws no curve
        lines.append("  curve " + _spark(values))
    others: dict[str, int] = {}
    for _, value in points:
        if not _number(value):
            others[_value(value)] = others.get(_value(value), 0) + 1
    if others:
        count = sum(others.values())
        lines.append(f"  {count:,} not finite ("
                     + ", ".join(f"{name}: {n:,}" for name, n in sorted(others.items())) + ")")
    return lines


def history_lines(history: dict[str, Any], *, every: bool = False) -> list[str]:
    """``metric_history``'s answer as plain text lines: per key a heading (points, steps),
    then every point (a short history, or all with ``every``) in a step/value table, or
    a summary; the last line says how to see what was summarized."""
    metrics: dict[str, list[Point]] = history["metrics"]
    if not metrics:
        return [f"run {history['run']} logged no metric history "
                "(run.log_metrics({...}, step=N) keeps one)"]
    lines = [f"run {history['run']}"]
    long = []
    for key, points in metrics.items():
        steps = [step for step, _ in points if step is not None]
        span = f", steps {_step(min(steps))} to {_step(max(steps))}" if steps else ""
        lines.append(f"{key}  {len(points):,} point{'s' * (len(points) != 1)}{span}")
        if every or len(points) <= SHORT:
            cells = [(_step(step), _value(value)) for step, value in points]
            width = max(len("step"), *(len(step) for step, _ in cells))
            lines.append(f"  {'step'.rjust(width)}  value")
            lines.extend(f"  {step.rjust(width)}  {value}" for step, value in cells)
        else:
            long.append(key)
            lines.extend(_summary(points))
    if long:
        lines.append(f"{', '.join(long)}: summarized; --all for every point")
    return lines
