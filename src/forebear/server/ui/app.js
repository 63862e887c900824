// The lineage page: a REF, a direction and a depth, or the paths to the REF from another
// one (kept in the URL fragment, so a link reproduces the view) -> the guarded API -> an
// SVG graph and a details panel.
//
// The read token is pasted once and kept in this tab's sessionStorage: never in the URL,
// never in a cookie, sent only as `Authorization: Bearer` to this same origin.

import { draw, select, shortId, zoomTo } from "./graph.js";

const TOKEN_KEY = "forebear.token";
// Nodes asked for per direction: the API pages the closure, and its total tells the user
// how much more there is (a store can hold 80,000 nodes upstream of one model). The user
// may raise it (`limit` in the fragment) up to MAX_LIMIT: SVG slows down past that.
const LIMIT = 300;
const MAX_LIMIT = 2400;
const DIRECTIONS = ["upstream", "downstream", "both", "path"];
const DEFAULTS = { dir: "upstream", depth: "4" };
const ZOOMS = [0.25, 0.4, 0.6, 0.8, 1, 1.25, 1.6];

const $ = (id) => document.getElementById(id);

let drawn = null; // {svg, nodes: Map id -> node}
let zoom = 1;
let fitting = true; // until the user zooms, each new graph is scaled to fit (not below 50%)
let generation = 0; // the latest graph request; older answers are dropped
let picked = 0; // the same for the details panel

class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(typeof error.message === "string" ? error.message : `the server answered ${status}`);
    this.status = status;
    this.hint = typeof error.hint === "string" ? error.hint : "";
    this.candidates = Array.isArray(error.candidates) ? error.candidates.map(String) : [];
  }
}

const token = () => sessionStorage.getItem(TOKEN_KEY) || "";

async function api(path, params = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined) url.searchParams.set(key, value);
  }
  let answer;
  try {
    answer = await fetch(url, {
      headers: { Authorization: `Bearer ${token()}`, Accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
    });
  } catch (error) {
    const message = `the server could not be reached: ${error.message}`;
    throw new ApiError(0, { error: { message } });
  }
  let body = null;
  try {
    body = await answer.json();
  } catch {
    body = null;
  }
  if (!answer.ok) throw new ApiError(answer.status, body);
  return body;
}

// -- the view's state, in the URL fragment ---------------------------------------------

function readState() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const dir = DIRECTIONS.includes(params.get("dir")) ? params.get("dir") : DEFAULTS.dir;
  const depth = params.get("depth") || DEFAULTS.depth;
  const limit = Number(params.get("limit"));
  return {
    ref: (params.get("ref") || "").trim(),
    from: (params.get("from") || "").trim(),
    dir,
    depth: depth === "all" || /^\d{1,6}$/.test(depth) ? depth : DEFAULTS.depth,
    limit: Number.isInteger(limit) && limit >= 1 ? Math.min(limit, MAX_LIMIT) : LIMIT,
  };
}

function go({ ref, dir, depth, from = "", limit = LIMIT }) {
  const fields = { ref, dir, depth };
  if (dir === "path") fields.from = from;
  if (limit !== LIMIT) fields.limit = limit;
  const next = `#${new URLSearchParams(fields)}`;
  if (window.location.hash === next) render();
  else window.location.hash = next; // hashchange renders
}

function syncForm(state) {
  $("ref").value = state.ref;
  $("dir").value = state.dir;
  $("from").value = state.from;
  showFrom(state.dir);
  const depth = $("depth");
  if (![...depth.options].some((option) => option.value === state.depth)) {
    const option = document.createElement("option");
    option.value = state.depth;
    option.textContent = state.depth;
    depth.appendChild(option);
  }
  depth.value = state.depth;
}

// -- messages ----------------------------------------------------------------------------

function say(text, kind = "info", hint = "", candidates = []) {
  const box = $("message");
  box.replaceChildren();
  box.className = kind;
  box.hidden = !text;
  const line = document.createElement("p");
  line.textContent = text;
  box.appendChild(line);
  if (hint) {
    const more = document.createElement("p");
    more.className = "hint";
    more.textContent = hint;
    box.appendChild(more);
  }
  if (candidates.length) {
    const list = document.createElement("ul");
    for (const candidate of candidates) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = candidate;
      button.addEventListener("click", () => go({ ...readState(), ref: candidate }));
      item.appendChild(button);
      list.appendChild(item);
    }
    box.appendChild(list);
  }
}

function sayError(error) {
  if (error instanceof ApiError) say(error.message, "error", error.hint, error.candidates);
  else say(`the page failed: ${error.message}`, "error");
}

function showTokenState() {
  $("token-state").textContent = token() ? "token set (kept in this tab only)" : "no token";
  $("forget").hidden = !token();
}

// -- the graph ---------------------------------------------------------------------------

