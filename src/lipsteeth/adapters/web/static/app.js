// lipsteeth dashboard: two policies A and B on one scenario, run as a paired comparison
// (POST /api/comparisons), drawn while replicates finish (GET /api/comparisons/{id}/bands).
// Plain JavaScript; plotly.js is served by the service from the plotly Python package.
"use strict";

const COLORS = { A: "31,95,168", B: "200,80,30", D: "110,60,160" };
const POLL_MS = 250;
const RENDER_MS = 1500; // while streaming, redraw at most this often (the cores run replicates)
const DAYS_PER_YEAR = 365.25;

const state = {
  scenario: null,        // scenario detail from the API
  toml: null,            // the pasted or uploaded scenario text, when one is in use
  outcomes: [],          // [{name, kind, unit, doc, label, theme}]
  themes: [],
  selected: new Set(),
  limits: null,
  comparison: null,      // the last bands response
  streaming: false,      // replicates are coming in
  seq: 0,
};

const $ = (id) => document.getElementById(id);
const byName = () => Object.fromEntries(state.outcomes.map((o) => [o.name, o]));

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
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return body;
}

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "className") node.className = v;
    else node.setAttribute(k, v);
  }
  if (text !== null) node.textContent = text;
  return node;
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

function signed(value, unit) {
  const text = compact(value, unit);
  return value > 0 ? `+${text}` : text;
}

// --- scenario, horizon and the cap ---------------------------------------------------

function horizonDays() {
  const s = state.scenario;
  const years = Number($("years").value);
  if ($("years").value === "" || !(years > 0)) return s.days;
  return Math.min(Math.max(Math.round(years * DAYS_PER_YEAR), 2), 200 * 366);
}

function horizonEnd() {
  const s = state.scenario;
  const start = new Date(`${s.start}T00:00:00Z`);
  const end = new Date(start.getTime() + (horizonDays() - 1) * 86400e3);
  return end.toISOString().slice(0, 10);
}

function maxReplicates() {
  const L = state.limits;
  const perReplicate = state.scenario.agents * horizonDays();
  return Math.max(0, Math.min(L.max_replicates, Math.floor(L.max_agent_days / perReplicate)));
}

function showCap() {
  const s = state.scenario;
  const most = maxReplicates();
  const L = state.limits;
  $("horizon").textContent = $("years").value === ""
    ? `whole scenario: ${s.start} to ${s.end} (${(s.days / DAYS_PER_YEAR).toFixed(1)} years)`
    : `${s.start} to ${horizonEnd()}`;
  $("cap").textContent =
    `Size cap of this service: at most ${most} replicates of this scenario over this horizon ` +
    `(agents x days x replicates <= ${L.max_agent_days.toExponential(2)} agent-days; ` +
    `${s.agents.toLocaleString()} agent slots x ${horizonDays().toLocaleString()} days each; ` +
    `at most ${L.max_replicates} replicates in any run). A and B each run that many.`;
  $("replicates").max = String(most);
  $("cap").dataset.max = String(most);
}

function setScenario(detail) {
  state.scenario = detail;
  for (const slot of ["A", "B"]) buildLevers(slot);
  const most = maxReplicates();
  $("replicates").value = String(Math.min(40, Math.max(most, 1)));
  showCap();
  state.comparison = null;
  render();
  renderTimeline();
}

async function loadScenario(name) {
  state.toml = null;
  setScenario(await api(`/api/scenarios/${encodeURIComponent(name)}`));
}

