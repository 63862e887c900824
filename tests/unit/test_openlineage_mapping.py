"""The pure mapping from OpenLineage RunEvents to forebear journal entries."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from forebear.errors import InvalidInputError
from forebear.model.entries import validate_entry
from forebear.model.openlineage import check_name, event_namespace, to_entries

RUN = "01A217DE-8245-7FF6-8AD3-A684E45146AE"
DIGEST = "sha256:" + "ab" * 32


def event(kind: str | None = "START", **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "eventTime": "2026-01-01T10:00:00.123Z",
        "run": {"runId": RUN},
        "job": {"namespace": "airflow", "name": "dag.task"},
        "inputs": [{"namespace": "s3://datasets", "name": "imagenet/train"}],
        "outputs": [],
        "producer": "https://example.com/producer",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    }
    if kind is not None:
        base["eventType"] = kind
    base.update(extra)
    return base


@pytest.mark.parametrize("kind", ["START", "RUNNING", "OTHER", None])
def test_non_terminal_events_start_or_update_a_run(kind: str | None) -> None:
    [start] = to_entries(event(kind))
    assert start["type"] == "execution.start"
    assert start["run_id"] == RUN.lower()
    assert (start["namespace"], start["name"], start["kind"]) == ("airflow", "dag.task", "job")
    assert start["time"] == "2026-01-01T10:00:00.123000Z"
    assert start["inputs"][0]["id"] == "dataset:s3://datasets:imagenet/train"
    assert start["inputs"][0]["digest"] is None
    assert start["inputs"][0]["role"] == "input"


@pytest.mark.parametrize(("kind", "status"),
                         [("COMPLETE", "succeeded"), ("FAIL", "failed"), ("ABORT", "aborted")])
def test_terminal_events_end_the_run_with_its_status(kind: str, status: str) -> None:
    start, end = to_entries(event(kind, outputs=[{"namespace": "s3://m", "name": "model"}]))
    assert start["type"] == "execution.start"
    assert end["type"] == "execution.end"
    assert end["status"] == status
    assert end["outputs"][0]["id"] == "dataset:s3://m:model"
    assert end["outputs"][0]["role"] == "output"


def test_every_mapped_entry_is_a_valid_journal_entry() -> None:
    for kind in ("START", "COMPLETE", "FAIL"):
        for entry in to_entries(event(kind)):
            validate_entry(entry)
    validate_entry({"type": "openlineage", "time": "2026-01-01T00:00:00Z", "event": event()})


def test_a_forebear_facet_or_a_version_digest_gives_the_content_digest() -> None:
    facet = {"_producer": "p", "_schemaURL": "s", "digest": DIGEST, "kind": "model",
             "role": "base_model"}
    _, end = to_entries(event(
        "COMPLETE",
        inputs=[{"namespace": "hf", "name": "bert", "facets": {"forebear": facet}}],
        outputs=[{"namespace": "s3://m", "name": "model",
                  "facets": {"version": {"_producer": "p", "_schemaURL": "s",
                                         "datasetVersion": DIGEST.upper().replace("SHA256",
                                                                                  "sha256")}}}],
    ))
    used = end["inputs"][0]
    assert (used["id"], used["digest"], used["kind"], used["role"]) == (DIGEST, DIGEST, "model",
                                                                      "base_model")
    assert used["meta"] == {"namespace": "hf"}
    assert end["outputs"][0]["digest"] == DIGEST


def test_a_version_that_is_no_digest_is_kept_as_metadata() -> None:
    [start] = to_entries(event(inputs=[{"namespace": "db", "name": "t", "facets": {
        "version": {"_producer": "p", "_schemaURL": "s", "datasetVersion": "v42"}}}]))
    assert start["inputs"][0]["digest"] is None
    assert start["inputs"][0]["meta"] == {"namespace": "db", "version": "v42"}


def test_disagreeing_digests_are_refused() -> None:
    other = "sha256:" + "cd" * 32
    bad = event(inputs=[{"namespace": "a", "name": "b", "facets": {
        "forebear": {"digest": DIGEST},
        "version": {"datasetVersion": other}}}])
    with pytest.raises(InvalidInputError, match="disagreeing digests"):
        to_entries(bad)


def test_parent_code_environment_error_and_tags_are_mapped() -> None:
    start, end = to_entries(event(
        "FAIL",
        run={"runId": RUN, "facets": {
            "parent": {"run": {"runId": "01a217de-0000-7000-8000-000000000001"},
                       "job": {"namespace": "airflow", "name": "dag"}},
            "processing_engine": {"name": "spark", "version": "3.5.1",
                                  "openlineageAdapterVersion": "1.20"},
            "errorMessage": {"message": "boom", "programmingLanguage": "python",
                             "stackTrace": "Traceback..."},
            "tags": {"tags": [{"key": "team", "value": "ml", "source": "USER"}]},
            "forebear": {"kind": "train", "params": {"lr": 0.1}, "metrics": {"acc": 0.9}},
        }},
        job={"namespace": "airflow", "name": "dag.task", "facets": {
            "sourceCodeLocation": {"type": "git", "url": "https://github.com/o/r",
                                   "repoUrl": "https://github.com/o/r.git",
                                   "version": "0123456789abcdef", "branch": "main"}}},
    ))
    assert start["parent_run_id"] == "01a217de-0000-7000-8000-000000000001"
    assert start["kind"] == "train"
    assert start["params"] == {"lr": 0.1}
    assert start["tags"] == {"team": "ml"}
    assert start["code"]["commit"] == "0123456789abcdef"
    assert start["code"]["branch"] == "main"
    assert start["code"]["digest"].startswith("sha256:")
    assert start["environment"]["engine"] == "spark"
    assert end["error"] == "boom"
    assert end["traceback"] == "Traceback..."
    assert end["metrics"] == {"acc": 0.9}


def test_anchor_digests_depend_only_on_the_identifying_fields() -> None:
    def code(version: str, branch: str) -> str:
        job = {"namespace": "a", "name": "b", "facets": {"sourceCodeLocation": {
            "type": "git", "url": "https://x/r", "version": version, "branch": branch}}}
        digest: str = to_entries(event(job=job))[0]["code"]["digest"]
        return digest

    assert code("1", "main") == code("1", "dev")
    assert code("1", "main") != code("2", "main")


@pytest.mark.parametrize(("change", "message"), [
    ({"eventType": "FINISHED"}, "unknown eventType"),
    ({"run": {"runId": "not-a-uuid"}}, "not a UUID"),
    ({"run": {"runId": 7}}, "UUID"),
    ({"run": None}, "no run"),
    ({"job": {"namespace": "", "name": "x"}}, "non-empty"),
    ({"eventTime": "2026-01-01T00:00:00"}, "time zone"),
    ({"eventTime": "9999-12-31T23:59:59-14:00"}, "not an RFC 3339"),
    ({"eventTime": "yesterday"}, "time zone|RFC 3339"),
    ({"inputs": "s3://x"}, "list"),
    ({"inputs": [{"namespace": "a", "name": "b", "facets": {"forebear": {"digest": "md5:1"}}}]},
     "not a digest"),
    ({"outputs": [{"namespace": "a", "name": "b", "outputFacets": {
        "outputStatistics": {"size": -1}}}]}, "non-negative"),
    ({"run": {"runId": RUN, "facets": {"forebear": {"metrics": {"acc": "high"}}}}},
     "number"),
])
def test_unmappable_events_name_the_field(change: dict[str, Any], message: str) -> None:
    bad = event("COMPLETE")
    bad.update(change)
    with pytest.raises(InvalidInputError, match=message):
        to_entries(bad)


@pytest.mark.parametrize("name", [
    "a\x00b", "model\u200d", " model", "model ", "cafe\u0301", "\ud800", "x" * 1025, "tab\there",
], ids=["nul", "zwj", "leading-space", "trailing-space", "nfd", "surrogate", "long", "tab"])
def test_names_have_one_spelling(name: str) -> None:
    with pytest.raises(InvalidInputError):
        check_name(name, "name")


@pytest.mark.parametrize("name", ["my-model", "MY-MODEL", "my%2Dmodel", "my\u2010model",
                                  "café", "../../etc/passwd", "s3://bucket/../other"])
def test_names_are_data_kept_as_sent(name: str) -> None:
    assert check_name(name, "name") == name


def test_the_mapping_does_not_change_the_event() -> None:
    original = event("COMPLETE")
    kept = copy.deepcopy(original)
    to_entries(original)
    assert original == kept


def test_event_namespace() -> None:
    assert event_namespace(event()) == "airflow"
    assert event_namespace({"job": "x"}) is None
    assert event_namespace([]) is None
