// The local stack's dashboard: one snapshot a second over SSE (`/live`), rendered into the page. Everything that
// comes from events (types, sources, ids, data, device ids) is producer input: it is only ever set as textContent.
/* global uPlot */

const HISTORY_POINTS = 300;
const STATUS_NAMES = {
  200: 'ok',
  202: 'accepted',
  400: 'invalid',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not found',
  413: 'too large',
  414: 'URI too long',
  415: 'unsupported media type',
  429: 'throttled',
  431: 'headers too large',
  500: 'internal error',
  502: 'bad gateway',
  503: 'unavailable',
  504: 'timed out',
};

const $ = (id) => document.getElementById(id);
const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
const rate = (n) => (n >= 100 ? integer.format(n) : decimal.format(n));
const seconds = (s) => (s < 1 ? `${integer.format(s * 1000)} ms` : `${decimal.format(s)} s`);
const millis = (ms) =>
  ms === null || ms === undefined ? '–' : ms < 1000 ? `${integer.format(ms)} ms` : seconds(ms / 1000);

function setText(id, text) {
  const el = $(id);
  if (el.textContent !== text) el.textContent = text;
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function rows(tbody, items, toCells, empty) {
  const fragment = document.createDocumentFragment();
  for (const item of items) {
    const tr = document.createElement('tr');
    for (const td of toCells(item)) tr.append(td);
    fragment.append(tr);
  }
  if (items.length === 0 && empty) {
    const tr = document.createElement('tr');
    const td = cell(empty, 'muted');
    td.colSpan = 9;
    tr.append(td);
    fragment.append(tr);
  }
  tbody.replaceChildren(fragment);
}

function list(ul, entries) {
  const fragment = document.createDocumentFragment();
  for (const [label, value, className] of entries) {
    const li = document.createElement('li');
    if (className) li.className = className;
    const name = document.createElement('span');
    name.textContent = label;
    const v = document.createElement('b');
    v.textContent = value;
    li.append(name, v);
    fragment.append(li);
  }
  if (entries.length === 0) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = 'none';
    fragment.append(li);
  }
  ul.replaceChildren(fragment);
}

// --- charts: uPlot, five minutes of one point a second ---

const series = { t: [], requests: [], accepted: [], rejected: [], streamRecords: [], stored: [], lag: [], p99: [] };
const charts = [];

