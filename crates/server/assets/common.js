'use strict';
// Shared by the wallboard (/) and the agent desktop (/agent): the strings of both
// languages, sign-in with a bearer token kept in sessionStorage, calls to /api/v1, the
// live event stream with its polling fallback, and formatting. Plain JS, no build step.

const SB = (() => {
  // Every string the pages show, one table per language.
  const STRINGS = {
    en: {
      title_wallboard: 'Wallboard',
      title_agent: 'Agent desktop',
      sign_in_title: 'Sign in',
      token_label: 'Access token',
      sign_in: 'Sign in',
      sign_out: 'Sign out',
      bad_token: 'The token was not accepted.',
      wrong_role: 'This page needs an agent token.',
      server_down: 'The server does not answer.',
      lang_other: 'Русский',
      lang_other_name: 'Switch to Russian',
      queues: 'Queues',
      queue: 'Queue',
      all_queues: 'All queues',
      waiting: 'Waiting',
      longest: 'Longest wait',
      sl: 'Service level',
      target: 'target',
      asa: 'Avg. answer',
      abandon: 'Abandoned',
      ewt: 'Wait forecast',
      callbacks: 'Callbacks',
      interval: 'interval',
      agents: 'Agents',
      col_agent: 'Agent',
      col_state: 'State',
      col_time: 'In state',
      col_queue: 'Queue',
      col_caller: 'Caller',
      col_actions: 'Actions',
      pause_reason: 'Pause reason',
      pause_agent: 'Pause',
      resume_agent: 'Resume',
      chart_title: 'Last hour: waiting and service level',
      conn_live: 'live',
      conn_poll: 'polling every second',
      conn_down: 'no connection',
      st_available: 'Available',
      st_ringing: 'Ringing',
      st_reserved: 'Reserved',
      st_busy: 'Talking',
      st_wrap_up: 'Wrap-up',
      st_paused: 'Paused',
      st_logged_out: 'Logged out',
      st_unreachable: 'Unreachable',
      pause: 'Pause:',
      unpause: 'Resume work',
      reason_break: 'Break',
      reason_lunch: 'Lunch',
      reason_training: 'Training',
      reason_meeting: 'Meeting',
      reason_after_call_work: 'After-call work',
      reason_rona: 'Did not answer',
      offer_ringing: 'Incoming call',
      offer_talking: 'On a call',
      offer_reserved: 'Callback',
      caller: 'Caller',
      tenant: 'Client',
      tenant_about: 'About the client',
      tenant_products: 'Products',
      call_data: 'Caller data',
      no_call_data: 'No data collected.',
      script_title: 'Conversation script',
      script_missing: 'The conversation script could not be shown: ',
      no_call: 'No call right now.',
      refused: 'The server refused: ',
      wrapup_title: 'After the call',
      disposition: 'Disposition',
      notes: 'Notes',
      save_disposition: 'Save',
      saved: 'Saved: ',
      end_wrapup: 'End wrap-up',
      my_callbacks: 'Callbacks',
      col_name: 'Name',
      col_at: 'Not before',
      no_callbacks: 'No callbacks pending.',
      call_now: 'Call now',
      callback_started: 'Calling your phone, then the customer: ',
      cb_scheduled: 'scheduled',
      cb_waiting: 'in line',
      cb_dialing: 'being placed',
      live_calls: 'Live calls',
      my_phone: 'Your phone (user)',
      col_phase: 'Phase',
      col_wait: 'Wait',
      in_this_queue: 'in this queue',
      ph_ivr: 'In the menu',
      ph_dialing: 'Dialling out',
      ph_answering: 'Answering',
      ph_queued: 'Waiting',
      ph_ringing: 'Ringing',
      ph_bridged: 'Talking',
      ph_callback_leaving: 'Callback',
      ph_ending: 'Ending',
      move_to: 'Move to',
      move: 'Move',
      listen: 'Listen',
      whisper: 'Whisper',
      barge: 'Barge in',
      need_phone: 'Enter your phone (user name) first.',
      calling_you: 'Calling your phone: ',
      moved: 'Moved to ',
      history_title: 'Previous calls of this number',
      history_none: 'No earlier calls from this number.',
      history_failed: 'The previous calls could not be shown: ',
      col_when: 'When',
      col_outcome: 'Outcome',
      col_duration: 'Duration',
      out_answered: 'answered',
      out_abandoned: 'abandoned',
      out_transferred: 'transferred',
      out_callback: 'callback',
      out_ivr: 'in the menu',
      out_refused: 'refused',
      out_: 'in progress',
      nothing: '—',
    },
    ru: {
      title_wallboard: 'Табло',
      title_agent: 'Рабочее место оператора',
      sign_in_title: 'Вход',
      token_label: 'Токен доступа',
      sign_in: 'Войти',
      sign_out: 'Выйти',
      bad_token: 'Токен не принят.',
      wrong_role: 'Для этой страницы нужен токен оператора.',
      server_down: 'Сервер не отвечает.',
      lang_other: 'English',
      lang_other_name: 'Переключить на английский',
      queues: 'Очереди',
      queue: 'Очередь',
      all_queues: 'Все очереди',
      waiting: 'Ожидают',
      longest: 'Макс. ожидание',
      sl: 'Уровень сервиса',
      target: 'цель',
      asa: 'Ср. время ответа',
      abandon: 'Потерянные',
      ewt: 'Прогноз ожидания',
      callbacks: 'Обратные звонки',
      interval: 'интервал',
      agents: 'Операторы',
      col_agent: 'Оператор',
      col_state: 'Состояние',
      col_time: 'В состоянии',
      col_queue: 'Очередь',
      col_caller: 'Абонент',
      col_actions: 'Действия',
      pause_reason: 'Причина паузы',
      pause_agent: 'Пауза',
      resume_agent: 'Вернуть',
      chart_title: 'Последний час: ожидающие и уровень сервиса',
      conn_live: 'онлайн',
      conn_poll: 'опрос раз в секунду',
      conn_down: 'нет связи',
      st_available: 'Свободен',
      st_ringing: 'Вызов',
      st_reserved: 'Резерв',
      st_busy: 'Разговор',
      st_wrap_up: 'Поствызов',
      st_paused: 'Пауза',
      st_logged_out: 'Не в системе',
      st_unreachable: 'Недоступен',
      pause: 'Пауза:',
      unpause: 'Вернуться к работе',
      reason_break: 'Перерыв',
      reason_lunch: 'Обед',
      reason_training: 'Обучение',
      reason_meeting: 'Совещание',
      reason_after_call_work: 'Работа после вызова',
      reason_rona: 'Не ответил',
      offer_ringing: 'Входящий вызов',
      offer_talking: 'Разговор',
      offer_reserved: 'Обратный звонок',
      caller: 'Номер',
      tenant: 'Клиент',
      tenant_about: 'О клиенте',
      tenant_products: 'Продукты',
      call_data: 'Данные абонента',
      no_call_data: 'Данных нет.',
      script_title: 'Сценарий разговора',
      script_missing: 'Сценарий разговора не показан: ',
      no_call: 'Сейчас вызова нет.',
      refused: 'Сервер отказал: ',
      wrapup_title: 'После вызова',
      disposition: 'Результат',
      notes: 'Заметки',
      save_disposition: 'Сохранить',
      saved: 'Сохранено: ',
      end_wrapup: 'Завершить поствызов',
      my_callbacks: 'Обратные звонки',
      col_name: 'Имя',
      col_at: 'Не раньше',
      no_callbacks: 'Обратных звонков нет.',
      call_now: 'Позвонить сейчас',
      callback_started: 'Звоним на ваш телефон, затем клиенту: ',
      cb_scheduled: 'запланирован',
      cb_waiting: 'в очереди',
      cb_dialing: 'набирается',
      live_calls: 'Текущие вызовы',
      my_phone: 'Ваш телефон (пользователь)',
      col_phase: 'Фаза',
      col_wait: 'Ожидание',
      in_this_queue: 'в этой очереди',
      ph_ivr: 'В меню',
      ph_dialing: 'Набор номера',
      ph_answering: 'Ответ',
      ph_queued: 'Ожидает',
      ph_ringing: 'Вызов оператора',
      ph_bridged: 'Разговор',
      ph_callback_leaving: 'Обратный звонок',
      ph_ending: 'Завершается',
      move_to: 'Перевести в',
      move: 'Перевести',
      listen: 'Слушать',
      whisper: 'Подсказать',
      barge: 'Вмешаться',
      need_phone: 'Сначала укажите свой телефон (имя пользователя).',
      calling_you: 'Звоним на ваш телефон: ',
      moved: 'Переведён в ',
      history_title: 'Прошлые звонки с этого номера',
      history_none: 'Раньше с этого номера не звонили.',
      history_failed: 'Прошлые звонки не показаны: ',
      col_when: 'Когда',
      col_outcome: 'Итог',
      col_duration: 'Длительность',
      out_answered: 'отвечен',
      out_abandoned: 'потерян',
      out_transferred: 'переведён',
      out_callback: 'обратный звонок',
      out_ivr: 'в меню',
      out_refused: 'отклонён',
      out_: 'идёт',
      nothing: '—',
    },
  };

  const TOKEN_KEY = 'switchboard.token';
  const LANG_KEY = 'switchboard.lang';
  const guessed = (navigator.language || 'en').toLowerCase().startsWith('ru') ? 'ru' : 'en';
  let lang = STRINGS[localStorage.getItem(LANG_KEY)] ? localStorage.getItem(LANG_KEY) : guessed;
  const langListeners = [];

  function t(key) {
    const s = STRINGS[lang][key];
    return s === undefined ? key : s;
  }

  // A code from the server (state, pause reason) in words, or the code itself.
  function word(prefix, code) {
    const s = STRINGS[lang][prefix + code];
    return s === undefined ? String(code) : s;
  }

  function applyLang() {
    document.documentElement.lang = lang;
    for (const el of document.querySelectorAll('[data-i18n]')) {
      el.textContent = t(el.dataset.i18n);
    }
    const b = document.getElementById('lang');
    b.textContent = t('lang_other');
    b.setAttribute('aria-label', t('lang_other_name'));
    document.title = 'switchboard · ' + t(document.body.classList.contains('desk') ? 'title_agent' : 'title_wallboard');
    for (const f of langListeners) f();
  }

  function setLang(l) {
    lang = l;
    localStorage.setItem(LANG_KEY, l);
    applyLang();
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  }

  // GET or POST on the API with the signed-in token; answers {status, body}
  // (status 0: no answer). A 401 signs out: the token was revoked.
  async function api(path, method, body) {
    const init = { method: method || 'GET', headers: { Authorization: 'Bearer ' + token() } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let r;
    try {
      r = await fetch(path, init);
    } catch (e) {
      return { status: 0, body: null };
    }
    let parsed = null;
    try {
      parsed = await r.json();
    } catch (e) {
      parsed = null;
    }
    if (r.status === 401) signOut();
    return { status: r.status, body: parsed };
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    location.reload();
  }

  // Shows the sign-in form until a token is accepted (and `accept(session)` agrees), then
  // calls `ready(session)`. `session` is GET /api/v1/session.
  async function signIn(accept, ready) {
    applyLang();
    document.getElementById('lang').addEventListener('click', () => setLang(lang === 'ru' ? 'en' : 'ru'));
    const logout = document.getElementById('logout');
    logout.addEventListener('click', signOut);
    const form = document.getElementById('login');
    const error = document.getElementById('login-error');
    const enter = (session) => {
      form.hidden = true;
      logout.hidden = false;
      document.getElementById('app').hidden = false;
      ready(session);
    };
    const check = async () => {
      const r = await api('/api/v1/session');
      if (r.status === 200 && r.body) {
        if (accept(r.body)) return { session: r.body };
        return { error: 'wrong_role' };
      }
      return { error: r.status === 0 ? 'server_down' : 'bad_token' };
    };
    if (token()) {
      const r = await check();
      if (r.session) return enter(r.session);
      sessionStorage.removeItem(TOKEN_KEY);
    }
    form.hidden = false;
    const input = document.getElementById('token');
    input.focus();
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      const r = await check();
      if (r.session) {
        input.value = '';
        enter(r.session);
      } else {
        sessionStorage.removeItem(TOKEN_KEY);
        error.textContent = t(r.error);
        input.focus();
      }
    });
  }

  // Keeps `refresh` running: once a second while polling; on each relevant event (and
  // every 10 s as a safety net) while the WebSocket stream is up. The stream is used only
  // when the server says it has one (session.events_stream), and it reconnects with
  // `since=<last id>` so no event is missed; polling covers any gap.
  function live(session, refresh, relevant) {
    const conn = document.getElementById('conn');
    let mode = 'poll';
    let lastId = null;
    let socket = null;
    // The stream's state, readable from the browser's console (support) and by the browser
    // tests: the ids received in order (the last 1000), the URLs connected to, and `drop()`,
    // which closes the socket as a network failure would (the page then reconnects).
    const stream = { received: [], urls: [], drop: () => socket && socket.close() };
    window.switchboardStream = stream;
    let timer = null;
    let backoff = 1000;
    let ok = true;
    const show = () => {
      conn.textContent = t(!ok ? 'conn_down' : mode === 'ws' ? 'conn_live' : 'conn_poll');
      conn.className = 'conn conn-' + (!ok ? 'down' : mode);
    };
    langListeners.push(show);
    const run = async () => {
      clearTimeout(timer);
      ok = await refresh();
      show();
      timer = setTimeout(run, mode === 'ws' ? 10000 : 1000);
    };
    let soon = null;
    const kick = () => {
      if (soon) return;
      soon = setTimeout(() => {
        soon = null;
        run();
      }, 100);
    };
    const connect = () => {
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      const since = lastId === null ? '' : '?since=' + encodeURIComponent(lastId);
      let ws;
      try {
        ws = new WebSocket(proto + '//' + location.host + '/api/v1/events' + since,
          ['switchboard.v1', 'bearer.' + token()]);
      } catch (e) {
        return;
      }
      socket = ws;
      ws.onopen = () => {
        stream.urls.push(ws.url);
        mode = 'ws';
        backoff = 1000;
        show();
        kick();
      };
      ws.onmessage = (m) => {
        let ev;
        try {
          ev = JSON.parse(m.data);
        } catch (e) {
          return;
        }
        if (ev && ev.id !== undefined) {
          lastId = ev.id;
          stream.received.push(ev.id);
          if (stream.received.length > 1000) stream.received.shift();
        }
        if (ev && relevant(ev)) kick();
      };
      ws.onclose = () => {
        mode = 'poll';
        show();
        run();
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 30000);
      };
    };
    if (session.events_stream) connect();
    run();
  }

  // 75 -> "1:15"; 3725 -> "1:02:05"; null -> "—".
  function duration(s) {
    if (s === null || s === undefined || Number.isNaN(s)) return t('nothing');
    const total = Math.max(0, Math.floor(s));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const sec = String(total % 60).padStart(2, '0');
    return h > 0 ? h + ':' + String(m).padStart(2, '0') + ':' + sec : m + ':' + sec;
  }

  function percent(x) {
    return x === null || x === undefined ? t('nothing') : Math.round(x * 100) + '%';
  }

  // An element with a class and text.
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // The locale dates and times are shown in.
  function locale() {
    return lang === 'ru' ? 'ru-RU' : 'en-GB';
  }

  function clock() {
    const c = document.getElementById('clock');
    const tick = () => {
      c.textContent = new Date().toLocaleTimeString(locale());
    };
    tick();
    setInterval(tick, 1000);
  }

  return { t, word, api, signIn, live, duration, percent, el, clock, locale, onLang: (f) => langListeners.push(f) };
})();
