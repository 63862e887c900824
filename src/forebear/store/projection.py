"""From journal entries to projection rows: the pure half of every store's write path.

``project(entries)`` turns a batch of ``(seq, entry)`` pairs into rows grouped by
statement. Rows name graph nodes by their *key* (an artifact id or a run id); the backend
resolves keys to integer node ids and runs each statement once with all its rows, in
``STATEMENT_ORDER``. Every statement is written so that applying a batch grouped by
statement leaves the same tables as applying the entries one by one: that is what lets
``verify`` rebuild the projections from the journal and compare them with the live ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

# Statement name -> positions in its row tuples that hold node keys (resolved to ids).
NODE_POSITIONS: Final[dict[str, tuple[int, ...]]] = {
    "artifact": (0,),
    "artifact_uri": (0,),
    "exec_start": (0,),
    "exec_full": (0,),
    "exec_end": (0,),
    "exec_kind": (0,),
    "edge": (0, 1),
    "metric": (0,),
    "alias": (),
    "alias_history": (),
    "flag": (),
}
STATEMENT_ORDER: Final = tuple(NODE_POSITIONS)


_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def _make_json() -> Callable[[Any], str]:
    # The C encoder that ``_dumps`` drives, called directly: the same text (sorted keys,
    # compact separators, no ASCII escaping, float repr), without the Python-level
    # wrapper, which costs as much as the encoding of a small object. No circular
    # check: parsed JSON cannot contain itself.
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has _json
        return _dumps

    def default(value: Any) -> Any:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    encode = make(None, default, json.encoder.encode_basestring, None, ":", ",",
                  True, False, True)

    def dumps(value: Any) -> str:
        return "".join(encode(value, 0))

    return dumps


_json: Final[Callable[[Any], str]] = _make_json()
"""Entries reach the projection parsed from their canonical bytes (live and rebuilt alike),
so a plain sorted encoding is deterministic here."""


def _json_or_none(value: Any) -> str | None:
    return None if value is None else _json(value)


@dataclass(slots=True)
class Projection:
    """Rows for one batch: node keys with their type, and rows per statement."""

    nodes: dict[str, str] = field(default_factory=dict)  # key -> 'artifact' | 'execution'
    seen_artifacts: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    rows: dict[str, list[tuple[Any, ...]]] = field(
        default_factory=lambda: {name: [] for name in STATEMENT_ORDER}
    )

    def node(self, key: str, kind: str) -> str:
        self.nodes.setdefault(key, kind)
        return key


def _artifact(proj: Projection, ref: Mapping[str, Any], seq: int) -> str:
    key = proj.node(ref["id"], "artifact")
    meta = ref.get("meta")
    row = (
        key,
        ref.get("digest"),
        ref.get("kind") or "data",
        ref.get("name"),
        ref.get("size"),
        _json(meta) if meta else None,
    )
    # The same artifact seen again in one batch with the same facts is a no-op upsert.
    if proj.seen_artifacts.get(key) != row:
        proj.seen_artifacts[key] = row
        proj.rows["artifact"].append((*row, seq))
    uri = ref.get("uri")
    if uri:
        proj.rows["artifact_uri"].append((key, uri))
    return key


def _anchor(
    proj: Projection, run: str, record: Mapping[str, Any] | None, kind: str, seq: int
) -> None:
    if not record or not record.get("digest"):
        return
    ref = {
        "id": record["digest"],
        "digest": record["digest"],
        "kind": kind,
        "name": record.get("name"),
        "meta": {k: v for k, v in record.items() if k not in ("digest", "name")},
    }
    key = _artifact(proj, ref, seq)
    proj.rows["edge"].append((key, run, kind, seq))


def _io(proj: Projection, run: str, entry: Mapping[str, Any], seq: int) -> None:
    for ref in entry.get("inputs") or ():
        key = _artifact(proj, ref, seq)
        proj.rows["edge"].append((key, run, ref.get("role") or "input", seq))
    for ref in entry.get("outputs") or ():
        key = _artifact(proj, ref, seq)
        proj.rows["edge"].append((run, key, ref.get("role") or "output", seq))


def _metric_steps(proj: Projection, run: str, entry: Mapping[str, Any], seq: int) -> None:
    for item in entry.get("metric_steps") or ():
        key, step, value = item
        # The value column is a number: "NaN", "Infinity", "-Infinity" go in as NULL (the
        # journal keeps the spelling, and the run's metrics column the last value).
        number = value if isinstance(value, (int, float)) else None
        proj.rows["metric"].append((run, key, step, number, seq))


def _execution(proj: Projection, entry: Mapping[str, Any], seq: int) -> None:
    kind = entry["type"]
    run = proj.node(entry["run_id"], "execution")
    # Anchors usually come with the start; ``forebear exec`` learns the child's
    # environment only at the end, so any execution entry may carry them.
    _anchor(proj, run, entry.get("code"), "code", seq)
    _anchor(proj, run, entry.get("environment"), "environment", seq)
    start_cols = (
        # A guessed kind (an OpenLineage event without a job type) changes no kind
        # already known: it only fills a run that has none, through ``exec_kind``.
        None if entry.get("kind_guess") else entry.get("kind"),
        entry.get("name"),
        entry.get("namespace"),
        _json(entry.get("params") or {}),
        _json(entry.get("tags") or {}),
        entry.get("actor"),
        entry.get("reason"),
        _json_or_none(entry.get("code")),
        _json_or_none(entry.get("environment")),
        entry.get("parent_run_id"),
    )
    end_cols = (
        entry.get("status"),
        _json(entry.get("metrics") or {}),
        entry.get("error"),
        entry.get("traceback"),
        entry.get("exit_code"),
    )
    submitted = entry.get("submitted_by")
    if kind == "execution.start":
        # A guessed start has no seq: ``start_seq`` is that of the entry that set a real
        # start time (see ``_EARLIER_START``).
        start_seq = None if entry.get("start_guess") else seq
        proj.rows["exec_start"].append(
            (run, entry["run_id"], *start_cols, entry["time"], start_seq, submitted))
        if entry.get("kind_guess"):
            proj.rows["exec_kind"].append((run, entry["run_id"], entry.get("kind")))
    elif kind == "execution.end":
        proj.rows["exec_end"].append(
            (
                run,
                entry["run_id"],
                entry.get("kind"),
                entry.get("name"),
                _json(entry.get("params") or {}),
                _json(entry.get("tags") or {}),
                _json_or_none(entry.get("code")),
                _json_or_none(entry.get("environment")),
                *end_cols,
                entry["time"],
                seq,
                submitted,
            )
        )
    else:
        proj.rows["exec_full"].append(
            (
                run,
                entry["run_id"],
                *start_cols,
                *end_cols,
                entry.get("started_at") or entry["time"],
                entry["time"],
                seq,
                submitted,
            )
        )
    _io(proj, run, entry, seq)
    _metric_steps(proj, run, entry, seq)


def project(entries: Iterable[tuple[int, Mapping[str, Any]]]) -> Projection:
    """The projection rows of a batch of validated ``(seq, entry)`` pairs, in seq order."""
    proj = Projection()
    for seq, entry in entries:
        kind = entry["type"]
        if kind.startswith("execution"):
            _execution(proj, entry, seq)
        elif kind == "artifact":
            _artifact(proj, entry["artifact"], seq)
        elif kind == "alias.set":
            row = (entry["name"], entry["target"], entry["time"], entry.get("actor"),
                   entry.get("reason"), seq)
            proj.rows["alias"].append(row)
            proj.rows["alias_history"].append(
                (seq, entry["name"], entry["target"], entry["time"], entry.get("actor"),
                 entry.get("reason"))
            )
        elif kind == "flag":
            proj.rows["flag"].append(
                (seq, entry["target"], entry.get("target_type") or "artifact", entry["reason"],
                 entry.get("actor"), entry["time"])
            )
        elif kind == "openlineage":
            from forebear.model.openlineage import to_entries

            submitted = entry.get("submitted_by")
            for mapped in to_entries(entry["event"], actor=entry.get("actor")):
                if submitted is not None:
                    mapped["submitted_by"] = submitted
                _execution(proj, mapped, seq)
    return proj


_EARLIER_START: Final = (
    "((excluded.start_seq IS NOT NULL AND (execution.start_seq IS NULL "
    "OR excluded.started_at < execution.started_at OR (excluded.started_at = "
    "execution.started_at AND excluded.start_seq < execution.start_seq))) "
    "OR (excluded.start_seq IS NULL AND execution.start_seq IS NULL AND "
    "(execution.started_at IS NULL OR excluded.started_at < execution.started_at)))"
)
"""Whether the row being upserted holds a better start than the stored one.