async function useToml() {
  const text = $("toml").value;
  const status = $("toml-status");
  status.classList.remove("failed");
  status.textContent = "checking";
  try {
    const detail = await api("/api/scenarios/validate", {
      method: "POST",
      body: JSON.stringify({ toml: text }),
    });
    state.toml = text;
    let option = $("scenario").querySelector("option[data-uploaded]");
    if (!option) {
      option = el("option", { dataset: { uploaded: "1" } });
      $("scenario").appendChild(option);
    }
    option.value = `uploaded:${detail.name}`;
    option.textContent = `${detail.name} (your scenario): ${detail.title}`;
    $("scenario").value = option.value;
    setScenario(detail);
    state.toml = text;
    status.textContent = `using ${detail.name}: ${detail.start} to ${detail.end}, ${detail.events.length} events`;
  } catch (err) {
    status.classList.add("failed");
    status.textContent = `error: ${err.message}`;
  }
}

// --- levers ----------------------------------------------------------------------------

function leverBounds(info) {
  let lo = info.range ? info.range[0] : info.minimum ?? 0;
  let hi = info.range ? info.range[1] : info.maximum ?? Math.max(1, info.value * 2);
  lo = Math.min(lo, info.value);
  hi = Math.max(hi, info.value);
  const step = hi - lo >= 1000 ? Math.pow(10, Math.floor(Math.log10((hi - lo) / 100))) : (hi - lo) / 100;
  return { lo, hi, step: step || 0.01 };
}

function buildLevers(slot) {
  const box = $(`levers-${slot}`);
  box.innerHTML = "";
  const s = state.scenario;
  const more = el("details", { className: "more" });
  more.appendChild(el("summary", {}, "More levers"));
  for (const info of s.levers) {
    const { lo, hi, step } = leverBounds(info);
    const row = el("div", { className: "lever", dataset: { lever: info.name } });
    const label = el("label", { className: "name", for: `lever-${slot}-${info.name}` }, info.label);
    label.title = `${info.name} (${info.mechanism}): ${info.doc}. Provenance: ${info.provenance}`;
    label.appendChild(el("small", {}, info.hint));
    const input = el("input", {
      type: "range", id: `lever-${slot}-${info.name}`, min: String(lo), max: String(hi),
      step: "any", value: String(info.value), "data-step": String(step),
      "data-testid": `lever-${slot}-${info.name}`, "data-lever": info.name,
    });
    const output = el("output", { "data-testid": `value-${slot}-${info.name}` });
    const from = el("input", {
      type: "date", min: s.start, max: s.end, title: "from this date (empty: from the start)",
      "data-testid": `from-${slot}-${info.name}`, "data-from": info.name,
    });
    const effective = el("span", {
      className: "effective", "data-testid": `effective-${slot}-${info.name}`,
    });
    row.append(label, input, output, from, effective);
    const show = () => {
      output.textContent = compact(Number(input.value), info.unit);
      row.classList.toggle("changed", Math.abs(Number(input.value) - info.value) > 1e-12);
    };
    input.addEventListener("input", show);
    from.addEventListener("change", renderTimeline);
    input.addEventListener("change", renderTimeline);
    show();
    (info.main ? box : more).appendChild(row);
  }
  box.appendChild(more);
}

function sideRequest(slot) {
  const body = { replicates: Number($("replicates").value) };
  if (state.toml !== null) body.scenario_toml = state.toml;
  else body.scenario = $("scenario").value;
  if ($("years").value !== "") body.years = Number($("years").value);
  if ($("seed").value !== "") body.seed = Number($("seed").value);
  const levers = {};
  const changes = [];
  for (const info of state.scenario.levers) {
    const value = Number($(`lever-${slot}-${info.name}`).value);
    const from = document.querySelector(`[data-testid=from-${slot}-${info.name}]`).value;
    if (Math.abs(value - info.value) <= 1e-12) continue;
    if (from) changes.push({ lever: info.name, value, start: from });
    else levers[info.name] = value;
  }
  if (Object.keys(levers).length) body.levers = levers;
  if (changes.length) body.changes = changes;
  return body;
}

