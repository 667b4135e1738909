// npair's read-only viewer. Frames arrive as JSON over a WebSocket at <page>/ws:
//   {type:"hello", session}
//   {type:"frame", seq, full, cols, rows, cursor:{r,c,v}, alt, lines:[[row, runs], ...]}
//     where a run is {t: text, fg, bg, uc (underline colour): index 0-255 or "#rrggbb",
//       u: underline 1 single 2 double 3 curly 4 dotted 5 dashed, b bold, d dim, i italic,
//       v inverse, k blink, s strikethrough, o overline, w: one wide character (two columns),
//       c: one character in a column of its own}; concealed text arrives as blanks
//   {type:"waiting", id}   (the host has not let this viewer in yet: --approve)
//   {type:"typing", names, line}   (who is typing now: line "alice, bob typing", or "" for nobody)
//   {type:"ended", reason}
//   {type:"history", id, pane, label, active, start, total, first, rows:[runs, ...]}
//     (or {type:"history", id, error}): the answer to {type:"history", id, pane?, before?, after?},
//     rows first.. of the rows that scrolled off a pane since the share began, numbered
//     start..total; without pane, the active one.
// The server renders; this page only paints rows and the cursor, and pages through history.
'use strict';

const $ = (id) => document.getElementById(id);
const screenEl = $('screen');
const stateEl = $('state');
const historyEl = $('history');
const viewport = $('viewport');

let cols = 0, rows = 0;
let rowEls = [];
let cursorEl = null;
let zoom = 1;           // multiplies the size that fits the window
let attempts = 0;       // connection attempts since the last success
let connectedOnce = false;
let reconnected = 0;    // times the connection came back
let ended = false;
let lastSeq = 0;
let ws = null;
// Scrolled back: null when live, else {pane, first, next, start, asking, want, by, newerAt}.
// Live frames go on painting #screen; only the user's scrolling moves the view.
let back = null;
let asked = 0;          // id of the last history request; answers to older ones are dropped

// xterm's 256-colour palette.
const palette = (() => {
  const base = ['#000000', '#cd0000', '#00cd00', '#cdcd00', '#0000ee', '#cd00cd', '#00cdcd', '#e5e5e5',
    '#7f7f7f', '#ff0000', '#00ff00', '#ffff00', '#5c5cff', '#ff00ff', '#00ffff', '#ffffff'];
  const hex = (n) => n.toString(16).padStart(2, '0');
  const steps = [0, 95, 135, 175, 215, 255];
  for (let i = 0; i < 216; i++) {
    base.push('#' + hex(steps[Math.floor(i / 36)]) + hex(steps[Math.floor(i / 6) % 6]) + hex(steps[i % 6]));
  }
  for (let i = 0; i < 24; i++) { const v = 8 + i * 10; base.push('#' + hex(v) + hex(v) + hex(v)); }
  return base;
})();
const css = getComputedStyle(document.documentElement);
const defaultFg = css.getPropertyValue('--fg').trim() || '#d0d0d0';
const defaultBg = css.getPropertyValue('--bg').trim() || '#111111';
const colour = (c) => (typeof c === 'number' ? palette[c] : c);
const underlineStyles = [null, 'solid', 'double', 'wavy', 'dotted', 'dashed'];

function setState(cls, text) {
  stateEl.className = cls;
  stateEl.textContent = text;
  document.body.dataset.state = cls;
}

function setSize(c, r) {
  cols = c; rows = r;
  $('size').textContent = c + '×' + r;
  while (rowEls.length < r) {
    const div = document.createElement('div');
    div.className = 'row';
    screenEl.appendChild(div);
    rowEls.push(div);
  }
  while (rowEls.length > r) rowEls.pop().remove();
  screenEl.style.width = c + 'ch';
  fit();
}

function spansOf(runs) {
  return runs.map((run) => {
    const s = document.createElement('span');
    s.textContent = run.t;
    let fg = run.fg !== undefined ? colour(run.fg) : null;
    let bg = run.bg !== undefined ? colour(run.bg) : null;
    if (run.v) { const f = fg; fg = bg || defaultBg; bg = f || defaultFg; }
    if (fg) s.style.color = fg;
    if (bg) s.style.backgroundColor = bg;
    const lines = [];
    if (run.u) lines.push('underline');
    if (run.o) lines.push('overline');
    if (run.s) lines.push('line-through');
    if (lines.length) {
      s.style.textDecorationLine = lines.join(' ');
      if (run.u) s.style.textDecorationStyle = underlineStyles[run.u] || 'solid';
      if (run.uc !== undefined) s.style.textDecorationColor = colour(run.uc);
    }
    const cls = ['b', 'd', 'i', 'k', 'w', 'c'].filter((k) => run[k]);
    if (cls.length) s.className = cls.join(' ');
    return s;
  });
}

