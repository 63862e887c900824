"""forebear: verifiable, end-to-end model lineage.

::

    import forebear

    with forebear.run("train", kind="train", params={"lr": 0.1}) as run:
        run.use("data/train.csv", role="training_data")
        run.log_metrics({"accuracy": 0.97})
        run.produce("model.pkl", kind="model")

The SDK surface is re-exported here and imported lazily, so ``import forebear`` stays
fast; everything not listed in ``__all__`` is private.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from forebear.errors import ForebearError

__version__ = "0.1.0"

__all__ = [
    "Artifact",
    "Digest",
    "ForebearError",
    "Run",
    "__version__",
    "current_run",
    "deploy",
    "diff",
    "downstream",
    "federated",
    "flagged",
    "human_edit",
    "log",
    "metric_history",
    "online",
    "open_store",
    "path",
    "resolve_alias",
    "run",
    "set_alias",
    "show",
    "track",
    "upstream",
]

_LAZY = {
    "Artifact": "forebear.sdk.artifact",
    "Digest": "forebear.hashing",
    "Run": "forebear.sdk.run",
    "current_run": "forebear.sdk.run",
    "deploy": "forebear.sdk.lifecycle",
    "diff": "forebear.sdk.queries",
    "downstream": "forebear.sdk.queries",
    "federated": "forebear.sdk.federated",
    "flagged": "forebear.sdk.queries",
    "human_edit": "forebear.sdk.lifecycle",
    "log": "forebear.sdk.queries",
    "metric_history": "forebear.sdk.queries",
    "online": "forebear.sdk.online",
    "open_store": "forebear.store.registry",
    "path": "forebear.sdk.queries",
    "resolve_alias": "forebear.sdk.lifecycle",
    "run": "forebear.sdk.run",
    "set_alias": "forebear.sdk.lifecycle",
    "show": "forebear.sdk.queries",
    "track": "forebear.sdk.track",
    "upstream": "forebear.sdk.queries",
}

if TYPE_CHECKING:
    from forebear.hashing import Digest
    from forebear.sdk.artifact import Artifact
    from forebear.sdk.federated import federated
    from forebear.sdk.lifecycle import deploy, human_edit, resolve_alias, set_alias
    from forebear.sdk.online import online
    from forebear.sdk.queries import (
        diff,
        downstream,
        flagged,
        log,
        metric_history,
        path,
        show,
        upstream,
    )
    from forebear.sdk.run import Run, current_run, run
    from forebear.sdk.track import track
    from forebear.store.registry import open_store


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'forebear' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
