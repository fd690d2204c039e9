// ECMO rig console dashboard: plain JS, no build step. Talks to ecmo-console's
// /api/* (cookie session) and /api/ws (live rig messages, see docs/console-protocol.md).
'use strict';

const $ = (sel) => document.querySelector(sel);
const WINDOW_S = 120;           // seconds of history in the charts
const STALE_MS = 1000;          // no telemetry for this long: data marked stale
const state = {
  role: null, user: null, ws: null, backoff: 500, lastTelemetryAt: 0, linkConnected: false,
  hello: null, alarms: null, protocol: null, frames: 0, rateWindowStart: performance.now(), rateHz: 0,
  buffer: [], audioRemaining: 0, audioAt: 0, currentItemStart: null,
};
window.ecmoStats = state;       // read by the end-to-end test

function showPageError(text) {
  const e = $('#page-error');
  e.textContent = text;
  e.hidden = !text;
}

// ---- charts -------------------------------------------------------------------------
const charts = {};
function makeChart(id, datasets, extraScales) {
  const canvas = document.getElementById(id);
  const scales = Object.assign({
    x: { type: 'linear', title: { display: true, text: 't (s)', color: '#8a96a3' }, ticks: { color: '#8a96a3', maxTicksLimit: 7 }, grid: { color: '#28313a' } },
    y: { ticks: { color: '#8a96a3' }, grid: { color: '#28313a' } },
  }, extraScales || {});
  return new Chart(canvas, {
    type: 'line',
    data: { datasets: datasets.map((d) => Object.assign({ data: [], borderWidth: 1.5, pointRadius: 0, tension: 0 }, d)) },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false, parsing: false, normalized: true,
      plugins: { legend: { labels: { color: '#e6e9ec', boxWidth: 12 } } }, scales,
    },
  });
}
function setupCharts() {
  if (typeof Chart === 'undefined') {
    showPageError('Charting library missing: /vendor/chart.js did not load. Install Debian\'s libjs-chart.js or start ecmo-console with --assets DIR. Numbers below still update.');
    return;
  }
  charts.pressures = makeChart('chart-pressures', [
    { label: 'P_drain', borderColor: '#5dade2' }, { label: 'P_pre', borderColor: '#f5b041' }, { label: 'P_post', borderColor: '#58d68d' }]);
  charts.dp = makeChart('chart-dp', [{ label: 'ΔP', borderColor: '#eb984e' }]);
  charts.flow = makeChart('chart-flow', [
    { label: 'flow (L/min)', borderColor: '#48c9b0', yAxisID: 'y' }, { label: 'rpm', borderColor: '#af7ac5', yAxisID: 'y2' }],
    { y2: { position: 'right', ticks: { color: '#af7ac5' }, grid: { drawOnChartArea: false } } });
  charts.roxy = makeChart('chart-roxy', [
    { label: 'R oxy', borderColor: '#ec7063' }, { label: 'baseline (fouling monitor)', borderColor: '#f4d03f', borderWidth: 2, borderDash: [6, 4] }]);
  charts.volume = makeChart('chart-volume', [
    { label: 'cells infused', borderColor: '#5dade2' }, { label: 'planned', borderColor: '#aab7b8', borderDash: [6, 4] }]);
}
function pushPoints() {
  const frames = state.buffer;
  state.buffer = [];
  if (!charts.pressures || frames.length === 0) return;
  const add = (chart, i, x, y) => { if (y !== null && y !== undefined && isFinite(y)) chart.data.datasets[i].data.push({ x, y }); };
  for (const f of frames) {
    add(charts.pressures, 0, f.t, f.p_drain); add(charts.pressures, 1, f.t, f.p_pre); add(charts.pressures, 2, f.t, f.p_post);
    add(charts.dp, 0, f.t, f.dp_oxy);
    add(charts.flow, 0, f.t, f.flow_lpm); add(charts.flow, 1, f.t, f.rpm);
    add(charts.roxy, 0, f.t, f.r_oxy); add(charts.roxy, 1, f.t, f.r_oxy_baseline);
    add(charts.volume, 0, f.t, f.cells_ml);
    add(charts.volume, 1, f.t, plannedVolumeAt(f));
  }
  const tEnd = frames[frames.length - 1].t;
  for (const c of Object.values(charts)) {
    for (const d of c.data.datasets) {
      let n = 0;
      while (n < d.data.length && d.data[n].x < tEnd - WINDOW_S) n++;
      if (n) d.data.splice(0, n);
      if (d.data.length && d.data[d.data.length - 1].x > tEnd + 1) d.data.length = 0; // a new run restarted t
    }
    c.update('none');
  }
}
// Planned cell volume by now: done doses in full, the current dose pro rata over its
// duration (its start taken as the run time when the rig first reported it current).
function plannedVolumeAt(f) {
  const p = state.protocol;
  if (!p || !p.loaded) return null;
  let v = 0;
  for (const it of p.items) {
    if (it.status === 'done') v += it.volume_ml;
    else if (it.status === 'current' && it.volume_ml > 0 && state.currentItemStart !== null) {
      const frac = it.duration_s > 0 ? (f.t - state.currentItemStart) / it.duration_s : 1;
      v += it.volume_ml * Math.max(0, Math.min(1, frac));
    }
  }
  return v;
}