function changeDates() {
  const out = [];
  for (const slot of ["A", "B"]) {
    for (const input of document.querySelectorAll(`#levers-${slot} input[data-from]`)) {
      const info = state.scenario.levers.find((l) => l.name === input.dataset.from);
      const value = Number($(`lever-${slot}-${info.name}`).value);
      if (input.value && Math.abs(value - info.value) > 1e-12) {
        out.push({ slot, lever: info.name, label: info.label, date: input.value, value, unit: info.unit });
      }
    }
  }
  return out;
}

function copyLevers(from, to) {
  for (const info of state.scenario.levers) {
    $(`lever-${to}-${info.name}`).value = $(`lever-${from}-${info.name}`).value;
    document.querySelector(`[data-testid=from-${to}-${info.name}]`).value =
      document.querySelector(`[data-testid=from-${from}-${info.name}]`).value;
    $(`lever-${to}-${info.name}`).dispatchEvent(new Event("input"));
  }
  renderTimeline();
}

function resetLevers(slot) {
  for (const info of state.scenario.levers) {
    $(`lever-${slot}-${info.name}`).value = String(info.value);
    document.querySelector(`[data-testid=from-${slot}-${info.name}]`).value = "";
    $(`lever-${slot}-${info.name}`).dispatchEvent(new Event("input"));
  }
  renderTimeline();
}

// --- the run ---------------------------------------------------------------------------

function variables() {
  const effective = state.scenario.levers.map((l) => l.effective_outcome).filter(Boolean);
  return [...new Set([...state.selected, ...effective])];
}

