// The POA dashboard page: one server-sent events feed (a snapshot, then coalesced updates of
// changed nodes), a windowed node table, and canvas charts. Renders at most every RENDER_EVERY_MS.
"use strict";

const RENDER_EVERY_MS = 250;
/** How long the shared feed worker may take to answer a tab before the tab reads a stream of its own. */
const WORKER_START_MS = 3000;
const TICK_MS = 1000;
const HISTORY_REFRESH_MS = 15_000;
const CHART_BLOCKS = 40;
const PINNED_KEY = "poa-dashboard-pinned";
/** Latencies above this (an hour) are not a network's: left out of the average. */
const MAX_LATENCY_MS = 3_600_000;

const state = {
  /** id -> node view from the feed, plus `v` (bumped on every change) */
  nodes: new Map(),
  /** number -> block */
  blocks: new Map(),
  blocksVersion: 0,
  /** the network's propagation histogram: { binsMs, counts, blocks } (from the feed) */
  propagation: null,
  /** the chain's health from the feed: { best, forks: [{ number, branches: [{ hash, count, nodes }] }] } */
  chain: { best: null, forks: [] },
  /** ids of the nodes whose head is on a minority branch of a fork (bumps chainVersion) */
  forked: new Set(),
  chainVersion: 0,
  chainKey: "",
  /** ids of the nodes pinned to the top, kept in localStorage */
  pinned: loadPinned(),
  settings: {
    maxBlocks: 200,
    flushIntervalMs: 500,
    removeInactiveAfterMs: 3_600_000,
    behindBlocks: 3,
    stuckAfterMs: 60_000,
    map: 0,
  },
  /** the world outline for the map (assets/world.json), once loaded */
  world: null,
  /** server time minus local time, from the latest frame */
  offset: 0,
  sort: { key: "name", dir: 1 },
  selected: null,
  range: 3_600_000,
  renders: 0,
};

const $ = (selector) => document.querySelector(selector);

function loadPinned() {
  try {
    const ids = JSON.parse(localStorage.getItem(PINNED_KEY) ?? "[]");
    return new Set(Array.isArray(ids) ? ids.filter((id) => typeof id === "string") : []);
  } catch {
    return new Set(); // storage disabled or garbled: nothing pinned
  }
}

function togglePin(id) {
  if (state.pinned.has(id)) state.pinned.delete(id);
  else state.pinned.add(id);
  try {
    localStorage.setItem(PINNED_KEY, JSON.stringify([...state.pinned]));
  } catch {
    // storage full or disabled: the pin lasts as long as the page
  }
  const node = state.nodes.get(id);
  if (node) node.v++;
  scheduleRender();
}
const serverNow = () => Date.now() + state.offset;

// ---------------------------------------------------------------- formatting

