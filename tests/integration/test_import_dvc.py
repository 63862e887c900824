"""``forebear import dvc`` on a real DVC 3.67 project: ``dvc repro`` writes the dvc.lock
files and the cache, git commits them, and forebear reconstructs the runs.

DVC lives in its own venv (``make test`` makes ``.bench/dvc-venv`` and names its ``dvc``
in FOREBEAR_TEST_DVC). Without FOREBEAR_TEST_DVC these tests fail with the fix rather
than skip.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from forebear.hashing import hash_tree
from forebear.store.registry import init_store, open_store
from tests.clikit import cli_fails, cli_ok

PREPARE = textwrap.dedent("""
    import os
    os.makedirs("features", exist_ok=True)
    rows = open("data/raw.csv").read().splitlines()
    open("features/train.csv", "w").write("\\n".join(rows[: len(rows) // 2]) + "\\n")
    open("features/test.csv", "w").write("\\n".join(rows[len(rows) // 2 :]) + "\\n")
""")
TRAIN = textwrap.dedent("""
    import json, re
    lr = float(re.search(r"lr: ([0-9.]+)", open("params.yaml").read()).group(1))
    rows = open("features/train.csv").read().split()
    open("model.pkl", "w").write(f"weights {lr} {len(rows)}")
    json.dump({"acc": round(0.5 + lr, 3), "loss": {"train": round(1 - lr, 3)}},
              open("metrics.json", "w"))
""")


def _dvc() -> str:
    named = os.environ.get("FOREBEAR_TEST_DVC")
    if not named or not Path(named).exists():
        pytest.fail("FOREBEAR_TEST_DVC does not name DVC's dvc: run the suite with "
                    "`make test`, which installs DVC 3.67.1 into .bench/dvc-venv")
    return str(Path(named).absolute())


class Project:
    """A git repository with a DVC pipeline: data -> prepare -> features -> train -> model."""

    def __init__(self, root: Path) -> None:
        self.root = root
        dvc = _dvc()
        self.env = {**os.environ, "PATH": f"{Path(dvc).parent}{os.pathsep}{os.environ['PATH']}",
                    "GIT_AUTHOR_NAME": "Ana", "GIT_AUTHOR_EMAIL": "ana@example.com",
                    "GIT_COMMITTER_NAME": "Ana", "GIT_COMMITTER_EMAIL": "ana@example.com",
                    "DVC_NO_ANALYTICS": "1"}
        for name in ("FOREBEAR_STORE", "PYTHONPATH"):
            self.env.pop(name, None)
        root.mkdir()
        self.sh("git", "init", "-q")
        self.sh("git", "remote", "add", "origin", "https://bot:s3cret@example.com/acme/p.git")
        self.sh("dvc", "init", "-q")
        (root / "data").mkdir()
        (root / "data" / "raw.csv").write_text("".join(f"{i},{i % 3}\n" for i in range(20)))
        (root / "prepare.py").write_text(PREPARE)
        (root / "train.py").write_text(TRAIN)
        (root / "params.yaml").write_text("train:\n  lr: 0.1\n  epochs: 3\n")
        self.sh("dvc", "add", "-q", "data/raw.csv")
        self.sh("dvc", "stage", "add", "-q", "-n", "prepare", "-d", "prepare.py",
                "-d", "data/raw.csv", "-o", "features", "python prepare.py")
        self.sh("dvc", "stage", "add", "-q", "-n", "train", "-d", "train.py", "-d", "features",
                "-p", "train.lr,train.epochs", "-o", "model.pkl", "-M", "metrics.json",
                "python train.py")
        self.commit("lr 0.1")
        (root / "params.yaml").write_text("train:\n  lr: 0.2\n  epochs: 3\n")
        self.commit("lr 0.2")
        self.commits = self.sh("git", "log", "--reverse", "--format=%H").split()

    def sh(self, *args: str) -> str:
        done = subprocess.run(args, cwd=self.root, env=self.env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
        return done.stdout

    def commit(self, message: str) -> None:
        self.sh("dvc", "repro", "-q")
        self.sh("git", "add", "-A")
        self.sh("git", "commit", "-qm", message)


@pytest.fixture(scope="module")
def dvc_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return Project(tmp_path_factory.mktemp("dvc") / "project")


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _runs(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return cli_ok(capsys, "log", "--kind", "dvc", "--json")


def test_the_pipelines_history_comes_in_by_content(
        dvc_project: Project, project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init_store(project_dir)
    root = dvc_project.root
    report = cli_ok(capsys, "import", "dvc", str(root), "--history", "--json")
    # prepare ran once (nothing it read changed); train twice, one run per commit.
    assert report["commits"] == dvc_project.commits
    assert (report["stages"], report["imported"], report["by_name"]) == (3, 3, 0)
    runs = _runs(capsys)
    assert sorted(r["name"] for r in runs) == ["prepare", "train", "train"]
    # The model as it is on disk now: hashed, found, and what made it is the second train.
    lineage = cli_ok(capsys, "upstream", str(root / "model.pkl"), "--json")
    nodes = {n["id"]: n for n in lineage["nodes"]}
    assert lineage["root"] == _sha256(root / "model.pkl")
    train = next(n for n in nodes.values() if n.get("name") == "train")
    assert train["params"]["train.lr"] == 0.2 and train["params"]["command"] == "python train.py"
    assert train["code"]["commit"] == dvc_project.commits[1]
    assert train["code"]["remote"] == "https://example.com/acme/p.git"  # no credentials
    assert train["actor"] == "Ana <ana@example.com>"
    # The data by its bytes; the features folder by the digest it has on disk.
    assert _sha256(root / "data" / "raw.csv") in nodes
    assert str(hash_tree(root / "features")) in nodes
    assert {n["name"] for n in nodes.values()} >= {"prepare", "train.py", "prepare.py"}
    # Metrics from the metrics file dvc.yaml declares; the old model from DVC's cache.
    trains = sorted((r for r in runs if r["name"] == "train"),  # commits in one second
                    key=lambda r: dvc_project.commits.index(r["code"]["commit"]))
    diff = cli_ok(capsys, "diff", trains[0]["run_id"], trains[1]["run_id"], "--json")
    assert diff["params"]["changed"] == {"train.lr": [0.1, 0.2]}
    assert diff["metrics"]["changed"] == {"acc": [0.6, 0.7], "loss.train": [0.9, 0.8]}
    assert diff["code"]["changed"]["commit"] == dvc_project.commits
    old = cli_ok(capsys, "show", trains[0]["run_id"], "--json")
    model = next(o for o in old["outputs"] if o["name"] == "model.pkl")
    cached = root / ".dvc" / "cache" / "files" / "md5"
    assert model["id"] in {_sha256(p) for p in cached.rglob("*") if p.is_file()}
    assert cli_ok(capsys, "verify", "--json")["ok"]


def test_importing_again_writes_nothing_and_the_working_tree_is_heads(
        dvc_project: Project, project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init_store(project_dir)
    root = str(dvc_project.root)
    first = cli_ok(capsys, "import", "dvc", root, "--json")  # the working tree: HEAD's lock
    assert (first["commits"], first["imported"]) == (dvc_project.commits[1:], 2)
    size = open_store(str(project_dir)).size()
    again = cli_ok(capsys, "import", "dvc", root, "--rev", "HEAD", "--json")
    assert (again["imported"], again["skipped"]) == (0, 2)
    assert open_store(str(project_dir)).size() == size
    history = cli_ok(capsys, "import", "dvc", root, "--history", "--json")
    assert (history["imported"], history["skipped"]) == (1, 2)  # only the first train


def test_bytes_that_are_gone_are_known_by_path_and_md5(
        dvc_project: Project, tmp_path: Path, project_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(dvc_project.root, copy, symlinks=True)
    shutil.rmtree(copy / ".dvc" / "cache")
    (copy / "model.pkl").unlink()
    (copy / "data" / "raw.csv").write_text("changed since\n")
    init_store(project_dir)
    report = cli_ok(capsys, "import", "dvc", str(copy), "--json")
    assert report["by_name"] == 2 and report["by_content"] == 4  # of 6 in the lock
    runs = {r["name"]: r["run_id"] for r in _runs(capsys)}
    shown = cli_ok(capsys, "show", runs["train"], "--json")
    model = next(o for o in shown["outputs"] if o["name"].startswith("model.pkl@"))
    md5 = model["name"].split("@", 1)[1]
    assert model["id"] == f"dataset:dvc:model.pkl@{md5}" and len(md5) == 32
    # The features folder is still whole in the workspace and by its digest.
    assert str(hash_tree(copy / "features")) in {
        o["id"] for o in cli_ok(capsys, "show", runs["prepare"], "--json")["outputs"]}


def test_bad_input_is_one_line_and_writes_nothing(
        dvc_project: Project, tmp_path: Path, project_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    init_store(project_dir)
    plain = tmp_path / "plain"
    plain.mkdir()
    broken = tmp_path / "broken"
    shutil.copytree(dvc_project.root, broken, symlinks=True)
    (broken / "dvc.lock").write_text("stages: [unclosed\n")
    odd = tmp_path / "odd"
    shutil.copytree(dvc_project.root, odd, symlinks=True)
    (odd / "dvc.lock").write_text("schema: '2.0'\nstages:\n  train:\n    deps: 3\n")
    bomb = tmp_path / "bomb"  # nine lines that would expand to 10^9 values
    shutil.copytree(dvc_project.root, bomb, symlinks=True)
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + [
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    (bomb / "dvc.lock").write_text("\n".join(lines) + "\nstages: {s: {cmd: *a8}}\n")
    unversioned = tmp_path / "unversioned"  # a DVC project outside any repository
    shutil.copytree(dvc_project.root, unversioned, symlinks=True,
                    ignore=shutil.ignore_patterns(".git"))
    deep = tmp_path / "deep"
    shutil.copytree(dvc_project.root, deep, symlinks=True)
    (deep / "dvc.lock").write_text("stages: " + "[" * 100_000 + "]" * 100_000 + "\n")
    for argv, words in (
        ([str(plain)], "is not in a DVC project"),
        ([str(broken)], "dvc.lock: not YAML DVC wrote"),
        ([str(odd)], "stage 'train' has no command"),
        ([str(bomb)], "anchors and aliases are not allowed"),
        ([str(deep)], "nested too deep"),
        ([str(dvc_project.root), "--rev", "no-such-branch"], "'no-such-branch' names no commit"),
        ([str(tmp_path / "missing")], "is not a folder"),
        ([str(unversioned), "--history"], "is not in a git repository"),
    ):
        code, err = cli_fails(capsys, "import", "dvc", *argv)
        assert code in (1, 2) and words in err, (argv, err)
    assert open_store(str(project_dir)).size() == 0


def test_a_postgresql_store_imports_the_same_runs(
        dvc_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.pg import cli_store

    monkeypatch.chdir(tmp_path)
    with cli_store(tmp_path) as url:
        first = cli_ok(capsys, "import", "dvc", str(dvc_project.root), "--history",
                       "--store", url, "--json")
        again = cli_ok(capsys, "import", "dvc", str(dvc_project.root), "--history",
                       "--store", url, "--json")
        assert (first["imported"], again["imported"], again["skipped"]) == (3, 0, 3)
        assert cli_ok(capsys, "verify", "--store", url, "--json")["ok"]


def test_a_project_in_a_folder_of_the_repository(
        dvc_project: Project, tmp_path: Path, project_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # `dvc init --subdir`: the project is ml/, the repository one level up.
    top = tmp_path / "mono"
    (top / "ml").mkdir(parents=True)
    env = dvc_project.env

    def sh(*args: str, cwd: Path = top / "ml") -> None:
        done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, (args, done.stderr[-2000:])

    sh("git", "init", "-q", cwd=top)
    sh("dvc", "init", "-q", "--subdir")
    (top / "ml" / "in.txt").write_text("input\n")
    sh("dvc", "stage", "add", "-q", "-n", "copy", "-d", "in.txt", "-o", "out.txt",
       "tr a-z A-Z < in.txt > out.txt")
    sh("dvc", "repro", "-q")
    sh("git", "add", "-A", cwd=top)
    sh("git", "commit", "-qm", "copy", cwd=top)
    init_store(project_dir)
    report = cli_ok(capsys, "import", "dvc", str(top / "ml"), "--history", "--json")
    assert (report["imported"], report["by_content"], report["by_name"]) == (1, 2, 0)
    made = cli_ok(capsys, "upstream", str(top / "ml" / "out.txt"), "--json")
    assert _sha256(top / "ml" / "in.txt") in {n["id"] for n in made["nodes"]}


def test_dvc_experiments_come_in_with_their_names(
        dvc_project: Project, tmp_path: Path, project_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "exps"
    shutil.copytree(dvc_project.root, copy, symlinks=True)
    done = subprocess.run(["dvc", "exp", "run", "--temp", "-S", "train.lr=0.3", "-n", "lr03"],
                          cwd=copy, env=dvc_project.env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    init_store(project_dir)
    report = cli_ok(capsys, "import", "dvc", str(copy), "--experiments", "--json")
    assert (report["stages"], report["imported"]) == (2, 2)  # the experiment's lock
    train = next(r for r in _runs(capsys) if r["name"] == "train")
    shown = cli_ok(capsys, "show", train["run_id"], "--json")
    assert shown["tags"]["dvc.experiment"] == "lr03"
    assert shown["transformation"]["params"]["train.lr"] == 0.3
    assert shown["metrics"] == {"acc": 0.8, "loss.train": 0.7}
    assert shown["transformation"]["code"]["commit"] == report["commits"][0]
    both = cli_ok(capsys, "import", "dvc", str(copy), "--experiments", "--history", "--json")
    assert (both["imported"], both["skipped"]) == (2, 2)  # the two trains of the history


def test_runs_never_committed_come_from_the_run_cache(
        dvc_project: Project, tmp_path: Path, project_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # A try with lr 0.25 that was reproduced but never committed: dvc.lock forgot it when
    # lr went back to 0.2; DVC's run cache did not.
    copy = tmp_path / "tries"
    shutil.copytree(dvc_project.root, copy, symlinks=True)

    def repro(lr: str) -> None:
        (copy / "params.yaml").write_text(f"train:\n  lr: {lr}\n  epochs: 3\n")
        done = subprocess.run(["dvc", "repro", "-q"], cwd=copy, env=dvc_project.env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]

    repro("0.25")
    tried = _sha256(copy / "model.pkl")
    repro("0.2")
    init_store(project_dir)
    report = cli_ok(capsys, "import", "dvc", str(copy), "--run-cache", "--json")
    assert report["run_cache"] == 4  # prepare, and train with lr 0.1, 0.2 and 0.25
    assert (report["stages"], report["imported"]) == (4, 4)
    runs = {r["params"].get("train.lr"): r for r in _runs(capsys) if r["name"] == "train"}
    assert set(runs) == {0.1, 0.2, 0.25}
    assert runs[0.2]["code"]["commit"] == dvc_project.commits[1]  # the lock's, with HEAD
    shown = cli_ok(capsys, "show", runs[0.25]["run_id"], "--json")
    assert shown["transformation"]["code"] is None and "dvc.run_cache" in shown["tags"]
    assert tried in {o["id"] for o in shown["outputs"]}  # the tried model, by content
    again = cli_ok(capsys, "import", "dvc", str(copy), "--run-cache", "--history", "--json")
    assert (again["imported"], again["skipped"]) == (0, 4)


def test_a_lock_committed_broken_is_left_out_of_the_history_with_a_warning(
        dvc_project: Project, tmp_path: Path, project_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Committed history cannot be fixed: a merge conflict someone committed in dvc.lock
    # is skipped, said on stderr, and every other commit still comes in.
    copy = tmp_path / "conflicted"
    shutil.copytree(dvc_project.root, copy, symlinks=True)
    good = (copy / "dvc.lock").read_text()
    (copy / "dvc.lock").write_text("<<<<<<< HEAD\nschema: 2.0\n=======\n>>>>>>> other\n")
    def commit(message: str) -> None:
        subprocess.run(["git", "commit", "-qam", message], cwd=copy, env=dvc_project.env,
                       check=True, capture_output=True)

    commit("conflict")
    (copy / "dvc.lock").write_text(good)
    commit("fixed")
    init_store(project_dir)
    report = cli_ok(capsys, "import", "dvc", str(copy), "--history", "--json")
    assert len(report["unreadable"]) == 1 and "not YAML DVC wrote" in report["unreadable"][0]
    assert report["imported"] == len(_runs(capsys)) > 0
    code, err = cli_fails(capsys, "import", "dvc", str(copy), "--experiments")
    assert code == 1 and "has no DVC experiments" in err, err


def test_metrics_of_foreach_stages_and_the_project_list_and_params_groups(
        tmp_path: Path, project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # What DVC 3 and dvclive write: a top-level `metrics:` list, `foreach` stages whose
    # metrics files are templates, and a params group, which `dvc params diff` dots.
    root = tmp_path / "templated"
    dvc = _dvc()
    env = {**os.environ, "PATH": f"{Path(dvc).parent}{os.pathsep}{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "A",
           "GIT_COMMITTER_EMAIL": "a@x", "DVC_NO_ANALYTICS": "1"}
    env.pop("PYTHONPATH", None)
    root.mkdir()
    (root / "ev.py").write_text("import json, sys\njson.dump({'acc': 0.5 + int(sys.argv[1])"
                                " / 10}, open(sys.argv[2], 'w'))\n")
    (root / "params.yaml").write_text("prepare:\n  seed: 3\n  split: 0.2\n")
    (root / "dvc.yaml").write_text(textwrap.dedent("""\
        stages:
          evaluate:
            cmd: python ev.py 0 metrics.json
            deps: [ev.py]
            params: [prepare]
            outs:
              - metrics.json:
                  cache: false
          gen:
            foreach: [1, 2]
            do:
              cmd: python ev.py ${item} m${item}.json
              deps: [ev.py]
              metrics:
                - m${item}.json:
                    cache: false
        metrics:
          - metrics.json
        """))
    for args in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "repro", "-q"]):
        done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True)
        assert done.returncode == 0, (args, done.stderr)
    init_store(project_dir)
    cli_ok(capsys, "import", "dvc", str(root), "--json")
    runs = {r["name"]: r for r in _runs(capsys)}
    assert runs["evaluate"]["metrics"] == {"acc": 0.5}
    assert runs["gen@1"]["metrics"] == {"acc": 0.6} and runs["gen@2"]["metrics"] == {"acc": 0.7}
    assert {k: v for k, v in runs["evaluate"]["params"].items() if k != "command"} == {
        "prepare.seed": 3, "prepare.split": 0.2}


def test_a_stages_paths_are_taken_from_its_wdir(
        tmp_path: Path, project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # dvc.lock writes a stage's deps and outs relative to its `wdir` (dvc.yaml's, not the
    # lock's): named from the lock's folder, sub/data/in.csv was "data/in.csv", and a
    # file of that name at the top was taken for it. Generated stages fill ${item} in.
    root = tmp_path / "wdir"
    dvc = _dvc()
    env = {**os.environ, "PATH": f"{Path(dvc).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1"}
    env.pop("PYTHONPATH", None)
    for folder in ("sub/data", "data", "p1", "p2"):
        (root / folder).mkdir(parents=True)
    (root / "sub" / "data" / "in.csv").write_text("a,b\n1,2\n")
    (root / "data" / "in.csv").write_text("not the stage's input\n")
    for part in ("p1", "p2"):
        (root / part / "in.txt").write_text(f"{part}\n")
    (root / "dvc.yaml").write_text(textwrap.dedent("""\
        stages:
          prep:
            wdir: sub
            cmd: mkdir -p out && tr a-z A-Z < data/in.csv > out/out.csv
            deps: [data/in.csv]
            outs: [out/out.csv]
          part:
            foreach: [p1, p2]
            do:
              wdir: ${item}
              cmd: tr a-z A-Z < in.txt > out.txt
              deps: [in.txt]
              outs: [out.txt]
        """))
    for args in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "repro", "-q"]):
        done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True)
        assert done.returncode == 0, (args, done.stderr)
    init_store(project_dir)
    cli_ok(capsys, "import", "dvc", str(root), "--json")
    lineage = cli_ok(capsys, "upstream", str(root / "sub" / "out" / "out.csv"), "--json")
    names = {n["name"]: n.get("digest") for n in lineage["nodes"] if n["type"] == "artifact"}
    assert names == {"sub/out/out.csv": _sha256(root / "sub" / "out" / "out.csv"),
                     "sub/data/in.csv": _sha256(root / "sub" / "data" / "in.csv")}
    for part in ("p1", "p2"):
        lineage = cli_ok(capsys, "upstream", str(root / part / "out.txt"), "--json")
        names = {n["name"] for n in lineage["nodes"] if n["type"] == "artifact"}
        assert names == {f"{part}/out.txt", f"{part}/in.txt"}
