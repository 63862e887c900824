"""``show``, ``upstream``, ``downstream``, ``path``, ``diff``, ``log``, ``metrics``, ``flag``,
``flagged``: queries.

Every command but ``flag`` only reads. REFs are resolved by ``forebear.graph.refs``.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import click

from forebear.cli._common import (
    NUMBER,
    common,
    console,
    emit_json,
    emit_text,
    escape,
    open_with_settings,
)

_REF_HELP = ("REF is a file path, an alias, a digest (or 8+ hex prefix) or a run id (or "
             "prefix).")


class Format(StrEnum):
    """Output formats of ``upstream`` and ``downstream``."""

    tree = "tree"
    json = "json"
    dot = "dot"
    mermaid = "mermaid"


# -- show ---------------------------------------------------------------------------------


@click.command(epilog=_REF_HELP)
@click.argument("ref")
@common
def show(ref: str, store: str | None, json_out: bool) -> None:
    """The lineage record of REF: parents, transformation, environment, metrics, flags."""
    from forebear.sdk.queries import Reader

    with Reader(store) as reader:
        record = reader.show(ref)
        parent = record.get("parent_run_id") if record["type"] == "execution" else None
        parent_name = _run_name(reader, parent) if parent and not json_out else None
    if json_out:
        emit_json(record)
    else:
        _print_record(record, parent_name)


def _run_name(reader: Any, run_id: str) -> str | None:
    """The name of run ``run_id``, or None when the store does not hold it (an OpenLineage
    parent facet may name a run that was never sent)."""
    from forebear.errors import ForebearError

    try:
        name = reader.show(run_id)["node"].get("name")
    except ForebearError:
        return None
    return str(name) if name else None


CLIP = 200
"""Longest value ``show`` prints whole (a 100,000-character param is cut, never in
``--json``)."""


def clip(text: str, limit: int = CLIP) -> str:
    """``text``, or its first ``limit`` characters and how long it is."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters; --json for all)"


def error_text(error: str) -> str:
    """A run's recorded error for reading: an exception without a message, recorded as
    ``KeyboardInterrupt: ``, is just its name."""
    text = error.rstrip()
    return text[:-1] if text.endswith(":") else text


def _kv(values: dict[str, Any] | None) -> str:
    """``k=v, ...`` as rich markup (the values escaped, each clipped), or a dim "none"."""
    if not values:
        return "[dim]none[/]"
    return escape(", ".join(f"{k}={clip(json.dumps(v, ensure_ascii=False))}"
                            for k, v in values.items()))


def _environment(env: dict[str, Any]) -> str:
    """One environment as rich markup: the Python the SDK saw, or the engine an
    OpenLineage ``processing_engine`` facet names (Spark, Flink, ...)."""
    from forebear.graph.render import short

    if env.get("python") is None and env.get("engine"):
        what = f"{env['engine']} {env.get('engine_version') or '?'}"
    else:
        what = f"python {env.get('python', '?')}"
    parts = [what, env.get("platform"), short(env.get("digest"))]
    return "  ".join(escape(str(part)) for part in parts if part)