function num(value) {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string") {
    const n = /^0x[0-9a-f]+$/i.test(value) ? parseInt(value, 16) : Number(value);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

/** A block number: a whole number from 0 up (as `num` reads it), else null (`#-1`, `#1.5` are no blocks). */
function blockNumber(value) {
  const n = num(value);
  return n !== null && Number.isSafeInteger(n) && n >= 0 ? n : null;
}

function ago(ms) {
  if (ms === null || ms === undefined) return "–";
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

function fixed(value, digits, suffix = "") {
  return value === null || value === undefined ? "–" : `${value.toFixed(digits)}${suffix}`;
}

/** A percentage in at most 5 characters (narrow columns), 2 decimals under 10 (0.12 % memory). */
function percent(value) {
  return fixed(value, value < 10 ? 2 : value < 100 ? 1 : 0, "%");
}

function compact(value) {
  if (value === null || value === undefined) return "–";
  const abs = Math.abs(value);
  // Short enough for a chart's axis (36 px) and a header tile: POA's difficulty is 3.4e38.
  if (abs >= 1e21) return value.toExponential(1).replace("e+", "e");
  if (abs >= 1e18) return `${+(value / 1e18).toFixed(1)}E`;
  if (abs >= 1e15) return `${+(value / 1e15).toFixed(1)}P`;
  if (abs >= 1e12) return `${+(value / 1e12).toFixed(1)}T`;
  if (abs >= 1e9) return `${+(value / 1e9).toFixed(1)}G`;
  if (abs >= 1e6) return `${+(value / 1e6).toFixed(1)}M`;
  if (abs >= 1e3) return `${+(value / 1e3).toFixed(1)}k`;
  return `${+value.toFixed(2)}`;
}

function clientName(node) {
  const text = node.last.information?.node;
  if (typeof text !== "string") return null;
  // "Parity-Ethereum//v2.0.5-stable/x86_64-linux-gnu/rustc1.29.0" -> "Parity-Ethereum v2.0.5-stable"
  const parts = text.split("/").filter((p) => p !== "");
  return parts.length >= 2 ? `${parts[0]} ${parts[1]}` : text;
}

// ---------------------------------------------------------------- node columns

/** Column key -> value used for sorting and display (null = unknown, sorted last). */
const COLUMNS = {
  name: (n) => (typeof n.last.information?.name === "string" && n.last.information.name) || n.id,
  status: (n) => status(n),
  client: (n) => clientName(n),
  peers: (n) => num(n.last.statistics?.peers),
  latency: (n) => num(n.last.latency?.latency),
  block: (n) => blockNumber(n.last.block?.number),
  blockAge: (n) => (n.blockReceivedAt === null ? null : serverNow() - n.blockReceivedAt),
  propagation: (n) => n.propagation?.lastMs ?? null,
  pending: (n) => num(n.last.pending?.pending),
  gasPrice: (n) => {
    const wei = num(n.last.statistics?.gasPrice);
    return wei === null ? null : wei / 1e9;
  },
  uptime: (n) => num(n.last.statistics?.uptime),
  cpu: (n) => num(n.last.system?.cpu_load),
  memory: (n) => num(n.last.system?.memory_usage),
  disk: (n) => num(n.last.system?.disk_usage),
};

const FORMAT = {
  name: (v) => v,
  status: (v) => v,
  client: (v) => v ?? "–",
  peers: (v) => (v === null ? "–" : String(v)),
  latency: (v) => (v === null ? "–" : `${Math.round(v)} ms`),
  block: (v) => (v === null ? "–" : `#${v.toLocaleString("en-US")}`),
  blockAge: (v) => ago(v),
  propagation: (v) => (v === null ? "–" : v < 1000 ? `${v} ms` : `${(v / 1000).toFixed(2)} s`),
  pending: (v) => (v === null ? "–" : String(v)),
  gasPrice: (v) => (v === null ? "–" : `${+v.toFixed(2)} gwei`),
  uptime: (v) => fixed(v, 0, "%"),
  cpu: (v) => percent(v),
  memory: (v) => percent(v),
  disk: (v) => fixed(v, 0, "%"),
};

const NUMERIC = new Set([
  "peers",
  "latency",
  "block",
  "blockAge",
  "propagation",
  "pending",
  "gasPrice",
  "uptime",
  "cpu",
  "memory",
  "disk",
]);

/**
 * One word for a node, the most urgent first: inactive, fork (its head is on a minority branch),
 * stuck (behind for longer than stuckAfterMs), syncing, behind, active.
 */
function status(node) {
  if (!node.active) return "inactive";
  if (state.forked.has(node.id)) return "fork";
  const behindFor = node.behindSince === null || node.behindSince === undefined
    ? null
    : serverNow() - node.behindSince;
  if (behindFor !== null && behindFor >= state.settings.stuckAfterMs) return "stuck";
  const syncing = node.last.statistics?.syncing;
  if (syncing && typeof syncing === "object") return "syncing";
  return behindFor !== null ? "behind" : "active";
}

// ---------------------------------------------------------------- feed

function applySnapshot(frame) {
  state.settings = { ...state.settings, ...frame.settings };
  if (state.settings.map && state.world === null) loadWorld();
  state.nodes.clear();
  state.blocks.clear();
  state.blocksVersion++;
  for (const node of frame.nodes) state.nodes.set(node.id, { ...node, v: 1 });
  addBlocks(frame.blocks);
  setPropagation(frame.propagation);
  setChain(frame.chain);
}

/** The forks: nodes on a branch with fewer nodes than the biggest one are marked "fork". */
function setChain(chain) {
  if (!chain) return;
  state.chain = chain;
  const key = JSON.stringify(chain.forks);
  if (key === state.chainKey) return;
  state.chainKey = key;
  state.forked = new Set();
  for (const fork of chain.forks) {
    const main = fork.branches[0];
    for (const branch of fork.branches.slice(1)) {
      if (branch.count === main.count) continue; // a tie has no majority (as the alerts receiver)
      for (const id of branch.nodes) state.forked.add(id);
    }
  }
  state.chainVersion++;
}

function setPropagation(propagation) {
  if (!propagation) return;
  state.propagation = propagation;
  state.blocksVersion++; // redraws the charts
}

function applyUpdate(frame) {
  for (const node of frame.nodes) {
    const old = state.nodes.get(node.id);
    // Known nodes come with only the reports that changed; `full` ones with all of them.
    const last = old && !node.full ? { ...old.last, ...node.last } : node.last;
    // A location comes with the node's information; other changes leave the known one.
    const location = "location" in node ? node.location : old?.location ?? null;
    state.nodes.set(node.id, { ...node, location, last, v: (old?.v ?? 0) + 1 });
  }
  for (const id of frame.removed) state.nodes.delete(id);
  if (typeof frame.dropBlocksAbove === "number") dropBlocksAbove(frame.dropBlocksAbove);
  addBlocks(frame.blocks);
  setPropagation(frame.propagation);
  setChain(frame.chain);
}

/** Blocks of a chain no active node is on (a reset network) left the server's ring: they go here too. */
function dropBlocksAbove(ceiling) {
  for (const n of state.blocks.keys()) {
    if (n > ceiling) {
      state.blocks.delete(n);
      state.blocksVersion++;
    }
  }
}

function addBlocks(blocks) {
  if (blocks.length > 0) state.blocksVersion++;
  for (const block of blocks) state.blocks.set(block.number, block);
  const max = state.settings.maxBlocks;
  if (state.blocks.size > max) {
    const keep = [...state.blocks.keys()].sort((a, b) => b - a).slice(0, max);
    const kept = new Set(keep);
    for (const n of state.blocks.keys()) if (!kept.has(n)) state.blocks.delete(n);
  }
}

/** What the page does with the feed's events, whichever way they come. */
function createFeedReader() {
  // A long snapshot comes as {"type":"parts","count":n} and n events to join.
  let parts = null;
  return {
    /** A new stream: it starts with a snapshot. */
    open() {
      parts = null;
    },
    event(data) {
      let text = data;
      if (parts !== null) {
        parts.texts.push(text);
        if (parts.texts.length < parts.count) return;
        text = parts.texts.join("");
        parts = null;
      }
      let frame;
      try {
        frame = JSON.parse(text);
      } catch {
        return;
      }
      if (frame.type === "parts") {
        parts = { count: frame.count, texts: [] };
        return;
      }
      state.offset = frame.now - Date.now();
      if (frame.type === "snapshot") applySnapshot(frame);
      else if (frame.type === "update") applyUpdate(frame);
      setConnection("live", "live");
      scheduleRender();
    },
    down(retryMs) {
      setConnection("disconnected", `disconnected, retrying in ${Math.round(retryMs / 1000)}s`);
    },
  };
}

/**
 * The feed is server-sent events: it only ever goes from the server to the page. Tabs share one
 * stream through a SharedWorker (assets/feed_worker.js: over HTTP/1.1 a browser keeps at most 6
 * connections to a host, and each stream holds one); without SharedWorker, a stream of its own.
 */
function connect() {
  const reader = createFeedReader();
  setConnection("connecting", "connecting…");
  if (typeof SharedWorker !== "function") return readOwnStream(reader);
  const worker = new SharedWorker(new URL("assets/feed_worker.js", location.href), { name: "poa-feed" });
  // A worker that cannot start (its script refused or failing), or that has not answered within
  // WORKER_START_MS (its script never came: seen in Chromium, no error event then; or a worker of an
  // older page that does not answer): this tab leaves it and reads a stream of its own.
  let own = false;
  const readAlone = () => {
    if (own) return;
    own = true;
    clearTimeout(startTimer);
    worker.port.postMessage("leave");
    readOwnStream(reader);
  };
  const startTimer = setTimeout(readAlone, WORKER_START_MS);
  worker.onerror = readAlone;
  worker.port.onmessage = ({ data: message }) => {
    if (own) return;
    clearTimeout(startTimer); // it runs: what it says about the stream comes through it
    if (message.kind === "open") reader.open();
    else if (message.kind === "event") reader.event(message.data);
    else if (message.kind === "down") reader.down(message.retryMs);
  };
  worker.port.start();
  worker.port.postMessage("connect");
  addEventListener("pagehide", () => own || worker.port.postMessage("leave"));
  // Back from the browser's back-forward cache: this tab had left, it joins again (a new snapshot).
  addEventListener("pageshow", (event) => {
    if (event.persisted && !own) worker.port.postMessage("connect");
  });
}

/** The feed on a stream of this tab's own, reopened with backoff when it fails. */
function readOwnStream(reader) {
  let retryMs = 1000;
  const open = () => {
    const source = new EventSource(new URL("feed", location.href));
    source.onopen = () => {
      retryMs = 1000;
      reader.open();
    };
    source.onmessage = (event) => reader.event(event.data);
    // Our own backoff rather than EventSource's fixed retry; a new stream starts with a snapshot.
    source.onerror = () => {
      source.close();
      reader.down(retryMs);
      setTimeout(open, retryMs);
      retryMs = Math.min(retryMs * 2, 30_000);
    };
  };
  open();
}

function setConnection(value, text) {
  const el = $("#connection");
  el.dataset.state = value;
  el.textContent = text;
}

// ---------------------------------------------------------------- rendering

let renderTimer = null;
let lastRender = 0;

/** Coalesces renders: however many frames arrive, at most one render per RENDER_EVERY_MS. */
function scheduleRender() {
  if (renderTimer !== null) return;
  const wait = Math.max(0, lastRender + RENDER_EVERY_MS - performance.now());
  renderTimer = setTimeout(() => {
    renderTimer = null;
    lastRender = performance.now();
    render();
  }, wait);
}

function render() {
  const started = performance.now();
  // Once per render: a walk over the nodes and a sort of the blocks.
  const best = bestBlock();
  const blocks = chainBlocks(best);
  // Charts first: they read canvas sizes, which is cheap before the table is changed (no forced layout).
  renderBlockCharts(blocks);
  renderMap();
  renderHeader(best, blocks);
  renderChain();
  renderTable();
  if (state.selected !== null) renderDetailInfo();
  state.renders++;
  document.body.dataset.renders = String(state.renders);
  document.body.dataset.renderMs = (performance.now() - started).toFixed(1);
}

function sortedBlocks() {
  return [...state.blocks.values()].sort((a, b) => b.number - a.number);
}

/**
 * The blocks kept at or below the best block, highest first: what the tiles and charts describe.
 * Not a dead chain's above it (a chain restarted lower, until the server lets those go).
 */
function chainBlocks(best) {
  const blocks = sortedBlocks();
  return best === null ? blocks : blocks.filter((block) => block.number <= best.number);
}

/** The best block of the active nodes (the server's `chain.best` once known), and when it came. */
function bestBlock() {
  const limit = state.chain.best ?? Infinity;
  let best = null;
  for (const node of state.nodes.values()) {
    if (!node.active) continue;
    const n = blockNumber(node.last.block?.number);
    if (n !== null && n > limit) continue;
    if (n !== null && (best === null || n > best.number)) best = { number: n, at: node.blockReceivedAt };
    else if (n !== null && n === best.number && node.blockReceivedAt < best.at) {
      best.at = node.blockReceivedAt;
    }
  }
  const ring = sortedBlocks().find((block) => block.number <= limit);
  if (ring && (best === null || ring.number >= best.number)) {
    best = { number: ring.number, at: ring.firstSeen };
  }
  return best;
}

function averageBlockTime(blocks) {
  let total = 0;
  let count = 0;
  for (let i = 0; i + 1 < blocks.length && count < 50; i++) {
    const a = blocks[i];
    const b = blocks[i + 1];
    if (a.number === b.number + 1 && a.timestamp !== null && b.timestamp !== null) {
      total += a.timestamp - b.timestamp;
      count++;
    }
  }
  return count === 0 ? null : total / count;
}

function renderHeader(best, blocks) {
  const bestTile = $("#best-block");
  bestTile.textContent = best === null ? "–" : `#${best.number.toLocaleString("en-US")}`;
  // Mainnet's 8 digits ("#23,456,789") did not fit a ninth of a 1,400 px row at the tiles' size.
  bestTile.classList.toggle("long", bestTile.textContent.length > 8);
  renderLastBlockAge(best);
  const avg = averageBlockTime(blocks);
  $("#avg-block-time").textContent = avg === null ? "–" : `${avg.toFixed(1)} s`;
  let active = 0;
  let latencySum = 0;
  let latencyCount = 0;
  for (const node of state.nodes.values()) {
    if (!node.active) continue;
    active++;
    const latency = num(node.last.latency?.latency);
    // What an agent says is its own: a latency of 1e308 (or below 0) made the average "Infinity ms".
    if (latency !== null && latency >= 0 && latency <= MAX_LATENCY_MS) {
      latencySum += latency;
      latencyCount++;
    }
  }
  $("#active-nodes").textContent = `${active}/${state.nodes.size}`;
  $("#avg-latency").textContent = latencyCount === 0 ? "–" : `${Math.round(latencySum / latencyCount)} ms`;
  renderChainTiles(blocks, avg);
}

/** Difficulty, hashrate (difficulty over the average block time), gas limit, uncles of the last 50. */
function renderChainTiles(blocks, avgBlockTime) {
  const head = blocks[0];
  const difficulty = head?.difficulty ?? null;
  $("#difficulty").textContent = compact(difficulty);
  $("#hashrate").textContent = difficulty === null || !(avgBlockTime > 0)
    ? "–"
    : `${compact(difficulty / avgBlockTime)}H/s`;
  $("#gas-limit").textContent = compact(head?.gasLimit ?? null);
  const last50 = blocks.slice(0, 50).filter((b) => b.uncleCount !== null);
  $("#uncles").textContent = last50.length === 0 ? "–" : String(last50.reduce((n, b) => n + b.uncleCount, 0));
}

const short = (hash) => (hash.length > 14 ? `${hash.slice(0, 8)}…${hash.slice(-4)}` : hash);

/** The forks (which nodes on which branch) and how many nodes are behind or stuck. */
function renderChain() {
  let behind = 0;
  let stuck = 0;
  for (const node of state.nodes.values()) {
    const s = status(node);
    if (s === "behind") behind++;
    else if (s === "stuck") stuck++;
  }
  const forks = state.chain.forks;
  const section = $("#chain");
  section.hidden = forks.length === 0 && behind === 0 && stuck === 0;
  const key = `${state.chainKey}|${behind}|${stuck}`;
  if (section.dataset.key === key) return;
  section.dataset.key = key;
  const list = document.createDocumentFragment();
  for (const fork of forks) {
    const div = document.createElement("div");
    div.className = "fork";
    div.dataset.number = String(fork.number);
    const title = document.createElement("strong");
    title.textContent = `Fork at #${fork.number.toLocaleString("en-US")}`;
    div.appendChild(title);
    fork.branches.forEach((branch) => {
      const p = document.createElement("p");
      p.className = branch.count < fork.branches[0].count ? "branch minority" : "branch main";
      p.dataset.hash = branch.hash;
      const names = branch.nodes.map((id) => {
        const node = state.nodes.get(id);
        return node ? String(COLUMNS.name(node)) : id;
      });
      const more = branch.count > names.length ? ` and ${branch.count - names.length} more` : "";
      p.textContent = `${short(branch.hash)} · ${branch.count} node${branch.count === 1 ? "" : "s"}: ${
        names.join(", ")
      }${more}`;
      p.title = branch.hash;
      div.appendChild(p);
    });
    list.appendChild(div);
  }
  $("#forks").replaceChildren(list);
  const { behindBlocks, stuckAfterMs } = state.settings;
  $("#behind-summary").textContent = behind + stuck === 0
    ? ""
    : `${behind + stuck} node${
      behind + stuck === 1 ? "" : "s"
    } more than ${behindBlocks} blocks behind the best block` +
      (stuck > 0 ? `, ${stuck} of them for over ${Math.round(stuckAfterMs / 1000)} s (stuck)` : "");
}

function renderLastBlockAge(best = bestBlock()) {
  $("#last-block-age").textContent = best === null || best.at === null ? "–" : ago(serverNow() - best.at);
}

/**
 * The node table is windowed: only the rows in (and near) the viewport are in the DOM, between two
 * spacer rows that keep the scroll height. A thousand nodes cost a sort, not a thousand DOM rows.
 */
const WINDOW_MARGIN_ROWS = 30;

/** id -> { tr, cells: {column: td}, v } for the rows created so far (visible ones and recent ones). */
const rows = new Map();
/** The nodes in table order, as of the last render. */
let sorted = [];
/** The ids currently in the DOM, in order. */
let shownIds = [];
let rowHeight = 31;
const spacerTop = spacer();
const spacerBottom = spacer();

function spacer() {
  const tr = document.createElement("tr");
  tr.className = "spacer";
  tr.setAttribute("aria-hidden", "true");
  const td = document.createElement("td");
  td.colSpan = Object.keys(COLUMNS).length + 1; // and the pin
  tr.appendChild(td);
  return tr;
}

function createRow(node) {
  const tr = document.createElement("tr");
  tr.dataset.node = node.id;
  const cells = {};
  const pin = document.createElement("td");
  pin.className = "pin";
  const button = document.createElement("button");
  button.type = "button";
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    togglePin(node.id);
  });
  pin.appendChild(button);
  tr.appendChild(pin);
  cells.pin = button;
  for (const key of Object.keys(COLUMNS)) {
    const td = document.createElement("td");
    td.dataset.col = key;
    if (NUMERIC.has(key)) td.className = "num";
    tr.appendChild(td);
    cells[key] = td;
  }
  tr.addEventListener("click", () => select(node.id));
  return { tr, cells, v: -1 };
}

