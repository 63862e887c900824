"""Every road in spells a metric that is not a finite number the same way."""

from __future__ import annotations

import math

from forebear.importers import dvc, mlflow
from forebear.model.entries import NON_FINITE, metric_value


def test_one_spelling_for_numbers_json_cannot_hold() -> None:
    assert metric_value(0.5) == 0.5
    spelled = [metric_value(math.nan), metric_value(math.inf), metric_value(-math.inf)]
    assert spelled == ["NaN", "Infinity", "-Infinity"] and set(spelled) == NON_FINITE
    # MLflow's import and DVC's metrics files give the same spellings as the SDK.
    assert [mlflow._metric(v) for v in (math.nan, math.inf, "-inf")] == spelled
    found: dict[str, object] = {}
    dvc._numbers({"loss": {"train": math.nan, "test": 0.25}, "acc": math.inf, "ok": True},
                 "", found)
    assert found == {"loss.train": "NaN", "loss.test": 0.25, "acc": "Infinity"}
