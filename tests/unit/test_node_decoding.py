"""Decoding execution rows into NODEs: shared anchor records, params and metrics."""

from __future__ import annotations

import json
from typing import Any

from forebear.graph._sql import decode_executions

CODE_A = json.dumps({"commit": "a" * 40, "digest": "sha256:" + "1" * 64, "dirty": False})
CODE_B = json.dumps({"commit": "b" * 40, "digest": "sha256:" + "2" * 64, "dirty": True})
ENV = json.dumps({"digest": "sha256:" + "3" * 64, "python": "3.11.7"})


def _row(node: int, params: str, code: str | None, env: str | None = ENV) -> tuple[Any, ...]:
    return (node, f"run-{node}", "train", "t", "succeeded", params, "{}", code, env,
            "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "me", None, None)


def test_anchor_records_are_decoded_once_and_shared_whatever_the_row_order() -> None:
    rows = [_row(1, "{}", CODE_A), _row(2, '{"lr": 0.1}', CODE_A), _row(3, "{}", CODE_B),
            _row(4, "{}", CODE_A), _row(5, "{}", None, None)]
    nodes: dict[int, dict[str, Any]] = {}
    keys: dict[int, str] = {}
    decode_executions(rows, nodes, keys)
    assert nodes[1]["code"] == json.loads(CODE_A) and nodes[3]["code"] == json.loads(CODE_B)
    assert nodes[1]["code"] is nodes[2]["code"] is nodes[4]["code"]
    assert nodes[1]["environment"] is nodes[4]["environment"]
    assert nodes[5]["code"] is None and nodes[5]["environment"] is None
    assert nodes[2]["params"] == {"lr": 0.1} and nodes[1]["params"] == {}
    assert keys == {i: f"run-{i}" for i in range(1, 6)}


def test_a_changed_anchor_text_is_not_mistaken_for_the_previous_one() -> None:
    # Same length, one byte apart: the previous-row shortcut compares the whole text.
    other = CODE_A.replace('"a', '"c', 1)
    assert len(other) == len(CODE_A)
    nodes: dict[int, dict[str, Any]] = {}
    decode_executions([_row(1, "{}", CODE_A), _row(2, "{}", other)], nodes)
    assert nodes[2]["code"]["commit"] == "c" + "a" * 39