async function run() {
  const seq = ++state.seq;
  const clicked = performance.now();
  const button = $("run");
  button.disabled = true;
  for (const key of ["comparison", "firstBandMs", "allReplicatesMs", "completeMs", "done"]) {
    delete document.body.dataset[key];
  }
  $("timing").textContent = "";
  state.comparison = null;
  render();
  const status = $("status");
  status.classList.remove("failed");
  try {
    status.textContent = "submitting";
    const submitted = await api("/api/comparisons", {
      method: "POST",
      body: JSON.stringify({ a: sideRequest("A"), b: sideRequest("B") }),
    });
    document.body.dataset.comparison = submitted.id;
    state.streaming = true;
    const query = variables().map((v) => `variable=${encodeURIComponent(v)}`).join("&");
    // Poll the small status often; fetch and draw the bands only when there is something
    // new to show, at most every RENDER_MS while streaming: the browser shares the cores
    // with the replicates.
    let lastKey = "";
    let lastRender = -Infinity;
    for (;;) {
      if (seq !== state.seq) return;
      const now = performance.now();
      const comparison = await api(`/api/comparisons/${submitted.id}`);
      const pa = comparison.a ? comparison.a.progress : { done: 0, total: 0, fraction: 0 };
      const pb = comparison.b ? comparison.b.progress : { done: 0, total: 0, fraction: 0 };
      $("progress-A").value = pa.fraction;
      $("progress-B").value = pb.fraction;
      const sa = comparison.a ? comparison.a.status : "deleted";
      const sb = comparison.b ? comparison.b.status : "deleted";
      status.textContent = `A ${sa} ${pa.done}/${pa.total} · B ${sb} ${pb.done}/${pb.total}`;
      if (["failed", "cancelled", "deleted"].includes(comparison.status)) {
        const why = (comparison.a && comparison.a.error) || (comparison.b && comparison.b.error) || "";
        throw new Error(`the comparison ${comparison.status}${why ? `: ${why}` : ""}`);
      }
      const complete = comparison.status === "succeeded";
      const key = [pa.done, pb.done, complete].join(",");
      const firstBand = !document.body.dataset.firstBandMs && pa.done > 0 && pb.done > 0;
      const allIn = pa.done === pa.total && pb.done === pb.total && !document.body.dataset.allReplicatesMs;
      if (key !== lastKey && (firstBand || allIn || complete || now - lastRender >= RENDER_MS)) {
        const bands = await api(`/api/comparisons/${submitted.id}/bands?resolution=monthly&${query}`);
        if (seq !== state.seq) return;
        lastKey = key;
        state.comparison = bands;
        renderNow();  // drawn before the time is taken: the figures are what the analyst sees
        lastRender = performance.now();
        const pairs = bands.difference ? bands.difference.pairs : 0;
        if (pairs > 0 && !document.body.dataset.firstBandMs) {
          document.body.dataset.firstBandMs = String(Math.round(lastRender - clicked));
        }
        const shown = (side) => side && side.replicates === side.total;
        if (shown(bands.a) && shown(bands.b) && !document.body.dataset.allReplicatesMs) {
          document.body.dataset.allReplicatesMs = String(Math.round(lastRender - clicked));
        }
        showTiming();
        if (bands.complete) {
          state.streaming = false;
          renderNow();  // every chart, on screen or not
          document.body.dataset.completeMs = String(Math.round(performance.now() - clicked));
          showTiming();
          break;
        }
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    status.textContent = `done: ${state.comparison.difference.pairs} pairs`;
    document.body.dataset.done = "1";
  } catch (err) {
    status.classList.add("failed");
    status.textContent = `error: ${err.message}`;
  } finally {
    state.streaming = false;
    button.disabled = false;
  }
}

async function refreshBands(id) {
  const query = variables().map((v) => `variable=${encodeURIComponent(v)}`).join("&");
  state.comparison = await api(`/api/comparisons/${id}/bands?resolution=monthly&${query}`);
}

function showTiming() {
  const d = document.body.dataset;
  const parts = [];
  if (d.firstBandMs) parts.push(`first bands after ${(d.firstBandMs / 1000).toFixed(1)} s`);
  if (d.allReplicatesMs) parts.push(`all replicates after ${(d.allReplicatesMs / 1000).toFixed(1)} s`);
  if (d.completeMs) parts.push(`results written after ${(d.completeMs / 1000).toFixed(1)} s`);
  $("timing").textContent = parts.join("; ");
}

// --- rendering: the summary table -----------------------------------------------------------

function shownOutcomes() {
  const outcomes = byName();
  const out = [];
  for (const theme of state.themes) {
    for (const o of state.outcomes) {
      if (o.theme === theme && state.selected.has(o.name)) out.push(outcomes[o.name]);
    }
  }
  return out;
}

function sideCell(slot, o) {
  const c = state.comparison;
  const side = c && c[slot.toLowerCase()];
  const td = el("td", { className: "num", "data-testid": `total-${slot}-${o.name}` });
  const t = side && side.totals[o.name];
  if (!t) { td.textContent = "–"; return td; }
  Object.assign(td.dataset, { value: String(t.median), p5: String(t.p5), p95: String(t.p95), runId: side.id });
  td.textContent = `${compact(t.median, o.unit)} [${compact(t.p5, o.unit)}, ${compact(t.p95, o.unit)}]`;
  return td;
}

function renderSummary() {
  const body = document.querySelector("#summary tbody");
  body.innerHTML = "";
  const c = state.comparison;
  const diff = c && c.difference;
  $("pairs").textContent = diff
    ? `${diff.pairs} pairs (${diff.method}).` +
      (diff.pairs < diff.min_pairs_for_a_call ? ` Fewer than ${diff.min_pairs_for_a_call} pairs: no call on a clear difference.` : "")
    : "";
  $("pairs").dataset.pairs = diff ? String(diff.pairs) : "0";
  let theme = null;
  for (const o of shownOutcomes()) {
    if (o.theme !== theme) {
      theme = o.theme;
      const tr = el("tr", { className: "theme" });
      tr.appendChild(el("th", { colspan: "7" }, theme));
      body.appendChild(tr);
    }
    const tr = el("tr");
    const name = el("td", {}, o.label);
    name.title = `${o.name}: ${o.doc} (${o.kind})`;
    tr.append(name, el("td", {}, o.unit), sideCell("A", o), sideCell("B", o));
    const d = diff && diff.totals[o.name];
    const band = el("td", { className: "num", "data-testid": `diff-${o.name}` });
    const mean = el("td", { className: "num", "data-testid": `mean-${o.name}` });
    const call = el("td", { "data-testid": `call-${o.name}` });
    if (d) {
      Object.assign(band.dataset, { median: String(d.median), p5: String(d.p5), p95: String(d.p95) });
      band.textContent = `${signed(d.median, o.unit)} [${signed(d.p5, o.unit)}, ${signed(d.p95, o.unit)}]`;
      mean.dataset.value = String(d.mean);
      if (d.mean_low !== null) {
        Object.assign(mean.dataset, { low: String(d.mean_low), high: String(d.mean_high) });
        mean.textContent = `${signed(d.mean, o.unit)} [${signed(d.mean_low, o.unit)}, ${signed(d.mean_high, o.unit)}]`;
      } else {
        mean.textContent = `${signed(d.mean, o.unit)} [too few pairs]`;
      }
      const n = diff.pairs;
      const word = d.clear === null ? "no call" : d.clear ? (d.mean > 0 ? "B higher" : "B lower") : "no clear difference";
      call.textContent = `${word}; B above A in ${d.b_higher} of ${n}, below in ${d.b_lower}`;
      call.dataset.clear = String(d.clear);
      tr.classList.toggle("clear", d.clear === true);
    } else {
      band.textContent = mean.textContent = call.textContent = "–";
    }
    tr.append(band, mean, call);
    body.appendChild(tr);
  }
  for (const slot of ["A", "B"]) {
    const side = c && c[slot.toLowerCase()];
    for (const info of state.scenario.levers) {
      const span = document.querySelector(`[data-testid=effective-${slot}-${info.name}]`);
      if (!span) continue;
      const t = side && info.effective_outcome && side.totals[info.effective_outcome];
      span.textContent = t ? `in force ${compact(t.median, info.unit)}` : "";
      span.title = t ? `${info.effective_outcome}: average over the run, median of ${side.replicates} replicates` : "";
      if (t) span.dataset.value = String(t.median); else delete span.dataset.value;
    }
  }
  if (c && (c.a || c.b)) $("uncertainty").textContent = (c.a || c.b).uncertainty;
}

// --- rendering: charts ------------------------------------------------------------------------

function xRange() {
  return [`${state.scenario.start}`, `${horizonEnd()}`];
}

function dateShapes() {
  return changeDates().map((ch) => ({
    type: "line", xref: "x", yref: "paper", x0: ch.date, x1: ch.date, y0: 0, y1: 1,
    line: { color: `rgb(${COLORS[ch.slot]})`, width: 1, dash: "dash" },
  }));
}

function fanTraces(x, q, color) {
  const edge = { width: 0 };
  return [
    { x, y: q.p95, mode: "lines", line: edge, hoverinfo: "skip", showlegend: false },
    { x, y: q.p5, mode: "lines", line: edge, fill: "tonexty", fillcolor: `rgba(${color},0.16)`, hoverinfo: "skip", showlegend: false },
    { x, y: q.p75, mode: "lines", line: edge, hoverinfo: "skip", showlegend: false },
    { x, y: q.p25, mode: "lines", line: edge, fill: "tonexty", fillcolor: `rgba(${color},0.34)`, hoverinfo: "skip", showlegend: false },
    { x, y: q.median, mode: "lines", line: { color: `rgb(${color})`, width: 2 }, name: "median" },
  ];
}

function yRange(bands) {
  let lo = Infinity, hi = -Infinity;
  for (const q of bands) {
    if (!q) continue;
    for (const v of [...q.p5, ...q.p95]) {
      if (v === null || !Number.isFinite(v)) continue;
      lo = Math.min(lo, v); hi = Math.max(hi, v);
    }
  }
  if (!Number.isFinite(lo)) return undefined;
  const pad = (hi - lo) * 0.06 || Math.abs(hi) * 0.06 || 1;
  return [lo - pad, hi + pad];
}

function layout(title, range, extra = {}) {
  return {
    margin: { l: 64, r: 12, t: 26, b: 40 },
    title: { text: title, font: { size: 12 }, x: 0.02 },
    showlegend: false,
    xaxis: { type: "date", range: xRange(), automargin: true },
    yaxis: { range, automargin: true, tickformat: range && Math.max(...range.map(Math.abs)) >= 1e4 ? "~s" : "" },
    shapes: dateShapes(),
    ...extra,
  };
}

// While replicates stream in, only the charts on screen are redrawn (the browser shares the
// cores with the simulation); a chart scrolled into view is drawn then, and the final
// results draw every chart.
const visible = new Set();
const stale = new Set();
const observer = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    const id = entry.target.id;
    if (entry.isIntersecting) {
      visible.add(id);
      if (stale.has(id)) { stale.delete(id); drawChart(id); }
    } else {
      visible.delete(id);
    }
  }
}, { rootMargin: "200px" });

