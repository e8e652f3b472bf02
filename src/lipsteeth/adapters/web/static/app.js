// lipsteeth dashboard: pick a scenario, set two policy settings (A and B), run each
// through the API, and compare fan charts and whole-run numbers side by side.
// Plain JavaScript; plotly.js is served by the service from the plotly Python package.
"use strict";

const DASH_LEVERS = [
  ["china_exit_strictness", "Chinese exit policy", "chance a documented worker is stopped at exit"],
  ["china_border_stringency", "Chinese border stringency", "internal enforcement against hidden North Koreans"],
  ["china_sanctions", "Chinese sanctions", "share of sanctions China implements"],
  ["un_workers", "UN ban on overseas workers", "0 none, 1 full repatriation"],
  ["food_aid", "Chinese food aid", "1 = a full package"],
  ["seoul_travel_advisory", "Boycott (Seoul's advisory)", "advice to avoid the restaurants"],
  ["restaurant_quota_usd", "Remittance quota", "USD per restaurant and year"],
  ["beijing_discretion", "Beijing's discretion", "1: Beijing moves its levers itself (M9); 0: as set"],
];
const DEFAULT_OUTCOMES = [
  "revenue_to_state_usd",
  "restaurant_defectors",
  "escapes_legal_route",
  "arrivals_south_korea",
  "repatriations_from_china",
  "provocations",
];
const COLORS = { A: "31,95,168", B: "200,80,30" };
const POLL_MS = 250;

const state = {
  scenario: null,          // scenario detail from the API
  outcomes: [],            // [{name, kind, unit, doc}]
  selected: new Set(DEFAULT_OUTCOMES),
  runs: { A: null, B: null },   // {id, bands, request}
  seq: { A: 0, B: 0 },
};

