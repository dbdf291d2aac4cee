'use strict';
// The agent desktop: the agent's state, pause with a reason and resume, the offer card
// (screen pop) while the phone rings or the call lasts, and after the call a disposition
// with notes and "end wrap-up". Data: GET /api/v1/agents/{agent} (its `call`: queue,
// caller, the IVR's collected data); control: POST /api/v1/agents/{agent}/pause, /unpause,
// /disposition and /wrapup/end (docs/api.md).

(() => {
  let me = '';
  let entry = null;
  let fetchedAt = 0;
  let reasons = [];
  let dispositions = {};
  // The last queue call this page saw (id, queue), and the code saved for it.
  let lastCall = null;
  let savedFor = null;
  let optionsFor = null;

  function renderButtons() {
    const box = document.getElementById('pause-buttons');
    const label = document.getElementById('pause-label');
    const buttons = reasons.map((r) => {
      const b = SB.el('button', 'pause-reason', SB.word('reason_', r));
      b.type = 'button';
      b.dataset.reason = r;
      b.addEventListener('click', () => act('pause', { reason: r }));
      return b;
    });
    box.replaceChildren(label, ...buttons);
  }

  function render() {
    if (!entry) return;
    const state = document.getElementById('me-state');
    state.textContent = SB.word('st_', entry.state);
    state.className = 'state st-' + entry.state;
    state.dataset.state = entry.state;
    document.getElementById('me-reason').textContent = entry.pause_reason ? SB.word('reason_', entry.pause_reason) : '';
    document.getElementById('me-time').textContent = SB.duration((entry.in_state_s || 0) + (Date.now() - fetchedAt) / 1000);
    const loggedIn = entry.state !== 'logged_out' && entry.state !== 'unreachable';
    for (const b of document.querySelectorAll('.pause-reason')) {
      b.disabled = !loggedIn;
      b.setAttribute('aria-pressed', String(entry.pause_reason === b.dataset.reason));
    }
    document.getElementById('unpause').disabled = entry.state !== 'paused';
    const call = entry.call;
    const offer = document.getElementById('offer');
    document.getElementById('idle').hidden = Boolean(call);
    if (!call) {
      offer.hidden = true;
      offer.dataset.call = '';
      historyFor = null;
      return;
    }
    offer.hidden = false;
    offer.dataset.call = call.id;
    offer.dataset.phase = call.phase;
    offer.className = 'panel offer offer-' + call.phase;
    document.getElementById('offer-title').textContent = SB.t('offer_' + call.phase);
    offer.querySelector('[data-field=caller]').textContent = call.caller || SB.t('nothing');
    offer.querySelector('[data-field=queue]').textContent = call.queue || SB.t('nothing');
    // The client: its display name and description when configured ([[tenants]]).
    const client = call.client || null;
    offer.querySelector('[data-field=tenant]').textContent =
      (client && client.name) || call.tenant || SB.t('nothing');
    const about = offer.querySelector('[data-field=tenant-description]');
    about.textContent = (client && client.description) || '';
    about.hidden = !(client && client.description);
    about.previousElementSibling.hidden = about.hidden;
    const products = offer.querySelector('[data-field=tenant-products]');
    products.textContent = client && client.products ? client.products.join(', ') : '';
    products.hidden = !products.textContent;
    products.previousElementSibling.hidden = products.hidden;
    const data = Object.entries(call.data || {});
    const list = document.getElementById('offer-data');
    const items = [];
    for (const [k, v] of data) {
      const dt = SB.el('dt', '', k);
      const dd = SB.el('dd', '', String(v));
      dd.dataset.key = k;
      items.push(dt, dd);
    }
    list.replaceChildren(...items);
    document.getElementById('offer-nodata').hidden = data.length > 0;
    showScript(call.data && call.data.script ? String(call.data.script) : '', call.tenant || '');
    showHistory(call.id);
  }

  // Earlier calls of the caller's number (GET /api/v1/calls/{id}/history), fetched once
  // per offered call.
  let historyFor = null;
  let history = null;

  function renderHistory() {
    const table = document.getElementById('history-calls');
    const none = document.getElementById('history-none');
    if (!history) {
      table.hidden = true;
      none.hidden = true;
      return;
    }
    const rowsOut = history.map((c) => {
      const tr = SB.el('tr');
      tr.dataset.call = c.call;
      const when = c.start ? new Date(c.start).toLocaleString(SB.locale()) : SB.t('nothing');
      const cells = [when, c.queue || SB.t('nothing'), c.agent || SB.t('nothing'),
        SB.word('out_', c.outcome || ''), c.disposition || SB.t('nothing'), SB.duration(c.duration_s)];
      const names = ['start', 'queue', 'agent', 'outcome', 'disposition', 'duration'];
      cells.forEach((text, i) => {
        const td = SB.el('td', '', text);
        td.dataset.field = names[i];
        if (names[i] === 'disposition' && c.notes) td.title = c.notes;
        tr.append(td);
      });
      return tr;
    });
    table.tBodies[0].replaceChildren(...rowsOut);
    table.hidden = history.length === 0;
    none.hidden = history.length > 0;
  }

  async function showHistory(id) {
    if (id === historyFor) return;
    historyFor = id;
    history = null;
    const box = document.getElementById('history');
    box.dataset.loaded = '';
    document.getElementById('history-error').textContent = '';
    renderHistory();
    const r = await SB.api('/api/v1/calls/' + encodeURIComponent(id) + '/history');
    if (historyFor !== id) return;
    if (r.status === 200 && r.body && Array.isArray(r.body.previous)) {
      history = r.body.previous;
    } else {
      document.getElementById('history-error').textContent =
        SB.t('history_failed') + ((r.body && r.body.error) || r.status);
    }
    renderHistory();
    box.dataset.loaded = 'true';
  }

  // The conversation script the dialplan names (`screenpop "script"`), fetched once per
  // name as a document tree (GET /api/v1/scripts/{name}) and built with DOM nodes only.
  let scriptName = null;
  let scriptError = null;

  function spans(parent, list) {
    for (const s of list || []) {
      const tag = s.strong ? 'strong' : s.em ? 'em' : 'span';
      parent.append(SB.el(tag, '', s.text));
    }
    return parent;
  }

  function scriptBlock(b) {
    if (b.type === 'heading') return spans(SB.el('h' + String(Math.min(3, b.level || 1) + 3), '', ''), b.spans);
    if (b.type === 'list') {
      const l = SB.el(b.ordered ? 'ol' : 'ul', '', '');
      for (const item of b.items || []) l.append(spans(SB.el('li', '', ''), item));
      return l;
    }
    return spans(SB.el('p', '', ''), b.spans);
  }

  // A tenant's call gets the tenant's own script of that name when it has one
  // (scripts/<tenant>/<name>.md), else the shared one.
  async function showScript(name, tenant) {
    const box = document.getElementById('script');
    box.hidden = !name;
    const error = document.getElementById('script-error');
    if (scriptError !== null) error.textContent = SB.t('script_missing') + scriptError;
    const key = name ? tenant + '/' + name : null;
    if (key === scriptName) return;
    scriptName = key;
    scriptError = null;
    box.dataset.script = name;
    box.dataset.loaded = '';
    const body = document.getElementById('script-body');
    body.replaceChildren();
    error.textContent = '';
    if (!name) return;
    const query = tenant ? '?tenant=' + encodeURIComponent(tenant) : '';
    const r = await SB.api('/api/v1/scripts/' + encodeURIComponent(name) + query);
    if (scriptName !== key) return;
    if (r.status === 200 && r.body && Array.isArray(r.body.blocks)) {
      body.replaceChildren(...r.body.blocks.map(scriptBlock));
    } else {
      scriptError = (r.body && r.body.error) || String(r.status);
      error.textContent = SB.t('script_missing') + scriptError;
    }
    box.dataset.loaded = 'true';
  }

  // After a call: shown through wrap-up, and after it until a disposition is saved.
  function renderWrapUp() {
    const box = document.getElementById('wrapup');
    if (entry.call && entry.call.phase !== 'reserved') {
      if (!lastCall || lastCall.id !== entry.call.id) {
        lastCall = { id: entry.call.id, queue: entry.call.queue };
        document.getElementById('disposition-saved').textContent = '';
        document.getElementById('disposition-notes').value = '';
      }
    }
    const show = !entry.call && lastCall !== null && (entry.state === 'wrap_up' || savedFor !== lastCall.id);
    box.hidden = !show;
    if (!show) return;
    document.getElementById('wrapup-call').textContent = lastCall.queue;
    const codes = dispositions[lastCall.queue] || [];
    const form = document.getElementById('disposition');
    form.hidden = codes.length === 0;
    const select = document.getElementById('disposition-code');
    if (optionsFor !== lastCall.queue) {
      optionsFor = lastCall.queue;
      select.replaceChildren(...codes.map((c) => {
        const o = SB.el('option', '', c);
        o.value = c;
        return o;
      }));
    }
    document.getElementById('end-wrapup').disabled = entry.state !== 'wrap_up';
    if (codes.length === 0 && entry.state !== 'wrap_up') box.hidden = true;
  }

  // The pending web callbacks of the agent's queues (GET /api/v1/callbacks) with
  // "Call now" (POST /api/v1/callbacks/{id}/start): the agent's phone rings first, then
  // the customer is called, through the usual callback path.
  const callbackRows = new Map();
  let callbacks = [];

  async function startCallback(id) {
    const status = document.getElementById('callbacks-status');
    const error = document.getElementById('callbacks-error');
    status.textContent = '';
    error.textContent = '';
    const r = await SB.api('/api/v1/callbacks/' + encodeURIComponent(id) + '/start', 'POST');
    if (r.status >= 200 && r.status < 300) status.textContent = SB.t('callback_started') + id;
    else error.textContent = SB.t('refused') + ((r.body && r.body.error) || r.status);
    await refresh();
  }

  function renderCallbacks() {
    const body = document.querySelector('#callbacks-list tbody');
    const seen = new Set();
    const free = entry && entry.state === 'available';
    for (const cb of callbacks) {
      seen.add(cb.id);
      let r = callbackRows.get(cb.id);
      if (!r) {
        const tr = SB.el('tr');
        tr.dataset.callback = cb.id;
        const cells = {};
        for (const k of ['name', 'number', 'queue', 'at', 'state', 'actions']) {
          cells[k] = SB.el('td');
          cells[k].dataset.field = k;
          tr.append(cells[k]);
        }
        const button = SB.el('button', 'call-now');
        button.type = 'button';
        button.dataset.action = 'start';
        button.addEventListener('click', () => startCallback(tr.dataset.callback));
        cells.actions.append(button);
        r = { tr, cells, button };
        callbackRows.set(cb.id, r);
        body.append(tr);
      }
      r.tr.dataset.state = cb.state;
      r.cells.name.textContent = cb.name || SB.t('nothing');
      r.cells.number.textContent = cb.number || '';
      r.cells.queue.textContent = cb.queue || '';
      r.cells.at.textContent = cb.at ? new Date(cb.at).toLocaleString(SB.locale()) : SB.t('nothing');
      r.cells.state.textContent = SB.word('cb_', cb.state);
      r.button.textContent = SB.t('call_now');
      r.button.setAttribute('aria-label', SB.t('call_now') + ' ' + (cb.name || cb.number || cb.id));
      r.button.disabled = !free || cb.state === 'dialing';
    }
    for (const [id, r] of callbackRows) {
      if (!seen.has(id)) {
        r.tr.remove();
        callbackRows.delete(id);
      }
    }
    document.getElementById('callbacks-list').hidden = callbacks.length === 0;
    document.getElementById('callbacks-none').hidden = callbacks.length > 0;
  }

  async function refresh() {
    const [r, cbs] = await Promise.all([SB.api('/api/v1/agents/' + encodeURIComponent(me)),
      SB.api('/api/v1/callbacks')]);
    if (r.status !== 200 || !r.body) return false;
    entry = r.body;
    fetchedAt = Date.now();
    if (cbs.status === 200 && Array.isArray(cbs.body)) callbacks = cbs.body;
    render();
    renderWrapUp();
    renderCallbacks();
    if (!document.body.dataset.loaded) performance.mark('switchboard-loaded');
    document.body.dataset.loaded = 'true';
    return true;
  }

  async function act(what, body) {
    const error = document.getElementById('action-error');
    error.textContent = '';
    const r = await SB.api('/api/v1/agents/' + encodeURIComponent(me) + '/' + what, 'POST', body);
    if (r.status < 200 || r.status >= 300) {
      error.textContent = SB.t('refused') + ((r.body && r.body.error) || r.status);
    }
    await refresh();
    return r.status >= 200 && r.status < 300;
  }

  async function saveDisposition(ev) {
    ev.preventDefault();
    const code = document.getElementById('disposition-code').value;
    const notes = document.getElementById('disposition-notes').value;
    const call = lastCall && lastCall.id;
    if (await act('disposition', { code, notes })) {
      savedFor = call;
      document.getElementById('disposition-saved').textContent = SB.t('saved') + code;
      renderWrapUp();
    }
  }

  SB.signIn((s) => s.role === 'agent' && Boolean(s.agent), (session) => {
    me = session.agent;
    reasons = session.pause_reasons || [];
    dispositions = session.dispositions || {};
    document.getElementById('me-name').textContent = me;
    renderButtons();
    SB.onLang(() => {
      renderButtons();
      render();
      renderHistory();
      renderCallbacks();
    });
    document.getElementById('unpause').addEventListener('click', () => act('unpause'));
    document.getElementById('end-wrapup').addEventListener('click', () => act('wrapup/end'));
    document.getElementById('disposition').addEventListener('submit', saveDisposition);
    SB.clock();
    setInterval(render, 1000);
    SB.live(session, refresh, (ev) => ev.agent === me || /^callback\./.test(ev.kind || '')
      || (entry && entry.call && ev.call === entry.call.id));
  });
})();
