// The live page: polls /api/state once a second and redraws in place. The server sends at most
// a bounded list of alerts, and the table is rebuilt from it each time, so the page's size does
// not grow with the traffic. Text goes in with textContent only: nothing from a record is ever
// parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const fmt = (x, digits = 0) =>
  x === null || x === undefined ? "-" : Number(x).toLocaleString("en", {
    minimumFractionDigits: digits, maximumFractionDigits: digits });
const pct = (x, digits = 2) => (x === null || x === undefined ? "-" : (100 * x).toFixed(digits) + "%");
const dur = (s) => {
  s = Math.floor(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
};

function cell(row, text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  if (text instanceof Node) td.appendChild(text); else td.textContent = text ?? "-";
  row.appendChild(td);
}

function drawAlerts(alerts) {
  const body = document.querySelector("#alerts tbody");
  const rows = document.createDocumentFragment();
  for (const a of alerts) {
    const tr = document.createElement("tr");
    tr.dataset.transaction = a.transaction_id;
    cell(tr, (a.time || "").replace("T", " ").replace("Z", ""), "mono");
    cell(tr, a.transaction_id, "mono");
    cell(tr, a.account, "mono");
    cell(tr, a.card, "mono");
    cell(tr, a.amount === null || a.amount === undefined ? "-" : `${fmt(a.amount, 2)} ${a.currency}`, "num");
    cell(tr, a.merchant);
    cell(tr, fmt(a.score, 3), "num");
    const band = document.createElement("span");
    band.className = `band ${a.band}`;
    band.textContent = a.band;
    cell(tr, band);
    const ul = document.createElement("ul");
    ul.className = "reasons";
    for (const r of a.reasons.length ? a.reasons : ["(no reason given)"]) {
      const li = document.createElement("li");
      li.textContent = r;
      ul.appendChild(li);
    }
    for (const r of a.rules || []) {
      const li = document.createElement("li");
      li.className = "rule";
      li.textContent = `rule ${r}`;
      ul.appendChild(li);
    }
    cell(tr, ul);
    cell(tr, a.model_version, "mono");
    rows.appendChild(tr);
  }
  body.replaceChildren(rows);
  $("no-alerts").hidden = alerts.length > 0;
}

function drawChart(series) {
  const pts = series.slice(-120);
  const max = Math.max(1, ...pts.map((p) => Math.max(p.in, p.out)));
  const line = (key) => pts.map((p, i) =>
    `${(600 * i / Math.max(1, pts.length - 1)).toFixed(1)},${(118 - 114 * p[key] / max).toFixed(1)}`).join(" ");
  $("line-in").setAttribute("points", line("in"));
  $("line-out").setAttribute("points", line("out"));
  $("chart-max").textContent = `top of chart: ${fmt(max)} records/s`;
}

function drawDrift(d) {
  const msg = $("drift-msg"), banner = $("drift-banner");
  if (!d) { msg.textContent = "-"; banner.hidden = true; return; }
  msg.textContent = d.message;
  msg.classList.toggle("bad", d.drifting);
  banner.hidden = !d.drifting;
  banner.textContent = d.drifting ? `Drift warning: ${d.message}` : "";
  const bars = $("drift-bars");
  const top = Math.max(0.01, ...d.shares, ...(d.expected_shares || [0]));
  const out = document.createDocumentFragment();
  d.shares.forEach((share, i) => {
    const group = document.createElement("div");
    group.title = `scores ${d.edges[i]}–${d.edges[i + 1]}: live ${pct(share, 1)}` +
      (d.expected_shares ? `, validation ${pct(d.expected_shares[i], 1)}` : "");
    const live = document.createElement("span");
    live.className = "live";
    live.style.height = `${100 * share / top}%`;
    group.appendChild(live);
    if (d.expected_shares) {
      const ref = document.createElement("span");
      ref.className = "ref";
      ref.style.height = `${100 * d.expected_shares[i] / top}%`;
      group.appendChild(ref);
    }
    out.appendChild(group);
  });
  bars.replaceChildren(out);
}

function draw(s) {
  $("model").textContent = s.model_versions.join(", ") || "-";
  $("worker").textContent = s.worker || "-";
  $("worker-wrap").hidden = !s.worker;
  $("mode").textContent = s.mode === "processor" ? "this processor" : "topics";
  $("uptime").textContent = dur(s.uptime_s);
  $("in-rate").textContent = fmt(s.rates.in_per_s, 1);
  $("in-total").textContent = `${fmt(s.totals.records_in)} in total`;
  $("out-rate").textContent = fmt(s.rates.out_per_s, 1);
  $("out-total").textContent = `${fmt(s.totals.scored)} in total`;
  const l = s.latency_ms;
  $("p99").textContent = fmt(l.p99, 1);
  $("lat-detail").textContent =
    `p50 ${fmt(l.p50, 1)} · p90 ${fmt(l.p90, 1)} · p99.9 ${fmt(l.p999, 1)} · max ${fmt(l.max, 1)} ms (last ${fmt(l.window)})`;
  $("alert-rate").textContent = pct(s.alert_rate);
  $("alert-total").textContent = `${fmt(s.totals.alerts)} alerts · ${fmt(60 * s.rates.alerts_per_s, 1)}/min`;
  $("dlq-rate").textContent = pct(s.dead_letter_rate);
  $("dlq-total").textContent = `${fmt(s.totals.dead_letters)} dead letters · ${fmt(60 * s.rates.dead_letters_per_s, 1)}/min`;
  const b = s.batches;
  $("batch-mean").textContent = fmt(b.mean_size, 1);
  $("batch-detail").textContent = b.window
    ? `max ${fmt(b.max_size)} · token fill ${pct(b.mean_fill, 0)} (last ${fmt(b.window)})` : "no language-model batch yet";
  $("lag-total").textContent = fmt(s.lag_total);
  const parts = Object.entries(s.lag);
  $("lag-detail").textContent = parts.length
    ? parts.map(([p, n]) => `p${p} ${fmt(n)}`).join(" · ") : "no partition yet";
  $("alerts-seen").textContent = `(latest ${s.alerts.length} of ${fmt(s.alerts_seen)} seen)`;
  drawChart(s.series);
  drawDrift(s.drift);
  drawAlerts(s.alerts);
}

async function poll() {
  const status = $("status");
  try {
    const res = await fetch("/api/state", { cache: "no-store" });
    if (!res.ok) throw new Error(res.status);
    draw(await res.json());
    status.textContent = "live";
    status.className = "status ok";
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  } catch (err) {
    status.textContent = "disconnected: retrying";
    status.className = "status down";
  }
  setTimeout(poll, 1000);
}

poll();
