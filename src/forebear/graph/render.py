"""Pictures of a lineage: a tree for the terminal (rich), Graphviz DOT and Mermaid.

The tree grows from the root along the walk's direction (an upstream tree lists what each
node came from). The lineage is a DAG, so a node reached twice is drawn once and then
referred to; a tree deeper than ``max_depth`` stops there with a note of what was left
out (the JSON output always holds the whole answer). On one page of an answer
(``--limit``/``--offset``) a node whose parent is on another page starts a branch of its
own below the root, naming that parent. DOT and Mermaid draw every node and edge, edges
following the data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from forebear.graph.lineage import Lineage

__all__ = [
    "MAX_TREE_DEPTH", "STATUS_COLOURS", "label", "short", "to_dot", "to_mermaid", "tree",
    "tree_lines",
]

MAX_TREE_DEPTH = 40
"""Levels a terminal tree draws before it stops (each level is indented further)."""

STATUS_COLOURS = {"succeeded": "green", "failed": "red", "aborted": "yellow", "running": "cyan"}


def short(ident: str | None) -> str:
    """A node id cut for reading: ``sha256:`` + 12 hex digits, or a run id's first group."""
    if not ident:
        return "-"
    if ident.startswith(("sha256:", "blake3:")):
        return ident[:19]
    return ident


def label(node: dict[str, Any], *, markup: bool = True) -> str:
    """One line naming a NODE: rich markup, or with ``markup`` False the same words plain."""
    from rich.markup import escape

    def esc(text: Any) -> str:
        return escape(str(text)) if markup else str(text)

    if node["type"] == "execution":
        status = node.get("status") or "?"
        colour = STATUS_COLOURS.get(status, "white")
        text = f"{esc(node.get('kind'))} {esc(node.get('name'))}  {esc(node['id'])}"
        if markup:
            return f"[bold]⚙ {text}[/]  [{colour}]{status}[/]"
        return f"⚙ {text}  {status}"
    name = esc(node.get("name") or node["id"])
    kind = esc(node.get("kind"))
    if markup:
        return f"[bold]{name}[/]  [dim]{kind}[/]  {esc(short(node['id']))}"
    return f"{name}  {kind}  {short(node['id'])}"


def _children(lineage: Lineage) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    upstream = lineage.direction == "upstream"
    for source, target, role in lineage.edges:
        parent, child = (target, source) if upstream else (source, target)
        out.setdefault(parent, []).append((child, role))
    return out


def _layout(
    lineage: Lineage, max_depth: int, markup: bool
) -> tuple[list[Any], int]:
    """The tree as nested ``[text, children]`` lists, and how many nodes it leaves out.

    Built without recursion (chains run deep). A node is drawn under the first parent
    expanded that lists it; every other mention says "(drawn above)".
    """
    nodes = {node["id"]: node for node in lineage.nodes}
    children = _children(lineage)
    arrow = "←" if lineage.direction == "upstream" else "→"

    def text_of(ident: str) -> str:
        node = nodes.get(ident)
        return label(node, markup=markup) if node else ident

    def note(text: str) -> str:
        return f"[dim]{text}[/]" if markup else text

    top: list[Any] = [text_of(lineage.root), []]
    drawn = {lineage.root}
    cut = False
    stack: list[tuple[list[Any], str, int]] = [(top, lineage.root, 0)]
    # One page (--limit/--offset) holds nodes whose parent is on another page: each is
    # drawn below the root, saying whose it is, or the tree would show the root alone.
    on_page = set(nodes)
    parents: dict[str, tuple[str, str]] = {}
    for parent, kids in children.items():
        for child, role in kids:
            if child not in parents or parent in on_page:  # the one on this page, if any
                parents[child] = (parent, role)
    # Those whose parent is on this page are drawn below it (or left out below the depth
    # cut, counted in the note); only the others start branches of their own.
    orphans = sorted((ident for ident in nodes if ident != lineage.root
                      and parents.get(ident, ("", ""))[0] not in on_page), reverse=True)
    while stack or orphans:
        if not stack:
            ident = orphans.pop()
            if ident in drawn:
                continue
            drawn.add(ident)
            parent, role = parents.get(ident, (lineage.root, ""))
            text = (note(f"{role} {arrow}") + " " if role else "") + text_of(ident) \
                + "  " + note(f"(of {short(parent)})")
            item: list[Any] = [text, []]
            top[1].append(item)
            stack.append((item, ident, 1))
            continue
        branch, ident, level = stack.pop()
        kids = sorted(children.get(ident, ()), key=lambda kid: (kid[1], kid[0]))
        if kids and level >= max_depth:
            cut = True
            branch[1].append([note("…"), []])
            continue
        pending = []
        for child, role in kids:
            text = note(f"{role} {arrow}") + " " + text_of(child)
            if child in drawn:
                if children.get(child):
                    text += "  " + note("(drawn above)")
                branch[1].append([text, []])
                continue
            drawn.add(child)
            item = [text, []]
            branch[1].append(item)
            pending.append((item, child, level + 1))
        stack.extend(reversed(pending))
    hidden = len(nodes) - len(drawn) if cut else 0
    if cut:
        words = (f"deeper than {max_depth} levels: {hidden} more nodes not drawn "
                 "(--format json has the whole answer; --depth N limits it)")
        top[1].append([f"[yellow]{words}[/]" if markup else words, []])
    return top, hidden


