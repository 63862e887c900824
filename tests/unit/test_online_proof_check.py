"""``check_proof_json``: a proof built elsewhere is re-checked, trusting none of it."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from forebear import config
from forebear.artifacts.base import open_blob_store
from forebear.errors import ProofError
from forebear.sdk.online import online
from forebear.sdk.proofs import check_proof_json, prove_update
from forebear.sdk.session import Session


@pytest.fixture
def proof(sqlite_store_dir: Path) -> tuple[dict[str, Any], list[Any]]:
    session = Session.from_settings(config.resolve(str(sqlite_store_dir)))
    with online("m", store=session, code=False, every=16) as stream:
        for i in range(40):
            digest = "sha256:" + hashlib.sha256(b"%d" % i).hexdigest()
            stream.update(data_digest=digest, weights_digest=digest)
    blobs = open_blob_store(session.settings.blob_url)
    made = prove_update(session.store, blobs, stream.aggregates[1], 5)
    verifiers = session.store.verifiers()
    session.store.close()
    return made.to_json(), verifiers


def test_a_true_proof_checks(proof: tuple[dict[str, Any], list[Any]]) -> None:
    payload, verifiers = proof
    checked = check_proof_json(payload, verifiers)
    assert checked.to_json() == payload


def _tampered(payload: dict[str, Any], where: str) -> dict[str, Any]:
    bad = copy.deepcopy(payload)
    if where == "update_line":
        bad["update_line"] = bad["update_line"].replace('"i":21', '"i":22')
    elif where == "entry":
        entry = json.loads(bad["entry"])
        entry["params"]["count"] = entry["params"]["count"] + 1
        bad["entry"] = json.dumps(entry, separators=(",", ":"), sort_keys=True)
    elif where == "update_path":
        bad["update_proof"]["path"][0] = "sha256:" + "00" * 32
    elif where == "journal_root":
        bad["journal_proof"]["root"] = "sha256:" + "11" * 32
    elif where == "index":
        bad["update_proof"]["index"] += 1
    elif where == "run_id":
        bad["run_id"] = "0" * 36
    elif where == "checkpoint":
        bad["checkpoint"] = bad["checkpoint"].replace("\n\u2014", "\n\u2014 x", 1)
    elif where == "shape":
        del bad["journal_proof"]
    return bad


@pytest.mark.parametrize("where", ["update_line", "entry", "update_path", "journal_root",
                                   "index", "run_id", "checkpoint", "shape"])
def test_any_change_is_refused(proof: tuple[dict[str, Any], list[Any]], where: str) -> None:
    payload, verifiers = proof
    bad = _tampered(payload, where)
    assert bad != payload
    with pytest.raises(ProofError):
        check_proof_json(bad, verifiers)


def test_a_checkpoint_signed_by_another_key_is_refused(
    proof: tuple[dict[str, Any], list[Any]],
) -> None:
    from forebear.journal.keys import SigningKey

    payload, _ = proof
    stranger = SigningKey.generate("forebear.local/other").verifier()
    with pytest.raises(ProofError):
        check_proof_json(payload, [stranger])
