"""The exporters on hand-built closures: PROV-JSON, CycloneDX ML-BOM, SLSA provenance.

Every document is read back by a real implementation of its format: the ``prov`` package
(its warnings are errors here, so a name it cannot resolve fails the test), CycloneDX's
strict JSON schema with format checks (``cyclonedx-python-lib``), and the in-toto
attestation protos (unknown fields and bad timestamps are parse errors).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter, deque
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from packageurl import PackageURL
from prov.model import ProvDocument, ProvSpecialization

from forebear.errors import InvalidInputError, UsageError
from forebear.exporters import to_cyclonedx, to_openlineage, to_prov, to_slsa
from forebear.exporters._graph import as_uri, git_url
from forebear.exporters.cyclonedx import purl
from forebear.graph.lineage import Lineage

RELATIONS = ("used", "wasGeneratedBy", "wasAssociatedWith", "wasDerivedFrom",
             "specializationOf")
ENDPOINTS = {"prov:activity": "activity", "prov:entity": "entity", "prov:agent": "agent",
             "prov:plan": "entity", "prov:generatedEntity": "entity",
             "prov:usedEntity": "entity", "prov:specificEntity": "entity",
             "prov:generalEntity": "entity"}
SERIAL = uuid.UUID("12345678-1234-5678-1234-567812345678")
TRAIN, TUNE = "01a217de-8245-7ff6-8ad3-000000000001", "01a217de-8245-7ff6-8ad3-000000000002"
ODD_ACTOR = "Ana María <ana@example.com> (50% on-call)"
DATASET = "dataset:s3://lake:raw/2024 logs?x=1#frag"


def _digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def _artifact(seed: str, kind: str, name: str | None, uris: list[str] | None = None
              ) -> dict[str, Any]:
    digest = _digest(seed)
    return {"type": "artifact", "id": digest, "digest": digest, "kind": kind, "name": name,
            "uris": uris or []}


def _run(run_id: str, name: str, **extra: Any) -> dict[str, Any]:
    node = {"type": "execution", "id": run_id, "run_id": run_id, "kind": "train", "name": name,
            "status": "succeeded", "params": {}, "metrics": {}, "code": None,
            "environment": None, "started_at": "2026-01-01T00:00:00.000000Z",
            "ended_at": "2026-01-01T00:01:00.500000Z", "actor": "ana"}
    node.update(extra)
    return node


DATA = _artifact("data", "data", "train [v1].csv", ["/data/train [v1].csv"])
EXTRA = {"type": "artifact", "id": DATASET, "digest": None, "kind": "dataset",
         "name": "raw/2024 logs", "uris": ["s3://lake/raw/2024 logs"]}
CODE = _artifact("code", "code", "repo@abc")
ENV = _artifact("env", "environment", "python-3.11.7-abc")
BASE = _artifact("base", "model", "base.pt", ["/models/base.pt"])
TUNED = _artifact("tuned", "model", "fraud model «v2».pt", ["/models/fraud model «v2».pt"])
FT_DATA = _artifact("ft", "data", "fine-tune.jsonl")
CODE_RECORD = {"digest": CODE["id"], "commit": "c" * 40, "branch": "main",
               "remote": "git@github.com:acme/fraud model.git", "dirty": True}
ENV_RECORD = {"digest": ENV["id"], "python": "3.11.7", "platform": "Linux 6.1",
              "machine": "x86_64"}
TRAIN_RUN = _run(TRAIN, "train", params={"lr": 0.1, "layers": [64, 32]},
                 metrics={"accuracy": 0.9}, code=CODE_RECORD, environment=ENV_RECORD)
TUNE_RUN = _run(TUNE, "fine-tune: «de»", kind="fine_tune", actor=ODD_ACTOR,
                params={"epochs": 2, "opt name": "adam/β"},
                metrics={"accuracy": 0.95, "loss": "NaN"}, code=CODE_RECORD,
                environment=ENV_RECORD, reason="customer ask")
PACKAGES = {ENV["id"]: {"torch": "2.1.0+cu121", "Typing_Extensions": "4.9.0",
                        "zope.interface": "6.1", "tzdata": "2024.1!post1"}}
RECORD = {"aliases": [{"name": "fraud@prod"}],
          "flags": [{"target": DATA["id"], "reason": "labels leaked", "actor": ODD_ACTOR,
                     "flagged_at": "2026-02-01T00:00:00Z", "inherited": True}]}


def _upstream() -> Lineage:
    """data + dataset -> train -> base model; base + ft data -> fine-tune -> tuned model."""
    nodes = [TUNED, TUNE_RUN, BASE, TRAIN_RUN, DATA, EXTRA, CODE, ENV, FT_DATA]
    edges = [
        (TUNE, TUNED["id"], "output"),
        (BASE["id"], TUNE, "fine_tune"), (FT_DATA["id"], TUNE, "training_data"),
        (CODE["id"], TUNE, "code"), (ENV["id"], TUNE, "environment"),
        (TRAIN, BASE["id"], "output"),
        (DATA["id"], TRAIN, "training data/ü"), (DATASET, TRAIN, "validation"),
        (CODE["id"], TRAIN, "code"), (ENV["id"], TRAIN, "environment"),
    ]
    return Lineage(root=TUNED["id"], direction="upstream", nodes=nodes, edges=edges,
                   total=len(nodes))


# -- readers ------------------------------------------------------------------------------


def read_prov(document: dict[str, Any]) -> ProvDocument:
    """Parse with the ``prov`` package; any warning it gives fails the test."""
    return ProvDocument.deserialize(content=json.dumps(document), format="json")


def check_prov(document: dict[str, Any], lineage: Lineage) -> None:
    """Structure: every node once, every edge one relation, every endpoint declared."""
    artifacts = [n for n in lineage.nodes if n["type"] == "artifact"]
    runs = [n for n in lineage.nodes if n["type"] == "execution"]
    entities = document.get("entity", {})
    general = {k: e for k, e in entities.items() if "forebear:runId" not in e}
    assert len(general) == len(artifacts)
    assert len(document.get("activity", {})) == len(runs)
    used = document.get("used", {})
    generated = document.get("wasGeneratedBy", {})
    # PROV's generation-uniqueness: an entity is generated by at most one activity, so an
    # artifact several runs made is generated as one specialization of it per run.
    made = Counter(r["prov:entity"] for r in generated.values())
    assert set(made.values()) <= {1}
    special = {r["prov:specificEntity"]: r["prov:generalEntity"]
               for r in document.get("specializationOf", {}).values()}
    assert set(special) == set(entities) - set(general)
    for specific, whole in special.items():
        assert whole in general and made[specific] == 1
        assert entities[specific]["forebear:id"] == general[whole]["forebear:id"]
        assert [f"run:{entities[specific]['forebear:runId']}"] == [
            r["prov:activity"] for r in generated.values() if r["prov:entity"] == specific]
    expanded = [(r["prov:activity"], special.get(r["prov:entity"], r["prov:entity"]), role)
                for r in generated.values()
                for role in (r["prov:role"] if isinstance(r["prov:role"], list)
                             else [r["prov:role"]])]
    assert len(used) + len(expanded) == len(set(lineage.edges))
    for relation in RELATIONS:
        for ident, record in document.get(relation, {}).items():
            assert ident.startswith("_:")
            for attr, kind in ENDPOINTS.items():
                if attr in record:
                    assert record[attr] in document[kind], (relation, attr, record[attr])
    by_forebear_id = {e["forebear:id"]: key for key, e in general.items()}
    assert set(by_forebear_id) == {n["id"] for n in artifacts}
    relations = sorted(
        [(r["prov:entity"], r["prov:activity"], r["prov:role"]) for r in used.values()]
        + expanded)
    activity = {n["id"]: f"run:{n['id']}" for n in runs}
    expected = sorted((by_forebear_id.get(s, activity.get(s)), by_forebear_id.get(t,
                       activity.get(t)), role) for s, t, role in set(lineage.edges))
    assert relations == expected


def check_cyclonedx(document: dict[str, Any]) -> None:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document))
    assert error is None, str(error)[:2000]


def check_slsa(document: dict[str, Any]) -> provenance_pb2.Provenance:
    statement = json_format.ParseDict(document, statement_pb2.Statement())
    Statement.copy_from_pb(statement).validate()
    return json_format.ParseDict(document["predicate"], provenance_pb2.Provenance())


# -- PROV-JSON ----------------------------------------------------------------------------


def test_prov_maps_every_node_and_edge_and_a_real_reader_takes_it() -> None:
    lineage = _upstream()
    document = to_prov(lineage, record=RECORD)
    check_prov(document, lineage)
    parsed = read_prov(document)
    records = parsed.get_records()
    kinds = [type(r).__name__ for r in records]
    assert kinds.count("ProvEntity") == 7 and kinds.count("ProvActivity") == 2
    assert kinds.count("ProvUsage") == 8 and kinds.count("ProvGeneration") == 2
    assert kinds.count("ProvAgent") == 2 and kinds.count("ProvAssociation") == 2
    # base <- {data, dataset}; tuned <- {base, ft data}: anchors are not derivations
    assert kinds.count("ProvDerivation") == 4
    uris = {str(r.identifier.uri) for r in records if r.identifier is not None}
    assert f"urn:forebear:artifact:sha256:{TUNED['id'][7:]}" in uris
    assert f"urn:uuid:{TUNE}" in uris


def test_prov_ids_of_odd_names_are_escaped_qualified_names() -> None:
    document = to_prov(_upstream(), record=RECORD)
    agents = document["agent"]
    odd = next(key for key, value in agents.items() if value["prov:label"] == ODD_ACTOR)
    assert odd == "actor:Ana%20Mar%C3%ADa%20%3Cana@example.com%3E%20%2850%25%20on-call%29"
    dataset = next(k for k, v in document["entity"].items() if v["forebear:id"] == DATASET)
    assert dataset == "dataset:s3://lake:raw/2024%20logs%3Fx%3D1%23frag"
    parsed = read_prov(document)
    agent = next(r for r in parsed.get_records() if type(r).__name__ == "ProvAgent"
                 and "Mar" in str(r.identifier))
    assert str(agent.identifier.uri).startswith("urn:forebear:actor:Ana%20Mar")


def test_prov_carries_times_params_roles_plan_aliases_and_flags() -> None:
    document = to_prov(_upstream(), record=RECORD)
    run = document["activity"][f"run:{TUNE}"]
    assert run["prov:startTime"] == "2026-01-01T00:00:00.000000Z"
    assert run["prov:endTime"] == "2026-01-01T00:01:00.500000Z"
    assert json.loads(run["forebear:params"]) == {"epochs": 2, "opt name": "adam/β"}
    assert json.loads(run["forebear:metrics"]) == {"accuracy": 0.95, "loss": "NaN"}
    assert run["forebear:reason"] == "customer ask"
    roles = {r["prov:role"] for r in document["used"].values()}
    assert {"training data/ü", "fine_tune", "code", "environment"} <= roles
    assert all(a["prov:plan"] == f"sha256:{CODE['id'][7:]}"
               for a in document["wasAssociatedWith"].values())
    assert document["entity"][f"sha256:{CODE['id'][7:]}"]["prov:type"] == {
        "$": "prov:Plan", "type": "prov:QUALIFIED_NAME"}
    assert document["entity"][f"sha256:{TUNED['id'][7:]}"]["forebear:alias"] == "fraud@prod"
    flagged = document["entity"][f"sha256:{DATA['id'][7:]}"]["forebear:flag"]
    assert flagged.startswith("labels leaked by Ana")
    read_prov(document)


def test_prov_of_a_downstream_closure_and_of_a_run() -> None:
    down = Lineage(root=DATA["id"], direction="downstream",
                   nodes=[DATA, TRAIN_RUN, BASE, TUNE_RUN, TUNED],
                   edges=[(DATA["id"], TRAIN, "training_data"), (TRAIN, BASE["id"], "output"),
                          (BASE["id"], TUNE, "fine_tune"), (TUNE, TUNED["id"], "output")],
                   total=5)
    document = to_prov(down)
    check_prov(document, down)
    read_prov(document)
    # the code anchor is not in a downstream closure: no plan that points nowhere
    assert all("prov:plan" not in a for a in document["wasAssociatedWith"].values())
    run_root = Lineage(root=TUNE, direction="upstream", nodes=[TUNE_RUN, BASE, FT_DATA],
                       edges=[(BASE["id"], TUNE, "fine_tune"),
                              (FT_DATA["id"], TUNE, "training_data")], total=3)
    check_prov(to_prov(run_root), run_root)



def test_prov_of_an_artifact_two_runs_made_keeps_one_generation_per_entity() -> None:
    # A deterministic step run twice: both runs made the same bytes, one artifact.
    again = _run("01a217de-8245-7ff6-8ad3-000000000003", "train again")
    lineage = Lineage(root=BASE["id"], direction="upstream",
                      nodes=[BASE, TRAIN_RUN, again, DATA],
                      edges=[(TRAIN, BASE["id"], "output"), (again["id"], BASE["id"], "output"),
                             (again["id"], BASE["id"], "checkpoint"),
                             (DATA["id"], TRAIN, "training_data"),
                             (DATA["id"], again["id"], "training_data")], total=4)
    document = to_prov(lineage)
    check_prov(document, lineage)
    parsed = read_prov(document)
    assert len(document["wasGeneratedBy"]) == 2
    assert len(document["specializationOf"]) == 2
    assert {r["prov:activity"]: r["prov:role"] for r in document["wasGeneratedBy"].values()} \
        == {f"run:{TRAIN}": "output", f"run:{again['id']}": ["output", "checkpoint"]}
    # each run's derivation starts from its own generation of the model
    generations = {r["prov:entity"] for r in document["wasGeneratedBy"].values()}
    assert {d["prov:generatedEntity"] for d in document["wasDerivedFrom"].values()} \
        == generations
    assert all(g.startswith("forebear:generation/") for g in generations)
    assert len(list(parsed.get_records(ProvSpecialization))) == 2


# -- OpenLineage --------------------------------------------------------------------------

# The standard facets we write, and the openlineage-python class that defines each.
OL_FACETS = {
    "jobType": "job_type_job.JobTypeJobFacet",
    "sourceCodeLocation": "source_code_location_job.SourceCodeLocationJobFacet",
    "processing_engine": "processing_engine_run.ProcessingEngineRunFacet",
    "parent": "parent_run.ParentRunFacet",
    "errorMessage": "error_message_run.ErrorMessageRunFacet",
    "tags": "tags_run.TagsRunFacet",
    "version": "dataset_version_dataset.DatasetVersionDatasetFacet",
}


def check_openlineage(events: list[dict[str, Any]], lineage: Lineage) -> None:
    """Every event is a RunEvent of the official schema, every standard facet builds
    the openlineage-python facet class of its name, and forebear's own OpenLineage
    ingest reads back each run with its data edges."""
    import importlib

    from forebear.model.openlineage import check_name, to_entries
    from forebear.server.validation import validate_run_event

    def facets_of(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        holders = [event["run"].get("facets", {}), event["job"].get("facets", {})]
        for dataset in event["inputs"] + event["outputs"]:
            holders += [dataset.get("facets", {}), dataset.get("inputFacets", {}),
                        dataset.get("outputFacets", {})]
        return [item for holder in holders for item in holder.items()]

    for event in events:
        validate_run_event(event)
        for name, facet in facets_of(event):
            assert facet["_producer"] == event["producer"]
            if name in OL_FACETS:
                module, cls = OL_FACETS[name].split(".")
                facet_class = getattr(importlib.import_module(
                    f"openlineage.client.generated.{module}"), cls)
                fields = {k: v for k, v in facet.items() if not k.startswith("_")}
                facet_class(**fields)  # unknown or missing fields raise
                assert facet["_schemaURL"] == facet_class._get_schema()
    runs = {n["id"]: n for n in lineage.nodes if n["type"] == "execution"}
    artifacts = {n["id"] for n in lineage.nodes if n["type"] == "artifact"}
    seen: dict[str, list[str]] = {}
    read_edges: set[tuple[str, str, str]] = set()
    for event in events:
        entries = to_entries(event)
        seen.setdefault(entries[0]["run_id"], []).append(event["eventType"])
        for entry in entries:
            run = runs[entry["run_id"]]
            assert entry["kind"] == run["kind"]
            try:  # a name OpenLineage takes as it is stays as it is
                assert entry["name"] == check_name(run["name"], "name")
            except InvalidInputError:
                assert entry["name"] == event["job"]["name"] and entry["name"].strip()
            for ref in entry.get("inputs", ()):
                read_edges.add((ref["id"], run["id"], ref["role"]))
            for ref in entry.get("outputs", ()):
                read_edges.add((run["id"], ref["id"], ref["role"]))
            if entry["type"] == "execution.end":
                assert entry["status"] == run["status"]
                assert entry.get("metrics", {}) == {
                    k: v for k, v in run["metrics"].items()
                    if isinstance(v, int | float) and v == v}
            else:
                assert entry["params"] == run["params"]
    assert set(seen) == set(runs)
    assert all(kinds[0] == "START" and len(kinds) <= 2 for kinds in seen.values())
    assert read_edges == {e for e in lineage.edges if e[0] in artifacts or e[1] in artifacts}
    times = [event["eventTime"] for event in events]
    assert times == sorted(times)


def test_openlineage_events_are_valid_and_forebear_reads_them_back() -> None:
    lineage = _upstream()
    details = {TUNE: {"namespace": "fraud team", "tags": {"ticket": "ML-7"},
                      "parent_run_id": TRAIN, "error": None}}
    events = to_openlineage(lineage, version="0.1.0", details=details)
    check_openlineage(events, lineage)
    assert sorted(e["eventType"] for e in events) == ["COMPLETE", "COMPLETE", "START", "START"]
    (tune,) = [e for e in events if e["run"]["runId"] == TUNE and e["eventType"] == "COMPLETE"]
    (train,) = [e for e in events if e["run"]["runId"] == TRAIN and e["eventType"] == "COMPLETE"]
    assert tune["job"]["namespace"] == "fraud team"
    assert tune["run"]["facets"]["parent"]["run"] == {"runId": TRAIN}
    assert tune["run"]["facets"]["tags"]["tags"] == [
        {"key": "ticket", "value": "ML-7", "source": "FOREBEAR"}]
    assert tune["run"]["facets"]["forebear"]["otherMetrics"] == {"loss": "NaN"}
    code = tune["job"]["facets"]["sourceCodeLocation"]
    assert (code["type"], code["version"], code["branch"]) == ("git", "c" * 40, "main")
    # a located artifact is the dataset at its location, its digest that dataset's version
    (model,) = tune["outputs"]
    assert (model["namespace"], model["name"]) == ("file", "/models/fraud model «v2».pt")
    assert model["facets"]["version"]["datasetVersion"] == TUNED["id"]
    # a dataset: id is its own namespace and name again
    (extra,) = [d for d in train["inputs"] if d["namespace"] == "s3://lake"]
    assert extra["name"] == "raw/2024 logs?x=1#frag"
    assert "version" not in extra["facets"]


def test_openlineage_of_a_failed_and_a_running_run() -> None:
    failed = _run("01a217de-8245-7ff6-8ad3-000000000005", "broken", status="failed")
    running = _run("01a217de-8245-7ff6-8ad3-000000000006", "still going",
                   status="running", ended_at=None)
    lineage = Lineage(root=DATA["id"], direction="downstream", nodes=[DATA, failed, running],
                      edges=[(DATA["id"], failed["id"], "training_data"),
                             (DATA["id"], running["id"], "training_data")], total=3)
    details = {failed["id"]: {"error": "ValueError: bad shape", "traceback": "Traceback..."}}
    events = to_openlineage(lineage, version="0.1.0", details=details)
    check_openlineage(events, lineage)
    by_run = {(e["run"]["runId"], e["eventType"]): e for e in events}
    assert set(by_run) == {(failed["id"], "START"), (failed["id"], "FAIL"),
                           (running["id"], "START")}
    error = by_run[failed["id"], "FAIL"]["run"]["facets"]["errorMessage"]
    assert (error["message"], error["stackTrace"]) == ("ValueError: bad shape", "Traceback...")




# -- CycloneDX ----------------------------------------------------------------------------


def _bom(lineage: Lineage | None = None, **options: Any) -> dict[str, Any]:
    return to_cyclonedx(lineage or _upstream(), serial=SERIAL,
                        timestamp="2026-03-01T00:00:00Z", tool_version="0.1.0",
                        **{"record": RECORD, "packages": PACKAGES, **options})


def test_cyclonedx_is_a_valid_ml_bom_of_the_model() -> None:
    bom = _bom()
    check_cyclonedx(bom)
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    assert bom["serialNumber"] == f"urn:uuid:{SERIAL}"
    subject = bom["metadata"]["component"]
    assert subject["type"] == "machine-learning-model" and subject["bom-ref"] == TUNED["id"]
    assert subject["name"] == "fraud model «v2».pt"
    assert subject["hashes"] == [{"alg": "SHA-256", "content": TUNED["id"][7:]}]
    card = subject["modelCard"]
    assert card["modelParameters"]["datasets"] == [{"ref": FT_DATA["id"]}]
    assert card["quantitativeAnalysis"]["performanceMetrics"] == [
        {"type": "accuracy", "value": "0.95"}, {"type": "loss", "value": "NaN"}]
    props = {(p["name"], p["value"]) for p in card["properties"]}
    assert {("forebear:param:epochs", "2"), ("forebear:param:opt name", "adam/β"),
            ("forebear:run.run_id", TUNE), ("forebear:run.actor", ODD_ACTOR)} <= props
    subject_props = {(p["name"], p["value"]) for p in subject["properties"]}
    assert ("forebear:alias", "fraud@prod") in subject_props
    assert any(n == "forebear:flag.inherited" and DATA["id"] in v for n, v in subject_props)


def test_cyclonedx_components_packages_and_dependencies() -> None:
    bom = _bom()
    components = {c["bom-ref"]: c for c in bom["components"]}
    assert components[BASE["id"]]["type"] == "machine-learning-model"
    assert components[BASE["id"]]["modelCard"]["modelParameters"]["datasets"] == [
        {"ref": DATA["id"]}, {"ref": DATASET}]
    assert components[DATA["id"]]["data"] == [{"type": "dataset", "name": "train [v1].csv",
                                               "contents": {"url": "file:///data/train%20%5Bv1%5D.csv"}}]
    assert "hashes" not in components[DATASET]  # known by name only
    assert components[CODE["id"]]["data"][0]["type"] == "source-code"
    assert components[CODE["id"]]["externalReferences"] == [
        {"type": "vcs", "url": "ssh://git@github.com/acme/fraud%20model.git"}]
    assert components[ENV["id"]]["type"] == "platform"
    libraries = {c["name"]: c for c in components.values() if c["type"] == "library"}
    assert set(libraries) == {"torch", "Typing_Extensions", "zope.interface", "tzdata"}
    for name, version in PACKAGES[ENV["id"]].items():
        parsed = PackageURL.from_string(libraries[name]["purl"])
        assert (parsed.type, parsed.version) == ("pypi", version)
        assert parsed.name == name.lower().replace("_", "-").replace(".", "-")
    depends = {d["ref"]: d["dependsOn"] for d in bom["dependencies"]}
    assert depends[TUNED["id"]] == sorted([BASE["id"], FT_DATA["id"], CODE["id"], ENV["id"]])
    assert depends[BASE["id"]] == sorted([DATA["id"], DATASET, CODE["id"], ENV["id"]])
    assert depends[ENV["id"]] == sorted(c["purl"] for c in libraries.values())
    assert depends[DATA["id"]] == []
    refs = {bom["metadata"]["component"]["bom-ref"]} | set(components)
    assert all(set(d) <= refs for d in depends.values()) and set(depends) <= refs


def test_cyclonedx_without_package_lists_still_validates() -> None:
    bom = _bom(packages=None, record=None)
    check_cyclonedx(bom)
    assert not [c for c in bom["components"] if c["type"] == "library"]


@pytest.mark.parametrize(("lineage", "message"), [
    pytest.param(Lineage(root=TUNE, direction="upstream", nodes=[TUNE_RUN], edges=[], total=1),
                 "is a run", id="a-run"),
    pytest.param(Lineage(root=DATA["id"], direction="downstream", nodes=[DATA], edges=[],
                         total=1), "came from", id="downstream"),
])
def test_cyclonedx_and_slsa_need_an_artifact_upstream(lineage: Lineage, message: str) -> None:
    for export in (lambda: _bom(lineage), lambda: to_slsa(lineage, builder_version="0")):
        with pytest.raises(UsageError, match=message):
            export()


def test_a_run_as_subject_names_its_outputs_as_the_fix() -> None:
    lineage = Lineage(root=TUNE, direction="upstream", nodes=[TUNE_RUN], edges=[], total=1)
    record = {"outputs": [{"role": "output", "id": TUNED["id"], "type": "artifact",
                           "name": "tuned.pt"}]}
    with pytest.raises(UsageError) as caught:
        to_slsa(lineage, builder_version="0", record=record)
    assert f"tuned.pt ({TUNED['id']})" in str(caught.value)


# -- SLSA ---------------------------------------------------------------------------------


def test_slsa_is_an_in_toto_statement_of_the_run_that_made_the_model() -> None:
    statement = to_slsa(_upstream(), builder_version="0.1.0", record=RECORD)
    provenance = check_slsa(statement)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    subject = statement["subject"][0]
    assert subject["digest"] == {"sha256": TUNED["id"][7:]}
    assert subject["annotations"]["aliases"] == ["fraud@prod"]
    assert subject["annotations"]["flags"][0]["target"] == DATA["id"]
    build = statement["predicate"]["buildDefinition"]
    assert build["externalParameters"] == {"epochs": 2, "opt name": "adam/β"}
    assert build["internalParameters"]["reason"] == "customer ask"
    deps = {d["annotations"]["role"]: d for d in build["resolvedDependencies"]}
    assert set(deps) == {"fine_tune", "training_data", "code", "environment"}
    assert deps["code"]["uri"] == "git+ssh://git@github.com/acme/fraud%20model.git"
    assert deps["code"]["digest"] == {"gitCommit": "c" * 40, "sha256": CODE["id"][7:]}
    assert deps["code"]["annotations"]["dirty"] is True
    assert deps["environment"]["digest"] == {"sha256": ENV["id"][7:]}
    assert deps["fine_tune"]["uri"] == "file:///models/base.pt"
    details = statement["predicate"]["runDetails"]
    assert details["metadata"] == {"invocationId": TUNE,
                                   "startedOn": "2026-01-01T00:00:00.000000Z",
                                   "finishedOn": "2026-01-01T00:01:00.500000Z"}
    assert provenance.run_details.metadata.finished_on.nanos == 500_000_000
    assert provenance.build_definition.resolved_dependencies[0].name


def test_slsa_refuses_what_it_cannot_attest() -> None:
    by_name = Lineage(root=DATASET, direction="upstream", nodes=[EXTRA], edges=[], total=1)
    with pytest.raises(UsageError, match="no content digest"):
        to_slsa(by_name, builder_version="0")
    raw = Lineage(root=DATA["id"], direction="upstream", nodes=[DATA], edges=[], total=1)
    with pytest.raises(UsageError, match="not made by any recorded run"):
        to_slsa(raw, builder_version="0")
    # ... while the other formats describe a raw dataset fine
    check_cyclonedx(_bom(raw))
    read_prov(to_prov(raw))


def test_the_readers_are_live() -> None:
    """A broken document fails each reader, so the checks above can fail."""
    bad_bom = _bom()
    bad_bom["metadata"]["component"]["hashes"][0]["alg"] = "SHA-257"
    with pytest.raises(AssertionError):
        check_cyclonedx(bad_bom)
    bad_statement = to_slsa(_upstream(), builder_version="0")
    bad_statement["predicate"]["runDetails"]["metadata"]["startedOn"] = "yesterday"
    with pytest.raises(json_format.ParseError):
        check_slsa(bad_statement)
    bad_prov = to_prov(_upstream())
    bad_prov["used"]["_:u1"]["prov:entity"] = "nowhere:x"
    with pytest.raises(Warning):
        read_prov(bad_prov)


@pytest.mark.parametrize(("remote", "url"), [
    ("https://github.com/acme/repo.git", "https://github.com/acme/repo.git"),
    ("git@github.com:acme/repo.git", "ssh://git@github.com/acme/repo.git"),
    ("github.com:acme/repo", "ssh://github.com/acme/repo"),
    ("/srv/git/my repo", "file:///srv/git/my%20repo"),
    ("../sibling", None),
    ("", None),
], ids=["https", "scp", "scp-no-user", "local-path", "relative", "empty"])
def test_git_remotes_become_urls(remote: str, url: str | None) -> None:
    assert git_url(remote) == url


def test_locations_become_uris() -> None:
    assert as_uri("s3://bucket/a b") == "s3://bucket/a%20b"
    assert as_uri("/data/ü.csv") == "file:///data/%C3%BC.csv"
    assert as_uri("data/x.csv") is None
    assert as_uri("C:\\data\\x.csv") is None


def test_purls_normalize_names_and_escape_versions() -> None:
    assert purl("Typing_Extensions", "4.9.0") == "pkg:pypi/typing-extensions@4.9.0"
    assert purl("torch", "2.1.0+cu121") == "pkg:pypi/torch@2.1.0%2Bcu121"


# -- properties over random closures ------------------------------------------------------

KINDS = ["model", "data", "dataset", "code", "environment", "config", "artifact"]
ROLES = ["training_data", "fine_tune", "code", "environment", "output", "ßpäce role/∞"]


def _ancestors(node: str, edges: set[tuple[str, str, str]]) -> set[str]:
    """``node`` and everything upstream of it."""
    found, queue = {node}, deque([node])
    while queue:
        here = queue.popleft()
        for source, target, _ in edges:
            if target == here and source not in found:
                found.add(source)
                queue.append(source)
    return found


@st.composite
def closures(draw: st.DrawFn) -> Lineage:
    """The upstream closure of one artifact in a random DAG of runs (built in order)."""
    names = st.text(min_size=0, max_size=12)
    artifacts: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 4))):
        artifacts.append(_artifact(f"ext{i}", draw(st.sampled_from(KINDS)), draw(names)))
    runs: list[dict[str, Any]] = []
    edges: set[tuple[str, str, str]] = set()
    for i in range(draw(st.integers(1, 7))):
        run = _run(f"01a217de-8245-7ff6-8ad3-{i:012d}", draw(names),
                   actor=draw(st.one_of(st.none(), names)),
                   params=draw(st.dictionaries(names, st.integers(), max_size=2)))
        runs.append(run)
        for source in draw(st.lists(st.sampled_from(artifacts), unique_by=lambda a: a["id"],
                                    max_size=3)):
            edges.add((source["id"], run["id"], draw(st.sampled_from(ROLES))))
        for j in range(draw(st.integers(1, 2))):
            made = _artifact(f"out{i}.{j}", draw(st.sampled_from(KINDS)), draw(names))
            artifacts.append(made)
            edges.add((run["id"], made["id"], "output"))
        # A deterministic step run again makes bytes an earlier run made: the same artifact.
        # Not one of its own ancestors: that would make a cycle.
        above = _ancestors(run["id"], edges)
        earlier = [a for a in artifacts
                   if a["id"] not in above and (run["id"], a["id"], "output") not in edges]
        for again in draw(st.lists(st.sampled_from(earlier), max_size=1) if earlier
                          else st.just([])):
            edges.add((run["id"], again["id"], draw(st.sampled_from(["output", "model"]))))
    root = draw(st.sampled_from(artifacts))["id"]
    keep = _ancestors(root, edges)
    nodes = [n for n in [*artifacts, *runs] if n["id"] in keep]
    nodes.sort(key=lambda n: n["id"] != root)
    kept = sorted(e for e in edges if e[0] in keep and e[1] in keep)
    return Lineage(root=root, direction="upstream", nodes=nodes, edges=kept, total=len(nodes))


@settings(max_examples=60, deadline=None)
@given(closures())
def test_prov_of_any_closure_has_each_node_once_and_each_edge_as_one_relation(
        lineage: Lineage) -> None:
    document = to_prov(lineage)
    check_prov(document, lineage)
    read_prov(document)


@settings(max_examples=40, deadline=None)
@given(closures())
def test_openlineage_of_any_closure_reads_back_as_the_same_runs_and_data_edges(
        lineage: Lineage) -> None:
    check_openlineage(to_openlineage(lineage, version="0.1.0"), lineage)


@settings(max_examples=40, deadline=None)
@given(closures())
def test_cyclonedx_of_any_closure_lists_each_artifact_and_what_it_came_from(
        lineage: Lineage) -> None:
    bom = _bom(lineage, record=None, packages=None)
    check_cyclonedx(bom)
    artifacts = {n["id"] for n in lineage.nodes if n["type"] == "artifact"}
    refs = [bom["metadata"]["component"]["bom-ref"]] + [c["bom-ref"] for c in bom["components"]]
    assert sorted(refs) == sorted(artifacts)  # each once
    made_from: dict[str, set[str]] = {a: set() for a in artifacts}
    for source, run, _ in lineage.edges:
        if source in artifacts:
            for maker, made, _ in lineage.edges:
                if maker == run and made in artifacts and made != source:
                    made_from[made].add(source)
    assert {d["ref"]: set(d["dependsOn"]) for d in bom["dependencies"]} == made_from