const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const response = await fetch(path, {
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    credentials: "same-origin",
    ...options,
  });
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    const message = body && body.error ? body.error : `${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  return body;
}

// --- numbers -----------------------------------------------------------------------

function compact(value, unit = "") {
  if (value === null || value === undefined || !Number.isFinite(value)) return "n/a";
  if (unit.startsWith("share") || unit.startsWith("index") || unit.startsWith("prob")) {
    return value.toFixed(2);
  }
  const a = Math.abs(value);
  for (const [limit, div, suffix] of [[1e9, 1e9, "G"], [1e6, 1e6, "M"], [1e4, 1e3, "k"]]) {
    if (a >= limit) {
      const q = value / div;
      const digits = Math.abs(q) < 10 ? 2 : Math.abs(q) < 100 ? 1 : 0;
      return q.toFixed(digits) + suffix;
    }
  }
  if (a >= 100) return value.toFixed(0);
  if (a >= 10) return value.toFixed(1).replace(/\.0$/, "");
  if (a === 0) return "0";
  return Number(value.toPrecision(3)).toString();
}

// --- levers --------------------------------------------------------------------------

function leverBounds(info) {
  let lo = info.minimum ?? 0;
  let hi = info.maximum ?? 1;
  if (info.name === "restaurant_quota_usd") {
    lo = info.range ? Math.min(info.range[0], info.value) * 0.5 : 0;
    hi = info.range ? Math.max(info.range[1], info.value) * 1.5 : info.value * 3;
  }
  const step = info.name === "restaurant_quota_usd" ? 1000 : (hi - lo) / 100;
  return { lo, hi, step };
}

function buildLevers(slot) {
  const box = $(`levers-${slot}`);
  box.innerHTML = "";
  const byName = Object.fromEntries(state.scenario.levers.map((l) => [l.name, l]));
  for (const [name, label, hint] of DASH_LEVERS) {
    const info = byName[name];
    if (!info) continue;
    const { lo, hi, step } = leverBounds(info);
    const row = document.createElement("div");
    row.className = "lever";
    row.innerHTML = `
      <label class="name" for="lever-${slot}-${name}">${label}<small>${hint}</small></label>
      <input type="range" id="lever-${slot}-${name}" data-testid="lever-${slot}-${name}"
             data-lever="${name}" min="${lo}" max="${hi}" step="${step}" value="${info.value}">
      <output id="value-${slot}-${name}" data-testid="value-${slot}-${name}"></output>`;
    box.appendChild(row);
    const input = row.querySelector("input");
    const show = () => {
      $(`value-${slot}-${name}`).textContent = compact(Number(input.value), info.unit);
      row.classList.toggle("changed", Math.abs(Number(input.value) - info.value) > 1e-12);
    };
    input.addEventListener("input", show);
    show();
  }
}

function leverValues(slot) {
  const out = {};
  const defaults = Object.fromEntries(state.scenario.levers.map((l) => [l.name, l.value]));
  for (const input of $(`levers-${slot}`).querySelectorAll("input[data-lever]")) {
    const value = Number(input.value);
    if (Math.abs(value - defaults[input.dataset.lever]) > 1e-12) out[input.dataset.lever] = value;
  }
  return out;
}

function setLevers(slot, values) {
  for (const input of $(`levers-${slot}`).querySelectorAll("input[data-lever]")) {
    const name = input.dataset.lever;
    const base = state.scenario.levers.find((l) => l.name === name).value;
    input.value = name in values ? values[name] : base;
    input.dispatchEvent(new Event("input"));
  }
}

// --- scenario and outcomes -------------------------------------------------------

async function loadScenario(name) {
  state.scenario = await api(`/api/scenarios/${encodeURIComponent(name)}`);
  const s = state.scenario;
  $("scenario-info").textContent =
    `${s.title} (${s.start} to ${s.end}; ${s.agents.toLocaleString()} agent slots)`;
  buildLevers("A");
  buildLevers("B");
  state.runs = { A: null, B: null };
  render();
}

function buildOutcomeList() {
  const box = $("outcome-list");
  box.innerHTML = "";
  for (const o of state.outcomes) {
    const label = document.createElement("label");
    label.title = o.doc;
    label.innerHTML = `<input type="checkbox" value="${o.name}" data-testid="outcome-${o.name}"
      ${state.selected.has(o.name) ? "checked" : ""}> ${o.name}`;
    label.querySelector("input").addEventListener("change", (e) => {
      if (e.target.checked) state.selected.add(o.name); else state.selected.delete(o.name);
      render();
    });
    box.appendChild(label);
  }
}

// --- runs -----------------------------------------------------------------------------

function setStatus(slot, text, failed = false) {
  const el = $(`status-${slot}`);
  el.textContent = text;
  el.classList.toggle("failed", failed);
}

async function run(slot) {
  const seq = ++state.seq[slot];
  const button = $(`run-${slot}`);
  button.disabled = true;
  document.body.dataset[`busy${slot}`] = "1";
  const years = Number($("years").value);
  const body = {
    scenario: $("scenario").value,
    years,
    replicates: Number($("replicates").value),
    levers: leverValues(slot),
  };
  if ($("seed").value !== "") body.seed = Number($("seed").value);
  try {
    setStatus(slot, "submitting");
    let status = await api("/api/runs", { method: "POST", body: JSON.stringify(body) });
    const id = status.id;
    while (!["succeeded", "failed", "cancelled"].includes(status.status)) {
      if (seq !== state.seq[slot]) return;
      $(`progress-${slot}`).value = status.progress.fraction;
      setStatus(slot, `${status.status} ${status.progress.done}/${status.progress.total}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
      status = await api(`/api/runs/${id}`);
    }
    if (status.status !== "succeeded") throw new Error(status.error || status.status);
    const resolution = years <= 3 ? "monthly" : "yearly";
    const bands = await api(`/api/runs/${id}/bands?resolution=${resolution}`);
    if (seq !== state.seq[slot]) return;
    state.runs[slot] = { id, bands, request: body };
    $(`progress-${slot}`).value = 1;
    setStatus(slot, `done: run ${id.slice(0, 8)}, ${bands.replicates} replicates`);
    render();
    document.body.dataset[`run${slot}`] = id;
  } catch (err) {
    setStatus(slot, `failed: ${err.message}`, true);
  } finally {
    button.disabled = false;
    delete document.body.dataset[`busy${slot}`];
  }
}

// --- rendering -------------------------------------------------------------------------

function totalCell(slot, name, unit) {
  const r = state.runs[slot];
  const td = document.createElement("td");
  td.className = "num";
  td.dataset.testid = `total-${slot}-${name}`;
  if (!r || !r.bands.totals[name]) { td.textContent = "–"; return td; }
  const t = r.bands.totals[name];
  td.dataset.value = String(t.median);
  td.dataset.runId = r.id;
  td.textContent = `${compact(t.median, unit)} [${compact(t.p5, unit)}, ${compact(t.p95, unit)}]`;
  return td;
}

function renderTotals() {
  const body = document.querySelector("#totals tbody");
  body.innerHTML = "";
  const units = Object.fromEntries(state.outcomes.map((o) => [o.name, o.unit]));
  for (const name of state.outcomes.map((o) => o.name).filter((n) => state.selected.has(n))) {
    const tr = document.createElement("tr");
    const unit = units[name] || "";
    tr.innerHTML = `<td>${name}</td><td>${unit}</td>`;
    tr.appendChild(totalCell("A", name, unit));
    tr.appendChild(totalCell("B", name, unit));
    const diff = document.createElement("td");
    diff.className = "num";
    diff.dataset.testid = `diff-${name}`;
    const a = state.runs.A && state.runs.A.bands.totals[name];
    const b = state.runs.B && state.runs.B.bands.totals[name];
    if (a && b) {
      const d = b.median - a.median;
      diff.dataset.value = String(d);
      diff.textContent = (d > 0 ? "+" : "") + compact(d, unit);
      diff.classList.add(d > 0 ? "up" : d < 0 ? "down" : "same");
    } else {
      diff.textContent = "–";
    }
    tr.appendChild(diff);
    body.appendChild(tr);
  }
}