// ---- rendering ----------------------------------------------------------------------
const fmt = (v, d) => (v === null || v === undefined || !isFinite(v)) ? '–' : Number(v).toFixed(d);
function tile(id, text) { const e = document.querySelector('#tile-' + id + ' .value'); if (e) e.textContent = text; }

function onTelemetry(f) {
  state.lastTelemetryAt = performance.now();
  state.frames++;
  state.totalFrames = (state.totalFrames || 0) + 1;
  state.last = f;
  state.buffer.push(f);
  tile('p_drain', fmt(f.p_drain, 0)); tile('p_pre', fmt(f.p_pre, 0)); tile('p_post', fmt(f.p_post, 0));
  tile('dp_oxy', fmt(f.dp_oxy, 1)); tile('flow_lpm', fmt(f.flow_lpm, 2)); tile('rpm', fmt(f.rpm, 0));
  tile('r_oxy', fmt(f.r_oxy, 2)); tile('cells_ml', fmt(f.cells_ml, 1)); tile('heparin_ml', fmt(f.heparin_ml, 2));
  tile('state', f.state + (f.phase ? ' / ' + f.phase : '') + (f.fault && f.fault !== 'none' ? ' / ' + f.fault : ''));
  renderSafety(f);
  if (f.setpoint) $('#setpoint').textContent = 'set-point ' + f.setpoint.value + (f.setpoint.mode === 'flow' ? ' L/min' : ' rpm');
}

function onAlarms(a) {
  state.alarms = a;
  state.audioRemaining = a.audio_paused_remaining_s || 0;
  state.audioAt = performance.now();
  renderAlarms();
}
function renderAlarms() {
  const a = state.alarms;
  const banner = $('#alarm-banner');
  const list = $('#alarm-list');
  const alarms = (a && a.alarms) || [];
  const rank = { high: 3, medium: 2, low: 1 };
  banner.className = 'alarm-banner';
  if (alarms.length === 0) {
    banner.classList.add('none');
    list.innerHTML = '<span class="muted">No active alarms</span>';
  } else {
    const top = alarms.reduce((m, x) => (rank[x.priority] || 0) > (rank[m.priority] || 0) ? x : m, alarms[0]);
    banner.classList.add(top.priority);
    // Acknowledged alarms no longer flash (IEC 60601-1-8: the visual signal stays, steady).
    if (alarms.every((x) => x.state === 'acknowledged')) banner.classList.add('acknowledged');
    list.innerHTML = '';
    for (const x of alarms.slice().sort((p, q) => (rank[q.priority] || 0) - (rank[p.priority] || 0))) {
      const s = document.createElement('span');
      s.className = 'alarm ' + x.priority;
      s.dataset.alarm = x.name;
      s.textContent = x.name.replace(/_/g, ' ');
      const st = document.createElement('span');
      st.className = 'state';
      st.textContent = '(' + x.priority + ', ' + x.state + ')';
      s.appendChild(st);
      list.appendChild(s);
    }
  }
  const unacked = alarms.some((x) => x.state !== 'acknowledged');
  $('#ack-all').disabled = !unacked || state.role !== 'operator';
  $('#pause-audio').disabled = alarms.length === 0 || state.role !== 'operator';
  renderAudio();
}
function renderAudio() {
  const left = Math.max(0, state.audioRemaining - (performance.now() - state.audioAt) / 1000);
  const el = $('#audio-state');
  if (left > 0) {
    const m = Math.floor(left / 60), s = Math.floor(left % 60);
    el.textContent = '🔇 audio paused ' + m + ':' + String(s).padStart(2, '0');
  } else el.textContent = '';
}

