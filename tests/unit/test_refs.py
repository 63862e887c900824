"""REF resolution: every form, its precedence, ambiguous prefixes and unknown REFs."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from forebear.errors import AmbiguousRefError, NotFoundError
from forebear.graph.refs import resolve
from tests.conftest import make_run, ref

RUN = "01a217de-8245-7ff6-8ad3-a684e45146ae"
T = "2026-01-01T00:00:00.000000Z"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _artifact(digest: str, name: str) -> dict[str, Any]:
    return {"id": digest, "digest": digest, "kind": "data", "name": name, "uri": None,
            "size": None, "role": "input"}


@pytest.fixture
def graph(store: Any, tmp_path: Path) -> dict[str, Any]:
    """A run that used a file and a named dataset and produced a model, plus an alias."""
    data = tmp_path / "train.csv"
    data.write_bytes(b"a,b\n1,2\n")
    file_digest = _digest(data.read_bytes())
    model = ref("model", kind="model")
    store.append_batch([
        make_run(
            run_id=RUN,
            inputs=[_artifact(file_digest, "train.csv"),
                    {"id": "dataset:warehouse:events", "digest": None, "kind": "data",
                     "name": "events", "uri": None, "size": None, "role": "source"}],
            outputs=[model],
        ),
        {"type": "alias.set", "time": T, "name": "production", "target": model["id"],
         "actor": "ana"},
    ])
    return {"file": data, "file_digest": file_digest, "model": model["id"], "dir": tmp_path}


def test_an_existing_file_is_hashed_and_looked_up(store: Any, graph: dict[str, Any]) -> None:
    found = resolve(store, str(graph["file"]))
    assert (found.key, found.type, found.via) == (graph["file_digest"], "artifact", "file")
    relative = resolve(store, "train.csv", cwd=graph["dir"])
    assert relative.key == graph["file_digest"]


def test_an_alias_names_the_artifact_it_points_at(store: Any, graph: dict[str, Any]) -> None:
    found = resolve(store, "production")
    assert (found.key, found.via) == (graph["model"], "alias")


@pytest.mark.parametrize("upper", [False, True], ids=["lower", "upper"])
def test_a_full_digest(store: Any, graph: dict[str, Any], upper: bool) -> None:
    text = graph["model"].upper() if upper else graph["model"]
    found = resolve(store, text)
    assert (found.key, found.via) == (graph["model"], "id")


def test_a_dataset_id(store: Any, graph: dict[str, Any]) -> None:
    found = resolve(store, "dataset:warehouse:events")
    assert (found.key, found.type) == ("dataset:warehouse:events", "artifact")


def test_a_run_id(store: Any, graph: dict[str, Any]) -> None:
    found = resolve(store, RUN)
    assert (found.key, found.type, found.via) == (RUN, "execution", "run id")


@pytest.mark.parametrize(
    "make_prefix",
    [
        lambda d: d[7:15],
        lambda d: d[:15],
        lambda d: d[7:30],
    ],
    ids=["8-hex", "with-algorithm", "long"],
)
def test_a_unique_digest_prefix(store: Any, graph: dict[str, Any], make_prefix: Any) -> None:
    found = resolve(store, make_prefix(graph["model"]))
    assert (found.key, found.via) == (graph["model"], "prefix")


@pytest.mark.parametrize("prefix", [RUN[:8], RUN[:13], RUN[:20]], ids=["8", "13", "20"])
def test_a_unique_run_id_prefix(store: Any, graph: dict[str, Any], prefix: str) -> None:
    found = resolve(store, prefix)
    assert (found.key, found.type) == (RUN, "execution")


def test_an_ambiguous_prefix_lists_every_candidate(store: Any) -> None:
    first = "sha256:abcd1234" + "0" * 56
    second = "sha256:abcd1234" + "f" * 56
    run_id = "abcd1234-8245-7ff6-8ad3-a684e45146ae"
    store.append(make_run(run_id=run_id, inputs=[_artifact(first, "a")],
                          outputs=[_artifact(second, "b")]))
    with pytest.raises(AmbiguousRefError) as caught:
        resolve(store, "abcd1234")
    assert caught.value.candidates == [run_id, first, second]
    assert first in str(caught.value) and run_id in str(caught.value)
    assert resolve(store, "abcd12340").key == first  # one more digit settles it
    assert resolve(store, "abcd1234-").key == run_id


def test_an_unknown_ref_says_what_it_was_tried_as(store: Any, graph: dict[str, Any]) -> None:
    with pytest.raises(NotFoundError) as caught:
        resolve(store, "no-such-thing")
    message = str(caught.value)
    for form in ("existing file", "alias", "digest", "run id", "prefix"):
        assert form in message


@pytest.mark.parametrize(
    "text",
    ["sha256:" + "0" * 64, "dataset:nowhere:nothing", "01a217de-8245-7ff6-8ad3-000000000000",
     "0123456789", "abc"],
    ids=["digest", "dataset", "run-id", "prefix", "too-short"],
)
def test_unknown_ids_are_not_found(store: Any, graph: dict[str, Any], text: str) -> None:
    with pytest.raises(NotFoundError) as caught:
        resolve(store, text)
    assert not isinstance(caught.value, AmbiguousRefError)


def test_an_unrecorded_file_names_its_digest(store: Any, tmp_path: Path) -> None:
    other = tmp_path / "other.bin"
    other.write_bytes(b"never recorded")
    with pytest.raises(NotFoundError, match=_digest(b"never recorded")):
        resolve(store, str(other))


def test_a_file_wins_over_an_alias_of_the_same_name(store: Any, graph: dict[str, Any]) -> None:
    (graph["dir"] / "production").write_bytes(b"a,b\n1,2\n")  # the same bytes as train.csv
    found = resolve(store, "production", cwd=graph["dir"])
    assert (found.key, found.via) == (graph["file_digest"], "file")


def test_an_alias_wins_over_a_prefix(store: Any, graph: dict[str, Any]) -> None:
    store.append({"type": "alias.set", "time": T, "name": RUN[:8], "target": graph["model"],
                  "actor": "ana"})
    assert resolve(store, RUN[:8]).key == graph["model"]


def test_an_alias_to_a_missing_artifact_is_not_found(store: Any) -> None:
    store.append({"type": "alias.set", "time": T, "name": "ghost", "target": ref("x")["id"],
                  "actor": "ana"})
    with pytest.raises(NotFoundError, match="ghost"):
        resolve(store, "ghost")


def test_the_hasher_is_injected(store: Any, graph: dict[str, Any]) -> None:
    seen: list[Path] = []

    def hasher(path: Path) -> str:
        seen.append(path)
        return str(graph["model"])

    found = resolve(store, str(graph["file"]), hasher=hasher)
    assert found.key == graph["model"] and seen == [graph["file"]]


@pytest.mark.parametrize("prefix", ["12345679", "sha256:1234567", "1234567", "99999999"],
                         ids=["ends-in-9", "short-with-algorithm", "too-short", "no-match"])
def test_prefix_bounds_end_on_a_hex_digit(store: Any, prefix: str) -> None:
    digest = "sha256:12345679" + "a" * 56
    store.append(make_run(inputs=[_artifact(digest, "x")]))
    if prefix == "12345679":
        assert resolve(store, prefix).key == digest
    else:
        with pytest.raises(NotFoundError):
            resolve(store, prefix)


def test_a_ref_that_cannot_be_read_is_one_error_not_a_traceback(
    store: Any, graph: dict[str, Any], tmp_path: Path
) -> None:
    from forebear.errors import InvalidInputError

    folder = tmp_path / "shared"
    (folder / "private").mkdir(parents=True)

    def hasher(path: Path) -> str:  # what hashing meets in a folder of someone else's
        raise PermissionError(13, "Permission denied", str(path / "private"))

    with pytest.raises(InvalidInputError) as caught:
        resolve(store, str(folder), hasher=hasher)
    assert str(caught.value).startswith(f"cannot hash {folder}: Permission denied "
                                        f"({folder / 'private'})")


@pytest.mark.parametrize("marker", [".git", ".forebear"])
def test_a_project_folder_is_never_hashed(store: Any, graph: dict[str, Any], marker: str,
                                          tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / marker).mkdir(parents=True)
    (project / "data.csv").write_text("x\n")

    def hasher(path: Path) -> str:
        raise AssertionError(f"hashed {path}")

    with pytest.raises(NotFoundError, match="not hashed: name the file or folder in it"):
        resolve(store, ".", cwd=project, hasher=hasher)
    with pytest.raises(NotFoundError, match="holds a project or a file system"):
        resolve(store, "/", hasher=hasher)
    # A folder inside it is an artifact like any other; an alias may share a folder's name.
    assert resolve(store, str(graph["file"])).via == "file"
    store.append({"type": "alias.set", "time": T, "name": "project",
                  "target": graph["model"], "actor": "ana"})
    assert resolve(store, "project", cwd=tmp_path, hasher=hasher).via == "alias"