Events of one run may come in any order (OpenLineage's do), so the start kept is the
best of all seen, not the first: a real start (``start_seq`` set) beats a guessed one (an
event that only shows the run existed by then), then the earlier time, then the earlier
seq. That is a maximum over a total order, the same whatever order rows are applied in,
so a batch grouped by statement leaves what the entries one by one would."""
_LATER_END: Final = (
    "(execution.ended_at IS NULL OR excluded.ended_at > execution.ended_at "
    "OR (excluded.ended_at = execution.ended_at AND execution.end_seq IS NOT NULL "
    "AND excluded.end_seq < execution.end_seq))"
)
"""Whether the ``execution.end`` being upserted is a better end than the stored one.

A run may be ended more than once (an OpenLineage FAIL stamped before the COMPLETE that
was sent first, arriving late): the end kept is the latest by its time, the client's
claim, not by arrival; at the same time the first recorded (the lower seq) stays. Status,
end time, error, traceback, exit code and metrics all come from that one end, so a run
that succeeded later shows no error of the attempt that failed before. Like the start,
a maximum over a total order: the same whatever order the rows are applied in. (A whole
``execution`` entry states the run as it is and replaces its end as before; it has no
``end_seq``, so an ``execution.end`` at the same time leaves it.)"""
_NO_METRICS: Final = "'{}'"
"""An empty JSON object as an SQL literal: merged with an end's metrics, it stores them in
the text form every other merge leaves (jsonb's, on PostgreSQL)."""
_START_COLUMNS: Final = (
    f"started_at = CASE WHEN {_EARLIER_START} THEN excluded.started_at "
    "ELSE execution.started_at END, "
    f"start_seq = CASE WHEN {_EARLIER_START} THEN excluded.start_seq "
    "ELSE execution.start_seq END, "
    # Who submitted the run (the token a server took it from) goes with its start: the
    # same whatever order the rows come in, as the start does; an end only fills a gap.
    f"submitted_by = CASE WHEN {_EARLIER_START} "
    "THEN COALESCE(excluded.submitted_by, execution.submitted_by) "
    "ELSE COALESCE(execution.submitted_by, excluded.submitted_by) END"
)


def _statements(patch: str) -> dict[str, str]:
    """The upsert statements, with ``patch`` the dialect's JSON merge (a format string)."""

    def merge(col: str) -> str:
        return patch.format(old=f"execution.{col}", new=f"excluded.{col}")

    def if_later(col: str, new: str | None = None) -> str:
        return (f"{col} = CASE WHEN {_LATER_END} THEN {new or f'excluded.{col}'} "
                f"ELSE execution.{col} END")

    return {
        "artifact": (
            "INSERT INTO artifact (node, digest, kind, name, size, meta, first_seq) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (node) DO UPDATE SET "
            "name = COALESCE(artifact.name, excluded.name), "
            "size = COALESCE(artifact.size, excluded.size), "
            "meta = COALESCE(artifact.meta, excluded.meta), "
            "kind = CASE WHEN artifact.kind = 'data' THEN excluded.kind ELSE artifact.kind END"
        ),
        "artifact_uri": (
            "INSERT INTO artifact_uri (node, uri) VALUES (?, ?) ON CONFLICT DO NOTHING"
        ),
        "exec_start": (
            "INSERT INTO execution (node, run_id, kind, name, namespace, params, tags, actor, "
            "reason, code, environment, parent_run_id, status, started_at, start_seq, "
            "submitted_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?) "
            "ON CONFLICT (node) DO UPDATE SET "
            "kind = COALESCE(excluded.kind, execution.kind), "
            "name = COALESCE(excluded.name, execution.name), "
            # A run's namespace is the first one given (a token limited to one namespace
            # may not move another's run into its own: forebear.server.auth).
            "namespace = COALESCE(execution.namespace, excluded.namespace), "
            f"params = {merge('params')}, tags = {merge('tags')}, "
            "actor = COALESCE(execution.actor, excluded.actor), "
            "reason = COALESCE(execution.reason, excluded.reason), "
            "code = COALESCE(excluded.code, execution.code), "
            "environment = COALESCE(excluded.environment, execution.environment), "
            "parent_run_id = COALESCE(excluded.parent_run_id, execution.parent_run_id), "
            f"{_START_COLUMNS}"
        ),
        "exec_full": (
            "INSERT INTO execution (node, run_id, kind, name, namespace, params, tags, actor, "
            "reason, code, environment, parent_run_id, status, metrics, error, traceback, "
            "exit_code, started_at, ended_at, start_seq, submitted_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (node) DO UPDATE SET "
            "kind = excluded.kind, name = excluded.name, "
            "namespace = COALESCE(execution.namespace, excluded.namespace), "
            f"params = {merge('params')}, tags = {merge('tags')}, "
            f"metrics = {merge('metrics')}, "
            "actor = excluded.actor, reason = excluded.reason, code = excluded.code, "
            "environment = excluded.environment, parent_run_id = excluded.parent_run_id, "
            "status = excluded.status, error = excluded.error, traceback = excluded.traceback, "
            f"exit_code = excluded.exit_code, ended_at = excluded.ended_at, {_START_COLUMNS}"
        ),
        "exec_end": (
            "INSERT INTO execution (node, run_id, kind, name, params, tags, code, environment, "
            "status, metrics, error, traceback, exit_code, ended_at, end_seq, submitted_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (node) DO UPDATE SET "
            "code = COALESCE(excluded.code, execution.code), "
            "environment = COALESCE(excluded.environment, execution.environment), "
            "kind = COALESCE(execution.kind, excluded.kind), "
            "name = COALESCE(execution.name, excluded.name), "
            f"params = {merge('params')}, tags = {merge('tags')}, "
            # The winning end's metrics, in the text form a merge leaves.
            f"{if_later('metrics', patch.format(old=_NO_METRICS, new='excluded.metrics'))}, "
            f"{if_later('status')}, {if_later('error')}, {if_later('traceback')}, "
            f"{if_later('exit_code')}, {if_later('ended_at')}, {if_later('end_seq')}, "
            "submitted_by = COALESCE(execution.submitted_by, excluded.submitted_by)"
        ),
        # After every start and end of the batch: a guessed kind fills a run without one
        # (the row is there, the start made it); a kind an event gave is never replaced.
        "exec_kind": (
            "INSERT INTO execution (node, run_id, kind, status) VALUES (?, ?, ?, 'running') "
            "ON CONFLICT (node) DO UPDATE SET kind = COALESCE(execution.kind, excluded.kind)"
        ),
        "edge": (
            "INSERT INTO edge (src, dst, role, seq) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
        ),
        "metric": "INSERT INTO metric (run_node, key, step, value, seq) VALUES (?, ?, ?, ?, ?)",
        "alias": (
            "INSERT INTO alias (name, target, set_at, actor, reason, seq) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "target = excluded.target, set_at = excluded.set_at, actor = excluded.actor, "
            "reason = excluded.reason, seq = excluded.seq"
        ),
        "alias_history": (
            "INSERT INTO alias_history (seq, name, target, set_at, actor, reason) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        ),
        "flag": (
            "INSERT INTO flag (seq, target, target_type, reason, actor, flagged_at) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        ),
    }


SQLITE_STATEMENTS: Final = _statements("json_patch({old}, {new})")
POSTGRES_STATEMENTS: Final = {
    name: sql.replace("?", "%s")
    for name, sql in _statements("(({old})::jsonb || ({new})::jsonb)::text").items()
}