function updateRow(row, node) {
  const pinned = state.pinned.has(node.id);
  row.cells.pin.textContent = pinned ? "★" : "☆";
  row.cells.pin.setAttribute("aria-pressed", String(pinned));
  row.cells.pin.title = pinned ? "unpin" : "pin to the top";
  row.tr.classList.toggle("pinned", pinned);
  for (const [key, value] of Object.entries(COLUMNS)) {
    const td = row.cells[key];
    if (key === "status") {
      renderStatus(td, node);
      continue;
    }
    if (key === "propagation") {
      renderPropagation(td, node.propagation);
      continue;
    }
    const text = FORMAT[key](value(node));
    if (td.textContent !== text) td.textContent = text;
    if (key === "client" || key === "name") {
      td.title = key === "client" ? node.last.information?.node ?? "" : text;
    }
  }
  row.tr.classList.toggle("inactive", !node.active);
  row.tr.classList.toggle("selected", node.id === state.selected);
}

function renderStatus(td, node) {
  const text = status(node);
  let badge = td.firstElementChild;
  if (!badge) {
    badge = document.createElement("span");
    td.appendChild(badge);
  }
  if (badge.textContent === text) return;
  badge.className = `badge ${text}`;
  badge.textContent = text;
}

/** How long after the first node a node got its latest block: a bar (full at 2 s) and the figure. */
function renderPropagation(td, propagation) {
  const last = propagation?.lastMs ?? null;
  const text = FORMAT.propagation(last);
  if (td.dataset.text === text) return;
  td.dataset.text = text;
  td.replaceChildren();
  if (last !== null) {
    const bar = document.createElement("span");
    bar.className = `prop-bar ${last < 250 ? "fast" : last < 1000 ? "ok" : "slow"}`;
    bar.style.width = `${Math.max(2, Math.min(100, (last / 2000) * 100))}%`;
    td.appendChild(bar);
  }
  const label = document.createElement("span");
  label.className = "prop-text";
  label.textContent = text;
  td.appendChild(label);
  td.title = propagation?.avgMs == null
    ? ""
    : `average ${FORMAT.propagation(propagation.avgMs)} over its recent blocks`;
}