function chart(id, lines) {
  const el = $(id);
  const opts = {
    width: Math.max(200, el.clientWidth),
    height: 150,
    legend: { show: true, live: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [{ stroke: '#667' }, { stroke: '#667', size: 60 }],
    series: [{}, ...lines.map(([label, color]) => ({ label, stroke: color, width: 1.5, spanGaps: true }))],
  };
  const keys = lines.map((l) => l[2]);
  const u = new uPlot(opts, [series.t, ...keys.map((k) => series[k])], el);
  charts.push({ u, el, keys });
}

function drawCharts() {
  for (const { u, keys } of charts) u.setData([series.t, ...keys.map((k) => series[k])]);
}

function addPoint(p) {
  series.t.push(p.t);
  series.requests.push(p.requests);
  series.accepted.push(p.accepted);
  series.rejected.push(p.rejected);
  series.streamRecords.push(p.streamRecords);
  series.stored.push(p.stored);
  series.lag.push(p.maxLagSeconds);
  series.p99.push(p.storedP99Ms);
  for (const values of Object.values(series)) if (values.length > HISTORY_POINTS) values.shift();
}

// --- the live tail, filtered here (the snapshot carries the newest records) ---

let lastTail = [];

function renderTail() {
  const type = $('tail-type').value.trim().toLowerCase();
  const source = $('tail-source').value.trim().toLowerCase();
  const shown = lastTail.filter(
    (e) => (!type || e.type.toLowerCase().includes(type)) && (!source || e.source.toLowerCase().includes(source)),
  );
  setText('tail-count', `${shown.length} of the last ${lastTail.length} records`);
  rows(
    $('tail'),
    shown,
    (e) => [
      cell(new Date(e.at).toLocaleTimeString()),
      cell(e.type),
      cell(e.source),
      cell(e.id, 'mono'),
      cell(e.data, 'mono data'),
    ],
    'no records yet',
  );
}

// --- one snapshot ---

function render(s) {
  setText('updated', `updated ${new Date(s.t).toLocaleTimeString()}`);
  const engines = $('engines');
  engines.replaceChildren(
    ...s.engines.map((e) => {
      const span = document.createElement('span');
      span.className = `pill ${e.up ? 'ok' : 'bad'}`;
      span.textContent = `${e.service} ${e.up ? 'up' : 'down'}`;
      return span;
    }),
  );

  setText('requests-rate', rate(s.rates.requests));
  setText('accepted-rate', rate(s.rates.accepted));
  setText('accepted-total', integer.format(s.totals.accepted));
  setText('rejected-total', integer.format(s.totals.rejected));
  setText('failed-total', integer.format(s.totals.failed));
  list(
    $('rejected-reasons'),
    Object.entries(s.rates.rejected).map(([reason, n]) => [reason || 'unknown', rate(n), n > 0 ? 'warn' : '']),
  );
  list(
    $('responses'),
    Object.entries(s.rates.responses)
      .sort(([a], [b]) => Number(a) - Number(b))
      .map(([status, n]) => [
        `${status} ${STATUS_NAMES[status] ?? ''}`,
        rate(n),
        Number(status) >= 500 && n > 0 ? 'bad' : Number(status) >= 400 && n > 0 ? 'warn' : '',
      ]),
  );
  list(
    $('auth-decisions'),
    Object.entries(s.rates.authorizer).map(([decision, n]) => [
      decision.replace('_', ' '),
      rate(n),
      decision !== 'allow' && n > 0 ? 'warn' : '',
    ]),
  );
  setText('mqtt-refused', integer.format(s.totals.mqttRefused));

  setText('stream-rate', rate(s.rates.streamRecords));
  rows($('consumers'), s.consumers, (c) => [
    cell(`${c.consumer}${c.enabled ? '' : ' (disabled)'}`),
    cell(rate(c.recordsPerSecond), 'num'),
    cell(seconds(c.iteratorAgeSeconds), c.iteratorAgeSeconds >= 60 ? 'num bad' : 'num'),
  ]);

  setText('stored-rate', rate(s.rates.stored));
  setText('stored-total', integer.format(s.totals.stored));
  setText('stored-p50', millis(s.latency.acceptedToStored.p50Ms));
  setText('stored-p99', millis(s.latency.acceptedToStored.p99Ms));

  rows(
    $('queues'),
    s.queues.items ?? [],
    (q) => [cell(q.queue), cell(integer.format(q.messages), q.messages > 0 ? 'num bad' : 'num')],
    s.queues.error ? undefined : 'reading…',
  );
  setText('queues-error', s.queues.error ? `cannot read the queues: ${s.queues.error}` : '');

  setText('devices-online', integer.format(s.devicesOnline));
  setText('ws-connections', integer.format(s.webSocketConnections));
  setText('alerts-rate', rate(s.rates.alertsRaised));
  setText('alert-p99', millis(s.latency.readingToAlert.p99Ms));
  const alerts = s.alerts.items;
  setText('alerts-open', alerts ? `${integer.format(alerts.length)}${s.alerts.more ? '+' : ''}` : '–');
  rows(
    $('alerts'),
    alerts ?? [],
    (a) => [
      cell(a.deviceId),
      cell(`${a.ruleId} (${a.severity})`),
      cell(`${a.metric} ${a.value}`, 'num'),
      cell(`${a.comparison} ${a.threshold}`, 'num'),
      cell(new Date(a.raisedAt).toLocaleTimeString()),
    ],
    s.alerts.error ? undefined : 'no open alerts',
  );
  setText('alerts-error', s.alerts.error ? `cannot read the alerts: ${s.alerts.error}` : '');

  lastTail = s.tail;
  renderTail();
}

// --- wiring ---

function connect() {
  const source = new EventSource('/live');
  const status = $('status');
  source.addEventListener('history', (message) => {
    const history = JSON.parse(message.data).history;
    for (const values of Object.values(series)) values.length = 0;
    for (const p of history) addPoint(p);
    drawCharts();
  });
  source.onmessage = (message) => {
    const snapshot = JSON.parse(message.data);
    addPoint(snapshot.point);
    drawCharts();
    render(snapshot);
    status.textContent = 'live';
    status.className = 'pill ok';
  };
  source.onerror = () => {
    status.textContent = 'reconnecting…';
    status.className = 'pill bad';
  };
}

chart('chart-ingress', [
  ['requests/s', '#3b6ea5', 'requests'],
  ['accepted/s', '#2e8b57', 'accepted'],
  ['rejected/s', '#c0392b', 'rejected'],
]);
chart('chart-stream', [
  ['records put/s', '#3b6ea5', 'streamRecords'],
  ['stored/s', '#2e8b57', 'stored'],
]);
chart('chart-lag', [['lag (s)', '#d4880f', 'lag']]);
chart('chart-latency', [['p99 (ms)', '#7d3c98', 'p99']]);
window.addEventListener('resize', () => {
  for (const { u, el } of charts) u.setSize({ width: Math.max(200, el.clientWidth), height: 150 });
});
$('tail-type').addEventListener('input', renderTail);
$('tail-source').addEventListener('input', renderTail);
connect();