function merge(walks) {
  const nodes = new Map();
  const edges = new Map();
  let total = 0;
  for (const walk of walks) {
    for (const node of walk.nodes) if (!nodes.has(node.id)) nodes.set(node.id, node);
    for (const edge of walk.edges) {
      edges.set(JSON.stringify([edge.source, edge.target, edge.role]), edge);
    }
    total += walk.page ? walk.page.total : walk.nodes.length;
  }
  // Upstream and downstream closures of a DAG share only the root.
  total -= walks.length - 1;
  return { nodes: [...nodes.values()], edges: [...edges.values()], total };
}

function flagsByTarget(flags) {
  const found = new Map();
  for (const flag of flags) {
    if (!found.has(flag.target)) found.set(flag.target, []);
    found.get(flag.target).push(flag);
  }
  return found;
}

function showFrom(dir) {
  // Paths run from one node to another: the second REF, and no depth.
  $("from-field").hidden = dir !== "path";
  $("depth").disabled = dir === "path";
}

function clearGraph() {
  $("graph").replaceChildren();
  $("summary").textContent = "";
  $("details").hidden = true;
  drawn = null;
}

async function render() {
  const state = readState();
  syncForm(state);
  generation += 1;
  const mine = generation;
  clearGraph();
  if (!state.ref) {
    say("Type a REF: an alias, a digest or 8+ hex digits of one, or a run id or its prefix.");
    return;
  }
  if (!token()) {
    say("No token: paste a read token above (`forebear token create --scope read`). "
      + "It is kept in this tab only.", "error");
    return;
  }
  if (state.dir === "path") {
    renderPaths(state, mine);
    return;
  }
  say(`Loading the ${state.dir} lineage of ${state.ref}\u2026`);
  const depth = state.depth === "all" ? null : state.depth;
  const dirs = state.dir === "both" ? ["upstream", "downstream"] : [state.dir];
  try {
    const [flags, ...walks] = await Promise.all([
      api("/api/v1/flags"),
      ...dirs.map((dir) => api(`/api/v1/${dir}`, { ref: state.ref, depth, limit: state.limit })),
    ]);
    if (mine !== generation) return;
    show(merge(walks), walks[0].root, flagsByTarget(flags), state);
    if (state.dir === "both") drawn.upstream = new Set(walks[0].nodes.map((node) => node.id));
  } catch (error) {
    if (mine === generation) sayError(error);
  }
}

// Every path from one node to another (GET /api/v1/path): how a dataset reached a model.
// The answer is not paged: past MAX_LIMIT nodes it is counted, not drawn.
async function renderPaths(state, mine) {
  if (!state.from) {
    say("Type where the paths start in From: a REF upstream of " + state.ref + ".");
    return;
  }
  say(`Loading the paths from ${state.from} to ${state.ref}\u2026`);
  try {
    const [flags, paths] = await Promise.all([
      api("/api/v1/flags"), api("/api/v1/path", { from: state.from, to: state.ref }),
    ]);
    if (mine !== generation) return;
    if (!paths.nodes.length) {
      say(`No path: ${state.ref} does not come from ${state.from}.`, "info",
        "Paths follow the data, from what was used to what was made: swap the two if "
        + "From is the later one.");
      return;
    }
    if (paths.nodes.length > MAX_LIMIT) {
      say(`${paths.nodes.length} nodes lie on the paths from ${state.from} to ${state.ref}: `
        + "too many to draw here.", "info",
        `\`forebear path ${state.from} ${state.ref} --format dot\` draws them all.`);
      return;
    }
    show({ ...paths, total: paths.nodes.length }, paths.root, flagsByTarget(flags), state);
    const runs = paths.nodes.filter((node) => node.type === "execution").length;
    const named = (id) => {
      const node = drawn.nodes.get(id);
      return node && node.name ? `${node.name} (${shortId(node)})` : id;
    };
    $("summary").textContent = `paths from ${named(paths.from)} to ${named(paths.root)}: `
      + `${paths.nodes.length} nodes (${runs} runs), ${paths.edges.length} edges.`;
  } catch (error) {
    if (mine === generation) sayError(error);
  }
}

