"""``forebear export`` end to end: a store written through the SDK, read back by real tools.

The pipeline is data -> train -> model -> fine-tune -> tuned model, in a git repository
with a commit and an scp-like remote, the tuned model aliased and the first dataset
flagged. Each format is checked by a real reader (``prov``, CycloneDX's strict schema,
the in-toto protos) and against what the store itself says (``upstream --json``, the
files' digests, the installed packages, the commit).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packageurl import PackageURL

import forebear
from forebear.cli import main
from forebear.sdk.anchors import clear_caches
from forebear.sdk.session import reset_default_session
from forebear.store.registry import init_store
from tests.serverkit import running_server
from tests.unit.test_exporters import check_cyclonedx, check_prov, check_slsa, read_prov

TUNED = "tuned model «v2».pkl"
REMOTE = "git@github.com:acme/fraud.git"


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                          cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _repository(root: Path) -> None:
    _git(root, "init", "-q", "-b", "main")
    _git(root, "remote", "add", "origin", REMOTE)
    (root / "data").mkdir()
    (root / "data" / "train.csv").write_text("x,y\n1,2\n3,4\n")
    (root / "data" / "fine tune.csv").write_text("x,y\n5,6\n")
    (root / "train.py").write_text("print('train')\n")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "init")
    clear_caches()
    reset_default_session()


def _pipeline(root: Path) -> dict[str, Any]:
    """Train, then fine-tune, through the SDK; return what the tests check against."""
    store = str(root / ".forebear")
    with forebear.run("train", kind="train", params={"lr": 0.1, "layers": [64, 32]},
                      store=store) as train:
        train.use("data/train.csv", role="training_data")
        (root / "model.pkl").write_bytes(b"base weights")
        train.log_metrics({"accuracy": 0.9})
        base = train.produce("model.pkl", kind="model")
    with forebear.run("fine-tune", kind="fine_tune", params={"epochs": 2}, store=store) as tune:
        tune.use("model.pkl", role="fine_tune")
        tune.use("data/fine tune.csv", role="training_data")
        (root / TUNED).write_bytes(b"tuned weights")
        tune.log_metrics({"accuracy": 0.95, "loss": float("nan")})
        tuned = tune.produce(TUNED, kind="model")
    reset_default_session()
    return {"train": train.run_id, "tune": tune.run_id, "base": str(base.digest),
            "tuned": str(tuned.digest), "commit": _git(root, "rev-parse", "HEAD")}


@pytest.fixture
def project(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[dict[str, Any]]:
    _repository(project_dir)
    init_store(project_dir)
    facts = _pipeline(project_dir)
    assert main(["alias", "set", "production", TUNED]) == 0
    assert main(["flag", "data/train.csv", "--reason", "labels leaked"]) == 0
    capsys.readouterr()
    yield facts
    reset_default_session()


def _export(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code = main(["export", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def _fails(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["export", *argv])
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: "), err
    return code, err


def test_prov_is_the_upstream_closure_in_prov_terms(
        project: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    document = _export(capsys, TUNED, "--format", "prov")
    assert main(["upstream", TUNED, "--json"]) == 0
    closure = json.loads(capsys.readouterr().out)
    from forebear.graph.lineage import Lineage

    lineage = Lineage(root=closure["root"], direction="upstream", nodes=closure["nodes"],
                      edges=[(e["source"], e["target"], e["role"]) for e in closure["edges"]],
                      total=len(closure["nodes"]))
    check_prov(document, lineage)
    read_prov(document)
    assert set(document["activity"]) == {f"run:{project['train']}", f"run:{project['tune']}"}
    tuned = document["entity"][f"sha256:{project['tuned'][7:]}"]
    assert tuned["prov:label"] == TUNED and tuned["forebear:alias"] == "production"
    derived = {(d["prov:generatedEntity"], d["prov:usedEntity"])
               for d in document["wasDerivedFrom"].values()}
    assert (f"sha256:{project['tuned'][7:]}", f"sha256:{project['base'][7:]}") in derived
    flagged = [e for e in document["entity"].values() if "forebear:flag" in e]
    assert [e["prov:label"] for e in flagged] == ["data/train.csv"]
    tune = document["activity"][f"run:{project['tune']}"]
    assert json.loads(tune["forebear:params"]) == {"epochs": 2}


def test_prov_downstream_of_the_data_reaches_both_models(
        project: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    document = _export(capsys, "data/train.csv", "--format", "prov", "--direction",
                       "downstream")
    read_prov(document)
    labels = {e["prov:label"] for e in document["entity"].values()}
    assert labels == {"data/train.csv", "model.pkl", TUNED}
    assert len(document["activity"]) == 2


def test_from_exports_only_the_paths_a_dataset_took_to_the_model(
        project: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    # For an auditor: how the leaked training data reached the production model.
    document = _export(capsys, "production", "--format", "prov", "--from", "data/train.csv")
    read_prov(document)
    labels = {e["prov:label"] for e in document["entity"].values()}
    assert labels == {"data/train.csv", "model.pkl", TUNED}  # no code, environment, tune data
    assert set(document["activity"]) == {f"run:{project['train']}", f"run:{project['tune']}"}
    events = _export(capsys, TUNED, "--format", "openlineage", "--from", "model.pkl")
    assert {e["run"]["runId"] for e in events} == {project["tune"]}
    bom = _export(capsys, TUNED, "--format", "cyclonedx", "--from", "data/train.csv")
    assert {c["name"] for c in bom["components"]} >= {"data/train.csv", "model.pkl"}
    assert not any(c["name"] == "data/fine tune.csv" for c in bom["components"])
    code, err = _fails(capsys, "data/train.csv", "--format", "prov", "--from", TUNED)
    assert code == 1 and "no path" in err and "swap them" in err
    code, err = _fails(capsys, TUNED, "--format", "prov", "--from", "data/train.csv",
                       "--direction", "downstream")
    assert code == 2 and "--from exports the paths" in err


def test_cyclonedx_is_a_valid_ml_bom_with_the_environments_packages(
        project: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    bom = _export(capsys, "production", "--format", "cyclonedx")
    check_cyclonedx(bom)
    subject = bom["metadata"]["component"]
    assert subject["type"] == "machine-learning-model" and subject["name"] == TUNED
    assert subject["hashes"] == [{"alg": "SHA-256", "content": _sha256(Path(TUNED))}]
    card = subject["modelCard"]
    assert card["quantitativeAnalysis"]["performanceMetrics"] == [
        {"type": "accuracy", "value": "0.95"}, {"type": "loss", "value": "NaN"}]
    components = {c["bom-ref"]: c for c in bom["components"]}
    (dataset,) = card["modelParameters"]["datasets"]
    assert components[dataset["ref"]]["name"] == "data/fine tune.csv"
    assert components[project["base"]]["modelCard"]["properties"][0] == {
        "name": "forebear:run.run_id", "value": project["train"]}
    code = next(c for c in components.values() if c.get("data", [{}])[0].get("type")
                == "source-code")
    assert code["externalReferences"] == [{"type": "vcs",
                                           "url": "ssh://git@github.com/acme/fraud.git"}]
    libraries = {c["name"]: c for c in components.values() if c["type"] == "library"}
    for name in ("click", "rich", "orjson"):  # the core install's dependencies
        assert libraries[name]["version"] == metadata.version(name)
        assert PackageURL.from_string(libraries[name]["purl"]).version == metadata.version(name)
    depends = {d["ref"]: d["dependsOn"] for d in bom["dependencies"]}
    assert project["base"] in depends[project["tuned"]]
    env = next(c for c in components.values() if c["type"] == "platform")
    assert libraries["click"]["purl"] in depends[env["bom-ref"]]


def test_slsa_attests_the_fine_tune_run(project: dict[str, Any],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    statement = _export(capsys, TUNED, "--format", "slsa")
    provenance = check_slsa(statement)
    assert statement["subject"][0]["digest"] == {"sha256": _sha256(Path(TUNED))}
    assert statement["subject"][0]["annotations"]["aliases"] == ["production"]
    assert provenance.run_details.metadata.invocation_id == project["tune"]
    build = statement["predicate"]["buildDefinition"]
    assert build["externalParameters"] == {"epochs": 2}
    deps = {d["annotations"]["role"]: d for d in build["resolvedDependencies"]}
    assert deps["code"]["digest"]["gitCommit"] == project["commit"]
    assert deps["code"]["uri"] == "git+ssh://git@github.com/acme/fraud.git"
    assert deps["fine_tune"]["digest"] == {"sha256": project["base"][7:]}
    assert deps["training_data"]["digest"] == {"sha256": _sha256(Path("data/fine tune.csv"))}
    assert "sha256" in deps["environment"]["digest"]


def test_output_is_written_whole_and_never_over_a_file(
        project: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "out" / "tuned.prov.json"
    code, err = _fails(capsys, TUNED, "--format", "prov", "--output", str(target))
    assert code == 2 and "does not exist" in err
    target.parent.mkdir()
    assert main(["export", TUNED, "--format", "prov", "--output", str(target)]) == 0
    assert "wrote prov export" in capsys.readouterr().out
    first = target.read_bytes()
    read_prov(json.loads(first))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    code, err = _fails(capsys, TUNED, "--format", "slsa", "-o", str(target))
    assert code == 2 and "--force" in err and target.read_bytes() == first
    assert main(["export", TUNED, "--format", "slsa", "-o", str(target), "--force"]) == 0
    capsys.readouterr()
    check_slsa(json.loads(target.read_bytes()))
    assert sorted(p.name for p in target.parent.iterdir()) == ["tuned.prov.json"]


@pytest.mark.parametrize(("argv", "exit_code", "words"), [
    (["nothing-like-this", "--format", "prov"], 1, "matches nothing"),
    (["{tune}", "--format", "slsa"], 2, f"is a run (give one of its outputs instead: {TUNED}"),
    (["{tune}", "--format", "cyclonedx"], 2, "is a run"),
    ([TUNED, "--format", "cyclonedx", "--direction", "downstream"], 2, "upstream only"),
    (["data/train.csv", "--format", "slsa"], 2, "not made by any recorded run"),
    ([TUNED, "--format", "spdx"], 2, None),
], ids=["unknown-ref", "run-for-slsa", "run-for-cyclonedx", "downstream-bom", "raw-data-slsa",
        "unknown-format"])
def test_bad_input_is_one_line_and_writes_nothing(
        project: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path,
        argv: list[str], exit_code: int, words: str | None) -> None:
    (tmp_path / "exports").mkdir()
    target = tmp_path / "exports" / "never.json"
    args = ["export", *(a.format(**project) for a in argv), "--output", str(target)]
    code = main(args)
    out, err = capsys.readouterr()
    assert code == exit_code and not list(target.parent.iterdir())
    if words is not None:
        assert out == "" and err.count("\n") == 1 and words in err, err


def test_a_server_store_exports_the_same_documents(
        project_dir: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _repository(project_dir)
    with running_server(project_dir) as server:
        facts = _pipeline(project_dir)
        formats = ("prov", "slsa", "cyclonedx", "openlineage")
        local = {fmt: _export(capsys, TUNED, "--format", fmt) for fmt in formats}
        paths = _export(capsys, TUNED, "--format", "prov", "--from", "model.pkl")
        monkeypatch.setenv("FOREBEAR_TOKEN", server.tokens["read"])
        over_http = {fmt: _export(capsys, TUNED, "--format", fmt, "--store", server.url)
                     for fmt in formats}
        assert _export(capsys, TUNED, "--format", "prov", "--from", "model.pkl", "--store",
                       server.url) == paths
    assert over_http["prov"] == local["prov"]
    assert over_http["openlineage"] == local["openlineage"]
    assert over_http["slsa"] == local["slsa"]
    assert over_http["slsa"]["predicate"]["runDetails"]["metadata"]["invocationId"] \
        == facts["tune"]
    for bom in (local["cyclonedx"], over_http["cyclonedx"]):
        del bom["serialNumber"], bom["metadata"]["timestamp"]
    assert over_http["cyclonedx"] == local["cyclonedx"]
    assert any(c["type"] == "library" for c in over_http["cyclonedx"]["components"])


def test_a_file_that_appears_during_the_export_is_not_replaced_and_nothing_is_left(
        project: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The check before the query passes; another process writes the file meanwhile.
    from forebear.cli import export as command

    target = tmp_path / "out" / "model.prov.json"
    target.parent.mkdir()
    build = command._document

    def racing(*args: Any) -> Any:
        target.write_text("someone else's\n")
        return build(*args)

    monkeypatch.setattr(command, "_document", racing)
    code, err = _fails(capsys, TUNED, "--format", "prov", "-o", str(target))
    assert code == 2 and "exists" in err
    assert target.read_text() == "someone else's\n"
    assert [p.name for p in target.parent.iterdir()] == ["model.prov.json"]  # no temp file


def test_the_command_offers_exactly_the_exporters_formats() -> None:
    from forebear import exporters
    from forebear.cli import export

    assert export.FORMATS == exporters.FORMATS
    option = next(p for p in export.export.params if p.name == "fmt")
    assert tuple(option.type.choices) == exporters.FORMATS  # type: ignore[attr-defined]


def test_openlineage_events_sent_to_another_server_rebuild_the_lineage(
        project: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # What a platform team does to feed a catalogue: export, then POST each event to its
    # OpenLineage endpoint (here another forebear server, which reads them back).
    events = _export(capsys, TUNED, "--format", "openlineage")
    down = _export(capsys, "data/train.csv", "--format", "openlineage",
                   "--direction", "downstream")
    assert {e["run"]["runId"] for e in down} == {project["train"], project["tune"]}
    here = _export_upstream(capsys)
    (tmp_path / "catalogue").mkdir()
    with running_server(tmp_path / "catalogue") as catalogue:
        monkeypatch.setenv("OPENLINEAGE_API_KEY", catalogue.tokens["write"])
        sent = _export(capsys, TUNED, "--format", "openlineage", "--to", catalogue.url,
                       "--json")
        assert sent == {"root": project["tuned"], "sent": len(events), "to": catalogue.url}
        monkeypatch.setenv("OPENLINEAGE_API_KEY", "not-a-token")
        code, err = _fails(capsys, TUNED, "--format", "openlineage", "--to", catalogue.url)
        assert code == 1 and "event 1 of 4" in err and "HTTP 401" in err
        assert "0 sent before it" in err and "OPENLINEAGE_API_KEY" in err
        for argv, words in ((["--format", "prov", "--to", catalogue.url], "--to sends Open"),
                            (["--format", "openlineage", "--to", "ftp://x"], "not an http(s)"),
                            (["--format", "openlineage", "--to", catalogue.url, "-o", "x"],
                             "choose one")):
            code, err = _fails(capsys, TUNED, *argv)
            assert code == 2 and words in err, err
        monkeypatch.setenv("FOREBEAR_TOKEN", catalogue.tokens["read"])
        there = _export_upstream(capsys, "--store", catalogue.url, "--kind", "model",
                                 "--kind", "data", "--kind", "train", "--kind", "fine_tune")
    # The same runs, models and data, joined by the same edges with the same roles; the
    # anchors travel as facets (the code location, the Python that ran).
    data_kinds = {"model", "data", "train", "fine_tune"}
    assert _skeleton(there, data_kinds) == _skeleton(here, data_kinds)
    tune = next(n for n in there["nodes"] if n["id"] == project["tune"])
    assert (tune["status"], tune["params"]) == ("succeeded", {"epochs": 2})
    assert tune["metrics"] == {"accuracy": 0.95}


def _export_upstream(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code = main(["upstream", TUNED, "--json", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def _skeleton(closure: dict[str, Any], kinds: set[str]) -> tuple[Any, Any]:
    nodes = {n["id"]: n for n in closure["nodes"] if n.get("kind") in kinds}
    return (sorted((i, n["type"], n["kind"]) for i, n in nodes.items()),
            sorted((e["source"], e["target"], e["role"]) for e in closure["edges"]
                   if e["source"] in nodes and e["target"] in nodes))
