// amm operator console: polls /api/state every second and draws it; actions are confirmed POSTs.
// Text only ever goes in through textContent (never innerHTML), so no value from the node can
// become markup.
"use strict";

const REFRESH_MS = 1000;
const cards = new Map();

const el = (tag, attrs = {}, text) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
};

const fmt = (x, digits = 4) => (x === null || x === undefined ? "-" : Number(x).toFixed(digits));
const clock = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 23) : "-");

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

function setLink(up, why) {
  const link = document.querySelector('[data-node="link"]');
  link.textContent = up ? "live" : `disconnected (${why}); showing the last figures`;
  link.classList.toggle("down", !up);
}

// -- one card per strategy ---------------------------------------------------------------------

const FIGURES = [
  ["position", "position"], ["equity", "PnL (equity)"], ["realised", "realised"],
  ["unrealised", "unrealised"], ["fees", "fees (- = rebates)"], ["fills", "fills"],
  ["mark", "mark (mid)"], ["drawdown", "drawdown"], ["max_loss", "max loss"],
];
const ACTIONS = [
  ["pause", "Pause", "", "Pause quoting: cancel quotes, place none until resumed (position kept)"],
  ["resume", "Resume", "", "Resume quoting"],
  ["cancel_all", "Cancel all", "warn", "Cancel every working order now (quotes return at the next decision unless paused)"],
  ["kill", "Kill", "danger", "Kill: cancel every order, flatten the position, stop the strategy"],
];

function makeCard(strategy) {
  const card = el("div", { class: "card", "data-strategy": strategy.id });
  const head = el("div", { class: "card-head" });
  head.append(el("h2", {}, strategy.id), el("span", { class: "badge", "data-field": "state" }),
              el("span", {}, strategy.instrument_id || ""), el("span", { class: "reason", "data-field": "reason" }));
  const controls = el("div", { class: "controls" });
  for (const [action, label, style, title] of ACTIONS) {
    const button = el("button", { "data-action": action, class: style, title }, label);
    button.addEventListener("click", () => act(strategy.id, action, title));
    controls.append(button);
  }
  head.append(controls);
  const figures = el("div", { class: "figures" });
  for (const [field, label] of FIGURES) {
    const box = el("div", { class: "figure" });
    box.append(el("div", { class: "label" }, label), el("div", { class: "value", "data-field": field }, "-"));
    if (field === "position") {
      const bar = el("div", { class: "bar", title: "|position| against max_inventory" });
      bar.append(el("div", { "data-field": "inventory_bar" }));
      box.append(bar, el("div", { class: "label", "data-field": "limit" }));
    }
    if (field === "drawdown") box.append(el("div", { class: "label", "data-field": "drawdown_limit" }));
    figures.append(box);
  }
  const charts = el("div", { class: "charts" });
  const equity = el("div", { class: "chart" }), inventory = el("div", { class: "chart" }), book = el("div", { class: "chart" });
  charts.append(equity, inventory, book);
  const tables = el("div", { class: "tables" });
  const orders = el("table", { "data-table": "orders" }), fills = el("table", { "data-table": "fills" });
  orders.append(el("caption", {}, "open orders"), row("th", ["side", "price", "qty", "leaves", "status"]), el("tbody"));
  fills.append(el("caption", {}, "recent fills"), row("th", ["time", "side", "price", "qty", "fee", "liquidity"]), el("tbody"));
  tables.append(orders, fills);
  card.append(head, figures, charts, tables);
  document.getElementById("strategies").append(card);
  return { card, equity, inventory, book };
}

function row(cell, values, classes = []) {
  const tr = el("tr");
  values.forEach((v, i) => tr.append(el(cell, classes[i] ? { class: classes[i] } : {}, String(v))));
  return tr;
}

function setField(card, field, text, raw) {
  const node = card.querySelector(`[data-field="${field}"]`);
  node.textContent = text;
  if (raw !== undefined) node.dataset.raw = raw === null ? "" : String(raw);
}