const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });

/** The nodes in table order; each sort key is computed once per render, not once per comparison. */
function sortedNodes() {
  const { key, dir } = state.sort;
  const value = COLUMNS[key];
  const keyed = [];
  for (const node of state.nodes.values()) {
    keyed.push({
      node,
      key: value(node),
      name: String(COLUMNS.name(node)),
      pinned: state.pinned.has(node.id),
    });
  }
  keyed.sort((a, b) => {
    if (a.pinned !== b.pinned) return a.pinned ? -1 : 1;
    if (a.key === null && b.key !== null) return 1;
    if (b.key === null && a.key !== null) return -1;
    if (a.key !== null && b.key !== null && a.key !== b.key) {
      const cmp = typeof a.key === "number" && typeof b.key === "number"
        ? a.key - b.key
        : collator.compare(String(a.key), String(b.key));
      if (cmp !== 0) return cmp * dir;
    }
    return collator.compare(a.name, b.name) || (a.node.id < b.node.id ? -1 : 1);
  });
  return keyed.map((k) => k.node);
}

function renderTable() {
  sorted = sortedNodes();
  for (const id of rows.keys()) if (!state.nodes.has(id)) rows.delete(id);
  renderWindow();
  $("#empty").hidden = sorted.length > 0;
  for (const th of document.querySelectorAll("#nodes th")) {
    if (th.dataset.sort === state.sort.key) {
      th.setAttribute("aria-sort", state.sort.dir > 0 ? "ascending" : "descending");
    } else th.removeAttribute("aria-sort");
  }
}