function fanTraces(bands, name, slot) {
  const q = bands.outcomes[name];
  const x = bands.periods;
  const c = COLORS[slot];
  const edge = { width: 0 };
  return [
    { x, y: q.p95, mode: "lines", line: edge, hoverinfo: "skip", showlegend: false },
    { x, y: q.p5, mode: "lines", line: edge, fill: "tonexty", fillcolor: `rgba(${c},0.18)`,
      name: "90 %", hoverinfo: "skip" },
    { x, y: q.p75, mode: "lines", line: edge, hoverinfo: "skip", showlegend: false },
    { x, y: q.p25, mode: "lines", line: edge, fill: "tonexty", fillcolor: `rgba(${c},0.38)`,
      name: "50 %", hoverinfo: "skip" },
    { x, y: q.median, mode: "lines", line: { color: `rgb(${c})`, width: 2 }, name: "median" },
  ];
}

function yRange(name) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const slot of ["A", "B"]) {
    const r = state.runs[slot];
    if (!r) continue;
    const q = r.bands.outcomes[name];
    for (const v of [...q.p5, ...q.p95]) {
      if (v === null || !Number.isFinite(v)) continue;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (!Number.isFinite(lo)) return null;
  const pad = (hi - lo) * 0.06 || Math.abs(hi) * 0.06 || 1;
  return [lo - pad, hi + pad];
}

function renderCharts() {
  const box = $("charts");
  const names = state.outcomes.map((o) => o.name).filter((n) => state.selected.has(n));
  const units = Object.fromEntries(state.outcomes.map((o) => [o.name, o.unit]));
  // keep existing chart divs (plotly updates in place); rebuild the list when it changes
  const key = names.join(",");
  if (box.dataset.key !== key) {
    box.innerHTML = "";
    for (const name of names) {
      const row = document.createElement("div");
      row.className = "chart-row";
      row.innerHTML = `<div class="chart-title">${name} <small>${units[name] || ""}</small></div>
        <div class="chart" id="chart-A-${name}" data-testid="chart-A-${name}"></div>
        <div class="chart" id="chart-B-${name}" data-testid="chart-B-${name}"></div>`;
      box.appendChild(row);
    }
    box.dataset.key = key;
  }
  if (typeof Plotly === "undefined") return;
  for (const name of names) {
    const range = yRange(name);
    for (const slot of ["A", "B"]) {
      const div = $(`chart-${slot}-${name}`);
      const r = state.runs[slot];
      const layout = {
        margin: { l: 60, r: 10, t: 24, b: 34 },
        title: { text: `${slot}${r ? "" : " (not run)"}`, font: { size: 12 }, x: 0.02 },
        showlegend: false,
        yaxis: { range: range || undefined, tickformat: range && Math.max(...range.map(Math.abs)) >= 1e4 ? "~s" : "" },
        xaxis: { type: r && r.bands.resolution === "yearly" ? "category" : "date" },
      };
      const traces = r && r.bands.outcomes[name] ? fanTraces(r.bands, name, slot) : [];
      Plotly.react(div, traces, layout, { displayModeBar: false, responsive: true });
      if (r) {
        div.dataset.runId = r.id;
        div.dataset.medianLast = String(r.bands.outcomes[name].median.at(-1));
      } else {
        delete div.dataset.runId;
        delete div.dataset.medianLast;
      }
    }
  }
}

function render() {
  renderTotals();
  renderCharts();
}

// --- start -----------------------------------------------------------------------------

async function init() {
  try {
    const [{ scenarios }, { outcomes }] = await Promise.all([
      api("/api/scenarios"),
      api("/api/outcomes"),
    ]);
    state.outcomes = outcomes;
    const select = $("scenario");
    for (const s of scenarios) {
      const option = document.createElement("option");
      option.value = s.name;
      option.textContent = `${s.name}: ${s.title}`;
      select.appendChild(option);
    }
    select.addEventListener("change", () => loadScenario(select.value));
    buildOutcomeList();
    await loadScenario(select.value);
    $("run-A").addEventListener("click", () => run("A"));
    $("run-B").addEventListener("click", () => run("B"));
    $("copy-A").addEventListener("click", () => setLevers("B", leverValues("A")));
    $("reset-B").addEventListener("click", () => setLevers("B", {}));
    document.body.dataset.ready = "1";
  } catch (err) {
    setStatus("A", `cannot load: ${err.message}`, true);
  }
}

document.addEventListener("DOMContentLoaded", init);
