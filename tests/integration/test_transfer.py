"""Transfer learning: an external base model is an ordinary upstream node with its origin."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

import forebear
from forebear.errors import InvalidInputError
from forebear.graph import lineage
from forebear.graph._sql import run as _q
from forebear.graph.refs import resolve
from forebear.model.roles import DERIVATION_ROLES, is_derivation_role
from forebear.sdk.session import Session
from forebear.sdk.transfer import external_ref

BASE = "sha256:" + hashlib.sha256(b"llama weights").hexdigest()


def test_the_derivation_roles_are_documented() -> None:
    assert {"fine_tune", "distill", "merge", "quantize", "adapter", "init_weights"} <= set(
        DERIVATION_ROLES)
    assert all(DERIVATION_ROLES.values())
    assert is_derivation_role("distill") and not is_derivation_role("training_data")


def test_external_ref_keeps_the_origin() -> None:
    ref = external_ref("hf://meta-llama/Llama-3-8B", digest=BASE, revision="8cde5ca8380496c9",
                       role="fine_tune")
    assert ref["id"] == BASE and ref["uri"] == "hf://meta-llama/Llama-3-8B"
    assert ref["meta"]["origin"] == {"uri": "hf://meta-llama/Llama-3-8B",
                                     "source": "huggingface", "revision": "8cde5ca8380496c9"}
    assert ref["name"] == "Llama-3-8B@8cde5ca83804"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"digest": "abc"}, "content digest"), ({"digest": BASE, "role": "stuff"}, "derivation"),
     ({"digest": BASE, "uri": ""}, "URI")],
    ids=["digest", "role", "uri"],
)
def test_external_ref_errors(kwargs: dict[str, Any], message: str) -> None:
    uri = kwargs.pop("uri", "hf://org/m")
    with pytest.raises(InvalidInputError, match=message):
        external_ref(uri, **kwargs)


def test_fine_tuned_models_upstream_includes_the_external_base(
    store: Any, tmp_path: Path
) -> None:
    session = Session(store, actor="tester")
    weights = tmp_path / "tuned.bin"
    weights.write_bytes(b"tuned")
    with forebear.run("fine-tune", kind="fine_tune", store=session, capture=False,
                      watch=False, code=False, environment=False) as run:
        base = run.use_external("hf://meta-llama/Llama-3-8B", digest=BASE, revision="main",
                                role="fine_tune")
        tuned = run.produce(weights, kind="model")
    assert base.digest == BASE
    root = resolve(store, str(tuned.digest))
    up = lineage.upstream(store, root.node).to_json()
    ids = {node["id"] for node in up["nodes"]}
    assert BASE in ids
    assert {"source": BASE, "target": run.run_id, "role": "fine_tune"} in up["edges"]
    meta = _q(store, "SELECT a.meta FROM artifact a JOIN node n ON n.id = a.node "
                         "WHERE n.key = ?", (BASE,))[0][0]
    assert json.loads(meta)["origin"]["revision"] == "main"
    uris = _q(store, "SELECT u.uri FROM artifact_uri u JOIN node n ON n.id = u.node "
                         "WHERE n.key = ?", (BASE,))
    assert uris == [("hf://meta-llama/Llama-3-8B",)]
    assert store.verify().ok