/** Puts the rows of the visible slice of `sorted` in the DOM (also on scroll, without re-sorting). */
function renderWindow() {
  const tbody = $("#nodes tbody");
  // Reads first (layout is clean here), writes after.
  const first = shownIds.length > 0 ? rows.get(shownIds[0])?.tr : undefined;
  if (first?.isConnected) rowHeight = first.getBoundingClientRect().height || rowHeight;
  // The spacer above stands for exactly the rows before the slice: the offset maps to a row index.
  const offset = Math.max(0, -tbody.getBoundingClientRect().top);
  const start = Math.max(0, Math.floor(offset / rowHeight) - WINDOW_MARGIN_ROWS);
  const end = Math.min(sorted.length, Math.ceil((offset + innerHeight) / rowHeight) + WINDOW_MARGIN_ROWS);
  const slice = sorted.slice(start, end);
  for (const node of slice) {
    let row = rows.get(node.id);
    if (!row) {
      row = createRow(node);
      rows.set(node.id, row);
    }
    // A row is redrawn when its node changed or the forks did (its status may be "fork" now).
    const version = node.v * 1e6 + state.chainVersion;
    if (row.v !== version) {
      updateRow(row, node);
      row.v = version;
    }
  }
  spacerTop.firstChild.style.height = `${start * rowHeight}px`;
  spacerBottom.firstChild.style.height = `${(sorted.length - end) * rowHeight}px`;
  const ids = slice.map((n) => n.id);
  if (ids.length !== shownIds.length || ids.some((id, i) => id !== shownIds[i]) || !spacerTop.isConnected) {
    tbody.replaceChildren(spacerTop, ...ids.map((id) => rows.get(id).tr), spacerBottom);
    shownIds = ids;
  }
  renderAges();
}