function watched(div) {
  observer.observe(div);
  return div;
}

function renderCharts() {
  const box = $("charts");
  const shown = shownOutcomes();
  const key = shown.map((o) => o.name).join(",");
  if (box.dataset.key !== key) {
    box.innerHTML = "";
    for (const o of shown) {
      const row = el("div", { className: "chart-row" });
      const title = el("div", { className: "chart-title" }, o.label);
      title.appendChild(el("small", {}, ` ${o.unit} · ${o.name}`));
      row.appendChild(title);
      for (const slot of ["A", "B", "D"]) {
        row.appendChild(watched(el("div", {
          className: "chart", id: `chart-${slot}-${o.name}`, "data-testid": `chart-${slot}-${o.name}`,
          "data-outcome": o.name, "data-slot": slot,
        })));
      }
      box.appendChild(row);
    }
    box.dataset.key = key;
  }
  for (const o of shown) for (const slot of ["A", "B", "D"]) drawLazily(`chart-${slot}-${o.name}`);
}

function drawLazily(id) {
  if (state.streaming && !visible.has(id)) { stale.add(id); return; }
  stale.delete(id);
  drawChart(id);
}

function drawChart(id) {
  if (typeof Plotly === "undefined") return;
  const div = $(id);
  if (!div) return;
  if (div.dataset.lever) { drawLever(div); return; }
  const name = div.dataset.outcome;
  const slot = div.dataset.slot;
  const c = state.comparison;
  const x = c ? c.periods : [];
  const qa = c && c.a && c.a.outcomes[name];
  const qb = c && c.b && c.b.outcomes[name];
  const n = (side) => (side ? ` (${side.replicates} of ${side.total})` : " (not run)");
  const config = { displayModeBar: false, responsive: true };
  if (slot === "A" || slot === "B") {
    const q = slot === "A" ? qa : qb;
    const side = c && c[slot.toLowerCase()];
    Plotly.react(div, q ? fanTraces(x, q, COLORS[slot]) : [], layout(`${slot}${n(side)}`, yRange([qa, qb])), config);
    return;
  }
  const qd = c && c.difference && c.difference.outcomes[name];
  const zero = { type: "line", xref: "paper", x0: 0, x1: 1, y0: 0, y1: 0, line: { color: "#555", width: 1 } };
  const dl = layout(`B − A, paired${qd ? ` (${c.difference.pairs} pairs)` : ""}`, yRange([qd]));
  dl.shapes = [...dl.shapes, zero];
  Plotly.react(div, qd ? fanTraces(x, qd, COLORS.D) : [], dl, config);
  div.dataset.pairs = qd ? String(c.difference.pairs) : "0";
}

