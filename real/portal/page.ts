/**
 * The portal's page: plain HTML, CSS and a script, served as they are (no build step). The script
 * follows the server's event stream (EventSource) and redraws from each snapshot; it never polls.
 * Every text from the store goes in through textContent, never as markup.
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>testbed portal</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header>
  <a href="#/" id="home">testbed portal</a>
  <span id="live" class="dim">connecting…</span>
  <label class="token">token <input id="token" type="password" autocomplete="off" placeholder="needed to swap"></label>
</header>
<main>
  <section id="list-view">
    <h1>Experiments</h1>
    <table id="experiments"><thead><tr><th>name</th><th>state</th><th>world</th><th>nodes</th><th>ready</th><th>time left</th><th>updated</th></tr></thead><tbody></tbody></table>
    <p id="empty" class="dim" hidden>No experiments in this store yet: <code>testbed exp create FILE</code> or <code>npm start</code>.</p>
    <h1>Run history</h1>
    <p id="history-empty" class="dim" hidden>No finished swap or stored plan yet.</p>
    <img id="swaps-chart" class="chart" alt="swap-out and swap-in time against nodes: every finished swap in the store" hidden>
    <table id="history"><thead><tr><th>run</th><th>experiment</th><th>swap</th><th>world</th><th>nodes</th><th>ok</th><th>swap s</th><th>wall s</th><th>when</th></tr></thead><tbody></tbody></table>
    <div id="plans"></div>
  </section>
  <section id="experiment-view" hidden>
    <h1><span id="name"></span> <span id="state" class="state"></span></h1>
    <p id="reason" class="dim"></p>
    <div class="controls">
      <button id="swapin" type="button">Swap in</button>
      <button id="swapout" type="button">Swap out</button>
      <label><input id="save" type="checkbox"> save disk state at swap-out</label>
      <span id="message" role="status"></span>
    </div>
    <div class="figures">
      <div><h2>Swap</h2><p>clock <b id="clock">0</b> s · time left <b id="left">–</b></p>
        <div class="bar"><div id="load-bar"></div></div><p id="load-text" class="dim"></p></div>
      <div><h2>Boot barrier</h2><p><b id="ready">0/0</b> ready</p>
        <div class="bar"><div id="barrier-bar"></div></div><p class="dim">still waiting: <span id="waiting"></span></p></div>
      <div><h2>Setup pool</h2><p id="pool"></p><p class="dim">flapping: <span id="flapping"></span></p><p class="dim">failing: <span id="failing"></span></p></div>
    </div>
    <h2>Barriers</h2>
    <table id="barriers"><thead><tr><th>barrier</th><th>state</th><th>arrived</th><th>still to come</th><th>waiting</th></tr></thead><tbody></tbody></table>
    <h2>Nodes <span id="node-count" class="dim"></span></h2>
    <div id="grid"></div>
    <table id="nodes"><thead><tr><th>node</th><th>phase</th><th>on</th><th>try</th><th>image progress</th><th>time left</th><th>heartbeat age</th><th>health</th><th>note</th></tr></thead><tbody></tbody></table>
    <h2>Swaps</h2>
    <img id="chart" class="chart" alt="swap-out and swap-in time against nodes: this experiment's finished swaps" hidden>
    <table id="runs"><thead><tr><th>run</th><th>swap</th><th>world</th><th>nodes</th><th>ok</th><th>simulated s</th><th>wall s</th><th>all loaded s</th><th>barrier s</th><th>seed</th><th>when</th></tr></thead><tbody></tbody></table>
  </section>
</main>
</body>
</html>
`;

export const PAGE_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #222; }
header { display: flex; gap: 1em; align-items: center; padding: .5em 1em; background: #243447; color: #fff; }
header a { color: #fff; font-weight: bold; text-decoration: none; }
header .token { margin-left: auto; }
main { padding: 0 1em 2em; }
.dim { color: #777; }
header .dim { color: #bcd; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { padding: 2px 8px; text-align: left; border-bottom: 1px solid #eee; font-variant-numeric: tabular-nums; }
.state { font-size: 60%; padding: 2px 8px; border-radius: 4px; background: #ddd; vertical-align: middle; }
.state.active { background: #9d9; } .state.failed { background: #e99; } .state.swapping-in, .state.swapping-out { background: #fd8; }
.controls { display: flex; gap: 1em; align-items: center; margin: .5em 0; }
.figures { display: flex; gap: 2em; flex-wrap: wrap; }
.figures > div { min-width: 260px; }
.bar { width: 260px; height: 12px; background: #eee; border-radius: 3px; overflow: hidden; }
.bar > div { height: 100%; width: 0; background: #4a8; transition: width .2s; }
.mini { display: inline-block; width: 100px; height: 8px; background: #eee; vertical-align: middle; margin-right: 4px; }
.mini > i { display: block; height: 100%; background: #48a; }
#grid { display: flex; flex-wrap: wrap; gap: 1px; max-width: 1000px; margin: .5em 0; }
#grid i { width: 7px; height: 7px; background: #ccc; }
#grid i.loading { background: #48a; } #grid i.booting { background: #8ad; } #grid i.setup { background: #fc6; }
#grid i.ready { background: #4a8; } #grid i.failed { background: #d44; } #grid i.saving { background: #a6d; } #grid i.released { background: #999; }
#message.error { color: #b00; }
img.chart { display: block; margin: .5em 0; border: 1px solid #eee; }
`;

export const PAGE_JS = `"use strict";
const $ = (id) => document.getElementById(id);
const NODE_ROWS_MAX = 60;
let stream = null;
let current = null;

function text(el, value) { el.textContent = value === null || value === undefined ? "–" : String(value); return el; }
function cell(row, value) { return text(row.insertCell(), value); }
function secs(v) { return v === null || v === undefined ? "–" : Number(v).toFixed(1); }
function mib(b) { return (b / 1048576).toFixed(1); }

function token() { return sessionStorage.getItem("testbed-token") || ""; }
function takeTokenFromUrl() {
  const m = location.hash.match(/^#token=([^&]+)/);
  if (m) { sessionStorage.setItem("testbed-token", decodeURIComponent(m[1])); history.replaceState(null, "", location.pathname + "#/"); }
  $("token").value = token();
  $("token").addEventListener("change", () => sessionStorage.setItem("testbed-token", $("token").value.trim()));
}

function route() {
  const m = location.hash.match(/^#\\/exp\\/(.+)$/);
  current = m ? decodeURIComponent(m[1]) : null;
  $("list-view").hidden = current !== null;
  $("experiment-view").hidden = current === null;
  $("message").textContent = "";
  follow();
}

function follow() {
  if (stream) stream.close();
  stream = new EventSource("/api/stream" + (current ? "?experiment=" + encodeURIComponent(current) : ""));
  stream.onopen = () => text($("live"), "live");
  stream.onerror = () => text($("live"), "reconnecting…");
  stream.addEventListener("list", (e) => { const l = JSON.parse(e.data); drawList(l.experiments); drawHistory(l.history); });
  stream.addEventListener("experiment", (e) => drawExperiment(JSON.parse(e.data)));
}

function drawList(experiments) {
  const body = $("experiments").tBodies[0];
  body.replaceChildren();
  for (const x of experiments) {
    const row = body.insertRow();
    row.dataset.name = x.name;
    const a = document.createElement("a");
    a.href = "#/exp/" + encodeURIComponent(x.name);
    a.textContent = x.name;
    row.insertCell().append(a);
    cell(row, x.state).className = "state-cell";
    cell(row, x.world); cell(row, x.nodes); cell(row, x.ready); cell(row, secs(x.secondsLeft)); cell(row, x.updatedAt.replace("T", " ").slice(0, 19));
  }
  $("empty").hidden = experiments.length > 0;
}

function drawExperiment(x) {
  if (x.gone) { text($("name"), x.name); text($("state"), "no such experiment"); return; }
  const p = x.progress || {};
  text($("name"), x.name);
  const st = $("state"); st.textContent = x.state; st.className = "state " + x.state;
  text($("reason"), x.reason || (x.simulated ? "simulated experiment" : "real nodes"));
  $("swapin").disabled = !["new", "swapped", "failed"].includes(x.state);
  $("swapout").disabled = !["active", "failed"].includes(x.state);
  $("save").checked = x.saveDiskState;
  text($("clock"), secs(x.clockSec)); text($("left"), secs(x.secondsLeft));
  let written = 0, total = 0;
  for (const n of x.nodes) { written += n.bytesWritten; total += n.imageBytes; }
  $("load-bar").style.width = (total > 0 ? (100 * written) / total : 0) + "%";
  text($("load-text"), "images written: " + mib(written) + " of " + mib(total) + " MiB" + (p.loadSecondsLeft != null ? " · image servers expect the rest in " + secs(p.loadSecondsLeft) + " s" : ""));
  const b = p.barrier || { ready: 0, total: x.nodeCount, waitingFor: [] };
  text($("ready"), b.ready + "/" + b.total);
  $("barrier-bar").style.width = (b.total > 0 ? (100 * b.ready) / b.total : 0) + "%";
  text($("waiting"), (b.waitingFor || []).join(" ") || "nobody");
  const s = p.setupPool;
  text($("pool"), s ? s.pool + ": " + s.inFlight + " in flight (window " + s.window + "), " + s.waiting + " waiting, " + s.retried + " retried" : "–");
  text($("flapping"), s && s.flapping.length ? s.flapping.join(" ") : "none");
  text($("failing"), s && s.failing.length ? s.failing.map((f) => f.node + "×" + f.failures).join(" ") : "none");
  text($("node-count"), x.nodeCount + " nodes" + (x.nodes.length < x.nodeCount ? ", first " + x.nodes.length + " shown" : ""));
  drawBarriers(x.barriers || []);
  drawGrid(x.nodes);
  drawNodes(x.nodes, s);
  drawRuns(x.runs);
}

function drawGrid(nodes) {
  const grid = $("grid");
  while (grid.children.length < nodes.length) grid.append(document.createElement("i"));
  while (grid.children.length > nodes.length) grid.lastChild.remove();
  nodes.forEach((n, i) => { const el = grid.children[i]; el.className = n.phase; el.title = n.name + ": " + n.phase; });
}

// Every barrier: the boot barrier (ready bits; waiting = not ready yet), then the sync server's (waiting = arrived, held).
function drawBarriers(barriers) {
  const body = $("barriers").tBodies[0];
  body.replaceChildren();
  for (const b of barriers) {
    const row = body.insertRow();
    row.dataset.barrier = b.name;
    cell(row, b.kind === "boot" ? "boot (ready bits)" : b.name + (b.generation > 1 ? " #" + b.generation : ""));
    cell(row, b.state + (b.code !== null && b.code !== 0 ? " (code " + b.code + ")" : ""));
    cell(row, b.arrived + (b.total !== null ? "/" + b.total : ""));
    cell(row, b.expected === null ? "–" : b.expected);
    cell(row, b.waiting.length ? b.waiting.join(" ") : "nobody");
  }
}

// A node's health in the setup pool (the monitor's): flapping, or how often its setup failed.
function healthOf(name, pool) {
  if (!pool) return "–";
  if (pool.flapping.includes(name)) return "flapping";
  const f = pool.failing.find((x) => x.node === name);
  return f ? f.failures + " failed" : "ok";
}

function drawNodes(nodes, pool) {
  const body = $("nodes").tBodies[0];
  body.replaceChildren();
  // Nodes that still need attention first: failed, then not ready, then ready.
  const order = (n) => (n.phase === "failed" ? 0 : n.ready ? 2 : 1);
  const shown = [...nodes].sort((a, b) => order(a) - order(b)).slice(0, NODE_ROWS_MAX);
  for (const n of shown) {
    const row = body.insertRow();
    row.dataset.node = n.name;
    cell(row, n.name); cell(row, n.phase); cell(row, n.pnode); cell(row, n.attempt);
    const bar = document.createElement("span"); bar.className = "mini";
    const fill = document.createElement("i"); fill.style.width = (n.imageBytes > 0 ? (100 * n.bytesWritten) / n.imageBytes : 0) + "%";
    bar.append(fill);
    const c = row.insertCell(); c.append(bar, document.createTextNode(mib(n.bytesWritten) + "/" + mib(n.imageBytes) + " MiB"));
    cell(row, secs(n.secondsLeft)); cell(row, n.heartbeatAgeSec === null ? "–" : secs(n.heartbeatAgeSec) + " s"); cell(row, healthOf(n.name, pool)); cell(row, n.reason);
  }
}

function drawRuns(runs) {
  const body = $("runs").tBodies[0];
  body.replaceChildren();
  for (const r of runs) {
    const row = body.insertRow();
    cell(row, r.id); cell(row, r.kind); cell(row, r.world); cell(row, r.nodes); cell(row, r.ok ? "ok" : "failed");
    cell(row, secs(r.simSeconds)); cell(row, secs(r.wallSeconds)); cell(row, secs(r.milestones.allLoadedSec)); cell(row, secs(r.milestones.barrierSec)); cell(row, r.seed);
    cell(row, r.createdAt.replace("T", " ").slice(0, 19));
  }
  const last = runs.find((r) => r.ok && r.nodes !== null);
  chart($("chart"), last ? "/charts/swaps.svg?experiment=" + encodeURIComponent(current) + "&v=" + last.id : null);
}

// The charts are the planners' own (plan swap, plan frisbee), drawn by the server as SVG images;
// an image is fetched again only when its runs changed (the version in its address).
function chart(img, src) {
  img.hidden = src === null;
  if (src === null) img.removeAttribute("src");
  else if (img.getAttribute("src") !== src) img.setAttribute("src", src);
}

function drawHistory(h) {
  const body = $("history").tBodies[0];
  body.replaceChildren();
  for (const r of h.swaps) {
    const row = body.insertRow();
    row.dataset.run = r.id;
    cell(row, r.id); cell(row, r.experiment); cell(row, r.kind); cell(row, r.world); cell(row, r.nodes); cell(row, r.ok ? "ok" : "failed");
    cell(row, secs(r.seconds)); cell(row, secs(r.wallSeconds)); cell(row, r.createdAt.replace("T", " ").slice(0, 19));
  }
  const last = h.swaps.find((r) => r.ok && r.nodes !== null);
  chart($("swaps-chart"), last ? "/charts/swaps.svg?v=" + last.id + "-" + h.swaps.length : null);
  const plans = $("plans");
  // Rebuilt only when the stored plans changed, so a swap's updates do not fetch their charts again.
  const key = h.plans.map((p) => p.id + ":" + p.rows.length).join(" ");
  if (plans.dataset.key !== key) drawPlans(plans, h.plans, key);
  $("history-empty").hidden = h.swaps.length > 0 || h.plans.length > 0;
}

function drawPlans(plans, list, key) {
  plans.dataset.key = key;
  plans.replaceChildren();
  for (const p of list) {
    const box = document.createElement("div");
    box.className = "plan"; box.dataset.plan = p.id;
    const title = document.createElement("h2");
    title.textContent = "plan frisbee (" + p.model + " model), " + p.rows.length + " rows, " + p.createdAt.replace("T", " ").slice(0, 19);
    const img = document.createElement("img");
    img.className = "chart"; img.alt = "Frisbee: mean client runtime against clients, plan run " + p.id;
    img.src = "/charts/plan.svg?id=" + p.id;
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const h of ["clients", "loss", "mean runtime s", "runs"]) head.append(text(document.createElement("th"), h));
    const tb = table.createTBody();
    for (const r of p.rows) { const row = tb.insertRow(); cell(row, r.clients); cell(row, r.loss); cell(row, r.runtimeSecMean); cell(row, r.runs); }
    box.append(title, img, table);
    plans.append(box);
  }
}

async function act(path, body) {
  const msg = $("message");
  msg.className = ""; msg.textContent = "…";
  const res = await fetch("/api/experiments/" + encodeURIComponent(current) + "/" + path, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer " + token() },
    body: JSON.stringify(body || {}),
  });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) { msg.className = "error"; msg.textContent = answer.error || res.statusText; return; }
  msg.textContent = path === "save-disk-state" ? "saved" : path.replace("swap", "swap-") + " started";
}

window.addEventListener("DOMContentLoaded", () => {
  takeTokenFromUrl();
  $("swapin").addEventListener("click", () => act("swapin"));
  $("swapout").addEventListener("click", () => act("swapout"));
  $("save").addEventListener("change", () => act("save-disk-state", { save: $("save").checked }));
  window.addEventListener("hashchange", route);
  route();
});
`;
