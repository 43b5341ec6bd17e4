/*!
 * CareChat web chat widget. Embed with one tag:
 *   <script src="https://your-carechat/widget/carechat.js" data-org="org_…" async></script>
 * Optional: data-title="…" (panel title), data-open="true" (start open).
 * No framework, no external requests: it talks only to the CareChat server it
 * was loaded from, over a WebSocket at /chat. Its markup and styles live in a
 * shadow root, so they neither affect nor are affected by the host page.
 */
(function () {
  'use strict';
  if (window.CareChat && window.CareChat.loaded) return;

  var script = document.currentScript || document.querySelector('script[src*="carechat.js"][data-org]');
  if (!script) return;
  var ORG = script.getAttribute('data-org') || '';
  var TITLE = script.getAttribute('data-title') || 'Clinic assistant';
  var SERVER = new URL(script.src, location.href);
  var WS_BASE = (SERVER.protocol === 'https:' ? 'wss://' : 'ws://') + SERVER.host + '/chat';
  var KEY = 'carechat:' + ORG + ':';
  var MAX_TEXT = 2000;
  var PING_EVERY_MS = 25000;
  var PONG_WAIT_MS = 10000;
  var VOICE_LABEL = 'Voice message';
  var VOICE_FAILED = 'This voice message could not be played.';

  var store = {
    get: function (k) { try { return window.localStorage.getItem(KEY + k); } catch (e) { return null; } },
    set: function (k, v) { try { window.localStorage.setItem(KEY + k, v); } catch (e) { /* private mode */ } },
    del: function (k) { try { window.localStorage.removeItem(KEY + k); } catch (e) { /* private mode */ } },
  };
  // The transcript lives for the browser tab only (sessionStorage): health data is not kept on the device.
  var transcript = {
    load: function () { try { return JSON.parse(window.sessionStorage.getItem(KEY + 'transcript') || '[]'); } catch (e) { return []; } },
    save: function (items) { try { window.sessionStorage.setItem(KEY + 'transcript', JSON.stringify(items.slice(-60))); } catch (e) { /* full */ } },
  };

  var ICON = '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path fill="currentColor" d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z"/></svg>';

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) node.setAttribute(k, attrs[k]);
    if (text != null) node.textContent = text;
    return node;
  }

  function append(parent, children) {
    children.forEach(function (child) { parent.appendChild(child); });
    return parent;
  }

  // ---- DOM -----------------------------------------------------------------
  var host = el('div', { id: 'carechat-widget', 'data-carechat': '' });
  var shadow = host.attachShadow({ mode: 'open' });
  // Styles come from the same server, into the shadow root only.
  var style = el('link', { rel: 'stylesheet', href: new URL('/widget/carechat.css', SERVER).href });
  var root = el('div', { class: 'cc-root' });
  var launcher = el('button', { type: 'button', class: 'cc-launcher', 'aria-label': 'Open chat', 'aria-expanded': 'false', 'aria-controls': 'cc-panel' });
  launcher.innerHTML = ICON;
  var badge = el('span', { class: 'cc-badge', 'aria-hidden': 'true', hidden: '' });
  launcher.appendChild(badge);

  var panel = el('section', { id: 'cc-panel', class: 'cc-panel', role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': 'cc-title', hidden: '' });
  var header = el('header', { class: 'cc-header' });
  var heading = el('div', { class: 'cc-heading' });
  var title = el('h2', { id: 'cc-title', class: 'cc-title' }, TITLE);
  var state = el('div', { class: 'cc-state', 'data-state': 'connecting', role: 'status' });
  var stateDot = el('span', { class: 'cc-dot', 'aria-hidden': 'true' });
  var stateText = el('span', {}, 'Connecting…');
  append(heading, [title, append(state, [stateDot, stateText])]);
  var closeBtn = el('button', { type: 'button', class: 'cc-close', 'aria-label': 'Close chat' }, '×');
  append(header, [heading, closeBtn]);

  var log = el('div', { class: 'cc-log', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': 'Conversation', tabindex: '0' });
  var typing = el('div', { class: 'cc-typing', 'aria-live': 'polite' });
  var form = el('form', { class: 'cc-form', autocomplete: 'off' });
  var label = el('label', { for: 'cc-input', class: 'cc-sr' }, 'Type your message');
  var input = el('textarea', { id: 'cc-input', class: 'cc-input', rows: '1', maxlength: String(MAX_TEXT), placeholder: 'Type your message…', enterkeyhint: 'send' });
  var send = el('button', { type: 'submit', class: 'cc-send' }, 'Send');
  append(form, [label, input, send]);
  var note = el('div', { class: 'cc-note' }, 'In an emergency, call your local emergency number.');

  append(panel, [header, log, typing, form, note]);
  append(root, [panel, launcher]);
  append(shadow, [style, root]);

  // ---- state ---------------------------------------------------------------
  var ws = null;
  var connState = 'idle';
  var retries = 0;
  var retryTimer = null;
  var pingTimer = null;
  var pongTimer = null;
  var typingTimer = null;
  var unread = 0;
  var unavailable = false;
  var seen = {};
  var items = transcript.load();
  var pending = []; // client frames not yet acknowledged: resent (same id) after a reconnect
  // The server sends "typing" with the ack when the bot is going to answer; a reply that overtook it (another
  // instance) must not leave it spinning: typing is shown only while the acknowledged message has no answer yet,
  // and not while staff hold the chat.
  var received = 0; // server messages shown so far
  var receivedAtSend = {}; // client id -> `received` when it was sent
  var awaitedSince = -1; // `received` when the last acknowledged message was sent
  var lastSender = null;

  function setState(s, text) {
    connState = s;
    state.setAttribute('data-state', s);
    stateText.textContent = text;
    send.disabled = s === 'offline' && unavailable;
  }

  function scrollDown() { log.scrollTop = log.scrollHeight; }

  function clientId() {
    var rnd = window.crypto && window.crypto.getRandomValues ? Array.prototype.map.call(window.crypto.getRandomValues(new Uint8Array(8)), function (b) { return ('0' + b.toString(16)).slice(-2); }).join('') : String(Math.random()).slice(2);
    return 'c_' + Date.now().toString(36) + '_' + rnd;
  }

  function renderMine(item) {
    var bubble = el('div', { class: 'cc-msg cc-msg-me', 'data-client-id': item.cid, 'data-state': item.state || 'pending' });
    bubble.appendChild(el('span', { class: 'cc-sr' }, 'You: '));
    bubble.appendChild(document.createTextNode(item.text));
    bubble.appendChild(el('span', { class: 'cc-meta' }, item.state === 'sent' ? 'Sent' : 'Sending…'));
    log.appendChild(bubble);
    scrollDown();
  }

  function clearOptions() {
    Array.prototype.forEach.call(log.querySelectorAll('.cc-options button'), function (b) { b.disabled = true; });
  }

  // A voice message's URL may be a path (/media/…): it is the CareChat server's, never the host page's.
  function mediaUrl(url) {
    try { var u = new URL(String(url), SERVER); return /^https?:$/.test(u.protocol) ? u.href : null; } catch (e) { return null; }
  }

  function voiceLabel(sec) {
    if (typeof sec !== 'number' || !(sec >= 0)) return VOICE_LABEL;
    return VOICE_LABEL + ', ' + Math.floor(Math.round(sec) / 60) + ':' + ('0' + (Math.round(sec) % 60)).slice(-2);
  }

  // preload="none": nothing is fetched until the visitor presses play (an expired link then says so).
  function renderVoice(bubble, item) {
    var src = mediaUrl(item.audio.url);
    var player = src && bubble.appendChild(el('audio', { class: 'cc-audio', controls: '', preload: 'none', src: src, 'aria-label': voiceLabel(item.audio.duration_seconds) }));
    if (player) player.addEventListener('error', function () { player.replaceWith(el('span', { class: 'cc-meta', role: 'status' }, VOICE_FAILED)); });
    // The player shows 0:00 until played (nothing is preloaded): the length is written beside it (the label already says it to screen readers).
    if (player && typeof item.audio.duration_seconds === 'number') bubble.appendChild(el('span', { class: 'cc-meta cc-duration', 'aria-hidden': 'true' }, voiceLabel(item.audio.duration_seconds)));
    if (item.text) bubble.appendChild(el('span', { class: 'cc-caption' }, item.text));
  }

  // A long message may come as several parts under one id (the text tells them apart); a voice message never is.
  function seenKey(item) { return item.id + '\n' + (item.audio ? '\u0000audio' : item.text); }

  function renderTheirs(item, live) {
    clearOptions();
    var staff = item.sender === 'staff';
    var bubble = el('div', { class: 'cc-msg ' + (staff ? 'cc-msg-staff' : 'cc-msg-bot') + (item.audio ? ' cc-msg-voice' : ''), 'data-message-id': item.id, 'data-sender': item.sender });
    if (staff) bubble.appendChild(el('span', { class: 'cc-who' }, 'Clinic staff'));
    else bubble.appendChild(el('span', { class: 'cc-sr' }, 'Assistant: '));
    if (item.audio) renderVoice(bubble, item);
    else bubble.appendChild(document.createTextNode(item.text));
    log.appendChild(bubble);
    if (item.options && item.options.length && live) {
      var group = el('div', { class: 'cc-options', role: 'group', 'aria-label': 'Suggested replies' });
      item.options.forEach(function (opt) {
        var b = el('button', { type: 'button', class: 'cc-option', 'data-value': opt.value }, opt.label);
        b.addEventListener('click', function () {
          submit(String(opt.value), opt.label);
          input.focus(); // the clicked button is now disabled: keep focus in the chat
        });
        group.appendChild(b);
      });
      log.appendChild(group);
    }
    scrollDown();
  }

  function restore() {
    items.forEach(function (item, i) {
      if (item.mine) renderMine(item);
      else { seen[seenKey(item)] = true; lastSender = item.sender; renderTheirs(item, i === items.length - 1); }
    });
    items.forEach(function (item) {
      if (item.mine && item.state !== 'sent') pending.push({ type: 'message', id: item.cid, text: item.text });
    });
  }

  function remember(item) {
    items.push(item);
    transcript.save(items);
  }

  function showTyping(on) {
    clearTimeout(typingTimer);
    typing.textContent = '';
    if (!on) return;
    append(typing, [el('span', { 'aria-hidden': 'true' }), el('span', { 'aria-hidden': 'true' }), el('span', { 'aria-hidden': 'true' }), document.createTextNode(' Assistant is typing…')]);
    // Never leave it spinning if no reply comes.
    typingTimer = setTimeout(function () { showTyping(false); }, 20000);
  }

  function setUnread(n) {
    unread = n;
    badge.hidden = n === 0;
    badge.textContent = n > 9 ? '9+' : String(n);
    launcher.setAttribute('aria-label', n ? 'Open chat (' + n + ' new message' + (n > 1 ? 's' : '') + ')' : 'Open chat');
  }

  // ---- connection ----------------------------------------------------------
  function connect() {
    if (unavailable || ws) return;
    clearTimeout(retryTimer);
    var params = new URLSearchParams({ org: ORG });
    var token = store.get('session');
    var after = store.get('after');
    if (token) params.set('session', token);
    if (token && after) params.set('after', after);
    setState('connecting', retries ? 'Reconnecting…' : 'Connecting…');
    var socket;
    try {
      socket = new WebSocket(WS_BASE + '?' + params.toString());
    } catch (e) {
      return scheduleReconnect();
    }
    ws = socket;
    socket.onmessage = function (ev) {
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      onFrame(frame);
    };
    socket.onclose = function (ev) {
      if (ws !== socket) return;
      ws = null;
      clearInterval(pingTimer);
      clearTimeout(pongTimer);
      showTyping(false);
      if (ev.code === 4404 || ev.code === 4400) {
        unavailable = true;
        setState('offline', 'Chat is not available');
        return;
      }
      setState('offline', 'Offline — reconnecting…');
      scheduleReconnect(ev.code === 1001);
    };
  }

  function scheduleReconnect(soon) {
    clearTimeout(retryTimer);
    var base = soon ? 500 : Math.min(30000, 1000 * Math.pow(2, retries));
    retries++;
    retryTimer = setTimeout(connect, base / 2 + Math.random() * base / 2);
  }

  function transmit(frame) {
    if (ws && ws.readyState === WebSocket.OPEN && connState === 'online') ws.send(JSON.stringify(frame));
  }

  function onFrame(frame) {
    switch (frame.type) {
      case 'session':
        store.set('session', frame.session_token);
        retries = 0;
        setState('online', 'Online');
        pending.forEach(transmit);
        clearInterval(pingTimer);
        pingTimer = setInterval(function () {
          transmit({ type: 'ping' });
          clearTimeout(pongTimer);
          pongTimer = setTimeout(function () { if (ws) ws.close(4000, 'no pong'); }, PONG_WAIT_MS);
        }, PING_EVERY_MS);
        break;
      case 'pong':
        clearTimeout(pongTimer);
        break;
      case 'ack': {
        pending = pending.filter(function (p) { return p.id !== frame.id; });
        awaitedSince = frame.id in receivedAtSend ? receivedAtSend[frame.id] : -1;
        delete receivedAtSend[frame.id];
        items.forEach(function (item) { if (item.mine && item.cid === frame.id) item.state = 'sent'; });
        transcript.save(items);
        var mine = log.querySelector('[data-client-id="' + CSS_escape(frame.id) + '"]');
        if (mine) {
          mine.setAttribute('data-state', 'sent');
          mine.setAttribute('data-message-id', frame.message_id);
          mine.querySelector('.cc-meta').textContent = 'Sent';
        }
        break;
      }
      case 'typing':
        if (awaitedSince === received && lastSender !== 'staff') showTyping(true);
        awaitedSince = -1;
        break;
      case 'message':
        store.set('after', frame.id);
        var item = { id: frame.id, sender: frame.sender, text: frame.text, options: frame.options || [], at: frame.created_at };
        if (frame.audio && typeof frame.audio.url === 'string') item.audio = { url: frame.audio.url, format: frame.audio.format, duration_seconds: frame.audio.duration_seconds };
        if (seen[seenKey(item)]) break;
        seen[seenKey(item)] = true;
        showTyping(false);
        received++;
        lastSender = frame.sender;
        remember(item);
        renderTheirs(item, true);
        if (panel.hidden) setUnread(unread + 1);
        break;
      case 'error': {
        if (frame.id) {
          pending = pending.filter(function (p) { return p.id !== frame.id; });
          var failed = log.querySelector('[data-client-id="' + CSS_escape(frame.id) + '"]');
          if (failed) {
            failed.setAttribute('data-state', 'failed');
            failed.querySelector('.cc-meta').textContent = frame.code === 'rate_limited' ? 'Not sent: too many messages, wait a moment' : 'Not sent';
          }
        }
        break;
      }
    }
  }

  function CSS_escape(s) { return String(s).replace(/["\\]/g, '\\$&'); }

  function submit(text, shown) {
    text = String(text).trim();
    if (!text || unavailable) return;
    if (text.length > MAX_TEXT) text = text.slice(0, MAX_TEXT);
    var item = { mine: true, cid: clientId(), text: shown || text, state: 'pending' };
    clearOptions();
    remember(item);
    renderMine(item);
    var frame = { type: 'message', id: item.cid, text: text };
    receivedAtSend[item.cid] = received;
    pending.push(frame);
    transmit(frame);
    if (!ws) connect();
  }

  // ---- open / close --------------------------------------------------------
  function openPanel() {
    panel.hidden = false;
    root.classList.add('cc-open');
    launcher.setAttribute('aria-expanded', 'true');
    launcher.setAttribute('aria-label', 'Close chat');
    setUnread(0);
    if (!items.length && !log.childNodes.length) {
      log.appendChild(el('div', { class: 'cc-msg cc-msg-bot' }, 'Hi! I can help you book, change or cancel an appointment, or put you in touch with the clinic.'));
    }
    connect();
    scrollDown();
    input.focus();
  }

  function closePanel() {
    panel.hidden = true;
    root.classList.remove('cc-open');
    launcher.setAttribute('aria-expanded', 'false');
    setUnread(unread);
    launcher.focus();
  }

  launcher.addEventListener('click', function () { if (panel.hidden) openPanel(); else closePanel(); });
  closeBtn.addEventListener('click', closePanel);
  root.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape' && !panel.hidden) { ev.preventDefault(); closePanel(); }
  });
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = input.value;
    input.value = '';
    submit(text);
    input.focus();
  });
  input.addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event('submit')); }
  });
  window.addEventListener('online', function () { if (!ws && !unavailable && store.get('session')) { retries = 0; connect(); } });

  function mount() {
    document.body.appendChild(host);
    restore();
    if (!ORG) { unavailable = true; setState('offline', 'Chat is not configured'); }
    // A returning visitor reconnects at once, so replies sent while away arrive.
    else if (store.get('session')) connect();
    if (script.getAttribute('data-open') === 'true') openPanel();
  }

  window.CareChat = {
    loaded: true,
    open: openPanel,
    close: closePanel,
    /** Forgets the session on this device (e.g. a shared computer). */
    reset: function () { store.del('session'); store.del('after'); transcript.save([]); location.reload(); },
  };

  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);
})();