function renderLeverCharts() {
  const box = $("lever-charts");
  const levers = state.scenario.levers.filter((l) => l.effective_outcome);
  const key = levers.map((l) => l.name).join(",");
  if (box.dataset.key !== key) {
    box.innerHTML = "";
    for (const l of levers) {
      const wrap = el("div", { className: "lever-chart" });
      wrap.appendChild(el("div", { className: "chart-title" }, `${l.label}`));
      wrap.lastChild.appendChild(el("small", {}, ` set: ${l.name} · in force: ${l.effective_outcome}`));
      wrap.appendChild(watched(el("div", {
        className: "chart", id: `lever-chart-${l.name}`, "data-testid": `lever-chart-${l.name}`,
        "data-lever": l.name,
      })));
      box.appendChild(wrap);
    }
    box.dataset.key = key;
  }
  for (const l of levers) drawLazily(`lever-chart-${l.name}`);
}

function drawLever(div) {
  const l = state.scenario.levers.find((x) => x.name === div.dataset.lever);
  if (!l) return;
  const c = state.comparison;
  const traces = [];
  for (const slot of ["A", "B"]) {
    const side = c && c[slot.toLowerCase()];
    const q = side && side.outcomes[l.effective_outcome];
    if (q) traces.push(...fanTraces(c.periods, q, COLORS[slot]).slice(0, 4));
    if (q) traces.push({ x: c.periods, y: q.median, mode: "lines", line: { color: `rgb(${COLORS[slot]})`, width: 2 }, name: `${slot} in force` });
    const set = c && c.set_levers[slot] && c.set_levers[slot][l.name];
    if (set) traces.push({ x: c.periods, y: set, mode: "lines", line: { color: `rgb(${COLORS[slot]})`, width: 1, dash: "dot", shape: "hv" }, name: `${slot} set` });
  }
  Plotly.react(div, traces, layout("", undefined, { showlegend: false }), { displayModeBar: false, responsive: true });
}