def _print_record(record: dict[str, Any], parent_name: str | None = None) -> None:
    from forebear.graph.render import label, short

    out = console()
    for flag in record["flags"]:
        where = "an ancestor, " + short(flag["target"]) if flag["inherited"] else "it"
        out.print(
            f"[bold red]⚠ flagged ({escape(where)}): {escape(flag['reason'])}[/] "
            f"[dim]by {escape(str(flag['actor']))} at {escape(str(flag['flagged_at']))}[/]"
        )
    out.print(label(record["node"]))
    out.print(f"  [dim]id[/]           {escape(str(record['id']))}")
    parent_run = record.get("parent_run_id") if record["type"] == "execution" else None
    if parent_run:
        out.print(f"  [dim]parent run[/]   {escape(str(parent_run))}"
                  + (f"  {escape(parent_name)}" if parent_name else ""))
    step = record["transformation"]
    if record["type"] == "artifact" and record.get("size") is not None:
        out.print(f"  [dim]size[/]         {record['size']:,} bytes")
    is_run = record["type"] == "execution"
    if step:
        if not is_run:  # a run's own heading already names it
            out.print(f"  [dim]made by[/]      ⚙ {escape(str(step['kind']))} "
                      f"{escape(str(step['name']))}  {escape(str(step['run_id']))}  "
                      f"{step['status']}")
        out.print(f"  [dim]actor[/]        {escape(str(step['actor']))}"
                  + (f"  [dim]reason[/] {escape(step['reason'])}" if step.get("reason") else "")
                  + (f"  [dim]submitted by[/] {escape(step['submitted_by'])}"
                     if step.get("submitted_by") else ""))
        if step.get("signed_by"):
            out.print(f"  [dim]signed by[/]    {escape(step['signed_by'])}")
        out.print(f"  [dim]params[/]       {_kv(step['params'])}")
        code = step.get("code") or {}
        if code:
            dirty = "  [yellow]dirty[/]" if code.get("dirty") else ""
            commit = code.get("commit") or short(code.get("digest"))
            out.print(f"  [dim]code[/]         {escape(str(commit))}"
                      f" {escape(str(code.get('branch') or ''))}{dirty}")
    env = record.get("environment") or {}
    if env:
        out.print(f"  [dim]environment[/]  {_environment(env)}")
    out.print(f"  [dim]metrics[/]      {_kv(record['metrics'])}")
    if is_run and step:
        out.print(f"  [dim]started[/]      {escape(str(step.get('started_at') or '-'))}")
        out.print(f"  [dim]ended[/]        {escape(str(step.get('ended_at') or '-'))}")
    else:
        out.print(f"  [dim]time[/]         {escape(str(record['time'] or '-'))}")
    for parent in record["parents"]:  # a run's inputs; an artifact's run's inputs
        out.print(f"  [dim]{'input ' if is_run else 'parent'}[/]       {escape(parent['role'])} ← "
                  f"{escape(str(parent['name'] or parent['id']))}  {escape(short(parent['id']))}")
    for output in record.get("outputs", []):
        out.print(f"  [dim]output[/]       {escape(output['role'])} → "
                  f"{escape(str(output['name'] or output['id']))}  {escape(short(output['id']))}")
    if record.get("error"):
        out.print(f"  [red]error[/]        {escape(clip(error_text(record['error']), 400))}")
    aliases = ", ".join(a["name"] for a in record["aliases"])
    if aliases:
        out.print(f"  [dim]aliases[/]      {escape(aliases)}")
    for deploy in record.get("deployments", []):
        out.print(f"  [dim]deployed[/]     {escape(str(deploy['target']))}  {deploy['at']}  "
                  f"{deploy['status']}  [dim]{deploy['run_id']}[/]")


# -- upstream / downstream ----------------------------------------------------------------

def _walk_options(function: Any) -> Any:
    """REF and the options of ``upstream`` and ``downstream``."""
    for option in reversed((
        click.argument("ref"),
        common,
        click.option("--depth", type=NUMBER, help="At most N edges from REF."),
        click.option("--kind", multiple=True,
                     help="List only nodes of this kind (repeatable); the walk goes through "
                     "all."),
        click.option("--limit", type=NUMBER, help="Page size (nodes)."),
        click.option("--offset", type=NUMBER, default=0, show_default=True,
                     help="Nodes to skip (paging)."),
        click.option("--format", "fmt", type=click.Choice([f.value for f in Format]),
                     default=Format.tree.value, show_default=True, help="Output format."),
    )):
        function = option(function)
    return function


def _walk(direction: str, ref: str, store: str | None, depth: int | None,
          kinds: list[str] | None, limit: int | None, offset: int, fmt: Format,
          json_out: bool) -> None:
    from forebear.sdk.queries import Reader

    with Reader(store) as reader:
        result = reader.closure("upstream" if direction == "up" else "downstream", ref,
                                depth=depth, kinds=kinds or (), limit=limit, offset=offset)
    noun = "ancestors" if direction == "up" else "descendants"
    summary = f"{result.total - 1:,} {noun}"
    if result.next_offset is not None:
        summary += f"; more from --offset {result.next_offset}"
    _emit_lineage(result, fmt, json_out, summary)