function show(graph, root, flags, state) {
  const { svg, edges } = draw(graph.nodes, graph.edges, { root, flags, onSelect: details });
  drawn = { svg, root, nodes: new Map(graph.nodes.map((node) => [node.id, node])) };
  $("graph").replaceChildren(svg);
  setZoom(fitting ? Math.max(0.5, fit()) : zoom);
  const shown = graph.nodes.length;
  const depth = state.depth === "all" ? "any depth" : `depth ${state.depth}`;
  const top = drawn.nodes.get(root) || { id: root };
  const label = top.name ? `${top.name} (${shortId(top)})` : shortId(top);
  $("summary").textContent = `${state.dir} of ${label}, ${depth}: `
    + `showing ${shown} of ${graph.total} nodes, ${edges} edges.`;
  if (shown < graph.total) {
    $("summary").append(" Lower the depth to see the nearest part whole");
    if (state.limit < MAX_LIMIT) {
      const more = Math.min(MAX_LIMIT, state.limit * 4);
      const button = document.createElement("button");
      button.type = "button";
      button.id = "more";
      button.textContent = `draw up to ${more} nodes`;
      button.addEventListener("click", () => go({ ...state, limit: more }));
      $("summary").append(", or ", button);
    }
    $("summary").append(".");
  }
  say("");
  const box = svg.querySelector("g.node.root");
  if (box) box.scrollIntoView({ block: "nearest", inline: "nearest" });
}

// -- the details panel -------------------------------------------------------------------

function value(text) {
  if (text === null || text === undefined) return "\u2014";
  return typeof text === "string" ? text : JSON.stringify(text);
}

function section(parent, title, entries) {
  const rows = Object.entries(entries || {});
  if (!rows.length) return;
  const heading = document.createElement("h3");
  heading.textContent = title;
  const list = document.createElement("dl");
  list.dataset.section = title;
  for (const [key, item] of rows) {
    const term = document.createElement("dt");
    term.textContent = key;
    const data = document.createElement("dd");
    data.textContent = value(item);
    list.append(term, data);
  }
  parent.append(heading, list);
}

function links(parent, title, items) {
  if (!items || !items.length) return;
  const heading = document.createElement("h3");
  heading.textContent = title;
  const list = document.createElement("ul");
  for (const item of items) {
    const entry = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link";
    button.textContent = `${item.role}: ${item.kind || item.type} ${item.name || item.id}`;
    button.title = item.id;
    button.addEventListener("click", () => details(item.id));
    entry.appendChild(button);
    list.appendChild(entry);
  }
  parent.append(heading, list);
}

// The record as PROV-JSON, a CycloneDX ML-BOM, SLSA provenance or OpenLineage events
// (GET /api/v1/export), downloaded through the token: a plain link could not send it.
const EXPORTS = [["prov", "PROV-JSON"], ["cyclonedx", "CycloneDX ML-BOM"],
  ["slsa", "SLSA provenance"], ["openlineage", "OpenLineage events"]];

async function download(id, format) {
  const url = new URL("/api/v1/export", window.location.origin);
  url.searchParams.set("ref", id);
  url.searchParams.set("format", format);
  const box = $("details-error");
  box.hidden = true;
  let answer;
  try {
    answer = await fetch(url, { headers: { Authorization: `Bearer ${token()}` },
      cache: "no-store", credentials: "omit" });
  } catch (error) {
    box.hidden = false;
    box.textContent = `the server could not be reached: ${error.message}`;
    return;
  }
  if (!answer.ok) {
    let body = null;
    try { body = await answer.json(); } catch { body = null; }
    const problem = new ApiError(answer.status, body);
    box.hidden = false;
    box.textContent = problem.hint ? `${problem.message} (${problem.hint})` : problem.message;
    return;
  }
  const named = /filename="([^"]+)"/.exec(answer.headers.get("Content-Disposition") || "");
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await answer.blob());
  link.download = named ? named[1] : `${format}.json`;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

function exportButtons(parent, record) {
  // CycloneDX and SLSA describe an artifact and what it came from; PROV and OpenLineage
  // any node.
  const formats = record.type === "artifact" ? EXPORTS
    : EXPORTS.filter(([format]) => format === "prov" || format === "openlineage");
  const heading = document.createElement("h3");
  heading.textContent = "Export";
  const row = document.createElement("p");
  row.className = "exports";
  for (const [format, label] of formats) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.format = format;
    button.textContent = label;
    button.addEventListener("click", () => download(record.id, format));
    row.appendChild(button);
  }
  parent.append(heading, row);
}

// {first field: the others joined} for each item: aliases, deployments.
function byFirst(items, fields) {
  const out = {};
  for (const item of items || []) {
    out[item[fields[0]]] = fields.slice(1).map((f) => item[f]).filter(Boolean).join(", ");
  }
  return out;
}

function present(entries) {
  return Object.fromEntries(Object.entries(entries).filter(([, v]) => v != null && v !== ""));
}

