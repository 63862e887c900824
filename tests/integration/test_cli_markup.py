"""Names are printed as they were recorded: rich markup and emoji codes in a dataset's
name (an OpenLineage producer chooses them) neither break the human output nor change."""

from __future__ import annotations

import contextlib
from pathlib import Path

from forebear.store.registry import init_store, open_store
from tests.conftest import make_run, ref
from tests.serverkit import clean_env, cli

ODD = "[/] weird [link=http://evil]click :smile: a:b:c"


def _dataset(name: str, role: str) -> dict[str, object]:
    return {"id": f"dataset:mk:{name}", "digest": None, "kind": "dataset", "name": name,
            "uri": None, "size": None, "role": role}


def test_markup_and_emoji_codes_in_names_print_verbatim(tmp_path: Path) -> None:
    store_dir = init_store(tmp_path)
    with contextlib.closing(open_store(str(store_dir))) as store:
        store.append(make_run(name="[bold]job[/bold]", inputs=[ref("raw", name=":thumbs_up:")],
                              outputs=[_dataset(ODD, "output")]))
    ident = f"dataset:mk:{ODD}"
    env = clean_env()
    for args in (["show", ident], ["upstream", ident], ["log"], ["flag", ident, "--reason",
                 "[red]bad[/red] :x:"], ["flagged"], ["show", ident]):
        done = cli(*args, "--store", str(store_dir), env=env, check=False)
        assert done.returncode == 0, (args, done.stderr)
        assert "Traceback" not in done.stderr
        if args[0] in ("show", "upstream"):
            assert ident in done.stdout, (args, done.stdout)
        if args[0] == "log":
            assert "[bold]job[/bold]" in done.stdout
        if args[0] == "flagged":
            assert "[red]bad[/red] :x:" in done.stdout
    assert ":thumbs_up:" in cli("upstream", ident, "--store", str(store_dir), env=env).stdout
