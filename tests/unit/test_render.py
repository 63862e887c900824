"""The terminal tree: the plain lines for pipes are what rich draws, line for line."""

from __future__ import annotations

import io
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from forebear.graph import render
from forebear.graph.lineage import Lineage


def _node(i: int) -> dict[str, Any]:
    if i % 2:
        return {"type": "execution", "id": f"run-{i}", "kind": "train", "name": f"[t{i}]",
                "status": "failed" if i % 3 else "succeeded"}
    return {"type": "artifact", "id": f"sha256:{i:064x}", "kind": "model", "name": f"m{i}.pt"}


@st.composite
def lineages(draw: st.DrawFn) -> Lineage:
    count = draw(st.integers(1, 30))
    edges = set()
    for child in range(1, count):  # every node reachable from 0: a DAG, parents first
        for parent in draw(st.sets(st.integers(0, child - 1), min_size=1, max_size=3)):
            edges.add((child, parent, draw(st.sampled_from(["input", "output", "code"]))))
    upstream = draw(st.booleans())
    nodes = [_node(i) for i in range(count)]
    ids = [n["id"] for n in nodes]
    pairs = [(ids[c], ids[p], r) if upstream else (ids[p], ids[c], r) for c, p, r in edges]
    return Lineage(root=ids[0], direction="upstream" if upstream else "downstream",
                   nodes=nodes, edges=sorted(pairs), total=count)


@settings(max_examples=150, deadline=None)
@given(lineages(), st.integers(1, 8))
def test_plain_lines_are_what_rich_draws(lineage: Lineage, max_depth: int) -> None:
    out = io.StringIO()
    Console(file=out, width=100_000, highlight=False, soft_wrap=True).print(
        render.tree(lineage, max_depth=max_depth))
    lines = list(render.tree_lines(lineage, max_depth=max_depth))
    assert out.getvalue() == "\n".join(lines) + "\n"
    # Names that look like markup ("[t1]") come out as they are, never as styles.
    assert all("[/" not in line for line in lines)


def test_a_node_reached_twice_is_drawn_once_then_referred_to() -> None:
    ids = [_node(i)["id"] for i in range(5)]
    # 0 <- 1 <- 3 <- 4 and 0 <- 2 <- 3: node 3, which has a parent of its own, twice.
    lineage = Lineage(root=ids[0], direction="upstream", nodes=[_node(i) for i in range(5)],
                      edges=[(ids[1], ids[0], "input"), (ids[2], ids[0], "output"),
                             (ids[3], ids[1], "input"), (ids[3], ids[2], "input"),
                             (ids[4], ids[3], "code")],
                      total=5)
    lines = list(render.tree_lines(lineage))
    assert lines[0] == f"m0.pt  model  {ids[0][:19]}"
    assert lines[1].startswith("├── input ← ⚙ train [t1]  run-1  failed")
    mentions = [line for line in lines if "run-3" in line]
    assert len(mentions) == 2 and sum("(drawn above)" in m for m in mentions) == 1
    assert sum("m4.pt" in line for line in lines) == 1  # its parent is drawn once
    assert len(lines) == 6


@settings(max_examples=150, deadline=None)
@given(lineages(), st.integers(1, 8))
def test_a_whole_answer_is_drawn_down_to_the_depth_cut_and_no_deeper(
    lineage: Lineage, max_depth: int
) -> None:
    lines = list(render.tree_lines(lineage, max_depth=max_depth))
    levels = [(len(line) - len(line.lstrip("│├└─ "))) // 4 for line in lines[1:]]
    assert max(levels, default=0) <= max_depth + 1
    # Branches "(of PARENT)" are for a page whose nodes' parents are on another page.
    assert not any("(of " in line for line in lines)
    if any(line.endswith("…") for line in lines):
        assert "more nodes not drawn" in lines[-1]