function fillDetails(record) {
  const body = $("details-body");
  body.replaceChildren();
  const node = record.node || {};
  const run = record.transformation || {};
  $("details-title").textContent = node.name || record.id;
  const facts = { type: record.type, kind: node.kind, id: record.id };
  if (record.type === "execution") {
    Object.assign(facts, {
      status: node.status, actor: node.actor, reason: node.reason, started: node.started_at,
      ended: node.ended_at, "exit code": record.exit_code, namespace: record.namespace,
      "parent run": record.parent_run_id,
    });
  } else {
    Object.assign(facts, {
      size: record.size, uris: (node.uris || []).join(" "), "used by": record.used_by,
    });
  }
  section(body, "Record", present(facts));
  if (record.type === "artifact" && record.transformation) {
    section(body, "Produced by", present({
      run: run.run_id, kind: run.kind, name: run.name, status: run.status, actor: run.actor,
      ended: run.ended_at,
    }));
  }
  section(body, "Parameters", run.params || node.params);
  if (record.type === "execution") section(body, "Tags", record.tags);
  section(body, "Metrics", record.metrics);
  section(body, "Code", run.code || node.code);
  section(body, "Environment", record.environment);
  if (record.error) section(body, "Error", { error: record.error, traceback: record.traceback });
  section(body, "Aliases", byFirst(record.aliases, ["name", "set_at", "actor", "reason"]));
  const flags = {};
  for (const flag of record.flags || []) {
    const where = flag.inherited ? ` (on ancestor ${flag.target.slice(0, 19)})` : "";
    flags[`#${flag.seq}${where}`] = `${flag.reason} \u2014 ${flag.actor}, ${flag.flagged_at}`;
  }
  section(body, "Flags", flags);
  links(body, "Inputs", record.parents);
  links(body, "Outputs", record.outputs);
  section(body, "Deployments", byFirst(record.deployments, ["target", "status", "at", "actor"]));
  exportButtons(body, record);
}

async function details(id) {
  picked += 1;
  const mine = picked;
  if (drawn) select(drawn.svg, id);
  const panel = $("details");
  panel.hidden = false;
  panel.dataset.id = id;
  const state = readState();
  $("paths").hidden = state.dir === "path" || !drawn || id === drawn.root;
  $("details-title").textContent = id;
  $("details-body").replaceChildren();
  $("details-error").hidden = true;
  try {
    const record = await api("/api/v1/show", { ref: id });
    if (mine === picked) fillDetails(record);
  } catch (error) {
    if (mine !== picked) return;
    const box = $("details-error");
    box.hidden = false;
    box.textContent = error instanceof ApiError ? error.message : String(error);
  }
}

// -- wiring ------------------------------------------------------------------------------

function setZoom(next) {
  zoom = next;
  $("zoom-level").textContent = `${Math.round(zoom * 100)}%`;
  if (drawn) zoomTo(drawn.svg, zoom);
}

function fit() {
  const box = $("graph").getBoundingClientRect();
  return Math.min(1, box.width / Number(drawn.svg.dataset.width),
    box.height / Number(drawn.svg.dataset.height));
}

function step(by) {
  fitting = false;
  const at = ZOOMS.findIndex((z) => z >= zoom);
  setZoom(ZOOMS[Math.min(ZOOMS.length - 1, Math.max(0, (at < 0 ? ZOOMS.length - 1 : at) + by))]);
}

function start() {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const given = $("token").value.trim();
    $("token").value = "";
    if (given) sessionStorage.setItem(TOKEN_KEY, given);
    showTokenState();
    render();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showTokenState();
    render();
  });
  const fromForm = () => ({
    ref: $("ref").value.trim(), dir: $("dir").value, depth: $("depth").value,
    from: $("from").value.trim(),
  });
  $("query").addEventListener("submit", (event) => {
    event.preventDefault();
    go(fromForm());
  });
  for (const id of ["dir", "depth"]) {
    $(id).addEventListener("change", () => {
      showFrom($("dir").value);
      const form = fromForm();
      if (form.ref && (form.dir !== "path" || form.from)) go(form);
    });
  }
  $("recentre").addEventListener("click", () => {
    const id = $("details").dataset.id;
    if (id) go({ ...readState(), ref: id });
  });
  $("paths").addEventListener("click", () => {
    const id = $("details").dataset.id;
    if (!id || !drawn) return;
    // Upstream of the root, the paths run from the node to the root; downstream, back.
    // The root keeps the REF it was asked by (an alias stays an alias in the link).
    const state = readState();
    const below = state.dir === "downstream"
      || (state.dir === "both" && drawn.upstream && !drawn.upstream.has(id));
    const [from, to] = below ? [state.ref, id] : [id, state.ref];
    go({ ...state, dir: "path", ref: to, from });
  });
  $("close").addEventListener("click", () => {
    $("details").hidden = true;
    if (drawn) select(drawn.svg, null);
  });
  $("zoom-in").addEventListener("click", () => step(1));
  $("zoom-out").addEventListener("click", () => step(-1));
  $("zoom-fit").addEventListener("click", () => {
    fitting = true;
    if (drawn) setZoom(fit());
  });
  window.addEventListener("hashchange", render);
  showTokenState();
  render();
}

start();