function renderStrategy(s) {
  if (!cards.has(s.id)) cards.set(s.id, makeCard(s));
  const { card, equity, inventory, book } = cards.get(s.id);
  const f = s.figures, r = s.risk, ccy = f.currency || "";
  const shown = r.kill_reason ? "KILLED" : (r.pause_reason && s.state === "RUNNING" ? "PAUSED" : s.state);
  const badge = card.querySelector('[data-field="state"]');
  badge.textContent = shown;
  badge.className = `badge ${shown}`;
  setField(card, "reason", r.kill_reason ? `kill switch: ${r.kill_reason}` : (r.pause_reason ? `paused by ${r.pause_reason}` : ""));
  setField(card, "position", fmt(f.position, 6), f.position);
  setField(card, "limit", r.max_inventory !== null ? `limit ±${r.max_inventory}` : "no limit");
  const used = Math.min(1, r.inventory_used || 0);
  const bar = card.querySelector('[data-field="inventory_bar"]');
  bar.style.width = `${(used * 100).toFixed(1)}%`;
  bar.classList.toggle("hot", used >= 0.8);
  setField(card, "equity", `${fmt(f.equity)} ${ccy}`, f.equity);
  setField(card, "realised", fmt(f.realised), f.realised);
  setField(card, "unrealised", fmt(f.unrealised), f.unrealised);
  setField(card, "fees", fmt(f.fees), f.fees);
  setField(card, "fills", String(f.fills ?? "-"), f.fills);
  setField(card, "mark", fmt(f.mark, 2), f.mark);
  setField(card, "drawdown", fmt(r.drawdown), r.drawdown);
  setField(card, "drawdown_limit", r.max_drawdown !== null ? `limit ${r.max_drawdown}` : "no limit");
  setField(card, "max_loss", r.max_loss !== null ? String(r.max_loss) : "none", r.max_loss);

  const running = s.state === "RUNNING", mm = s.controls === "market_maker";
  const enabled = { pause: running && mm && !r.pause_reason, resume: running && mm && !!r.pause_reason,
                    cancel_all: running, kill: running };
  for (const button of card.querySelectorAll("button[data-action]")) button.disabled = !enabled[button.dataset.action];

  const orders = card.querySelector('[data-table="orders"] tbody');
  orders.replaceChildren(...s.open_orders.map((o) => row("td", [o.side, fmt(o.price, 2), o.qty, o.leaves, o.status], [o.side])));
  const fills = card.querySelector('[data-table="fills"] tbody');
  fills.replaceChildren(...s.fills.map((x) => row("td", [clock(x.ts_ms), x.side, fmt(x.price, 2), x.qty, fmt(x.fee, 6), x.liquidity], ["", x.side])));

  if (window.Plotly) drawCharts(s, equity, inventory, book);
}

const LAYOUT = { margin: { l: 56, r: 12, t: 28, b: 36 }, font: { size: 11 }, showlegend: false };
const CONFIG = { displayModeBar: false, responsive: true };