/** Ages change without any report: refreshed every tick, only the age cells of the shown rows. */
function renderAges() {
  const now = serverNow();
  for (const id of shownIds) {
    const node = state.nodes.get(id);
    const row = rows.get(id);
    if (!node || !row) continue;
    const age = node.blockReceivedAt === null ? null : now - node.blockReceivedAt;
    const text = ago(age);
    const td = row.cells.blockAge;
    if (td.textContent !== text) td.textContent = text;
    td.classList.toggle("stale", age !== null && age > 60_000);
    renderStatus(row.cells.status, node); // behind turns stuck with time alone
  }
}

let scrollFrame = null;

/** Scrolling shows other rows at once (next animation frame), without waiting for a render. */
function onScroll() {
  if (scrollFrame !== null) return;
  scrollFrame = requestAnimationFrame(() => {
    scrollFrame = null;
    renderWindow();
  });
}

function tick() {
  renderLastBlockAge();
  renderAges();
  renderChain(); // behind turns stuck with time alone
  renderMap(); // the last changes, once the throttle lets it
}

// ---------------------------------------------------------------- charts

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function prepare(canvas) {
  const dpr = globalThis.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = "10px system-ui, sans-serif";
  return { ctx, w, h };
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function axis(ctx, w, h, left, top, bottom, labels) {
  ctx.strokeStyle = css("--line");
  ctx.fillStyle = css("--muted");
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const [y, text] of labels) {
    ctx.beginPath();
    ctx.moveTo(left, Math.round(y) + 0.5);
    ctx.lineTo(w, Math.round(y) + 0.5);
    ctx.stroke();
    ctx.fillText(text, left - 4, Math.min(Math.max(y, top + 5), h - bottom - 5));
  }
}

/** The histogram's bins as seconds under its bars: "<0.1", "0.25", …, "≥5". */
function propagationLabels(binsMs) {
  const s = (ms) => `${+(ms / 1000).toFixed(2)}`;
  return [`<${s(binsMs[0])}`, ...binsMs.slice(1).map(s), `≥${s(binsMs[binsMs.length - 1])}`];
}

/** Bars of `values` (null = gap), scaled from 0 to a rounded maximum; `labels` under the bars. */
function barChart(canvas, values, color, format, labels) {
  const { ctx, w, h } = prepare(canvas);
  const left = 36;
  const top = 6;
  const bottom = labels ? 14 : 4;
  const max = niceMax(Math.max(0, ...values.filter((v) => v !== null)));
  const y = (v) => top + (h - top - bottom) * (1 - v / max);
  axis(ctx, w, h, left, top, bottom, [[y(max), format(max)], [y(max / 2), format(max / 2)], [y(0), "0"]]);
  const slot = (w - left) / Math.max(values.length, 1);
  ctx.fillStyle = color;
  values.forEach((v, i) => {
    if (v === null) return;
    const x = left + i * slot + slot * 0.15;
    ctx.fillRect(x, y(v), Math.max(1, slot * 0.7), y(0) - y(v));
  });
  if (labels) {
    ctx.fillStyle = css("--muted");
    ctx.textAlign = "center";
    ctx.textBaseline = "bottom";
    labels.forEach((label, i) => ctx.fillText(label, left + (i + 0.5) * slot, h));
  }
  canvas.dataset.points = String(values.filter((v) => v !== null).length);
}

/** A time series as a line over [from, to]; y from the data's min to max. */
/** An axis value with as many decimals as its chart's span needs (0.12 % memory is not "0"). */
function axisLabel(value, span) {
  const digits = span >= 10 ? 0 : span >= 1 ? 1 : Math.min(4, Math.ceil(-Math.log10(span)) + 1);
  return String(+value.toFixed(digits));
}

function lineChart(canvas, points, color, from, to) {
  const { ctx, w, h } = prepare(canvas);
  const left = 40;
  const top = 6;
  const bottom = 14;
  canvas.dataset.points = String(points.length);
  if (points.length === 0) {
    ctx.fillStyle = css("--muted");
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText("no data in this range", w / 2, h / 2);
    return;
  }
  let min = Infinity;
  let max = -Infinity;
  for (const [, v] of points) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  if (min === max) {
    const pad = Math.abs(min) * 0.1 || 1;
    min = min >= 0 ? Math.max(0, min - pad) : min - pad; // a count of 0 gets no negative axis
    max += pad;
  }
  const x = (t) => left + (w - left - 2) * ((t - from) / Math.max(1, to - from));
  const y = (v) => top + (h - top - bottom) * (1 - (v - min) / (max - min));
  const label = (v) => axisLabel(v, max - min);
  canvas.dataset.axis = `${label(min)} – ${label(max)}`;
  axis(ctx, w, h, left, top, bottom, [[y(max), label(max)], [y(min), label(min)]]);
  ctx.textAlign = "left";
  ctx.textBaseline = "bottom";
  ctx.fillText(new Date(from).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }), left, h);
  ctx.textAlign = "right";
  ctx.fillText(new Date(to).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }), w, h);
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5;
  ctx.lineJoin = "round";
  ctx.beginPath();
  points.forEach(([t, v], i) => (i === 0 ? ctx.moveTo(x(t), y(v)) : ctx.lineTo(x(t), y(v))));
  ctx.stroke();
  if (points.length === 1) {
    ctx.fillStyle = color;
    ctx.fillRect(x(points[0][0]) - 2, y(points[0][1]) - 2, 4, 4);
  }
}

let chartsDrawn = "";