function renderTimeline() {
  if (typeof Plotly === "undefined" || !state.scenario) return;
  const s = state.scenario;
  const rows = [];
  const traces = [];
  const rowOf = (label) => { if (!rows.includes(label)) rows.push(label); return label; };
  const groups = {};
  for (const e of s.events) {
    const label = e.kind === "lever" ? `lever: ${e.lever}` : e.kind.replace("_", " ");
    const g = (groups[label] = groups[label] || { x: [], y: [], text: [], spans: [] });
    g.x.push(e.date); g.y.push(rowOf(label));
    g.text.push(`${e.date}${e.until ? ` to ${e.until}` : ""}: ${e.kind === "lever" ? `${e.lever} = ${e.value}` : e.kind}${e.resolution ? ` ${e.resolution}` : ""}<br>${e.source}`);
    if (e.until) g.spans.push([e.date, e.until]);
  }
  for (const [label, g] of Object.entries(groups)) {
    traces.push({ x: g.x, y: g.y, text: g.text, mode: "markers", type: "scatter", hoverinfo: "text", marker: { size: 9, color: "#444" }, name: label });
    for (const [a, b] of g.spans) traces.push({ x: [a, b], y: [label, label], mode: "lines", line: { color: "#999", width: 4 }, hoverinfo: "skip" });
  }
  for (const ch of changeDates()) {
    const label = rowOf(`${ch.slot}: ${ch.lever}`);
    traces.push({ x: [ch.date, horizonEnd()], y: [label, label], mode: "lines+markers", line: { color: `rgb(${COLORS[ch.slot]})`, width: 4 }, marker: { size: 9 }, hoverinfo: "text", text: [`${ch.slot}: ${ch.label} = ${compact(ch.value, ch.unit)} from ${ch.date}`, ""] });
  }
  const endo = { type: "line", xref: "x", yref: "paper", x0: s.endogenous_from, x1: s.endogenous_from, y0: 0, y1: 1, line: { color: "#888", width: 1, dash: "dot" } };
  Plotly.react("timeline", traces, {
    margin: { l: 170, r: 12, t: 10, b: 36 },
    height: 60 + 26 * Math.max(rows.length, 1),
    showlegend: false,
    xaxis: { type: "date", range: xRange(), automargin: true },
    yaxis: { type: "category", categoryarray: rows.slice().reverse(), automargin: true },
    shapes: s.endogenous_from > s.start && s.endogenous_from <= s.end ? [endo] : [],
    annotations: s.endogenous_from > s.start && s.endogenous_from <= s.end ? [{ x: s.endogenous_from, y: 1, yref: "paper", text: "strategic model from here", showarrow: false, xanchor: "left", font: { size: 10, color: "#666" } }] : [],
  }, { displayModeBar: false, responsive: true });
  $("timeline").dataset.events = String(s.events.length);
}