function drawCharts(s, equityDiv, inventoryDiv, bookDiv) {
  const t = s.history.map((p) => new Date(p[0]));
  Plotly.react(equityDiv, [{ x: t, y: s.history.map((p) => p[1]), type: "scatter", mode: "lines", line: { color: "#2ca02c" } }],
    { ...LAYOUT, title: { text: `equity (${s.figures.currency || ""})` }, yaxis: { tickformat: ".4~f" } }, CONFIG);
  const lim = s.risk.max_inventory;
  const traces = [{ x: t, y: s.history.map((p) => p[2]), type: "scatter", mode: "lines", line: { shape: "hv", color: "#1f77b4" } }];
  if (lim !== null && t.length) {
    for (const y of [lim, -lim]) traces.push({ x: [t[0], t[t.length - 1]], y: [y, y], mode: "lines", line: { dash: "dash", color: "#c0392b" } });
  }
  Plotly.react(inventoryDiv, traces, { ...LAYOUT, title: { text: "inventory against its limit" } }, CONFIG);
  // The ladder as categories, one row per price (a numeric axis would draw levels one tick
  // apart as hairlines), highest price on top; our quotes as diamonds on their rows.
  const bids = s.book ? s.book.bids : [], asks = s.book ? s.book.asks : [];
  const mine = s.open_orders.filter((o) => o.price !== null);
  const label = (p) => Number(p).toFixed(2);
  const prices = [...new Set([...bids, ...asks].map((l) => l[0]).concat(mine.map((o) => o.price)))].sort((a, b) => a - b);
  Plotly.react(bookDiv, [
    { y: bids.map((l) => label(l[0])), x: bids.map((l) => l[1]), type: "bar", orientation: "h", marker: { color: "rgba(31,119,180,.55)" }, name: "bids" },
    { y: asks.map((l) => label(l[0])), x: asks.map((l) => l[1]), type: "bar", orientation: "h", marker: { color: "rgba(214,39,40,.55)" }, name: "asks" },
    { y: mine.map((o) => label(o.price)), x: mine.map((o) => o.leaves), mode: "markers", type: "scatter", name: "our quotes",
      marker: { symbol: "diamond", size: 11, color: mine.map((o) => (o.side === "BUY" ? "#1f77b4" : "#d62728")), line: { color: "#000", width: 1 } } },
  ], { ...LAYOUT, title: { text: "our quotes (◆) against the book" }, bargap: 0.15,
       yaxis: { type: "category", categoryorder: "array", categoryarray: prices.map(label) },
       xaxis: { title: { text: "size" }, type: "log" } }, CONFIG);
}

// -- node, accounts, actions -------------------------------------------------------------------

function render(state) {
  const n = state.node;
  const set = (name, text) => { document.querySelector(`[data-node="${name}"]`).textContent = text; };
  set("trader_id", n.trader_id);
  set("mode", n.mode);
  set("state", n.shutdown_reason ? `stopping (${n.shutdown_reason})` : (n.running ? "running" : "stopped"));
  set("open_orders", String(n.open_orders));
  set("ts", clock(n.ts_ms));
  document.getElementById("stop-node").disabled = !!n.shutdown_reason;
  const accounts = document.getElementById("accounts");
  accounts.replaceChildren(...n.accounts.map((a) => el("div", {},
    `account ${a.id} (${a.type}): ` + a.balances.map((b) => `${fmt(b.total)} ${b.currency} (free ${fmt(b.free)}, locked ${fmt(b.locked)})`).join(", "))));
  state.strategies.forEach(renderStrategy);
  const log = document.querySelector("#actions tbody");
  log.replaceChildren(...state.actions.map((a) => row("td", [clock(a.wall_ms), a.action, a.target, a.result])));
}

async function act(strategyId, action, description) {
  if (!window.confirm(`${description}\n\nStrategy ${strategyId}: are you sure?`)) return;
  try {
    await api(`/api/strategies/${encodeURIComponent(strategyId)}/${action}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ confirm: true }),
    });
  } catch (e) {
    window.alert(`${action} ${strategyId} refused: ${e.message}`);
  }
}

async function stopNode() {
  if (!window.confirm("Stop the node: every strategy stops, every open order is canceled (as SIGTERM). Are you sure?")) return;
  try {
    await api("/api/node/stop", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ confirm: true }) });
  } catch (e) {
    window.alert(`stop refused: ${e.message}`);
  }
}

async function refresh() {
  try {
    render(await api("/api/state"));
    setLink(true);
    document.body.dataset.updated = String(Date.now());
  } catch (e) {
    setLink(false, e.message);
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

document.getElementById("stop-node").addEventListener("click", stopNode);
refresh();