function renderBlockCharts(blocks) {
  // Redrawn only when the blocks or the canvas size changed.
  const canvas = $("#chart-block-time");
  const drawn = `${state.blocksVersion}:${blocks[0]?.number}:${canvas.clientWidth}x${canvas.clientHeight}`;
  if (drawn === chartsDrawn) return;
  chartsDrawn = drawn;
  const recent = blocks.slice(0, CHART_BLOCKS + 1).reverse();
  const shown = recent.slice(-CHART_BLOCKS);
  const byNumber = new Map(recent.map((b) => [b.number, b]));
  const times = shown.map((b) => {
    const parent = byNumber.get(b.number - 1);
    return parent && b.timestamp !== null && parent.timestamp !== null
      ? Math.max(0, b.timestamp - parent.timestamp)
      : null;
  });
  barChart($("#chart-block-time"), times, css("--chart-1"), (v) => `${+v.toFixed(1)}`);
  barChart($("#chart-transactions"), shown.map((b) => b.transactionCount), css("--chart-2"), compact);
  barChart($("#chart-gas"), shown.map((b) => b.gasUsed), css("--chart-3"), compact);
  barChart($("#chart-difficulty"), shown.map((b) => b.difficulty ?? null), css("--chart-1"), compact);
  barChart($("#chart-gas-limit"), shown.map((b) => b.gasLimit), css("--chart-2"), compact);
  barChart($("#chart-uncles"), shown.map((b) => b.uncleCount), css("--chart-3"), compact);
  renderMiners(blocks);
  const p = state.propagation;
  if (p) barChart($("#chart-propagation"), p.counts, css("--chart-1"), compact, propagationLabels(p.binsMs));
}

const MINERS_SHOWN = 8;

const ZERO_ADDRESS = /^0x0*$/;

/**
 * What a miner address is shown as: the name of the one node whose coinbase it is; "N nodes"
 * (their names in the title) when several share it; the address itself when none does, or when
 * it is the zero address (Clique chains and ganache seal every block with it).
 */
function minerLabel(miner, holders) {
  const names = ZERO_ADDRESS.test(miner) ? undefined : holders.get(miner);
  if (names === undefined) return { text: short(miner), title: miner };
  if (names.length === 1) return { text: names[0], title: miner };
  return { text: `${names.length} nodes`, title: `${miner}: ${names.join(", ")}` };
}

/** Who sealed how many of the blocks kept, named after the nodes whose coinbase it is. */
function renderMiners(blocks) {
  const counts = new Map();
  for (const block of blocks) {
    if (block.miner === null) continue;
    const miner = block.miner.toLowerCase();
    counts.set(miner, (counts.get(miner) ?? 0) + 1);
  }
  const holders = new Map();
  for (const node of state.nodes.values()) {
    const coinbase = node.last.information?.coinbase;
    if (typeof coinbase !== "string") continue;
    const key = coinbase.toLowerCase();
    const names = holders.get(key);
    if (names === undefined) holders.set(key, [String(COLUMNS.name(node))]);
    else names.push(String(COLUMNS.name(node)));
  }
  const top = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, MINERS_SHOWN);
  const max = top[0]?.[1] ?? 1;
  const items = top.map(([miner, count]) => {
    const li = document.createElement("li");
    li.dataset.miner = miner;
    li.dataset.count = String(count);
    const label = document.createElement("span");
    label.className = "miner-name";
    const { text, title } = minerLabel(miner, holders);
    label.textContent = text;
    label.title = title;
    const bar = document.createElement("span");
    bar.className = "miner-bar";
    bar.style.width = `${Math.max(2, (count / max) * 100)}%`;
    const figure = document.createElement("span");
    figure.className = "miner-count";
    figure.textContent = String(count);
    li.append(label, bar, figure);
    return li;
  });
  $("#miners").replaceChildren(...items);
  $("#miners-span").textContent = `of the last ${blocks.length} blocks`;
}

// ---------------------------------------------------------------- map

const MAP_EVERY_MS = 1000;
/** Latitudes shown (the poles' empty rows left out), equirectangular. */
const MAP_TOP = 84;
const MAP_BOTTOM = -58;
let mapDrawn = 0;

async function loadWorld() {
  state.world = false; // loading
  try {
    state.world = await fetchJson("assets/world.json");
    mapDrawn = 0;
    scheduleRender();
  } catch {
    state.world = null; // tried again with the next snapshot
  }
}

const STATUS_COLOR = {
  active: "--good",
  syncing: "--warn",
  behind: "--warn",
  stuck: "--bad",
  fork: "--bad",
  inactive: "--muted",
};