function onProtocol(p) {
  if (!state.protocol || state.protocol.current_item !== p.current_item) state.currentItemStart = p.t;
  state.protocol = p;
  $('#protocol-state').textContent = p.loaded ? '(' + (p.name || '') + ': ' + p.state + ')' : '';
  const s = $('#protocol-summary');
  if (!p.loaded) { s.textContent = 'No protocol in this run'; }
  else {
    s.textContent = 'cells ' + fmt(p.cells_delivered_ml, 1) + ' / ' + fmt(p.cells_planned_ml, 1) + ' mL, heparin ' +
      fmt(p.heparin_delivered_ml, 2) + ' mL' + (p.next_dose_at_s != null ? ', next dose at ' + fmt(p.next_dose_at_s, 0) + ' s'
        : (p.items || []).some((it) => it.status === 'current' && it.volume_ml > 0) ? ', last dose in progress' : ', no dose left') +
      (p.cells_halt && p.cells_halt !== 'none' ? ', cells halted: ' + p.cells_halt : '');
  }
  const body = $('#timeline tbody');
  body.innerHTML = '';
  for (const it of p.items || []) {
    const tr = document.createElement('tr');
    tr.className = it.status;
    for (const v of [it.index, it.kind, fmt(it.at_s, 0), fmt(it.duration_s, 0), fmt(it.volume_ml, 1), it.status]) {
      const td = document.createElement('td'); td.textContent = v; tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

// ---- safety at a glance ---------------------------------------------------------------
// Fouling state from the rig's own numbers: no baseline yet = collecting; a baseline =
// armed; the fouling alarms say warning / paused. Interlocks from the alarms that take
// speed away (alarm tier) or hold it (warning tier), as the core's supervisor does.
const INTERLOCKS = {
  P_DRAIN_LOW: 'suction (P_drain below its alarm limit): speed taken away',
  P_PRE_HIGH: 'P_pre above its alarm limit: speed taken away',
  P_POST_HIGH: 'P_post above its alarm limit: speed taken away',
  P_DRAIN_LOW_WARN: 'P_drain below its warning limit: speed may not rise',
  P_PRE_HIGH_WARN: 'P_pre above its warning limit: speed may not rise',
  P_POST_HIGH_WARN: 'P_post above its warning limit: speed may not rise',
};
function activeAlarm(name) { return !!(state.alarms && state.alarms.alarms.some((a) => a.name === name)); }
function foulingState(f) {
  if (activeAlarm('OXY_FOULING_PAUSE')) return { key: 'paused', text: 'paused: cells stopped on a resistance rise (acknowledge, then resume)' };
  const b = f.r_oxy_baseline;
  if (b === null || b === undefined) return { key: 'collecting', text: 'collecting baseline (R now ' + fmt(f.r_oxy, 2) + ' mmHg/(L/min))' };
  const rise = f.r_oxy != null && b > 0 ? ' (R ' + fmt(f.r_oxy, 2) + ', ' + (f.r_oxy >= b ? '+' : '') + fmt((f.r_oxy / b - 1) * 100, 0) + ' %)' : '';
  if (activeAlarm('OXY_FOULING_WARNING')) return { key: 'warning', text: 'warning: baseline R ' + fmt(b, 2) + ' mmHg/(L/min)' + rise };
  return { key: 'armed', text: 'armed: baseline R ' + fmt(b, 2) + ' mmHg/(L/min)' + rise };
}
function renderSafety(f) {
  const fs = foulingState(f);
  const el = $('#fouling-state');
  el.textContent = fs.text; el.dataset.state = fs.key; el.className = 'fouling-' + fs.key;
  // Zero flow: since when the flow has been under 0.3 L/min with the circuit active.
  if (f.state === 'active' && f.flow_lpm < 0.3) { if (state.zeroSince == null) state.zeroSince = f.t; } else state.zeroSince = null;
  const lim = limitValue('zero_flow_limit_s');
  $('#zero-flow').textContent = state.zeroSince == null ? 'flow present' :
    fmt(f.t - state.zeroSince, 1) + ' s of no flow' + (lim != null ? ' (NO_FLOW at ' + fmt(lim, 0) + ' s)' : '');
  const why = Object.keys(INTERLOCKS).filter((n) => activeAlarm(n)).map((n) => INTERLOCKS[n]);
  if (f.clamp_closed) why.push('clamp closed');
  if (!f.pump_on) why.push('pump off (' + f.state + (f.fault && f.fault !== 'none' ? ': ' + f.fault : '') + ')');
  $('#interlock').textContent = why.length ? why.join('; ') : 'nothing: set-point in control';
  // The clear-fault → activate sequence and its preconditions (the rig checks them again).
  const sensorsOk = (f.invalid_mask & 0x0F) === 0;
  const pre = f.state === 'fault' ? 'Step 1: Clear fault (' + f.fault + '; refused while the E-stop is pressed or air is detected), then Activate.'
    : f.state === 'inactive' ? 'Activate: ' + (sensorsOk ? 'sensors valid, ready.' : 'waiting: a pressure or flow sensor is not valid.')
    : 'Circuit ' + f.state + ': neither is needed.';
  $('#restart-pre').textContent = pre;
}

// ---- alarm limits ---------------------------------------------------------------------
function limitValue(key) {
  const l = state.hello && (state.hello.alarm_limits || []).find((x) => x.key === key);
  return l ? l.value : null;
}
function renderLimits() {
  const limits = (state.hello && state.hello.alarm_limits) || [];
  const body = $('#limits tbody');
  body.innerHTML = '';
  $('#limits-note').textContent = limits.length ? (state.role === 'operator' ? 'The rig checks every change against its bounds.' : 'Read-only: changing a limit needs the operator role.') : 'This rig does not report its alarm limits.';
  for (const l of limits) {
    const tr = document.createElement('tr');
    tr.dataset.key = l.key;
    const cells = [l.key, fmt(l.value, 2) + ' ' + l.unit, fmt(l.min, 1) + ' … ' + fmt(l.max, 1)];
    for (const v of cells) { const td = document.createElement('td'); td.textContent = v; tr.appendChild(td); }
    tr.children[1].className = 'limit-value';
    const td = document.createElement('td'); td.className = 'operator-only';
    if (state.role === 'operator') {
      const input = document.createElement('input'); input.type = 'number'; input.step = 'any'; input.name = 'value'; input.value = l.value;
      const btn = document.createElement('button'); btn.textContent = 'Set';
      btn.addEventListener('click', () => sendCommand('set_alarm_limit', { key: l.key, value: Number(input.value) }));
      td.appendChild(input); td.appendChild(btn);
    }
    tr.appendChild(td);
    body.appendChild(tr);
  }
}

function onEvent(e) {
  if (e.code === 'alarm_limit' && state.hello && state.hello.alarm_limits && e.values) {
    const l = state.hello.alarm_limits.find((x) => x.key === e.values.key);
    if (l) { l.value = e.values.to; renderLimits(); }
  }
  // A drill's prompts and countdown (ecmo-rig drill --console-socket): the latest stays
  // in view above the alarms until the drill ends.
  if (e.code === 'drill') {
    $('#drill-banner').hidden = false;
    $('#drill-text').textContent = e.text.replace(/^DRILL: /, '');
    if (e.values && e.values.seconds_left != null) return;   // the countdown: banner only
  }
  const li = document.createElement('li');
  li.textContent = fmt(e.t, 1) + ' s  ' + e.text;
  const list = $('#events');
  list.insertBefore(li, list.firstChild);
  while (list.children.length > 100) list.removeChild(list.lastChild);
}

function onHello(h) {
  state.hello = h;
  $('#run-info').textContent = 'run ' + h.run_id + ' · ' + h.board + ' · ' + h.mode + ' mode';
  const lim = h.limits || {};
  const setRange = (name, lo, hi) => { const i = document.querySelector('input[name=' + name + ']'); if (i && lo != null) { i.min = lo; i.max = hi; i.placeholder = lo + '–' + hi; } };
  setRange('lpm', lim.flow_min_lpm, lim.flow_max_lpm);
  setRange('rpm', lim.rpm_min, lim.rpm_max);
  setRange('u_per_kg_h', lim.heparin_min_u_per_kg_h, lim.heparin_max_u_per_kg_h);
  renderLimits();
}

function setLink(connected, reason) {
  state.linkConnected = connected;
  const b = $('#link-state');
  b.textContent = connected ? 'rig connected' : 'rig disconnected' + (reason ? ' (' + reason + ')' : '');
  b.className = 'badge ' + (connected ? 'ok' : 'bad');
}

function tick() {
  const stale = performance.now() - state.lastTelemetryAt > STALE_MS;
  document.body.classList.toggle('stale', stale && state.role !== null);
  $('#stale-state').hidden = !(stale && state.role !== null);
  const now = performance.now();
  if (now - state.rateWindowStart >= 2000) {
    state.rateHz = state.frames * 1000 / (now - state.rateWindowStart);
    state.frames = 0; state.rateWindowStart = now;
    $('#rate').textContent = state.rateHz ? state.rateHz.toFixed(1) + ' Hz' : '';
  }
  renderAudio();
}

// ---- WebSocket ----------------------------------------------------------------------
function connect() {
  if (state.ws) return;
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/ws');
  state.ws = ws;
  ws.onopen = () => { state.backoff = 500; };
  ws.onmessage = (m) => {
    let msg;
    try { msg = JSON.parse(m.data); } catch (e) { return; }
    switch (msg.type) {
      case 'telemetry': onTelemetry(msg); break;
      case 'alarms': onAlarms(msg); break;
      case 'protocol': onProtocol(msg); break;
      case 'event': onEvent(msg); break;
      case 'hello': onHello(msg); break;
      case 'link': setLink(msg.connected, msg.reason); break;
      case 'session': setRole(msg.user, msg.role); break;
      case 'error': onEvent({ t: NaN, code: 'rig error', text: msg.code + ': ' + msg.message }); break;
    }
  };
  ws.onclose = () => {
    state.ws = null;
    setLink(false, 'console connection lost, reconnecting');
    if (state.role === null) return;
    // The session may have expired: ask before reconnecting.
    setTimeout(() => checkSession(), state.backoff);
    state.backoff = Math.min(state.backoff * 2, 5000);
  };
}

// ---- session and commands -----------------------------------------------------------
function setRole(user, role) {
  state.user = user; state.role = role;
  document.body.classList.remove('logged-out', 'viewer', 'operator');
  document.body.classList.add('logged-in', role);
  $('#who').textContent = user + ' (' + role + ')';
  for (const b of document.querySelectorAll('.operator-only button, button.operator-only')) b.disabled = role !== 'operator';
  if (state.alarms) renderAlarms();
  renderLimits();
  loadRuns();
}
function loggedOut() {
  state.user = null; state.role = null;
  document.body.classList.remove('logged-in', 'viewer', 'operator');
  document.body.classList.add('logged-out');
  if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
}
async function checkSession() {
  try {
    const r = await fetch('/api/status', { credentials: 'same-origin' });
    if (r.status === 401) { loggedOut(); return; }
    const s = await r.json();
    setRole(s.user, s.role);
    setLink(s.rig.connected, s.rig_error);
    connect();
  } catch (e) {
    setLink(false, 'console unreachable');
    setTimeout(checkSession, state.backoff);
    state.backoff = Math.min(state.backoff * 2, 5000);
  }
}
async function sendCommand(name, args) {
  const out = $('#command-result');
  out.textContent = name + '…';
  try {
    const r = await fetch('/api/command', {
      method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name, args: args || {} }),
    });
    const body = await r.json().catch(() => ({}));
    out.textContent = r.ok ? name + ': done' : name + ': refused (' + r.status + '): ' + (body.error || r.statusText);
    out.className = r.ok ? 'muted' : 'error';
    if (r.status === 401) loggedOut();
    return r.ok;
  } catch (e) {
    out.textContent = name + ': ' + e; out.className = 'error';
    return false;
  }
}

$('#login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('#login-error').textContent = '';
  const r = await fetch('/api/login', {
    method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user: $('#login-user').value, password: $('#login-pass').value }),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { $('#login-error').textContent = body.error || ('login failed (' + r.status + ')'); return; }
  $('#login-pass').value = '';
  setRole(body.user, body.role);
  connect();
});
$('#logout-btn').addEventListener('click', async () => { await fetch('/api/logout', { method: 'POST' }); loggedOut(); });
$('#ack-all').addEventListener('click', () => sendCommand('acknowledge', { alarm: 'all' }));
$('#pause-audio').addEventListener('click', () => sendCommand('pause_audio'));
for (const f of document.querySelectorAll('form[data-command]')) {
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const args = {};
    for (const i of f.querySelectorAll('input')) args[i.name] = i.type === 'number' ? Number(i.value) : i.value;
    sendCommand(f.dataset.command, args).then((ok) => { if (ok && f.dataset.command === 'annotate') f.reset(); });
  });
}
for (const b of document.querySelectorAll('button[data-simple]')) {
  b.addEventListener('click', () => {
    if (b.dataset.confirm && !confirm(b.dataset.confirm)) return;
    sendCommand(b.dataset.simple, b.dataset.channel ? { channel: b.dataset.channel } : {});
  });
}