function paintRow(i, runs) {
  const div = rowEls[i];
  if (!div) return;
  div.replaceChildren(...spansOf(runs));
}

function paintCursor(cur) {
  if (!cursorEl) {
    cursorEl = document.createElement('div');
    cursorEl.id = 'cursor';
    screenEl.appendChild(cursorEl);
  }
  cursorEl.style.top = (cur.r * 1.2) + 'em';
  cursorEl.style.left = cur.c + 'ch';
  cursorEl.classList.toggle('hidden', !cur.v);
}

function apply(m) {
  if (m.cols !== cols || m.rows !== rows) setSize(m.cols, m.rows);
  if (m.full) rowEls.forEach((div) => div.replaceChildren());
  for (const [i, runs] of m.lines) paintRow(i, runs);
  paintCursor(m.cursor);
  lastSeq = m.seq;
  screenEl.dataset.seq = m.seq;
  screenEl.dataset.alt = m.alt ? '1' : '0';
}

// The font size at which the whole screen fits the window, times the zoom.
let charRatio = 0;
function fit() {
  if (!cols || !rows) return;
  if (!charRatio) {
    const probe = document.createElement('span');
    probe.textContent = '0'.repeat(100);
    probe.style.fontSize = '100px';
    screenEl.appendChild(probe);
    charRatio = probe.getBoundingClientRect().width / 100 / 100 || 0.6;
    probe.remove();
  }
  const vp = $('viewport');
  const w = vp.clientWidth - 12, h = vp.clientHeight - 12;
  const size = Math.max(6, Math.min(w / (cols * charRatio), h / (rows * 1.2)) * zoom);
  screenEl.style.fontSize = size.toFixed(2) + 'px';
  historyEl.style.fontSize = screenEl.style.fontSize;
}

// ---- Scrollback ----

const lineHeight = () => (parseFloat(screenEl.style.fontSize) || 14) * 1.2;

function ask(req, want) {
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  asked += 1;
  back.asking = asked;
  back.want = want;
  ws.send(JSON.stringify(Object.assign({ type: 'history', id: asked }, req)));
}

// Scrolls up by `by` pixels, entering the scrolled-back view if live.
function scrollBack(by) {
  if (back) { viewport.scrollTop -= by; return; }
  back = { pane: null, first: 0, next: 0, start: 0, asking: 0, want: null, by: by, newerAt: 0 };
  document.body.dataset.mode = 'back';
  $('scrolled').hidden = false;
  $('scrolled-text').textContent = 'Scrolled back: loading earlier output…';
  ask({}, 'newest');
}

function toLive() {
  if (!back) return;
  back = null;
  asked += 1;
  historyEl.replaceChildren();
  historyEl.hidden = true;
  $('scrolled').hidden = true;
  document.body.dataset.mode = 'live';
  viewport.scrollTop = 0;
}

function onHistory(m) {
  if (!back || m.id !== back.asking) return;
  back.asking = 0;
  if (m.error) {
    $('scrolled-text').textContent = 'Scrolled back: ' + m.error;
    return;
  }
  const els = m.rows.map((runs) => {
    const div = document.createElement('div');
    div.className = 'row';
    div.replaceChildren(...spansOf(runs));
    return div;
  });
  if (back.want === 'newest') {
    back.pane = m.pane;
    back.first = m.first;
    back.next = m.first + m.rows.length;
    historyEl.replaceChildren(...els);
    historyEl.hidden = false;
    viewport.scrollTop = Math.max(0, historyEl.offsetHeight - back.by);
  } else if (back.want === 'older' && els.length) {
    // Rows go in above what is shown; the view stays on the same rows.
    const height = historyEl.offsetHeight;
    historyEl.prepend(...els);
    viewport.scrollTop += historyEl.offsetHeight - height;
    back.first = m.first;
  } else if (back.want === 'older') {
    back.first = m.first;
  } else if (back.want === 'newer') {
    historyEl.append(...els);
    back.next = Math.max(back.next, m.first + m.rows.length);
  }
  back.start = m.start;
  historyEl.dataset.pane = m.pane;
  historyEl.dataset.first = back.first;
  historyEl.dataset.start = m.start;
  const which = m.label + (m.active ? '; the active pane' : '; no longer the active pane');
  const n = m.total.toLocaleString('en');
  let text = 'Scrolled back: pane ' + m.pane + ' (' + which + ') · ' +
    (m.total === 1 ? '1 line' : n + ' lines') + ' since the share began';
  if (m.start > 0) text += ' (the last ' + (m.total - m.start).toLocaleString('en') + ' are kept)';
  $('scrolled-text').textContent = text;
  onScroll();
}

