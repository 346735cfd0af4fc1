// The omnistock dashboard: the summary every few seconds, the live feed over SSE, and a SKU's
// audit trail on demand. Everything comes from the daemon's own read API.
"use strict";

const REFRESH_MS = 3000;
const FEED_LIMIT = 200;
const LAG_COLORS = ["#2f6fd6", "#b7791f", "#7b3fc4", "#1f8a4c", "#c62f2f", "#2a8f9e"];

const $ = (selector) => document.querySelector(selector);

// Builds an element: h("td", {class: "num"}, "3", child…).
function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child !== undefined && child !== null) node.append(child);
  }
  return node;
}

async function getJson(path) {
  const response = await fetch(path, { headers: { accept: "application/json" } });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && body.error ? body.error.message : `HTTP ${response.status}`;
    throw new Error(message);
  }
  return body;
}

function time(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString();
}

function seconds(s) {
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  return s < 120 ? `${s.toFixed(1)} s` : `${Math.round(s / 60)} min`;
}

// ── Summary: channel table and charts ────────────────────────────────────────────────────

function healthBadge(row) {
  if (!row.pushing) return h("span", { class: "badge off", title: "omnistock does not push to this channel (it sends events, or owns what it sells)" }, "events only");
  const health = row.health || {};
  if (health.paused) return h("span", { class: "badge warn" }, "paused");
  if (health.healthy === false) return h("span", { class: "badge bad" }, "failing");
  if (row.lag_seconds > 30) return h("span", { class: "badge warn" }, "behind");
  return h("span", { class: "badge ok" }, "in sync");
}

function renderChannels(summary) {
  const rows = summary.channels.map((row) => {
    const m = row.last_minute;
    const num = (v) => h("td", { class: "num" }, String(v));
    const health = row.health || {};
    return h("tr", { "data-channel": row.name, "data-paused": String(Boolean(health.paused)) },
      h("td", {}, h("strong", {}, row.name)),
      h("td", {}, row.kind),
      h("td", {}, row.sells_from.join(", ")),
      h("td", {}, healthBadge(row)),
      h("td", { class: "num" }, row.pushing ? seconds(row.lag_seconds) : "–"),
      num(row.outbox),
      num(m.changes),
      num(m.pushes),
      num(m.errors),
      num(m.rate_limited),
      h("td", { class: "num", title: `limit ${row.per_second}/s, bursts of ${row.burst}, ${row.max_batch} a batch` },
        row.headroom === null ? "–" : `${Math.round(row.headroom * 100)} %`),
      h("td", { class: "error" }, health.healthy === false ? health.last_error || "" : ""),
      h("td", { class: "control" }, controlButton(row)));
  });
  $("#channels tbody").replaceChildren(...rows);
}

// ── Pause and resume: the admin API, with the token asked once per tab ───────────────────

const TOKEN_KEY = "omnistock.adminToken";

function controlButton(row) {
  if (!row.pushing) return "–";
  const paused = Boolean(row.health && row.health.paused);
  const action = paused ? "resume" : "pause";
  return h("button", { type: "button", "data-action": action, "data-channel": row.name }, paused ? "Resume" : "Pause");
}

// Shows the token form and resolves with what is typed into it.
function askToken(why) {
  const form = $("#token-form");
  $("#control-status").textContent = why;
  form.hidden = false;
  $("#token-input").focus();
  return new Promise((resolve) => {
    form.onsubmit = (event) => {
      event.preventDefault();
      const token = $("#token-input").value.trim();
      if (!token) return;
      form.hidden = true;
      $("#token-input").value = "";
      resolve(token);
    };
  });
}