def tree(lineage: Lineage, *, max_depth: int = MAX_TREE_DEPTH) -> Any:
    """A ``rich.tree.Tree`` of the lineage, for a terminal (see ``tree_lines``)."""
    from rich.tree import Tree

    top, _ = _layout(lineage, max_depth, markup=True)
    root = Tree(top[0])
    stack: list[tuple[Any, list[Any]]] = [(root, top[1])]
    while stack:
        branch, items = stack.pop()
        for text, kids in items:
            added = branch.add(text)
            if kids:
                stack.append((added, kids))
    return root


def tree_lines(lineage: Lineage, *, max_depth: int = MAX_TREE_DEPTH) -> Iterator[str]:
    """The same tree as plain text lines, as ``tree`` prints where there is no terminal.

    Drawing thousands of nodes through rich takes a second or more; these lines come out
    in milliseconds, with the same guides, for output that goes to a file or a pipe.
    """
    top, _ = _layout(lineage, max_depth, markup=False)
    yield top[0]
    stack: list[tuple[str, list[Any], int]] = [("", top[1], 0)]
    while stack:
        prefix, items, index = stack.pop()
        if index >= len(items):
            continue
        text, kids = items[index]
        last = index == len(items) - 1
        yield prefix + ("└── " if last else "├── ") + text
        stack.append((prefix, items, index + 1))
        if kids:
            stack.append((prefix + ("    " if last else "│   "), kids, 0))


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _plain_label(node: dict[str, Any]) -> str:
    if node["type"] == "execution":
        return f"{node.get('kind')}: {node.get('name')}\n{node['id'][:13]}  {node.get('status')}"
    return f"{node.get('name') or node['id']}\n{node.get('kind')}  {short(node['id'])}"


def to_dot(lineage: Lineage) -> str:
    """Graphviz DOT: artifacts as ellipses, runs as boxes, edges labelled with roles."""
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for node in lineage.nodes:
        shape = "box, style=rounded" if node["type"] == "execution" else "ellipse"
        extra = ", penwidth=2" if node["id"] == lineage.root else ""
        lines.append(
            f'  "{_dot_text(node["id"])}" [label="{_dot_text(_plain_label(node))}", '
            f"shape={shape}{extra}];"
        )
    for source, target, role in lineage.edges:
        lines.append(f'  "{_dot_text(source)}" -> "{_dot_text(target)}" '
                     f'[label="{_dot_text(role)}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;")
            .replace(">", "#gt;").replace("|", "#124;").replace("\n", "<br/>"))


def _mermaid_ids(lineage: Lineage) -> Iterator[tuple[str, dict[str, Any]]]:
    for index, node in enumerate(lineage.nodes):
        yield f"n{index}", node


def to_mermaid(lineage: Lineage) -> str:
    """A Mermaid flowchart: artifacts as rounded boxes, runs as subroutines."""
    ids: dict[str, str] = {}
    lines = ["flowchart LR"]
    for short_id, node in _mermaid_ids(lineage):
        ids[node["id"]] = short_id
        text = _mermaid_text(_plain_label(node))
        if node["type"] == "execution":
            lines.append(f'  {short_id}[["{text}"]]')
        else:
            lines.append(f'  {short_id}("{text}")')
    for source, target, role in lineage.edges:
        if source in ids and target in ids:
            lines.append(f'  {ids[source]} -->|"{_mermaid_text(role)}"| {ids[target]}')
    root = ids.get(lineage.root)
    if root is not None:
        lines.append(f"  style {root} stroke-width:3px")
    return "\n".join(lines) + "\n"
