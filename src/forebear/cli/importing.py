"""``import mlflow URL``, ``import dvc [PROJECT]`` and ``import openlineage FILE...``: what
other tools recorded, brought in as lineage (``forebear.importers``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from forebear.cli._common import common, console, emit_json, escape, progress_bar, settings
from forebear.errors import ForebearError


def _writable(store: str | None) -> Any:
    """The settings of a store an import writes to itself: local or PostgreSQL."""
    from forebear.errors import UsageError

    found = settings(store)
    if found.is_remote:
        raise UsageError("an import writes to a local or PostgreSQL store, not through a "
                         "server", hint="run it where the server's store is (--store "
                         "postgresql://...), or send OpenLineage events to the server")
    return found


@click.group("import")
def import_app() -> None:
    """Bring runs recorded by other tools in as lineage."""


@import_app.command("mlflow")
@click.argument("url", required=False, envvar="MLFLOW_TRACKING_URI", metavar="[URL]")
@click.option("--experiment", "experiments", multiple=True, metavar="NAME",
              help="Import this experiment's runs (repeatable); default: every active one.")
@click.option("--no-artifacts", is_flag=True,
              help="Record runs without downloading their artifacts and logged models "
              "(outputs are then not known by content).")
@click.option("--no-history", is_flag=True,
              help="Keep each metric's latest value only, not every value logged.")
@click.option("--no-registry", is_flag=True,
              help="Leave the Model Registry's aliases and stages out (by default each "
              "becomes a forebear alias, e.g. fraud@champion).")
@click.option("--jobs", type=click.IntRange(min=1), default=8, show_default=True,
              help="Files and metric histories fetched at once.")
@common
def mlflow(url: str | None, experiments: tuple[str, ...], no_artifacts: bool,
           no_history: bool, no_registry: bool, jobs: int, store: str | None,
           json_out: bool) -> None:
    """Import the runs of an MLflow tracking server (URL, or MLFLOW_TRACKING_URI):
    params, metrics, tags, datasets, artifacts and logged models, linked by content.
    Importing again brings new runs and the ends of runs that were still going."""
    from forebear.errors import UsageError
    from forebear.importers.mlflow import MlflowClient, import_runs
    from forebear.sdk.session import Session

    if not url:
        raise UsageError("no MLflow tracking server given",
                         hint="pass its URL, or set MLFLOW_TRACKING_URI")
    client = MlflowClient(url)
    session = Session.from_settings(_writable(store))
    bar = progress_bar(disable=json_out)
    before = session.store.size()
    try:
        with bar:
            task = bar.add_task("runs", total=None)
            report = import_runs(session.store, client, blobs=None if no_artifacts
                                 else session.blobs, experiments=list(experiments),
                                 artifacts=not no_artifacts, history=not no_history,
                                 registry=not no_registry, actor=session.actor,
                                 progress=lambda _: bar.advance(task), jobs=jobs)
    except ForebearError as exc:
        if session.store.size() == before:
            raise
        # Each run is journaled whole as it comes: say that some are in, and that it is safe.
        raise type(exc)(f"{exc.message} (the runs imported before it are recorded; "
                        "importing again adds only what is missing)", hint=exc.hint) from None
    finally:
        client.close()
        session.store.close()
    if json_out:
        emit_json(report.to_json())
        return
    out = console()
    out.print(
        f"imported {report.imported} run(s) from {escape(client.url)} "
        f"({', '.join(escape(e) for e in report.experiments) or 'no experiments'}): "
        f"{report.ended} ended since the last import, {report.skipped} already here, "
        f"{report.files} file(s), {report.bytes:,} bytes; {report.aliases} alias(es) set")
    for skipped in report.aliases_skipped:
        out.print(f"  registry name not imported: {escape(skipped)}")


@import_app.command("dvc")
@click.argument("project", required=False, default=".", metavar="[PROJECT]",
                type=click.Path(path_type=Path))
@click.option("--history", is_flag=True,
              help="Every commit of HEAD's history that changed a dvc.lock, oldest first "
              "(default: the working tree's dvc.lock files).")
@click.option("--rev", "revs", multiple=True, metavar="REV",
              help="The dvc.lock files of this commit, branch or tag (repeatable).")
@click.option("--experiments", is_flag=True,
              help="The dvc.lock files of every DVC experiment (`dvc exp run` keeps them "
              "under refs/exps/); with --history or --rev, as well as theirs.")
@click.option("--run-cache", is_flag=True,
              help="As well, every run DVC's run cache keeps (each `dvc repro`, committed "
              "or not).")
@common
def dvc(project: Path, history: bool, revs: tuple[str, ...], experiments: bool,
        run_cache: bool, store: str | None, json_out: bool) -> None:
    """Import the stage runs a DVC project's dvc.lock files record (PROJECT: its folder,
    default here): commands, parameters, dependencies and outputs by content, each
    commit as the code anchor. Importing again adds only what is new."""
    from forebear.importers.dvc import import_dvc
    from forebear.sdk.session import Session

    session = Session.from_settings(_writable(store))
    bar = progress_bar(disable=json_out)
    try:
        with bar:
            task = bar.add_task("stage runs", total=None)
            report = import_dvc(session.store, project, history=history, revs=list(revs),
                                experiments=experiments, run_cache=run_cache,
                                actor=session.actor,
                                progress=lambda done, of: bar.update(task, completed=done,
                                                                     total=of))
    finally:
        session.store.close()
    for why in report.unreadable:  # on stderr, with --json too
        click.echo(f"forebear: left out: {why}", err=True)
    if json_out:
        emit_json(report.to_json())
        return
    where = f" from {len(report.commits)} commit(s)" if report.commits else ""
    console().print(
        f"imported {report.imported} of {report.stages} DVC stage run(s){where}, "
        f"{report.skipped} already here; {report.by_content} artifact(s) by content, "
        f"{report.by_name} known only by path and md5 (their bytes are gone)")


@import_app.command("openlineage")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@common
def openlineage(files: tuple[str, ...], store: str | None, json_out: bool) -> None:
    """Import OpenLineage events from FILEs ("-" for stdin): one event per line, as the
    OpenLineage client's file transport writes them, or a JSON array (what `export
    --format openlineage` writes). All or nothing; events already here are skipped."""
    import sys

    from forebear.errors import UsageError
    from forebear.importers.openlineage import import_events, read_events
    from forebear.sdk.session import Session

    events = []
    for name in files:
        try:
            if name == "-":
                text = sys.stdin.read()
            else:
                with open(name, encoding="utf-8") as handle:
                    text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {name}: {getattr(exc, 'strerror', None) or exc}",
                             hint="give files of OpenLineage events in UTF-8") from None
        events += read_events("stdin" if name == "-" else name, text)
    session = Session.from_settings(_writable(store))
    try:
        report = import_events(session.store, events, actor=session.actor)
    finally:
        session.store.close()
    if json_out:
        emit_json(report.to_json())
        return
    checked = "" if report.schema_checked else " (schema not checked: install forebear[server])"
    static = (f"; {report.static} DatasetEvent/JobEvent(s) not recorded (forebear records "
              "runs)") if report.static else ""
    console().print(f"imported {report.imported} of {report.read} OpenLineage event(s); "
                    f"{report.known} already here{static}{checked}")