// Asks for older rows as the top comes near, and for newer ones when the reader reaches the
// end of the history: only ever when the user scrolls, so new output never moves the view.
function onScroll() {
  if (!back || back.pane === null || back.asking) return;
  if (viewport.scrollTop < viewport.clientHeight && back.first > back.start) {
    ask({ pane: back.pane, before: back.first }, 'older');
  } else if (historyEl.getBoundingClientRect().bottom < viewport.getBoundingClientRect().bottom &&
             Date.now() - back.newerAt > 1000) {
    back.newerAt = Date.now();
    ask({ pane: back.pane, after: back.next }, 'newer');
  }
}

viewport.addEventListener('scroll', onScroll);
viewport.addEventListener('wheel', (e) => {
  const by = Math.abs(e.deltaY) * (e.deltaMode === 1 ? lineHeight() : e.deltaMode === 2 ? viewport.clientHeight : 1);
  if (e.deltaY < 0 && !back && viewport.scrollTop <= 0) {
    e.preventDefault();
    scrollBack(Math.max(by, 3 * lineHeight()));
  } else if (e.deltaY > 0 && back && !back.asking &&
             viewport.scrollTop + viewport.clientHeight >= viewport.scrollHeight - 1) {
    // Already at the bottom and still scrolling down: back to live.
    e.preventDefault();
    toLive();
  }
}, { passive: false });
let touchY = null;
viewport.addEventListener('touchstart', (e) => {
  touchY = e.touches.length === 1 ? e.touches[0].clientY : null;
}, { passive: true });
viewport.addEventListener('touchmove', (e) => {
  if (back || touchY === null || viewport.scrollTop > 0 || e.touches.length !== 1) return;
  const dy = e.touches[0].clientY - touchY;
  if (dy > 24) {
    touchY = null;
    scrollBack(Math.max(dy, viewport.clientHeight / 3));
  }
}, { passive: true });
document.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const page = viewport.clientHeight * 0.9;
  if (e.key === 'PageUp') {
    e.preventDefault();
    if (!back && viewport.scrollTop > 0) viewport.scrollTop -= page;
    else scrollBack(page);
  } else if (e.key === 'PageDown' && back) {
    e.preventDefault();
    viewport.scrollTop += page;
  } else if (e.key === 'End' && back) {
    e.preventDefault();
    toLive();
  }
});
$('to-live').addEventListener('click', toLive);

function connect() {
  attempts += 1;
  setState(connectedOnce || attempts > 1 ? 'reconnecting' : 'connecting',
    connectedOnce || attempts > 1 ? 'reconnecting (attempt ' + attempts + ')…' : 'connecting…');
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
    location.pathname.replace(/\/+$/, '') + '/ws';
  const sock = new WebSocket(url);
  ws = sock;
  sock.onopen = () => {
    if (connectedOnce) reconnected += 1;
    connectedOnce = true;
    attempts = 0;
    setState('live', reconnected ? 'live (reconnected ' + reconnected + '×)' : 'live');
    // A request lost with the old connection is not waited for.
    if (back) back.asking = 0;
  };
  sock.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.type === 'frame') apply(m);
    else if (m.type === 'hello') $('session').textContent = m.session;
    else if (m.type === 'waiting') setState('waiting', 'waiting for the host to let you in (guest ' + m.id + ')…');
    else if (m.type === 'history') onHistory(m);
    else if (m.type === 'typing') showTyping(m.line);
    else if (m.type === 'ended') end(m.reason);
  };
  sock.onclose = () => {
    if (ended) return;
    // Unknown until the server says again, as it does when the page reconnects.
    showTyping('');
    const delay = Math.min(5000, 250 * 2 ** Math.min(attempts, 5));
    setState('reconnecting', 'disconnected; reconnecting in ' + (delay / 1000).toFixed(1) + ' s…');
    setTimeout(connect, delay);
  };
}

function showTyping(line) {
  const el = $('typing');
  el.textContent = line || '';
  el.hidden = !line;
}

function end(reason) {
  ended = true;
  showTyping('');
  setState('ended', 'ended');
  $('ended-text').textContent = 'The share has ended' + (reason && reason !== 'the share has ended' ? ': ' + reason : '') + '. This page will not update any more.';
  $('ended').hidden = false;
}

$('zoom-in').addEventListener('click', () => { zoom *= 1.15; fit(); });
$('zoom-out').addEventListener('click', () => { zoom /= 1.15; fit(); });
$('zoom-fit').addEventListener('click', () => { zoom = 1; fit(); });
window.addEventListener('resize', fit);
document.body.dataset.mode = 'live';
connect();