def _emit_lineage(result: Any, fmt: Format, json_out: bool, summary: str) -> None:
    """A ``Lineage`` as JSON, DOT, Mermaid or a tree; ``summary`` below the tree."""
    from forebear.graph import render

    if json_out or fmt is Format.json:
        emit_json(result.to_json())
    elif fmt is Format.dot:
        emit_text(render.to_dot(result))
    elif fmt is Format.mermaid:
        emit_text(render.to_mermaid(result))
    else:
        out = console()
        if result.nodes and out.is_terminal:
            out.print(render.tree(result))
        elif result.nodes:  # a pipe or a file: the same tree as plain lines, much faster
            emit_text("\n".join(render.tree_lines(result)) + "\n")
        out.print(f"[dim]{escape(summary)}[/]")


@click.command(epilog=_REF_HELP)
@_walk_options
def upstream(ref: str, store: str | None, json_out: bool, depth: int | None,
             kind: tuple[str, ...], limit: int | None, offset: int, fmt: str) -> None:
    """Everything REF came from: the full transitive closure (--depth N to limit)."""
    _walk("up", ref, store, depth, list(kind), limit, offset, Format(fmt), json_out)


@click.command(epilog=_REF_HELP)
@_walk_options
def downstream(ref: str, store: str | None, json_out: bool, depth: int | None,
               kind: tuple[str, ...], limit: int | None, offset: int, fmt: str) -> None:
    """Everything that came from REF: every model and deployment it reached."""
    _walk("down", ref, store, depth, list(kind), limit, offset, Format(fmt), json_out)


# -- path ---------------------------------------------------------------------------------


@click.command(epilog=_REF_HELP)
@click.argument("ref_from", metavar="FROM")
@click.argument("ref_to", metavar="TO")
@common
@click.option("--format", "fmt", type=click.Choice([f.value for f in Format]),
              default=Format.tree.value, show_default=True, help="Output format.")
def path(ref_from: str, ref_to: str, store: str | None, json_out: bool, fmt: str) -> None:
    """How TO came from FROM: every path between them along the data (a bad dataset to
    the model it reached, a base model to its fine-tunes), drawn back from TO."""
    from forebear.sdk.queries import Reader

    with Reader(store) as reader:
        result = reader.between(ref_from, ref_to)
        # A person who swapped the two is told so; scripts get the answer as asked.
        back = None if result.nodes or json_out or fmt == Format.json.value \
            else reader.between(ref_to, ref_from)
    if result.nodes:
        runs = sum(node["type"] == "execution" for node in result.nodes)
        count = len(result.nodes)
        summary = f"{count:,} node{'s' * (count != 1)} ({runs:,} run{'s' * (runs != 1)}) " \
            f"on the paths from {ref_from} to {ref_to}"
    else:
        summary = f"no path: {ref_to} does not come from {ref_from}"
        if back is not None and back.nodes:
            summary += " (it is the other way round: swap FROM and TO)"
    _emit_lineage(result, Format(fmt), json_out, summary)


# -- diff ---------------------------------------------------------------------------------


@click.command(epilog=_REF_HELP)
@click.argument("ref_a")
@click.argument("ref_b")
@common
def diff(ref_a: str, ref_b: str, store: str | None, json_out: bool) -> None:
    """What differs between two lineages, from REF_A (the old side) to REF_B (the new):
    params, data, code, environment, metrics, steps."""
    from forebear.sdk.queries import Reader

    with Reader(store) as reader:
        result = reader.diff(ref_a, ref_b)
    if json_out:
        emit_json(result)
    else:
        _print_diff(result)