function renderNow() {
  if (!state.scenario) return;
  renderSummary();
  renderCharts();
  renderLeverCharts();
}

let pending = false;
function render() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    renderNow();
  });
}

// --- outcome picker ---------------------------------------------------------------------

function buildOutcomeList() {
  const box = $("outcome-list");
  box.innerHTML = "";
  for (const theme of state.themes) {
    const group = el("fieldset", { className: "theme" });
    group.appendChild(el("legend", {}, theme));
    for (const o of state.outcomes.filter((x) => x.theme === theme)) {
      const label = el("label", { title: `${o.name}: ${o.doc} (${o.kind}, ${o.unit})` });
      const box_ = el("input", { type: "checkbox", value: o.name, "data-testid": `outcome-${o.name}` });
      box_.checked = state.selected.has(o.name);
      box_.addEventListener("change", async (e) => {
        if (e.target.checked) state.selected.add(o.name); else state.selected.delete(o.name);
        const c = state.comparison;
        if (c && c.complete && !(c.a && o.name in c.a.outcomes)) await refreshBands(c.id);
        render();
      });
      label.append(box_, ` ${o.label} `, el("small", {}, o.unit));
      group.appendChild(label);
    }
    box.appendChild(group);
  }
}

// --- start ------------------------------------------------------------------------------

async function waitWarm() {
  for (;;) {
    const health = await api("/api/health");
    state.limits = health.limits;
    if (health.warm) { document.body.dataset.warm = "1"; return; }
    $("status").textContent = "starting the simulation engine";
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function init() {
  try {
    const [{ scenarios }, outcomes, health] = await Promise.all([
      api("/api/scenarios"), api("/api/outcomes"), api("/api/health"),
    ]);
    state.limits = health.limits;
    state.outcomes = outcomes.outcomes;
    state.themes = outcomes.themes;
    state.selected = new Set(outcomes.default);
    const select = $("scenario");
    for (const s of scenarios) select.appendChild(el("option", { value: s.name }, `${s.name}: ${s.title}`));
    select.value = scenarios.some((s) => s.name === "baseline-2016") ? "baseline-2016" : scenarios[0].name;
    select.addEventListener("change", () => {
      if (!select.value.startsWith("uploaded:")) loadScenario(select.value);
    });
    buildOutcomeList();
    await loadScenario(select.value);
    $("years").addEventListener("input", () => { showCap(); renderTimeline(); render(); });
    $("run").addEventListener("click", run);
    $("copy-A").addEventListener("click", () => copyLevers("A", "B"));
    $("reset-B").addEventListener("click", () => resetLevers("B"));
    $("toml-use").addEventListener("click", useToml);
    $("toml-file").addEventListener("change", async (e) => {
      const file = e.target.files[0];
      if (file) { $("toml").value = await file.text(); await useToml(); }
    });
    document.body.dataset.ready = "1";
    await waitWarm();
    $("status").textContent = "not run";
  } catch (err) {
    $("status").classList.add("failed");
    $("status").textContent = `cannot load: ${err.message}`;
  }
}

document.addEventListener("DOMContentLoaded", init);