/** Countries, then one dot per place (nodes at one location together, sized by their count). */
function renderMap() {
  const figure = $("#map-figure");
  figure.hidden = !state.settings.map;
  if (!state.settings.map || !state.world) return;
  if (performance.now() - mapDrawn < MAP_EVERY_MS) return;
  mapDrawn = performance.now();
  const canvas = $("#map");
  const { ctx, w, h } = prepare(canvas);
  const x = (lon) => ((lon + 180) / 360) * w;
  const y = (lat) => ((MAP_TOP - lat) / (MAP_TOP - MAP_BOTTOM)) * h;
  ctx.fillStyle = css("--line");
  ctx.beginPath();
  for (const country of state.world.countries) {
    for (const ring of country.rings) {
      ctx.moveTo(x(ring[0]), y(ring[1]));
      for (let i = 2; i < ring.length; i += 2) ctx.lineTo(x(ring[i]), y(ring[i + 1]));
      ctx.closePath();
    }
  }
  ctx.fill("evenodd");
  const places = new Map();
  let located = 0;
  for (const node of state.nodes.values()) {
    const at = node.location;
    if (!at) continue;
    located++;
    const key = `${at.lat},${at.lon}`;
    let place = places.get(key);
    if (!place) places.set(key, place = { at, count: 0, worst: "active" });
    place.count++;
    const s = status(node);
    if (s !== "active" && (place.worst === "active" || s === "fork" || s === "stuck")) place.worst = s;
  }
  for (const place of places.values()) {
    ctx.fillStyle = css(STATUS_COLOR[place.worst] ?? "--good");
    ctx.globalAlpha = 0.85;
    ctx.beginPath();
    ctx.arc(x(place.at.lon), y(place.at.lat), Math.min(9, 2.5 + Math.sqrt(place.count)), 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.globalAlpha = 1;
  canvas.dataset.points = String(located);
  canvas.dataset.places = String(places.size);
  $("#map-count").textContent = `${located} of ${state.nodes.size} located`;
}

// ---------------------------------------------------------------- node detail and history

let historyTimer = null;
let historyRequest = 0;

function select(id) {
  state.selected = state.selected === id ? null : id;
  for (const [rowId, row] of rows) row.tr.classList.toggle("selected", rowId === state.selected);
  const detail = $("#detail");
  detail.hidden = state.selected === null;
  $("#layout").classList.toggle("with-detail", state.selected !== null);
  clearInterval(historyTimer);
  historyTimer = null;
  if (state.selected === null) return;
  renderDetailInfo();
  loadHistory();
  historyTimer = setInterval(loadHistory, HISTORY_REFRESH_MS);
  // The table got narrower: the block charts are redrawn at their new width.
  scheduleRender();
}

function renderDetailInfo() {
  const node = state.nodes.get(state.selected);
  if (!node) return;
  $("#detail-name").textContent = COLUMNS.name(node);
  const info = node.last.information ?? {};
  const entries = [
    ["Id", node.id],
    ["Status", status(node)],
    ["Client", info.node],
    ["Network", info.net],
    ["Coinbase", info.coinbase],
    ["Contact", info.contact],
    ["OS", info.os && `${info.os} ${info.os_v ?? ""}`.trim()],
    ["Location", node.location && [node.location.city, node.location.country].filter(Boolean).join(", ")],
    ["First seen", new Date(node.firstSeen).toLocaleString()],
    ["Last seen", new Date(node.lastSeen).toLocaleString()],
  ];
  const dl = $("#detail-info");
  const fragment = document.createDocumentFragment();
  for (const [label, value] of entries) {
    if (value === undefined || value === null || value === "") continue;
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = String(value);
    dd.title = String(value);
    fragment.append(dt, dd);
  }
  dl.replaceChildren(fragment);
}

async function fetchJson(path) {
  const res = await fetch(path, { headers: { accept: "application/json" } });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(body?.message ?? `HTTP ${res.status}`);
  return body;
}

async function loadHistory() {
  const id = state.selected;
  if (id === null) return;
  const request = ++historyRequest;
  const history = $("#history");
  history.dataset.state = "loading";
  const to = serverNow();
  const from = Math.max(0, Math.floor(to - state.range));
  const query = `from=${from}&to=${Math.ceil(to)}&limit=1000&order=desc`;
  const base = `v1/nodes/${encodeURIComponent(id)}`;
  try {
    const [eth, system] = await Promise.all([
      fetchJson(`${base}/eth_stats?${query}`),
      fetchJson(`${base}/system_stats?${query}`),
    ]);
    if (request !== historyRequest) return; // a newer selection or range won
    const series = (rows, column, scale = 1) =>
      rows
        .filter((r) => typeof r[column] === "number")
        .map((r) => [Date.parse(r.date), r[column] * scale])
        .reverse();
    const draw = (column, rowsOf, color, scale) =>
      lineChart(
        history.querySelector(`canvas[data-series="${column}"]`),
        series(rowsOf, column, scale),
        color,
        from,
        to,
      );
    draw("peers", eth.rows, css("--chart-1"));
    draw("gas_price", eth.rows, css("--chart-2"), 1e-9);
    draw("cpu_load", system.rows, css("--chart-3"));
    draw("memory_usage", system.rows, css("--chart-1"));
    draw("disk_usage", system.rows, css("--chart-2"));
    const points = eth.count + system.count;
    history.dataset.points = String(points);
    history.dataset.state = "ready";
    $("#history-status").textContent = `${eth.count} node and ${system.count} host samples` +
      (eth.count === 1000 || system.count === 1000 ? " (latest 1000)" : "");
  } catch (err) {
    if (request !== historyRequest) return;
    history.dataset.state = "error";
    $("#history-status").textContent = `history unavailable: ${err.message}`;
  }
}

// ---------------------------------------------------------------- wiring

function init() {
  for (const th of document.querySelectorAll("#nodes th[data-sort]")) {
    th.addEventListener("click", () => {
      const key = th.dataset.sort;
      state.sort = state.sort.key === key
        ? { key, dir: -state.sort.dir }
        : { key, dir: NUMERIC.has(key) ? -1 : 1 };
      scheduleRender();
    });
  }
  $("#detail-close").addEventListener("click", () => state.selected !== null && select(state.selected));
  // Below 1800 px the detail is a drawer over the table: Escape closes it as the × does.
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.selected !== null) select(state.selected);
  });
  for (const button of document.querySelectorAll(".ranges button")) {
    button.addEventListener("click", () => {
      state.range = Number(button.dataset.range);
      for (const b of document.querySelectorAll(".ranges button")) {
        b.classList.toggle("selected", b === button);
      }
      loadHistory();
    });
  }
  globalThis.addEventListener("resize", scheduleRender);
  globalThis.addEventListener("scroll", onScroll, { passive: true });
  setInterval(tick, TICK_MS);
  connect();
  scheduleRender();
}

init();
