'use strict';
// The wallboard: one tile per queue, the agent grid and a one-hour chart of callers
// waiting and service level. Data: GET /api/v1/queues and /api/v1/agents (docs/api.md).

(() => {
  const AGENT_STATES = ['available', 'ringing', 'reserved', 'busy', 'wrap_up', 'paused', 'unreachable', 'logged_out'];
  const SAMPLE_MS = 5000;
  const HOUR_MS = 3600 * 1000;
  const view = { queues: [], agents: [], calls: null, fetchedAt: 0 };
  const tiles = new Map();
  const rows = new Map();
  // Samples per queue name ('' = all queues): {t, waiting, sl, target}.
  const history = new Map();
  let lastSample = 0;
  // Staff tokens may pause and resume agents from the grid.
  let staff = false;

  // Pause (with the reason picked above the grid) or resume an agent.
  async function control(agent, paused) {
    const error = document.getElementById('grid-error');
    error.textContent = '';
    const path = '/api/v1/agents/' + encodeURIComponent(agent) + (paused ? '/unpause' : '/pause');
    const body = paused ? undefined : { reason: document.getElementById('grid-reason').value };
    const r = await SB.api(path, 'POST', body);
    if (r.status < 200 || r.status >= 300) {
      error.textContent = agent + ': ' + SB.t('refused') + ((r.body && r.body.error) || r.status);
    }
  }

  function fillReasons(reasons) {
    const select = document.getElementById('grid-reason');
    const current = select.value;
    select.replaceChildren(...reasons.map((code) => {
      const o = SB.el('option', '', SB.word('reason_', code));
      o.value = code;
      return o;
    }));
    if (reasons.includes(current)) select.value = current;
  }

  // Sets a text only when it changed: the grid of 500 agents is refreshed every second.
  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  // The interval's service level against the target: good, warn (within 10 points
  // below), bad, or none (nothing answered or abandoned yet).
  function slClass(sl, target) {
    if (sl === null || sl === undefined) return 'sl-none';
    if (sl >= target) return 'sl-good';
    if (sl >= target - 0.1) return 'sl-warn';
    return 'sl-bad';
  }

  function makeTile(name) {
    const tile = SB.el('article', 'tile');
    tile.dataset.queue = name;
    tile.setAttribute('aria-label', name);
    tile.append(SB.el('h3', 'tile-name', name));
    const fields = {};
    const big = SB.el('div', 'tile-big');
    const metric = (key, cls) => {
      const box = SB.el('div', 'metric ' + (cls || ''));
      const label = SB.el('span', 'label');
      label.dataset.i18n = key;
      label.textContent = SB.t(key);
      const value = SB.el('span', 'value');
      value.dataset.field = key;
      fields[key] = value;
      box.append(value, label);
      return box;
    };
    big.append(metric('waiting', 'metric-waiting'), metric('sl', 'metric-sl'));
    const small = SB.el('div', 'tile-small');
    small.append(metric('longest'), metric('asa'), metric('abandon'), metric('ewt'), metric('callbacks'));
    const agents = SB.el('ul', 'chips');
    agents.dataset.field = 'agents';
    fields.agents = agents;
    tile.append(big, small, agents);
    return { tile, fields };
  }

  function renderTile(entry, q) {
    const s = q.stats || {};
    const live = s.live || {};
    const iv = s.interval || {};
    const f = entry.fields;
    const waiting = live.waiting !== undefined ? live.waiting : q.waiting;
    setText(f.waiting, String(waiting));
    // The longest wait grows between refreshes while someone waits.
    const age = waiting > 0 ? (Date.now() - view.fetchedAt) / 1000 : 0;
    setText(f.longest, SB.duration(live.longest_wait_s === undefined ? null : live.longest_wait_s + age));
    const target = s.sl_target !== undefined ? s.sl_target : 0.8;
    setText(f.sl, SB.percent(iv.service_level));
    f.sl.title = SB.t('target') + ' ' + SB.percent(target) + ' / ' + SB.duration(s.sl_threshold_s);
    setText(f.asa, SB.duration(iv.asa_s));
    setText(f.abandon, SB.percent(iv.abandon_rate));
    setText(f.callbacks, String(live.callbacks_pending || 0));
    const ewt = iv.ewt || {};
    f.ewt.textContent = ewt.coverage === null || ewt.coverage === undefined
      ? SB.t('nothing')
      : SB.percent(ewt.coverage) + ' ±' + SB.duration(ewt.mae_s);
    entry.tile.className = 'tile ' + slClass(iv.service_level, target) + (waiting > 0 ? ' has-waiting' : '');
    const byState = live.agents || {};
    const chips = [];
    for (const st of AGENT_STATES) {
      const n = byState[st] || 0;
      if (n === 0 || st === 'logged_out') continue;
      const chip = SB.el('li', 'chip st-' + st, SB.word('st_', st) + ' ' + n);
      chip.dataset.state = st;
      chips.push(chip);
    }
    f.agents.replaceChildren(...chips);
  }

  function renderTiles() {
    const box = document.getElementById('tiles');
    const seen = new Set();
    for (const q of view.queues) {
      seen.add(q.queue);
      let entry = tiles.get(q.queue);
      if (!entry) {
        entry = makeTile(q.queue);
        tiles.set(q.queue, entry);
        box.append(entry.tile);
      }
      renderTile(entry, q);
    }
    for (const [name, entry] of tiles) {
      if (!seen.has(name)) {
        entry.tile.remove();
        tiles.delete(name);
      }
    }
    // Fit the tiles to the screen: about as many columns as the screen's shape allows.
    const n = Math.max(1, view.queues.length);
    const aspect = window.innerWidth / Math.max(1, window.innerHeight * 0.62);
    const cols = Math.max(1, Math.min(n, Math.ceil(Math.sqrt(n * aspect / 1.6))));
    box.style.setProperty('--cols', String(cols));
    box.style.setProperty('--tile-scale', String(Math.max(0.45, Math.min(1.6, 4.5 / cols)).toFixed(2)));
  }

  function renderAgents() {
    const body = document.querySelector('#agents tbody');
    const seen = new Set();
    const age = (Date.now() - view.fetchedAt) / 1000;
    for (const a of view.agents) {
      seen.add(a.agent);
      let r = rows.get(a.agent);
      if (!r) {
        const tr = SB.el('tr');
        tr.dataset.agent = a.agent;
        const cells = {};
        for (const k of ['agent', 'state', 'time', 'queue', 'caller']) {
          cells[k] = SB.el(k === 'agent' ? 'th' : 'td');
          cells[k].dataset.field = k;
          tr.append(cells[k]);
        }
        cells.agent.scope = 'row';
        let button = null;
        if (staff) {
          const td = SB.el('td');
          button = SB.el('button', 'grid-action');
          button.type = 'button';
          button.addEventListener('click', () => control(tr.dataset.agent, tr.dataset.state === 'paused'));
          td.append(button);
          tr.append(td);
        }
        r = { tr, cells, button };
        rows.set(a.agent, r);
        body.append(tr);
      }
      const call = a.call || {};
      r.tr.dataset.state = a.state;
      setText(r.cells.agent, a.agent);
      setText(r.cells.state, SB.word('st_', a.state) + (a.pause_reason ? ' · ' + SB.word('reason_', a.pause_reason) : ''));
      r.cells.state.className = 'state st-' + a.state;
      setText(r.cells.time, SB.duration((a.in_state_s || 0) + age));
      setText(r.cells.queue, call.queue || '');
      setText(r.cells.caller, call.caller || '');
      if (r.button) {
        const paused = a.state === 'paused';
        const text = SB.t(paused ? 'resume_agent' : 'pause_agent');
        setText(r.button, text);
        r.button.setAttribute('aria-label', text + ' ' + a.agent);
        r.button.disabled = a.state === 'logged_out' || a.state === 'unreachable';
      }
    }
    for (const [name, r] of rows) {
      if (!seen.has(name)) {
        r.tr.remove();
        rows.delete(name);
      }
    }
  }

  // Staff: the live calls (GET /api/v1/calls), with "move to another queue" for a
  // waiting caller and listen / whisper / barge for a call with an agent; the engine
  // calls the supervisor's own phone (the user name typed above the table).
  const callRows = new Map();
  const PHONE_KEY = 'switchboard.phone';

  function say(ok, text) {
    document.getElementById('calls-status').textContent = ok ? text : '';
    document.getElementById('calls-error').textContent = ok ? '' : text;
  }

  async function callAction(id, what, body, done) {
    const r = await SB.api('/api/v1/calls/' + encodeURIComponent(id) + '/' + what, 'POST', body);
    if (r.status >= 200 && r.status < 300) say(true, done);
    else say(false, id + ': ' + SB.t('refused') + ((r.body && r.body.error) || r.status));
    return r;
  }

  function supervise(id, mode) {
    const phone = document.getElementById('my-phone').value.trim();
    if (!phone) {
      say(false, SB.t('need_phone'));
      document.getElementById('my-phone').focus();
      return;
    }
    callAction(id, mode, { supervisor: phone }, SB.t('calling_you') + phone + ' (' + SB.t(mode) + ')');
  }

  function actionButton(key, onClick) {
    const b = SB.el('button', 'call-action', SB.t(key));
    b.type = 'button';
    b.dataset.action = key;
    b.dataset.i18n = key;
    b.addEventListener('click', onClick);
    return b;
  }

  // The actions cell for a call in `phase`: rebuilt only when the phase changes, so a
  // select the user is working with is not replaced under them.
  function callActions(cell, c) {
    cell.replaceChildren();
    cell.className = 'actions';
    if (c.phase === 'queued') {
      const select = SB.el('select', 'move-target');
      select.setAttribute('aria-label', SB.t('move_to') + ' · ' + c.caller);
      for (const q of view.queues) {
        if (q.queue === c.queue) continue;
        const o = SB.el('option', '', q.queue);
        o.value = q.queue;
        select.append(o);
      }
      const move = actionButton('move', () => {
        const to = select.value;
        if (to) callAction(c.id, 'transfer', { queue: to }, SB.t('moved') + to);
      });
      cell.append(select, move);
    } else if (c.phase === 'bridged') {
      for (const mode of ['listen', 'whisper', 'barge']) {
        cell.append(actionButton(mode, () => supervise(c.id, mode)));
      }
    }
  }

  function renderCalls(calls) {
    const body = document.querySelector('#calls tbody');
    const seen = new Set();
    for (const c of calls) {
      seen.add(c.id);
      let r = callRows.get(c.id);
      if (!r) {
        const tr = SB.el('tr');
        tr.dataset.call = c.id;
        const cells = {};
        for (const k of ['caller', 'queue', 'agent', 'phase', 'wait', 'actions']) {
          cells[k] = SB.el('td');
          cells[k].dataset.field = k;
          tr.append(cells[k]);
        }
        r = { tr, cells, phase: null, queue: null };
        callRows.set(c.id, r);
        body.append(tr);
      }
      r.tr.dataset.phase = c.phase;
      r.tr.dataset.queue = c.queue || '';
      r.tr.dataset.direction = c.direction || 'inbound';
      // An agent's own call: the other party is the number the agent dialled (masked for
      // a supervisor as callers are), not the agent, who has a column of its own.
      setText(r.cells.caller, c.direction === 'outbound'
        ? '\u2192 ' + (c.dnis || '')
        : (c.caller || ''));
      setText(r.cells.queue, c.queue || '');
      setText(r.cells.agent, c.agent || '');
      setText(r.cells.phase, SB.word('ph_', c.phase));
      // The caller's whole wait; for a caller a supervisor moved, also the time in the
      // queue it is in now (what that queue's tile counts), docs/web.md.
      const moved = c.queue_wait_s != null && c.wait_s != null && c.wait_s - c.queue_wait_s >= 1;
      setText(r.cells.wait, SB.duration(c.wait_s)
        + (moved ? ' (' + SB.duration(c.queue_wait_s) + ' ' + SB.t('in_this_queue') + ')' : ''));
      r.cells.wait.dataset.queueWait = c.queue_wait_s == null ? '' : String(Math.floor(c.queue_wait_s));
      if (r.phase !== c.phase || r.queue !== c.queue) {
        r.phase = c.phase;
        r.queue = c.queue;
        callActions(r.cells.actions, c);
      }
    }
    for (const [id, r] of callRows) {
      if (!seen.has(id)) {
        r.tr.remove();
        callRows.delete(id);
      }
    }
  }

  function sample(now) {
    if (now - lastSample < SAMPLE_MS) return;
    lastSample = now;
    let waitingAll = 0;
    let within = 0;
    let base = 0;
    let targetSum = 0;
    const push = (key, point) => {
      let h = history.get(key);
      if (!h) {
        h = [];
        history.set(key, h);
      }
      h.push(point);
      while (h.length && h[0].t < now - HOUR_MS) h.shift();
    };
    for (const q of view.queues) {
      const s = q.stats || {};
      const iv = s.interval || {};
      const waiting = (s.live || {}).waiting || 0;
      waitingAll += waiting;
      targetSum += s.sl_target || 0;
      const b = (iv.answered || 0) + (iv.abandoned || 0) - (iv.short_abandoned || 0);
      within += iv.answered_within_threshold || 0;
      base += b;
      push(q.queue, { t: now, waiting, sl: iv.service_level, target: s.sl_target });
    }
    const n = view.queues.length || 1;
    push('', { t: now, waiting: waitingAll, sl: base > 0 ? within / base : null, target: targetSum / n });
  }

  function fillQueueSelect() {
    const select = document.getElementById('chart-queue');
    const want = [''].concat(view.queues.map((q) => q.queue));
    const have = Array.from(select.options).map((o) => o.value);
    if (want.join('\n') === have.join('\n')) {
      select.options[0].textContent = SB.t('all_queues');
      return;
    }
    const current = select.value;
    select.replaceChildren(...want.map((v) => {
      const o = SB.el('option', '', v === '' ? SB.t('all_queues') : v);
      o.value = v;
      return o;
    }));
    select.value = want.includes(current) ? current : '';
  }

  function drawChart() {
    const canvas = document.getElementById('chart');
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (w === 0 || h === 0) return;
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
    }
    const g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    const css = getComputedStyle(document.body);
    const colour = (name) => css.getPropertyValue(name).trim();
    const pad = { l: 40, r: 44, t: 8, b: 20 };
    const pw = w - pad.l - pad.r;
    const ph = h - pad.t - pad.b;
    const now = Date.now();
    const points = history.get(document.getElementById('chart-queue').value) || [];
    const maxWaiting = Math.max(4, ...points.map((p) => p.waiting));
    const x = (t) => pad.l + pw * (1 - (now - t) / HOUR_MS);
    const yWait = (v) => pad.t + ph * (1 - v / maxWaiting);
    const ySl = (v) => pad.t + ph * (1 - v);
    g.font = '12px system-ui, sans-serif';
    g.fillStyle = colour('--muted');
    g.strokeStyle = colour('--grid');
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i += 1) {
      const y = pad.t + (ph * i) / 4;
      g.beginPath();
      g.moveTo(pad.l, y);
      g.lineTo(pad.l + pw, y);
      g.stroke();
      g.textAlign = 'right';
      g.fillText(String(Math.round(maxWaiting * (1 - i / 4))), pad.l - 6, y + 4);
      g.textAlign = 'left';
      g.fillText(Math.round(100 * (1 - i / 4)) + '%', pad.l + pw + 6, y + 4);
    }
    for (let m = 0; m <= 60; m += 15) {
      g.textAlign = 'center';
      g.fillText(m === 0 ? '0' : '-' + m + "'", x(now - m * 60000), h - 4);
    }
    const last = points[points.length - 1];
    if (last && last.target !== null && last.target !== undefined) {
      g.strokeStyle = colour('--target');
      g.setLineDash([6, 4]);
      g.beginPath();
      g.moveTo(pad.l, ySl(last.target));
      g.lineTo(pad.l + pw, ySl(last.target));
      g.stroke();
      g.setLineDash([]);
    }
    const line = (pick, y, stroke) => {
      g.strokeStyle = stroke;
      g.lineWidth = 2;
      g.beginPath();
      let pen = false;
      for (const p of points) {
        const v = pick(p);
        if (v === null || v === undefined) {
          pen = false;
          continue;
        }
        if (pen) g.lineTo(x(p.t), y(v));
        else g.moveTo(x(p.t), y(v));
        pen = true;
      }
      g.stroke();
    };
    line((p) => p.waiting, yWait, colour('--waiting'));
    line((p) => p.sl, ySl, colour('--sl'));
  }

  async function refresh() {
    const [q, a, c] = await Promise.all([SB.api('/api/v1/queues'), SB.api('/api/v1/agents'),
      staff ? SB.api('/api/v1/calls') : Promise.resolve(null)]);
    if (q.status !== 200 || a.status !== 200) return false;
    view.queues = Array.isArray(q.body) ? q.body : [];
    view.agents = Array.isArray(a.body) ? a.body : [];
    view.fetchedAt = Date.now();
    renderTiles();
    renderAgents();
    if (c && c.status === 200 && Array.isArray(c.body)) {
      view.calls = c.body;
      renderCalls(c.body);
    }
    fillQueueSelect();
    sample(view.fetchedAt);
    drawChart();
    // The first full render: what benches/web_load.sh measures.
    if (!document.body.dataset.loaded) performance.mark('switchboard-loaded');
    document.body.dataset.loaded = 'true';
    return true;
  }

  SB.signIn(() => true, (session) => {
    staff = session.role === 'admin' || session.role === 'supervisor';
    const reasons = session.pause_reasons || [];
    if (staff) {
      for (const e of document.querySelectorAll('.staff-only')) e.hidden = false;
      fillReasons(reasons);
      SB.onLang(() => fillReasons(reasons));
      const phone = document.getElementById('my-phone');
      phone.value = localStorage.getItem(PHONE_KEY) || '';
      phone.addEventListener('change', () => localStorage.setItem(PHONE_KEY, phone.value.trim()));
    }
    SB.clock();
    SB.onLang(() => {
      if (view.fetchedAt) {
        renderTiles();
        renderAgents();
        fillQueueSelect();
      }
      // The calls table's phases in the new language (its buttons carry data-i18n).
      if (view.calls) renderCalls(view.calls);
    });
    document.getElementById('chart-queue').addEventListener('change', drawChart);
    window.addEventListener('resize', () => {
      renderTiles();
      drawChart();
    });
    // Time in state and the longest wait move between refreshes too.
    setInterval(() => {
      renderTiles();
      renderAgents();
    }, 1000);
    SB.live(session, refresh, (ev) => /^(call|queue|agent)\./.test(ev.kind || ''));
  });
})();