def _print_changes(out: Any, title: str, changes: dict[str, Any]) -> bool:
    def text(value: Any) -> str:
        return escape(json.dumps(value, ensure_ascii=False))

    lines = []
    for key, value in changes.get("removed", {}).items():
        lines.append(f"  [red]- {escape(key)}[/] {text(value)}")
    for key, value in changes.get("added", {}).items():
        lines.append(f"  [green]+ {escape(key)}[/] {text(value)}")
    for key, (old, new) in changes.get("changed", {}).items():
        lines.append(f"  [yellow]~ {escape(key)}[/] {text(old)} → {text(new)}")
    if lines:
        out.print(f"[bold]{title}[/]")
        for line in lines:
            out.print(line)
    return bool(lines)


def _flatten_inputs(changes: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for section, roles in changes.items():
        flat[section] = {f"{role}/{name}": v for role, names in roles.items()
                         for name, v in names.items()}
    return flat


def _print_diff(result: dict[str, Any]) -> None:
    out = console()
    out.print(f"[dim]{escape(result['from'])} → {escape(result['to'])}[/]")
    env = dict(result["environment"])
    packages = env.pop("packages")
    shown = [
        _print_changes(out, "params", result["params"]),
        _print_changes(out, "inputs", _flatten_inputs(result["inputs"])),
        _print_changes(out, "code", result["code"]),
        _print_changes(out, "environment", env),
        _print_changes(out, "packages", packages),
        _print_changes(out, "metrics", result["metrics"]),
        _print_changes(out, "steps (runs per step)", result["steps"]),
    ]
    for warning in result.get("warnings") or ():
        out.print(f"[yellow]⚠ {escape(warning)}[/]")
    if not any(shown):
        out.print("no differences in lineage" + (" that the records can tell"
                                                  if result.get("warnings") else ""))


# -- log ----------------------------------------------------------------------------------


@click.command()
@common
@click.option("--limit", type=NUMBER, default=50, show_default=True, help="At most N runs.")
@click.option("--kind", help="Only runs of this kind.")
@click.option("--status", help="running, succeeded, failed or aborted.")
@click.option("--name", help="Only runs of this name.")
@click.option("--since", metavar="TIME", help="Started at or after (ISO 8601).")
@click.option("--until", metavar="TIME", help="Started before (ISO 8601).")
def log(store: str | None, json_out: bool, limit: int, kind: str | None, status: str | None,
        name: str | None, since: str | None, until: str | None) -> None:
    """Recent runs, newest first, failed ones included."""
    from forebear.sdk.queries import Reader

    filters = {"kind": kind, "status": status, "name": name, "since": since, "until": until}
    with Reader(store) as reader:
        if json_out:
            emit_json(reader.log(limit=limit, **filters))
            return
        # One more than asked says whether there are more; a local store counts them.
        runs = reader.log(limit=limit + 1 if reader.remote else limit, **filters)
        more = None
        if reader.remote and len(runs) > limit:
            runs, more = runs[:limit], f"the newest {limit:,} runs"
        elif not reader.remote and len(runs) == limit:
            from forebear.graph.log import count

            total = count(reader.db, **filters)
            more = f"{limit:,} of {total:,} runs" if total > limit else None
    _print_log(runs)
    if more:
        console().print(f"[dim]{more}; --limit N for more[/]")


def _columns(rows: list[list[str]]) -> list[str]:
    """Rows of plain text cells aligned in columns (never cut: ids must stay whole)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            .rstrip() for row in rows]


def _metrics_text(metrics: dict[str, Any], width: int = 60) -> str:
    """A run's last metric values in one short line: ``acc=0.97 loss=0.0412 …``."""
    text = ""
    for key, value in metrics.items():
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        part = f"{key}={shown}"
        if text and len(text) + len(part) + 1 > width:
            return text + " …"
        text = f"{text} {part}" if text else part
    return text if len(text) <= width else text[:width] + "…"


def _print_log(runs: list[dict[str, Any]]) -> None:
    from forebear.graph.render import STATUS_COLOURS

    out = console()
    if not runs:
        out.print("no runs recorded")
        return
    rows = [["started", "run id", "kind", "name", "actor", "status"]]
    for item in runs:
        started = str(item.get("started_at") or "-")[:19].replace("T", " ")
        rows.append([started, item["run_id"], str(item.get("kind")), str(item.get("name")),
                     str(item.get("actor") or "-"), str(item.get("status") or "?")])
    lines = _columns(rows)
    out.print(f"[dim]{escape(lines[0])}[/]")
    for line, item in zip(lines[1:], runs, strict=True):
        colour = STATUS_COLOURS.get(str(item.get("status")), "white")
        text = escape(line)
        status = str(item.get("status") or "?")
        text = text[: len(text) - len(status)] + f"[{colour}]{status}[/]"
        if item.get("error"):
            first = (error_text(str(item["error"])).splitlines() or [""])[0]
            text += f"  [dim]{escape(first[:80])}[/]"
        elif item.get("metrics"):
            text += f"  [dim]{escape(_metrics_text(item['metrics']))}[/]"
        out.print(text)


# -- metrics ------------------------------------------------------------------------------


@click.command(epilog=_REF_HELP + " An artifact stands for the run that made it.")
@click.argument("ref")
@common
@click.option("--key", "keys", metavar="K", multiple=True,
              help="Only this metric (repeatable).")
@click.option("--all", "every", is_flag=True,
              help="Every point, not a summary of a long history (over 20 points).")
def metrics(ref: str, store: str | None, json_out: bool, keys: tuple[str, ...],
            every: bool) -> None:
    """The metric history of a run (run.log_metrics(..., step=N)): each metric's points
    by step, a long one summarized (first, last, min, max, its curve)."""
    from forebear.graph.metrics import history_lines
    from forebear.sdk.queries import Reader

    with Reader(store) as reader:
        history = reader.metrics(ref, keys)
    if json_out:
        emit_json(history)
    else:
        emit_text("".join(line + "\n" for line in history_lines(history, every=every)))


# -- flags --------------------------------------------------------------------------------


@click.command(epilog=_REF_HELP)
@click.argument("ref")
@click.option("--reason", required=True, help="Why it is bad.")
@common
@click.option("--actor", help="Who flags it (default: FOREBEAR_ACTOR, then the login name).")
def flag(ref: str, reason: str, store: str | None, json_out: bool, actor: str | None) -> None:
    """Mark an artifact or run as bad (a journal entry; nothing is edited)."""
    from forebear.graph.flags import flag as write
    from forebear.sdk.queries import ref_text, resolve_ref
    from forebear.sdk.session import default_actor

    db, found = open_with_settings(store)
    try:
        if getattr(db, "remote", False):  # the server records the token as the actor
            record = db.flag(ref_text(ref), reason)
        else:
            target = resolve_ref(db, found, ref, cache=True)
            # The same default as every other command's, so one person is one actor.
            who = actor or found.actor or default_actor()
            record = write(db, target, reason=reason, actor=who)
    finally:
        db.close()
    if json_out:
        emit_json(record)
    else:
        console().print(f"flagged {escape(record['target'])} ({record['target_type']}): "
                        f"{escape(record['reason'])}  [dim]entry {record['seq']}[/]")


@click.command()
@common
def flagged(store: str | None, json_out: bool) -> None:
    """List every flag, newest first."""
    from forebear.sdk.queries import Reader

    with Reader(store) as reader:
        flags = reader.flagged()
    if json_out:
        emit_json(flags)
        return
    out = console()
    if not flags:
        out.print("nothing is flagged")
        return
    rows = [["flagged at", "target", "kind", "name", "actor", "reason"]]
    for item in flags:
        rows.append([item["flagged_at"][:19].replace("T", " "), item["target"],
                     str(item["kind"]), str(item["name"]), str(item["actor"] or "-"),
                     item["reason"]])
    lines = _columns(rows)
    out.print(f"[dim]{escape(lines[0])}[/]")
    for line in lines[1:]:
        out.print(escape(line))