async function channelAction(channel, action) {
  const status = $("#control-status");
  let token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) token = await askToken(`To ${action} ${channel}, give the admin token.`);
  for (;;) {
    status.textContent = `${action === "pause" ? "Pausing" : "Resuming"} ${channel}…`;
    const response = await fetch(`/v1/channels/${encodeURIComponent(channel)}/${action}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, accept: "application/json" },
    }).catch((error) => ({ ok: false, status: 0, json: async () => ({ error: { message: error.message } }) }));
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      token = await askToken(`The daemon refused that token; give the admin token to ${action} ${channel}.`);
      continue;
    }
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      status.textContent = `${channel}: ${action} failed: ${body && body.error ? body.error.message : `HTTP ${response.status}`}`;
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    status.textContent = `${channel} ${body.paused ? "paused" : "resumed"}.`;
    await refresh();
    return;
  }
}

// One listener for the table, whose rows are rebuilt on every refresh.
$("#channels tbody").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  channelAction(button.dataset.channel, button.dataset.action).catch((error) => {
    $("#control-status").textContent = `${button.dataset.channel}: ${error.message}`;
  });
});

function renderCharts(summary) {
  const series = summary.series;
  const buckets = Object.values(series.channels);
  const total = (field) => series.minutes.map((_, i) => buckets.reduce((sum, b) => sum + b[i][field], 0));
  Charts.draw($("#throughput"), series.minutes, [
    { color: "#2f6fd6", values: total("changes") },
    { color: "#1f8a4c", values: total("pushes") },
    { color: "#c62f2f", values: total("errors") },
  ]);
  const pushing = summary.channels.filter((c) => c.pushing);
  const lag = pushing.map((c, i) => ({
    name: c.name,
    color: LAG_COLORS[i % LAG_COLORS.length],
    values: series.channels[c.name].map((b) => b.lag_ms / 1000),
  }));
  Charts.draw($("#lag"), series.minutes, lag);
  $("#lag-keys").replaceChildren(...lag.map((l) => h("span", { style: `color: ${l.color}` }, `■ ${l.name}`)));
}

async function refresh() {
  try {
    const summary = await getJson("/v1/dashboard/summary");
    $("#node").textContent = `node ${summary.node_id}`;
    $("#skus").textContent = `${summary.skus} SKUs, ${Object.keys(summary.locations).length} locations`;
    renderChannels(summary);
    renderCharts(summary);
    if ($("#feed").children.length === 0) summary.recent.forEach(addToFeed);
  } catch (error) {
    $("#node").textContent = `cannot reach the daemon: ${error.message}`;
  }
}

// ── Live feed ────────────────────────────────────────────────────────────────────────────

let lastFeedId = -1;

function skuLink(sku) {
  const link = h("a", { class: "sku", "data-sku": sku }, sku);
  link.addEventListener("click", () => showSku(sku));
  return link;
}

function addToFeed(item) {
  if (item.id <= lastFeedId) return;
  lastFeedId = item.id;
  const text = item.type === "change"
    ? item.summary
    : `available ${item.available}${item.previous === null ? "" : ` (was ${item.previous})`}`;
  const entry = h("li", { class: item.type, "data-kind": item.kind || "availability" },
    h("time", {}, time(item.at)),
    h("span", { class: "channel" }, item.channel),
    skuLink(item.sku), " ", text);
  const feed = $("#feed");
  feed.prepend(entry);
  while (feed.children.length > FEED_LIMIT) feed.lastElementChild.remove();
}

function connectFeed() {
  const live = $("#live");
  const source = new EventSource("/v1/events/stream");
  const onItem = (event) => addToFeed(JSON.parse(event.data));
  source.addEventListener("change", onItem);
  source.addEventListener("availability", onItem);
  // The daemon no longer has what the page missed (it was away too long, or the daemon
  // restarted and numbers its items afresh): start the feed over and re-read the summary.
  source.addEventListener("reset", () => {
    lastFeedId = -1;
    $("#feed").replaceChildren(h("li", { class: "problem" }, "… some updates were missed; the feed starts over here"));
    refresh();
  });
  source.addEventListener("open", () => {
    live.textContent = "live";
    live.className = "badge ok";
  });
  source.addEventListener("error", () => {
    live.textContent = "reconnecting…";
    live.className = "badge warn";
  });
}

// ── One SKU: stock per location, what each channel shows and why ─────────────────────────

function table(headers, rows) {
  return h("table", {},
    h("thead", {}, h("tr", {}, ...headers.map((t) => h("th", {}, t)))),
    h("tbody", {}, ...rows));
}

function renderSku(sku, explained) {
  const stock = explained; // The stock fields sit at the top of the answer, beside `channels`.
  const locations = Object.entries(stock.locations).map(([name, l]) =>
    h("tr", { class: "location", "data-location": name },
      h("td", {}, h("strong", {}, name)), h("td", {}, l.owner || "–"),
      h("td", { class: "num" }, String(l.on_hand)), h("td", { class: "num" }, String(l.reserved)),
      h("td", { class: "num" }, String(l.safety)), h("td", { class: "num" }, String(l.available))));
  const open = stock.reservations.filter((r) => r.state === "open");
  const channels = Object.entries(explained.channels).map(([name, c]) => {
    const last = c.pushes.length ? c.pushes[c.pushes.length - 1] : null;
    const why = `${c.policy}: sum of ${c.locations.join(" + ")} available − buffer ${c.buffer}`;
    return h("tr", { class: "channel", "data-channel": name },
      h("td", {}, h("strong", {}, name)),
      h("td", { class: "num" }, String(c.number)),
      h("td", { class: "num" }, c.published ? String(c.published.quantity) : "–"),
      h("td", {}, c.pushing ? (c.pending.length ? `${c.pending.length} pending` : "in sync") : "not pushed"),
      h("td", {}, last ? `${time(last.at)}: read ${last.read}, set ${last.value}: ${last.outcome}` : "–"),
      h("td", { class: "hint" }, why));
  });
  const recent = stock.recent.slice().reverse().map((c) =>
    h("li", {}, h("time", {}, `${time(c.at)} `), h("strong", {}, c.channel), ` ${c.summary} `, h("span", { class: "hint" }, `(${c.event_id})`)));
  $("#sku-result").replaceChildren(
    h("h3", {}, `${sku}: stock per location`),
    table(["location", "owner", "on hand", "reserved", "safety", "available"], locations),
    h("h3", {}, `Open reservations (${open.length})`),
    open.length
      ? h("ul", {}, ...open.map((r) => h("li", {}, `${r.key}: ${r.quantity} at ${r.location}`)))
      : h("p", { class: "hint" }, "none"),
    h("h3", {}, "What each channel shows, and why"),
    table(["channel", "should show", "published", "push", "last push", "how"], channels),
    h("h3", {}, "Audit trail (newest first)"),
    recent.length ? h("ul", {}, ...recent) : h("p", { class: "hint" }, "no changes yet"));
}

async function showSku(sku) {
  $("#sku-input").value = sku;
  try {
    renderSku(sku, await getJson(`/v1/explain/${encodeURIComponent(sku)}`));
  } catch (error) {
    $("#sku-result").replaceChildren(h("p", { class: "problem" }, `${sku}: ${error.message}`));
  }
}

$("#sku-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const sku = $("#sku-input").value.trim();
  if (sku) showSku(sku);
});

refresh();
setInterval(refresh, REFRESH_MS);
connectFeed();
