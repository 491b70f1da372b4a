// Connector Logs: the syncs of the fetcher's connectors, from its control API.
// Every piece of data reaches the page through textContent or an attribute, never as
// HTML. The page holds no data of its own; the API may ask for a bearer token, which is
// kept in sessionStorage (this tab only).
'use strict';

(() => {
  const TOKEN_KEY = 'tributary.apiToken';
  const REFRESH_MS = 10000;
  const PAGE = 100;
  const MAX_LIMIT = 1000;
  const STAGES = ['Initiating', 'Connectivity Test', 'Fetching', 'Normalizing', 'Processing'];
  const COLUMNS = 9;

  const state = {
    connectors: [],
    byId: new Map(),
    filter: { connector: '', type: '', status: '', level: '' },
    limit: PAGE,
    syncs: [],
    loaded: false,
    expanded: new Set(), // ids of the syncs whose row is open
    details: new Map(), // sync id -> {node, key, seq}: kept across refreshes
    timer: 0,
    seq: 0,
  };

  const $ = (id) => document.getElementById(id);

  // el builds an element. attrs: class, text, on<event>, or any attribute (set with
  // setAttribute, so values are never parsed as HTML). Children: nodes or strings.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  // --- formatting -------------------------------------------------------------------

  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || '';
  const dateOpts = { year: 'numeric', month: 'short', day: 'numeric' };
  const clockOpts = { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };
  const fmtFull = new Intl.DateTimeFormat(undefined, { ...dateOpts, ...clockOpts, timeZoneName: 'short' });
  const fmtFullMs = new Intl.DateTimeFormat(undefined, { ...dateOpts, ...clockOpts, fractionalSecondDigits: 3, timeZoneName: 'short' });
  const fmtClockMs = new Intl.DateTimeFormat(undefined, { ...clockOpts, fractionalSecondDigits: 3 });
  const fmtDay = new Intl.DateTimeFormat(undefined, dateOpts);
  const fmtNum = new Intl.NumberFormat();

  // timeEl renders an API timestamp in the browser's zone; the title holds the ISO text.
  // style: 'full' (seconds), 'ms' (full with milliseconds), 'clock' (time of day with
  // milliseconds, the date added when it differs from sameDayAs).
  function timeEl(iso, style, sameDayAs) {
    if (!iso) return el('span', { class: 'muted' }, '—');
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return el('span', {}, iso);
    let text;
    if (style === 'ms') text = fmtFullMs.format(d);
    else if (style === 'clock') {
      text = fmtClockMs.format(d);
      if (sameDayAs && fmtDay.format(new Date(sameDayAs)) !== fmtDay.format(d)) text = fmtDay.format(d) + ', ' + text;
    } else text = fmtFull.format(d);
    return el('time', { datetime: iso, title: iso }, text);
  }

  // duration renders seconds for people: "840 ms", "1.2 s", "3 min 4 s", "2 h 5 min".
  function duration(sec) {
    if (typeof sec !== 'number' || !Number.isFinite(sec) || sec < 0) return '—';
    if (sec < 1) return Math.round(sec * 1000) + ' ms';
    if (sec < 59.95) return sec.toFixed(1) + ' s';
    const total = Math.round(sec);
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    return h ? `${h} h ${m} min` : `${m} min ${s} s`;
  }

  const typeLabel = (t) => ({ full: 'Full', incremental: 'Incremental' })[t] || t || '—';
  const stateLabel = (s) => (s ? s.charAt(0).toUpperCase() + s.slice(1) : '—');
  const statusClass = (s) => ({ Done: 'done', 'In Progress': 'running', Failed: 'failed' })[s] || 'unknown';
  const stageOf = (sync, name) => (sync.stages || []).find((st) => st.name === name);

  // ErrorBlock fields are marshalled with their Go names; accept snake_case too.
  const snake = { Class: 'class', Message: 'message', RecommendedAction: 'recommended_action', RootCause: 'root_cause', Code: 'code', Details: 'details', ResponseHeaders: 'response_headers', ResponsePayload: 'response_payload' };
  const errField = (e, k) => (e ? (e[k] ?? e[snake[k]] ?? '') : '');

  // --- API --------------------------------------------------------------------------

  class APIError extends Error {
    constructor(status, message, body) {
      super(message);
      this.status = status;
      this.body = body || {};
    }
  }

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
  }

  function setToken(t) {
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch { /* storage disabled: the token lasts until reload */ }
    memToken = t;
  }
  let memToken = '';

  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    const t = token() || memToken;
    if (t) headers.Authorization = 'Bearer ' + t;
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (err) {
      throw new APIError(0, `The fetcher did not answer (${err.message}). Check that it is running.`);
    }
    let data = null;
    try { data = await resp.json(); } catch { /* not JSON: reported below */ }
    if (resp.status === 401) {
      askToken(t ? 'The fetcher refused this token. Check TRIBUTARY_API_TOKEN and enter it again.' : '');
      throw new APIError(401, (data && data.error) || 'An API token is required.', data);
    }
    if (!resp.ok) throw new APIError(resp.status, (data && data.error) || `The fetcher answered HTTP ${resp.status}.`, data);
    if (data === null) throw new APIError(resp.status, 'The fetcher answered with something other than JSON.');
    return data;
  }

  // --- token ------------------------------------------------------------------------

  function askToken(message) {
    setToken('');
    const box = $('auth');
    const wasHidden = box.hidden;
    box.hidden = false;
    $('loading').hidden = true;
    $('auth-error').hidden = !message;
    $('auth-error').textContent = message;
    if (wasHidden) $('token').focus();
  }

  $('auth-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token').value.trim();
    if (!t) return;
    setToken(t);
    $('token').value = '';
    $('auth').hidden = true;
    $('loading').hidden = state.loaded;
    loadAll();
  });

  // --- loading ----------------------------------------------------------------------

  function showLoadError(err) {
    if (err && err.status === 401) return; // the token box says it
    if (err) $('loading').hidden = true;
    const b = $('load-error');
    b.hidden = !err;
    b.textContent = err ? err.message : '';
  }

  async function loadAll() {
    await Promise.all([loadConnectors(), loadSyncs()]);
  }

  async function loadConnectors() {
    try {
      const data = await api('GET', '/api/v1/connectors');
      state.connectors = data.connectors || [];
      state.byId = new Map(state.connectors.map((c) => [c.id, c]));
      renderConnectors();
      renderSyncs(); // connector names
    } catch (err) {
      showLoadError(err);
    }
  }

  function syncsQuery() {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(state.filter)) if (v) q.set(k, v);
    q.set('limit', String(state.limit));
    return q.toString();
  }

  async function loadSyncs() {
    const seq = ++state.seq;
    clearTimeout(state.timer);
    $('syncs').setAttribute('aria-busy', 'true');
    try {
      const data = await api('GET', '/api/v1/syncs?' + syncsQuery());
      if (seq !== state.seq) return; // a newer request (another filter) won
      state.syncs = data.syncs || [];
      state.loaded = true;
      showLoadError(null);
      renderSyncs();
    } catch (err) {
      if (seq !== state.seq) return;
      showLoadError(err);
    } finally {
      if (seq === state.seq) {
        $('syncs').removeAttribute('aria-busy');
        scheduleRefresh();
      }
    }
  }

  // scheduleRefresh reloads every 10 s while a sync is running (in the table, or a
  // connector's running sync that the filters hide).
  function scheduleRefresh() {
    clearTimeout(state.timer);
    const running = state.syncs.some((s) => s.status === 'In Progress') ||
      state.connectors.some((c) => c.running_sync_id && (!state.filter.connector || c.id === state.filter.connector));
    $('refresh-note').textContent = running ? 'A sync is in progress: refreshing every 10 s.' : '';
    if (running) state.timer = setTimeout(loadAll, REFRESH_MS);
  }

  // --- connectors -------------------------------------------------------------------

  function renderConnectors() {
    const sel = $('connector');
    const want = state.filter.connector;
    while (sel.options.length > 1) sel.remove(1);
    for (const c of state.connectors) sel.add(new Option(`${c.name || c.id} (${c.type})`, c.id));
    if (want && !state.byId.has(want)) sel.add(new Option(`${want} (not configured)`, want));
    sel.value = want;
    renderConnectorInfo();
  }

  function renderConnectorInfo() {
    const c = state.byId.get(state.filter.connector);
    $('connector-info').hidden = !c;
    if (!c) return;
    $('ci-type').textContent = c.type;
    $('ci-schedule').textContent = c.schedule || 'On demand only';
    const last = $('ci-last');
    if (c.last_sync) {
      last.replaceChildren(statusBadge(c.last_sync), ' ', typeLabel(c.last_sync.type), ', ', timeEl(c.last_sync.started_at, 'full'));
    } else {
      last.replaceChildren(el('span', { class: 'muted' }, 'Never synced'));
    }
  }

  function showResult(kind, title, ...body) {
    const box = $('action-result');
    box.className = 'action-result result-' + kind;
    box.hidden = false;
    box.replaceChildren(
      el('div', { class: 'result-head' },
        el('strong', { class: 'result-title' }, title),
        el('button', { type: 'button', class: 'link', onclick: () => { box.hidden = true; } }, 'Dismiss')),
      ...body);
  }

  async function syncNow() {
    const c = state.byId.get(state.filter.connector);
    if (!c) return;
    const type = $('sync-type').value;
    const btn = $('sync-now');
    btn.disabled = true;
    try {
      const r = await api('POST', `/api/v1/connectors/${encodeURIComponent(c.id)}/syncs`, { type });
      showResult('ok', `${typeLabel(type)} sync of ${c.name || c.id} started.`, el('p', {}, `Sync ${r.sync_id}. It appears in the table below; the table refreshes every 10 s while it runs.`));
      await loadAll();
    } catch (err) {
      if (err.status === 409) {
        const running = err.body.running_sync_id;
        const show = running && state.syncs.some((s) => s.id === running)
          ? el('button', { type: 'button', class: 'link', onclick: () => openSync(running) }, 'Show the running sync')
          : null;
        showResult('warn', 'Sync not started.', el('p', {}, err.message, ' ', show));
      } else if (err.status !== 401) {
        showResult('error', 'Sync not started.', el('p', {}, err.message));
      }
    } finally {
      btn.disabled = false;
    }
  }

  async function testConnectivity() {
    const c = state.byId.get(state.filter.connector);
    if (!c) return;
    const btn = $('test-conn');
    btn.disabled = true;
    showResult('pending', `Testing the connectivity of ${c.name || c.id}…`);
    try {
      const r = await api('POST', `/api/v1/connectors/${encodeURIComponent(c.id)}/test`);
      const checks = r.checks || [];
      const list = el('ul', { class: 'checks' }, checks.map((ch) => el('li', { class: ch.ok ? 'check check-ok' : 'check check-bad' },
        el('span', { class: 'check-mark', role: 'img', 'aria-label': ch.ok ? 'passed' : 'failed' }, ch.ok ? '✓' : '✗'),
        el('div', { class: 'check-text' },
          el('div', { class: 'check-name' }, `${ch.stage}: ${ch.name}`, ch.scope ? ` (${ch.scope})` : ''),
          ch.error ? el('div', { class: 'check-error' }, [errField(ch.error, 'Message'), errField(ch.error, 'Code')].filter(Boolean).join(' · ')) : null,
          ch.error && errField(ch.error, 'RecommendedAction') ? el('div', { class: 'check-action' }, el('strong', {}, 'Recommended action: '), errField(ch.error, 'RecommendedAction')) : null))));
      const n = checks.length;
      const failed = checks.filter((ch) => !ch.ok).length;
      if (r.ok) showResult('ok', `Connectivity test passed: ${n} ${n === 1 ? 'check' : 'checks'} succeeded.`, list);
      else showResult('error', `Connectivity test failed: ${failed} of ${n} ${n === 1 ? 'check' : 'checks'} failed.`, list);
    } catch (err) {
      if (err.status === 401) $('action-result').hidden = true;
      else showResult(err.status === 409 ? 'warn' : 'error', 'Connectivity not tested.', el('p', {}, err.message));
    } finally {
      btn.disabled = false;
    }
  }

  // --- the table of syncs -----------------------------------------------------------

  function statusBadge(s) {
    return el('span', { class: 'status status-' + statusClass(s.status) }, s.status || 'Unknown');
  }

  function cell(label, cls, ...content) {
    return el('td', { 'data-label': label, class: cls }, ...content);
  }

  function syncRow(s) {
    const open = state.expanded.has(s.id);
    const c = state.byId.get(s.connector_id);
    const fetching = stageOf(s, 'Fetching');
    const processing = stageOf(s, 'Processing');
    // Ingestion runs to the end of Fetching (or to its skip); Processing has a duration
    // only when it ran.
    const fetched = fetching && fetching.ended_at;
    const over = s.status !== 'In Progress';
    const processed = over && fetched && processing && processing.started_at;
    const start = s.started_at ? fmtFull.format(new Date(s.started_at)) : s.id;
    const toggle = el('button', {
      type: 'button', class: 'toggle', 'data-sync': s.id,
      'aria-expanded': String(open), 'aria-controls': 'detail-' + s.id,
      'aria-label': `Details of the ${typeLabel(s.type).toLowerCase()} sync of ${(c && c.name) || s.connector_id} started ${start}`,
    });
    const statusCell = cell('Status', 'col-status', statusBadge(s));
    if (s.status === 'Failed' && s.failed_stage) statusCell.append(el('span', { class: 'failed-stage' }, 'at ' + s.failed_stage));
    const records = [el('span', { class: 'rec' }, `${fmtNum.format(s.records_fetched || 0)} fetched`)];
    if (s.records_written || over) records.push(el('span', { class: 'rec muted' }, `${fmtNum.format(s.records_written || 0)} written`));
    if (s.records_failed) records.push(el('span', { class: 'rec bad' }, `${fmtNum.format(s.records_failed)} failed`));
    const tr = el('tr', { class: 'sync' + (open ? ' open' : ''), 'data-sync': s.id, 'data-status': statusClass(s.status) },
      el('td', { class: 'col-toggle' }, toggle),
      cell('Start time', 'col-start', timeEl(s.started_at, 'full')),
      cell('End time', 'col-end', over ? timeEl(s.ended_at, 'full') : el('span', { class: 'muted' }, 'Running')),
      cell('Connector', 'col-connector', el('span', { class: 'conn-name' }, (c && c.name) || s.connector_id), el('span', { class: 'conn-type muted' }, s.connector_type || (c && c.type) || '')),
      cell('Activity type', 'col-type', typeLabel(s.type)),
      statusCell,
      cell('Ingestion', 'num col-ingestion', fetched ? duration(s.ingestion_seconds) : el('span', { class: 'muted' }, '—')),
      cell('Processing', 'num col-processing', processed ? duration(s.processing_seconds) : el('span', { class: 'muted' }, '—')),
      cell('Records', 'num col-records', records));
    tr.addEventListener('click', (ev) => {
      // A drag that selects text is not a click on the row.
      if (ev.target !== toggle && String(window.getSelection() || '') !== '') return;
      toggleSync(s.id);
    });
    return tr;
  }

  function renderSyncs() {
    if (!state.loaded) return;
    $('loading').hidden = true;
    const tbody = $('sync-rows');
    const active = document.activeElement;
    const activeToggle = active && active.classList && active.classList.contains('toggle') ? active.dataset.sync : null;
    const rows = [];
    for (const s of state.syncs) {
      rows.push(syncRow(s));
      if (state.expanded.has(s.id)) rows.push(detailRow(s));
    }
    tbody.replaceChildren(...rows);
    // Rows are rebuilt on every refresh: give the focus back to where it was.
    if (activeToggle !== null) {
      const t = [...tbody.querySelectorAll('button.toggle')].find((b) => b.dataset.sync === activeToggle);
      if (t) t.focus({ preventScroll: true });
    } else if (active && active !== document.activeElement && active.isConnected) {
      active.focus({ preventScroll: true });
    }
    $('empty').hidden = state.syncs.length > 0;
    $('more').hidden = !(state.syncs.length >= state.limit && state.limit < MAX_LIMIT);
  }

  function toggleSync(id) {
    if (state.expanded.has(id)) state.expanded.delete(id);
    else state.expanded.add(id);
    renderSyncs();
  }

  function openSync(id) {
    state.expanded.add(id);
    renderSyncs();
    const t = [...$('sync-rows').querySelectorAll('button.toggle')].find((b) => b.dataset.sync === id);
    if (t) { t.focus(); t.scrollIntoView({ block: 'nearest' }); }
  }

  // --- an expanded sync -------------------------------------------------------------

  function detailRow(s) {
    let d = state.details.get(s.id);
    if (!d) {
      d = { node: el('div', { class: 'detail-body' }, el('p', { class: 'muted' }, 'Loading…')), key: '', seq: 0 };
      state.details.set(s.id, d);
    }
    // Reload when the sync changed (a running one) or the level filter did.
    const key = `${s.updated_at}|${state.filter.level}`;
    if (d.key !== key) {
      d.key = key;
      loadDetail(s.id, d);
    }
    return el('tr', { class: 'detail', id: 'detail-' + s.id, 'data-sync': s.id },
      el('td', { colspan: COLUMNS }, d.node));
  }

  async function loadDetail(id, d) {
    const seq = ++d.seq;
    const level = state.filter.level;
    try {
      const q = level ? '?level=' + encodeURIComponent(level) : '';
      const data = await api('GET', `/api/v1/syncs/${encodeURIComponent(id)}${q}`);
      if (seq !== d.seq) return;
      renderDetail(d.node, data.sync, data.entries || [], level);
    } catch (err) {
      if (seq !== d.seq) return;
      d.key = ''; // try again on the next refresh
      d.node.replaceChildren(el('p', { class: 'banner error', role: 'alert' }, err.message));
    }
  }

  function renderDetail(node, sync, entries, level) {
    const active = document.activeElement;
    const parts = [];
    if (sync.error) parts.push(errorSummary(sync));
    parts.push(stagesSection(sync));
    parts.push(entriesSection(sync, entries, level));
    node.replaceChildren(...parts);
    if (active && !active.isConnected && active.classList.contains('copy')) {
      // A refresh rebuilt the block whose Copy button had the focus.
      const again = node.querySelector('button.copy');
      if (again) again.focus({ preventScroll: true });
    }
  }

  function errorSummary(sync) {
    const e = sync.error;
    const action = errField(e, 'RecommendedAction');
    const code = [errField(e, 'Class'), errField(e, 'Code')].filter(Boolean).join(' · ');
    return el('section', { class: 'error-summary', role: 'alert', 'aria-label': 'Error' },
      el('h3', {}, sync.failed_stage ? `Failed at ${sync.failed_stage}` : 'Error'),
      el('p', { class: 'error-message' }, errField(e, 'Message') || 'The sync failed.'),
      action ? el('p', { class: 'error-action' }, el('strong', {}, 'Recommended action: '), action) : null,
      code ? el('p', { class: 'error-code muted' }, code) : null);
  }

  function stagesSection(sync) {
    const byName = new Map((sync.stages || []).map((st) => [st.name, st]));
    const names = [...STAGES, ...[...byName.keys()].filter((n) => !STAGES.includes(n))];
    const rows = names.map((name) => {
      const st = byName.get(name) || { name, state: 'pending' };
      const counts = [];
      const count = (n, what, cls) => {
        if (!n) return;
        if (counts.length) counts.push(el('span', { class: 'muted' }, ' · '));
        counts.push(el('span', { class: cls }, `${fmtNum.format(n)} ${what}`));
      };
      count(st.records_in, 'in');
      count(st.records_out, 'out');
      count(st.records_failed, 'failed', 'bad');
      let dur;
      if (st.started_at && st.ended_at) dur = duration(st.seconds);
      else if (st.state === 'running') dur = el('span', { class: 'muted' }, 'running');
      else dur = el('span', { class: 'muted' }, '—');
      return el('tr', { class: 'stage stage-' + st.state, 'data-stage': name },
        el('th', { scope: 'row', 'data-label': 'Stage' }, name),
        el('td', { 'data-label': 'State' }, el('span', { class: 'state state-' + st.state }, stateLabel(st.state))),
        el('td', { 'data-label': 'Start' }, timeEl(st.started_at, 'clock', sync.started_at)),
        el('td', { 'data-label': 'End' }, timeEl(st.ended_at, 'clock', sync.started_at)),
        el('td', { 'data-label': 'Duration', class: 'num' }, dur),
        el('td', { 'data-label': 'Records', class: 'num counts' }, counts.length ? counts : el('span', { class: 'muted' }, '—')));
    });
    return el('section', { class: 'stages-section', 'aria-label': 'Stages' },
      el('h3', {}, 'Stages'),
      el('div', { class: 'scroll' },
        el('table', { class: 'stages' },
          el('thead', {}, el('tr', {}, ['Stage', 'State', 'Start', 'End', 'Duration', 'Records'].map((h, i) => el('th', { scope: 'col', class: i >= 4 ? 'num' : null }, h)))),
          el('tbody', {}, rows))));
  }

  function entriesSection(sync, entries, level) {
    const head = el('h3', {}, 'Log entries');
    const note = level ? el('p', { class: 'muted' }, `Showing ${level} entries only (the log level filter).`) : null;
    if (!entries.length) {
      return el('section', { class: 'entries-section', 'aria-label': 'Log entries' }, head, note, el('p', { class: 'muted' }, 'No entries.'));
    }
    const list = el('ol', { class: 'entries' }, entries.map((e) => el('li', { class: 'entry level-' + String(e.level).toLowerCase() },
      el('div', { class: 'entry-line' },
        el('span', { class: 'entry-time' }, timeEl(e.time, 'ms')),
        el('span', { class: 'level level-' + String(e.level).toLowerCase() }, e.level),
        el('span', { class: 'entry-stage' }, e.stage || '—'),
        el('span', { class: 'entry-message' }, e.message)),
      e.error ? techBlock(sync, e) : null)));
    return el('section', { class: 'entries-section', 'aria-label': 'Log entries' }, head, note, list);
  }

  // copyText is the whole technical block as plain text, to paste into a ticket.
  function copyText(sync, e) {
    const x = e.error;
    const lines = [
      `${e.level} ${e.stage || ''} ${e.time ? fmtFullMs.format(new Date(e.time)) + ' (' + e.time + ')' : ''}`.trim(),
      `Sync: ${sync.id} (${typeLabel(sync.type)}, connector ${sync.connector_id}, ${sync.connector_type})`,
      `Entry: ${e.message}`,
    ];
    const field = (label, k) => { const v = errField(x, k); if (v) lines.push(`${label}: ${v}`); };
    field('Error', 'Message');
    field('Recommended action', 'RecommendedAction');
    field('Class', 'Class');
    field('Root cause', 'RootCause');
    field('Error code', 'Code');
    field('Technical details', 'Details');
    const headers = Object.entries(errField(x, 'ResponseHeaders') || {}).sort(([a], [b]) => a.localeCompare(b));
    if (headers.length) {
      lines.push('Response headers:');
      for (const [k, v] of headers) lines.push(`  ${k}: ${v}`);
    }
    const payload = errField(x, 'ResponsePayload');
    if (payload) lines.push('Response payload (truncated):', payload);
    return lines.join('\n');
  }

  function techBlock(sync, e) {
    const x = e.error;
    const rows = [['Error', 'Message'], ['Class', 'Class'], ['Root cause', 'RootCause'], ['Error code', 'Code'], ['Technical details', 'Details']]
      .filter(([, k]) => errField(x, k))
      .map(([label, k]) => el('div', { class: 'kv' }, el('dt', {}, label), el('dd', { class: k === 'Code' ? 'code' : null }, errField(x, k))));
    const headers = Object.entries(errField(x, 'ResponseHeaders') || {}).sort(([a], [b]) => a.localeCompare(b));
    const payload = errField(x, 'ResponsePayload');
    const text = copyText(sync, e);
    const fallback = el('textarea', { class: 'copy-fallback', readonly: true, rows: 8, 'aria-label': 'The technical block as text' });
    fallback.hidden = true;
    const btn = el('button', { type: 'button', class: 'copy' }, 'Copy');
    btn.addEventListener('click', () => copy(btn, fallback, text));
    return el('div', { class: 'tech' },
      el('div', { class: 'tech-head' }, el('h4', {}, 'Technical details'), btn),
      el('dl', { class: 'tech-fields' }, rows),
      headers.length ? el('div', { class: 'tech-part' },
        el('h5', {}, 'Response headers'),
        el('div', { class: 'scroll' }, el('table', { class: 'headers' },
          el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Header'), el('th', { scope: 'col' }, 'Value'))),
          el('tbody', {}, headers.map(([k, v]) => el('tr', {}, el('th', { scope: 'row' }, k), el('td', {}, v))))))) : null,
      payload ? el('div', { class: 'tech-part' },
        el('h5', {}, 'Response payload ', el('span', { class: 'muted' }, '(truncated)')),
        el('pre', { class: 'payload' }, payload)) : null,
      fallback);
  }

  async function copy(btn, fallback, text) {
    let ok = false;
    try {
      if (!navigator.clipboard) throw new Error('no clipboard API (the page is not served over HTTPS or localhost)');
      await navigator.clipboard.writeText(text);
      ok = true;
      fallback.hidden = true;
    } catch {
      // Show the text selected, so Ctrl+C copies it; try the old copy command too.
      fallback.value = text;
      fallback.hidden = false;
      fallback.focus();
      fallback.select();
      try { ok = document.execCommand('copy'); } catch { ok = false; }
    }
    btn.textContent = ok ? 'Copied' : 'Press Ctrl+C to copy';
    btn.classList.toggle('copied', ok);
    clearTimeout(btn.resetTimer);
    btn.resetTimer = setTimeout(() => { btn.textContent = 'Copy'; btn.classList.remove('copied'); }, 2500);
  }

  // --- filters and wiring -----------------------------------------------------------

  function readURL() {
    const q = new URLSearchParams(location.search);
    for (const k of Object.keys(state.filter)) state.filter[k] = q.get(k) || '';
    $('f-type').value = state.filter.type;
    $('f-status').value = state.filter.status;
    $('f-level').value = state.filter.level;
    // An unknown value in the URL leaves the select on its first option.
    state.filter.type = $('f-type').value;
    state.filter.status = $('f-status').value;
    state.filter.level = $('f-level').value;
  }

  function writeURL() {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(state.filter)) if (v) q.set(k, v);
    const s = q.toString();
    history.replaceState(null, '', s ? '?' + s : location.pathname);
  }

  function onFilter(key, id) {
    $(id).addEventListener('change', () => {
      state.filter[key] = $(id).value;
      state.limit = PAGE;
      writeURL();
      if (key === 'connector') {
        renderConnectorInfo();
        $('action-result').hidden = true;
      }
      loadSyncs();
    });
  }

  onFilter('connector', 'connector');
  onFilter('type', 'f-type');
  onFilter('status', 'f-status');
  onFilter('level', 'f-level');
  $('refresh').addEventListener('click', loadAll);
  $('more').addEventListener('click', () => {
    state.limit = Math.min(MAX_LIMIT, state.limit + PAGE);
    loadSyncs();
  });
  $('sync-now').addEventListener('click', syncNow);
  $('test-conn').addEventListener('click', testConnectivity);

  if (zone) $('tz').textContent = ` (${zone})`;
  readURL();
  loadAll();
})();
