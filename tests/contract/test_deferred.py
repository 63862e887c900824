"""Deferred projection (the server's asynchronous listener), on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import make_run, ref


def _event(kind: str, run_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "eventType": kind,
        "eventTime": "2026-01-01T00:00:00.000Z",
        "run": {"runId": run_id},
        "job": {"namespace": "ns", "name": "job"},
        "inputs": [{"namespace": "s3://in", "name": "data"}],
        "outputs": [{"namespace": "s3://out", "name": "model"}],
        "producer": "https://example.com/p",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        **extra,
    }


def _ol(kind: str, run_id: str) -> dict[str, Any]:
    return {"type": "openlineage", "time": "2026-01-01T00:00:01.000000Z", "actor": "t",
            "event": _event(kind, run_id)}


RUN = "01a217de-8245-7ff6-8ad3-a684e45146ae"


def _status(store: Any) -> str | None:
    sql = "SELECT status FROM execution WHERE run_id = ?".replace("?", store.placeholder)
    rows = store.execute(sql, (RUN,))
    return rows[0][0] if rows else None


def test_deferred_entries_are_journaled_but_not_projected(store: Any) -> None:
    seqs = store.append_batch([_ol("START", RUN)], project=False)
    assert list(seqs) == [0]
    assert store.size() == 1
    assert store.projected_size() == 0
    assert _status(store) is None


def test_project_pending_projects_in_order_and_reports_how_many(store: Any) -> None:
    store.append_batch([_ol("START", RUN)], project=False)
    store.append_batch([_ol("COMPLETE", RUN)], project=False)
    assert store.project_pending(1) == 1
    assert store.projected_size() == 1
    assert _status(store) == "running"
    assert store.project_pending(10) == 1
    assert store.project_pending(10) == 0
    assert store.projected_size() == 2
    assert _status(store) == "succeeded"


def test_a_projecting_append_catches_up_on_deferred_entries_first(store: Any) -> None:
    store.append_batch([_ol("START", RUN)], project=False)
    store.append(make_run(inputs=[ref("a")]))
    assert store.projected_size() == store.size() == 2
    assert _status(store) == "running"


def test_verify_names_entries_not_yet_projected(store: Any) -> None:
    # Queries do not show them, and a lag looks exactly like projection rows removed and
    # the pending mark moved back to hide them: verify says so until the worker caught up.
    store.append(make_run(inputs=[ref("a")]))
    store.append_batch([_ol("START", RUN), _ol("COMPLETE", RUN)], project=False)
    report = store.verify()
    assert not report.ok
    assert [(p.seq, "not projected" in p.what) for p in report.problems] == [(1, True)]
    store.project_pending()
    assert store.verify().ok


def test_before_commit_runs_in_the_transaction(store: Any) -> None:
    seen: list[range] = []

    def hook(cur: Any, seqs: range) -> None:
        seen.append(seqs)
        raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        store.append_batch([make_run()], project=False, before_commit=hook)
    assert seen == [range(0, 1)]
    assert store.size() == 0
