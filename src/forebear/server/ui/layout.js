// Layered left-to-right layout of a lineage DAG (pure: no DOM, testable on its own).
//
// Edges follow the data (artifact -> run that used it -> artifact it produced), so every
// edge points right. Layers: longest path from the sources, then each source is pulled
// right to just before its first consumer (so a shared environment or code anchor sits
// beside the run that uses it, not at the far left). An edge that spans several layers
// gets a waypoint in each layer it crosses, so it runs between boxes, never through one.
// Order inside a layer: the order nodes were given in, then a few barycenter sweeps (each
// node or waypoint moves to the mean slot of its neighbours in the next layer over) to
// cut edge crossings.

export const BOX = { width: 220, height: 58, gapX: 90, gapY: 22 };

const SWEEPS = 4;

// Layer of each node id: longest path from the sources (Kahn's order). A cycle (never
// in a consistent store) cannot stop the page: it is broken at its first node.
function layers(ids, preds, succs) {
  const layer = new Map();
  const waiting = new Map(ids.map((id) => [id, preds.get(id).length]));
  const queue = ids.filter((id) => waiting.get(id) === 0);
  const order = [];
  let head = 0;
  while (order.length < ids.length) {
    if (head >= queue.length) queue.push(ids.find((id) => !layer.has(id)));
    const id = queue[head];
    head += 1;
    if (layer.has(id)) continue;
    let at = 0;
    for (const p of preds.get(id)) {
      if (layer.has(p)) at = Math.max(at, layer.get(p) + 1);
    }
    layer.set(id, at);
    order.push(id);
    for (const s of succs.get(id)) {
      waiting.set(s, waiting.get(s) - 1);
      if (waiting.get(s) === 0 && !layer.has(s)) queue.push(s);
    }
  }
  for (const id of order) {
    const next = succs.get(id);
    if (preds.get(id).length === 0 && next.length > 0) {
      layer.set(id, Math.max(0, Math.min(...next.map((s) => layer.get(s))) - 1));
    }
  }
  return layer;
}

// The slot of every id in `rows`, counted from the middle (rows are drawn centred), so
// neighbours in rows of different lengths compare fairly.
function slots(rows) {
  const tallest = Math.max(0, ...rows.map((row) => row.length));
  const slot = new Map();
  rows.forEach((row) => row.forEach((id, i) => slot.set(id, i + (tallest - row.length) / 2)));
  return slot;
}

// One sweep over the layers in `visit`, sorting each by the barycenter of its
// neighbours (`near`: every segment joins adjacent layers).
function sweep(rows, near, visit) {
  const slot = slots(rows);
  const tallest = Math.max(...rows.map((row) => row.length));
  for (const at of visit) {
    const row = rows[at];
    const key = new Map();
    for (const id of row) {
      const around = near.get(id).map((n) => slot.get(n));
      key.set(id, around.length ? around.reduce((a, b) => a + b, 0) / around.length : slot.get(id));
    }
    row.sort((a, b) => key.get(a) - key.get(b) || slot.get(a) - slot.get(b));
    row.forEach((id, i) => slot.set(id, i + (tallest - row.length) / 2));
  }
}

/** Crossings between segments ({source, target} joining adjacent layers) in `rows`. */
export function crossings(rows, segments, layer) {
  const slot = slots(rows);
  let count = 0;
  for (let i = 0; i < segments.length; i += 1) {
    for (let j = i + 1; j < segments.length; j += 1) {
      const a = segments[i];
      const b = segments[j];
      if (layer.get(a.source) !== layer.get(b.source)) continue;
      const top = slot.get(a.source) - slot.get(b.source);
      const bottom = slot.get(a.target) - slot.get(b.target);
      if (top * bottom < 0) count += 1;
    }
  }
  return count;
}

/**
 * Place `nodes` (objects with an `id`) joined by `edges` ({source, target}); edges whose
 * ends are not both among the nodes are ignored. Options: box (sizes), sweeps.
 *
 * Returns {positions: Map id -> {x, y, layer} (a box's top-left corner), routes: Map
 * JSON [source, target] -> [{x, y}...] (where a long edge crosses each layer between
 * its ends: it enters a layer at x and leaves at x + box width), rows, layer, segments,
 * width, height}. `rows`, `layer` and `segments` include the waypoints.
 */
export function layout(nodes, edges, options = {}) {
  const box = options.box || BOX;
  const sweeps = options.sweeps ?? SWEEPS;
  const ids = [...new Set(nodes.map((n) => n.id))];
  const known = new Set(ids);
  const preds = new Map(ids.map((id) => [id, []]));
  const succs = new Map(ids.map((id) => [id, []]));
  const pairs = new Map();
  for (const { source, target } of edges) {
    const key = JSON.stringify([source, target]);
    if (!known.has(source) || !known.has(target) || source === target || pairs.has(key)) continue;
    pairs.set(key, { source, target });
    succs.get(source).push(target);
    preds.get(target).push(source);
  }
  const layer = layers(ids, preds, succs);
  const rows = [];
  const put = (id, at) => {
    while (rows.length <= at) rows.push([]);
    rows[at].push(id);
    layer.set(id, at);
  };
  ids.forEach((id) => put(id, layer.get(id)));

  // Split every edge into segments between adjacent layers, through waypoints.
  const before = new Map(ids.map((id) => [id, []]));
  const after = new Map(ids.map((id) => [id, []]));
  const segments = [];
  const chains = new Map();
  const link = (source, target) => {
    segments.push({ source, target });
    after.get(source).push(target);
    before.get(target).push(source);
  };
  for (const [key, { source, target }] of pairs) {
    let from = source;
    const chain = [];
    for (let at = layer.get(source) + 1; at < layer.get(target); at += 1) {
      const waypoint = `\u0000${chains.size}:${at}`;
      before.set(waypoint, []);
      after.set(waypoint, []);
      put(waypoint, at);
      link(from, waypoint);
      chain.push(waypoint);
      from = waypoint;
    }
    link(from, target);
    if (chain.length) chains.set(key, chain);
  }

  const forward = rows.map((_, i) => i);
  const backward = [...forward].reverse();
  for (let i = 0; i < sweeps; i += 1) {
    sweep(rows, before, forward.slice(1));
    sweep(rows, after, backward.slice(1));
  }

  // A waypoint takes no height of its own: only the gap to its neighbours in the layer.
  const size = (id) => (known.has(id) ? box.height : 0) + box.gapY;
  const extent = (row) => row.reduce((sum, id) => sum + size(id), 0) - (row.length ? box.gapY : 0);
  const tallest = Math.max(0, ...rows.map(extent));
  const positions = new Map();
  const points = new Map();
  rows.forEach((row, at) => {
    const x = at * (box.width + box.gapX);
    let y = (tallest - extent(row)) / 2;
    for (const id of row) {
      if (known.has(id)) positions.set(id, { x, y, layer: at });
      else points.set(id, { x, y });
      y += size(id);
    }
  });
  const routes = new Map();
  for (const [key, chain] of chains) routes.set(key, chain.map((id) => points.get(id)));
  return {
    positions,
    routes,
    rows,
    layer,
    segments,
    width: rows.length ? rows.length * (box.width + box.gapX) - box.gapX : 0,
    height: Math.max(0, tallest),
  };
}
