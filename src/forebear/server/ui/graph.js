// Draws a laid-out lineage graph as SVG. Every string from the API goes in through
// textContent or an attribute value, never parsed as markup.

import { BOX, layout } from "./layout.js";

const SVG = "http://www.w3.org/2000/svg";
const PAD = 24;
const NAME_CHARS = 30;

function el(tag, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (parent) parent.appendChild(node);
  return node;
}

function text(parent, x, y, value, cls) {
  const node = el("text", { x, y, class: cls }, parent);
  node.textContent = value;
  return node;
}

function clip(value, size) {
  return value.length > size ? `${value.slice(0, size - 1)}\u2026` : value;
}

/** The short form of a node's id: 12 hex digits of a digest, 13 characters of a run id. */
export function shortId(node) {
  if (node.type === "execution") return String(node.run_id || node.id).slice(0, 13);
  const digest = node.digest || "";
  if (digest.includes(":")) return digest.slice(digest.indexOf(":") + 1, digest.indexOf(":") + 13);
  return clip(String(node.id), 34);
}

function heading(node) {
  const kind = node.kind || node.type;
  return node.type === "execution" && node.status ? `${kind} \u00b7 ${node.status}` : kind;
}

function tooltip(node, flags) {
  const lines = [`${node.type} ${heading(node)}`, node.name || "(no name)", node.id];
  for (const flag of flags || []) lines.push(`flagged: ${flag.reason}`);
  return lines.join("\n");
}

function arrowDefs(svg) {
  const defs = el("defs", {}, svg);
  const marker = el("marker", {
    id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8,
    orient: "auto-start-reverse",
  }, defs);
  el("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }, marker);
}

// A smooth path from the source box's right side to the target box's left side, straight
// through each layer a long edge crosses (at its waypoints), curving between layers.
function drawEdge(layer, edge, from, to, waypoints) {
  const points = [{ x: from.x + BOX.width, y: from.y + BOX.height / 2 }];
  for (const point of waypoints) points.push(point, { x: point.x + BOX.width, y: point.y });
  points.push({ x: to.x, y: to.y + BOX.height / 2 });
  let d = `M ${points[0].x} ${points[0].y}`;
  for (let i = 1; i < points.length; i += 1) {
    const a = points[i - 1];
    const b = points[i];
    const bend = (b.x - a.x) / 2;
    // Odd steps go between layers (a curve), even ones across a layer (a straight line).
    d += i % 2 ? ` C ${a.x + bend} ${a.y}, ${b.x - bend} ${b.y}, ${b.x} ${b.y}`
      : ` L ${b.x} ${b.y}`;
  }
  const group = el("g", {
    class: "edge", "data-source": edge.source, "data-target": edge.target, "data-role": edge.role,
  }, layer);
  el("path", { d, "marker-end": "url(#arrow)" }, group);
  // The role is written by the target's end: beside the run that used the input, or the
  // artifact the run produced.
  const a = points[points.length - 2];
  const b = points[points.length - 1];
  text(group, (a.x + b.x) / 2, (a.y + b.y) / 2 - 4, edge.role, "role");
}

function drawNode(layer, node, at, options) {
  const flags = options.flags.get(node.id);
  const classes = ["node", node.type];
  if (node.type === "execution") classes.push(`status-${node.status || "unknown"}`);
  if (node.id === options.root) classes.push("root");
  if (flags) classes.push("flagged");
  const group = el("g", {
    class: classes.join(" "), "data-id": node.id, transform: `translate(${at.x} ${at.y})`,
    tabindex: 0, role: "button",
  }, layer);
  group.setAttribute("aria-label", tooltip(node, flags).replaceAll("\n", ", "));
  el("title", {}, group).textContent = tooltip(node, flags);
  el("rect", { width: BOX.width, height: BOX.height, rx: 6 }, group);
  text(group, 10, 17, heading(node), "kind");
  text(group, 10, 35, clip(node.name || "(no name)", NAME_CHARS), "name");
  text(group, 10, 51, shortId(node), "id");
  if (flags) text(group, BOX.width - 10, 17, "\u2691 flagged", "flag");
  const select = () => options.onSelect(node.id);
  group.addEventListener("click", select);
  group.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      select();
    }
  });
}

/**
 * Draw `nodes` and `edges` into a new <svg>. Options: root (id), flags (Map id -> list
 * of flags), onSelect(id). Edges with an end missing from `nodes` are left out.
 */
export function draw(nodes, edges, options) {
  const placed = layout(nodes, edges);
  const width = placed.width + 2 * PAD;
  const height = placed.height + 2 * PAD;
  const svg = el("svg", {
    xmlns: SVG, viewBox: `${-PAD} ${-PAD} ${width} ${height}`, width, height,
    role: "img", "aria-label": "lineage graph", "data-width": width, "data-height": height,
  });
  arrowDefs(svg);
  const edgeLayer = el("g", { class: "edges" }, svg);
  const nodeLayer = el("g", { class: "nodes" }, svg);
  const seen = new Set();
  for (const edge of edges) {
    const from = placed.positions.get(edge.source);
    const to = placed.positions.get(edge.target);
    const key = JSON.stringify([edge.source, edge.target, edge.role]);
    if (!from || !to || seen.has(key)) continue;
    seen.add(key);
    drawEdge(edgeLayer, edge, from, to,
      placed.routes.get(JSON.stringify([edge.source, edge.target])) || []);
  }
  const drawn = new Set();
  for (const node of nodes) {
    if (drawn.has(node.id)) continue;
    drawn.add(node.id);
    drawNode(nodeLayer, node, placed.positions.get(node.id), options);
  }
  return { svg, edges: seen.size, positions: placed.positions };
}

/** Scale a drawn <svg> by `zoom` (1 = natural size). */
export function zoomTo(svg, zoom) {
  svg.setAttribute("width", Number(svg.dataset.width) * zoom);
  svg.setAttribute("height", Number(svg.dataset.height) * zoom);
}

/** Mark the node `id` as selected (and no other). */
export function select(svg, id) {
  for (const node of svg.querySelectorAll("g.node")) {
    node.classList.toggle("selected", node.dataset.id === id);
  }
}