// ---- finished runs ----------------------------------------------------------------------
// From ecmo-rig's own run store (GET /api/runs); the report, CSV and comparison are made by
// ecmo-rig on request. Filters match substrings, case-insensitive.
state.runs = [];
async function loadRuns() {
  const note = $('#runs-note');
  try {
    const r = await fetch('/api/runs', { credentials: 'same-origin' });
    if (!r.ok) { const b = await r.json().catch(() => ({})); note.textContent = b.error || ('runs: ' + r.status); state.runs = []; renderRuns(); return; }
    state.runs = await r.json();
    renderRuns();
  } catch (e) { note.textContent = 'runs: ' + e; }
}
function renderRuns() {
  const f = (id) => $(id).value.trim().toLowerCase();
  const want = { board: f('#f-board'), protocol: f('#f-protocol'), operator: f('#f-operator'), outcome: f('#f-outcome') };
  const has = (v, w) => !w || String(v || '').toLowerCase().includes(w);
  const finished = state.runs.filter((r) => r.outcome !== 'running' && r.ended_at);
  const shown = finished.filter((r) => has(r.board, want.board) && has(r.protocol_name, want.protocol) && has(r.operator_name, want.operator) && has(r.outcome, want.outcome));
  $('#runs-note').textContent = shown.length + ' of ' + finished.length + ' finished runs';
  const body = $('#runs tbody');
  body.innerHTML = '';
  for (const r of shown) {
    const tr = document.createElement('tr');
    tr.dataset.run = r.id;
    const pick = document.createElement('input'); pick.type = 'checkbox'; pick.className = 'run-pick'; pick.value = r.id;
    pick.addEventListener('change', updateCompare);
    const td0 = document.createElement('td'); td0.appendChild(pick); tr.appendChild(td0);
    const dur = r.duration_s != null ? (r.duration_s >= 3600 ? fmt(r.duration_s / 3600, 2) + ' h' : fmt(r.duration_s / 60, 1) + ' min') : '–';
    for (const v of [r.id, r.board || '–', r.protocol_name || '–', r.operator_name || '–', r.outcome + (r.passed === false ? ' (FAIL)' : ''), dur, r.alarms_total]) {
      const td = document.createElement('td'); td.textContent = v; tr.appendChild(td);
    }
    const links = document.createElement('td');
    const rep = document.createElement('a'); rep.href = '/api/runs/' + encodeURIComponent(r.id) + '/report'; rep.textContent = 'report'; rep.target = '_blank'; rep.className = 'run-report';
    const csv = document.createElement('a'); csv.href = '/api/runs/' + encodeURIComponent(r.id) + '/telemetry.csv'; csv.textContent = 'CSV'; csv.className = 'run-csv';
    links.appendChild(rep); links.appendChild(document.createTextNode(' · ')); links.appendChild(csv);
    tr.appendChild(links);
    body.appendChild(tr);
  }
  updateCompare();
}
function updateCompare() {
  const ids = [...document.querySelectorAll('.run-pick:checked')].map((x) => x.value);
  const a = $('#compare-link');
  a.hidden = ids.length < 2;
  a.href = '/api/compare?ids=' + ids.map(encodeURIComponent).join(',');
  a.textContent = 'Compare ' + ids.length + ' selected';
}
$('#runs-refresh').addEventListener('click', loadRuns);
for (const id of ['#f-board', '#f-protocol', '#f-operator', '#f-outcome']) $(id).addEventListener('input', renderRuns);

setupCharts();
setInterval(pushPoints, 250);
setInterval(tick, 200);
checkSession();
