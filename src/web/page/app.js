// npair's read-only viewer. Frames arrive as JSON over a WebSocket at <page>/ws:
//   {type:"hello", session}
//   {type:"frame", seq, full, cols, rows, cursor:{r,c,v}, alt, lines:[[row, runs], ...]}
//     where a run is {t: text, fg, bg, uc (underline colour): index 0-255 or "#rrggbb",
//       u: underline 1 single 2 double 3 curly 4 dotted 5 dashed, b bold, d dim, i italic,
//       v inverse, k blink, s strikethrough, o overline, w: one wide character (two columns),
//       c: one character in a column of its own}; concealed text arrives as blanks
//   {type:"waiting", id}   (the host has not let this viewer in yet: --approve)
//   {type:"ended", reason}
// The server renders; this page only paints rows and the cursor.
'use strict';

const $ = (id) => document.getElementById(id);
const screenEl = $('screen');
const stateEl = $('state');

let cols = 0, rows = 0;
let rowEls = [];
let cursorEl = null;
let zoom = 1;           // multiplies the size that fits the window
let attempts = 0;       // connection attempts since the last success
let connectedOnce = false;
let reconnected = 0;    // times the connection came back
let ended = false;
let lastSeq = 0;

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

function paintRow(i, runs) {
  const div = rowEls[i];
  if (!div) return;
  const spans = runs.map((run) => {
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
  div.replaceChildren(...spans);
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
}

function connect() {
  attempts += 1;
  setState(connectedOnce || attempts > 1 ? 'reconnecting' : 'connecting',
    connectedOnce || attempts > 1 ? 'reconnecting (attempt ' + attempts + ')…' : 'connecting…');
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
    location.pathname.replace(/\/+$/, '') + '/ws';
  const ws = new WebSocket(url);
  ws.onopen = () => {
    if (connectedOnce) reconnected += 1;
    connectedOnce = true;
    attempts = 0;
    setState('live', reconnected ? 'live (reconnected ' + reconnected + '×)' : 'live');
  };
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.type === 'frame') apply(m);
    else if (m.type === 'hello') $('session').textContent = m.session;
    else if (m.type === 'waiting') setState('waiting', 'waiting for the host to let you in (guest ' + m.id + ')…');
    else if (m.type === 'ended') end(m.reason);
  };
  ws.onclose = () => {
    if (ended) return;
    const delay = Math.min(5000, 250 * 2 ** Math.min(attempts, 5));
    setState('reconnecting', 'disconnected; reconnecting in ' + (delay / 1000).toFixed(1) + ' s…');
    setTimeout(connect, delay);
  };
}

function end(reason) {
  ended = true;
  setState('ended', 'ended');
  $('ended-text').textContent = 'The share has ended' + (reason && reason !== 'the share has ended' ? ': ' + reason : '') + '. This page will not update any more.';
  $('ended').hidden = false;
}

$('zoom-in').addEventListener('click', () => { zoom *= 1.15; fit(); });
$('zoom-out').addEventListener('click', () => { zoom /= 1.15; fit(); });
$('zoom-fit').addEventListener('click', () => { zoom = 1; fit(); });
window.addEventListener('resize', fit);
connect();
