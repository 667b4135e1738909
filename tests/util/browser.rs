//! A real browser for the tests: headless Chromium driven over the DevTools protocol
//! (a WebSocket speaking JSON), with just the calls the tests need.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::{wait_until, DEADLINE};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The browser, as Debian's `chromium` package installs it.
pub const CHROMIUM: &str = "chromium";

pub struct Browser {
    child: Child,
    rt: tokio::runtime::Runtime,
    ws: Ws,
    session: String,
    next_id: u64,
    /// DevTools events that arrived during calls, kept once [`Browser::record_websockets`]
    /// has been called.
    events: Vec<Value>,
    recording: bool,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Opens `url` in a new headless Chromium with a window of `width` × `height` pixels.
    /// Panics (the test fails, it does not skip) when Chromium is not installed.
    pub fn open(url: &str, width: u32, height: u32) -> Browser {
        Browser::open_with(url, width, height, &[])
    }

    /// The same, with more Chromium flags (e.g. one that trusts a test's certificate).
    pub fn open_with(url: &str, width: u32, height: u32, flags: &[String]) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
            ])
            .args(flags)
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMIUM} ({e}); install Debian's chromium package (.ci/run does)"));
        // Chromium says where its DevTools endpoint is on stderr.
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let endpoint = rx.recv_timeout(DEADLINE).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("chromium did not open its DevTools endpoint")
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let ws = rt
            .block_on(tokio_tungstenite::connect_async(endpoint.as_str()))
            .expect("connect to chromium")
            .0;
        let mut b = Browser {
            child,
            rt,
            ws,
            session: String::new(),
            next_id: 0,
            events: Vec::new(),
            recording: false,
            _profile: profile,
        };
        let target = b.call(None, "Target.createTarget", json!({ "url": url }));
        let target_id = target["targetId"].as_str().unwrap().to_owned();
        let attached = b.call(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        );
        b.session = attached["sessionId"].as_str().unwrap().to_owned();
        b
    }

    /// One DevTools call; events that arrive meanwhile are kept when recording, else skipped.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let (ws, events, recording) = (&mut self.ws, &mut self.events, self.recording);
        self.rt.block_on(async {
            ws.send(Message::Text(msg.to_string().into()))
                .await
                .unwrap();
            let reply = tokio::time::timeout(DEADLINE, async {
                while let Some(Ok(m)) = ws.next().await {
                    if let Message::Text(t) = m {
                        let v: Value = serde_json::from_str(&t).unwrap();
                        if v["id"] == json!(id) {
                            return v;
                        }
                        if recording && v.get("method").is_some() {
                            events.push(v);
                        }
                    }
                }
                panic!("chromium closed the DevTools connection")
            });
            let v = reply
                .await
                .unwrap_or_else(|_| panic!("no reply to {method}"));
            assert!(v.get("error").is_none(), "{method} failed: {v}");
            v["result"].clone()
        })
    }

    /// Makes the page a phone's: `width` × `height` CSS pixels at three device pixels each, a
    /// touch screen, and the mobile viewport rules (the page's `<meta name="viewport">` counts),
    /// then loads the page again under them.
    pub fn emulate_phone(&mut self, width: u32, height: u32) {
        let session = self.session.clone();
        self.call(
            Some(&session),
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 3, "mobile": true }),
        );
        self.call(
            Some(&session),
            "Emulation.setTouchEmulationEnabled",
            json!({ "enabled": true, "maxTouchPoints": 5 }),
        );
        self.call(Some(&session), "Page.reload", json!({}));
    }

    /// From now on, keeps every WebSocket message the page receives ([`Browser::websocket_messages`]).
    pub fn record_websockets(&mut self) {
        let session = self.session.clone();
        self.recording = true;
        self.call(Some(&session), "Network.enable", json!({}));
    }

    /// The text of every WebSocket message the page has received since
    /// [`Browser::record_websockets`] (as far as DevTools has reported them).
    pub fn websocket_messages(&mut self) -> Vec<String> {
        // A call drains the events queued before its answer.
        self.eval("0");
        self.events
            .iter()
            .filter(|e| e["method"] == "Network.webSocketFrameReceived")
            .map(|e| {
                e["params"]["response"]["payloadData"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    /// The URL of every WebSocket the page has opened since [`Browser::record_websockets`].
    pub fn websocket_urls(&mut self) -> Vec<String> {
        self.eval("0");
        self.events
            .iter()
            .filter(|e| e["method"] == "Network.webSocketCreated")
            .filter_map(|e| e["params"]["url"].as_str().map(str::to_owned))
            .collect()
    }

    /// Loads the page again.
    pub fn reload(&mut self) {
        let session = self.session.clone();
        self.call(Some(&session), "Page.reload", json!({}));
    }

    /// A turn of the mouse wheel at (`x`, `y`): `delta_y` pixels, negative for up.
    pub fn wheel(&mut self, x: f64, y: f64, delta_y: f64) {
        let session = self.session.clone();
        self.call(
            Some(&session),
            "Input.dispatchMouseEvent",
            json!({ "type": "mouseWheel", "x": x, "y": y, "deltaX": 0, "deltaY": delta_y }),
        );
    }

    /// A finger drawn over the touch screen from (`x`, `y0`) to (`x`, `y1`), in steps.
    pub fn swipe(&mut self, x: f64, y0: f64, y1: f64) {
        let session = self.session.clone();
        const STEPS: u32 = 8;
        let at = |i: u32| y0 + (y1 - y0) * f64::from(i) / f64::from(STEPS);
        let mut touch = |kind: &str, y: Option<f64>| {
            let points = y.map_or(json!([]), |y| json!([{ "x": x, "y": y }]));
            self.call(
                Some(&session),
                "Input.dispatchTouchEvent",
                json!({ "type": kind, "touchPoints": points }),
            );
        };
        touch("touchStart", Some(y0));
        for i in 1..=STEPS {
            touch("touchMove", Some(at(i)));
        }
        touch("touchEnd", None);
    }

    /// A key pressed and released, as a user would: `key` and `code` as the DOM names them
    /// ("PageUp"), `vk` its Windows virtual key code (33).
    pub fn press(&mut self, key: &str, vk: u32) {
        let session = self.session.clone();
        for kind in ["rawKeyDown", "keyUp"] {
            self.call(
                Some(&session),
                "Input.dispatchKeyEvent",
                json!({ "type": kind, "key": key, "code": key, "windowsVirtualKeyCode": vk }),
            );
        }
    }

    /// Evaluates JavaScript in the page and returns its value (promises are awaited).
    pub fn eval(&mut self, expression: &str) -> Value {
        let session = self.session.clone();
        let r = self.call(
            Some(&session),
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("page script failed: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Polls `expression` until `pred` accepts its value. While the page is still loading the
    /// expression may throw; that counts as "not yet".
    pub fn wait_for(
        &mut self,
        what: &str,
        expression: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let guarded = format!("(() => {{ try {{ return {{ ok: ({expression}) }}; }} catch (e) {{ return {{ err: String(e) }}; }} }})()");
        wait_until(&format!("the page to show {what}"), || {
            let v = self.eval(&guarded);
            match v.get("ok") {
                Some(ok) if pred(ok) => Ok(ok.clone()),
                _ => Err(v.to_string()),
            }
        })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// JavaScript: the page's screen as rows of cells `[text, color, background]`, one per column
/// (a wide character fills two), with colours as the browser computed them.
pub const PAGE_CELLS: &str = r#"(() => {
  const rows = [...document.querySelectorAll('#screen .row')];
  return rows.map((row) => {
    const cells = [];
    for (const span of row.querySelectorAll('span')) {
      const cs = getComputedStyle(span);
      const bg = span.style.backgroundColor ? cs.backgroundColor : null;
      // A character in a box of its own (w: two columns, c: one) is one cell, whatever its
      // code points (an emoji sequence, a letter and its combining accent).
      const boxed = span.classList.contains('w') || span.classList.contains('c');
      for (const ch of boxed ? [span.textContent] : span.textContent) {
        cells.push([ch, cs.color, bg]);
        if (span.classList.contains('w')) cells.push(['', cs.color, bg]);
      }
    }
    return cells;
  });
})()"#;

/// JavaScript: every cell the page shows, as the browser laid it out and styled it: rows of
/// `[column, text, look]`, where `column` is where the cell's text starts on the screen, in
/// columns (from the layout, so reordered text shows), and `look` is its computed colour,
/// background, weight, opacity, style, text decoration (lines, style, colour) and animation,
/// joined by `|`. Animations are paused at their start, so a blinking cell is read as shown.
pub const PAGE_GRID: &str = r#"(() => {
  document.getAnimations().forEach((a) => { a.pause(); a.currentTime = 0; });
  const screen = document.getElementById('screen');
  const box = screen.getBoundingClientRect();
  const cols = screen.style.width ? parseFloat(screen.style.width) : 80;
  const ch = box.width / cols;
  const col = (rect) => Math.round((rect.left - box.left) / ch);
  return JSON.stringify([...screen.querySelectorAll('.row')].map((row) => {
    const cells = [];
    for (const span of row.children) {
      const cs = getComputedStyle(span);
      const look = [cs.color, cs.backgroundColor, cs.fontWeight, cs.opacity, cs.fontStyle,
        cs.textDecorationLine, cs.textDecorationStyle, cs.textDecorationColor, cs.animationName].join('|');
      if (span.classList.contains('w') || span.classList.contains('c')) {
        cells.push([col(span.getBoundingClientRect()), span.textContent, look]);
        continue;
      }
      const node = span.firstChild;
      if (!node) continue;
      let i = 0;
      for (const chr of node.textContent) {
        const r = document.createRange();
        r.setStart(node, i);
        r.setEnd(node, i + chr.length);
        cells.push([col(r.getBoundingClientRect()), chr, look]);
        i += chr.length;
      }
    }
    return cells;
  }));
})()"#;

/// JavaScript: the page's rows as text, trailing blanks trimmed.
pub const PAGE_TEXT: &str =
    "[...document.querySelectorAll('#screen .row')].map((r) => r.textContent.replace(/\\s+$/, ''))";

/// The colour the page paints for a cell colour: xterm's 256-colour palette, as the page's
/// app.js has it, or the true colour itself; `None` for the default colour.
pub fn page_colour(c: vt100::Color) -> Option<(u8, u8, u8)> {
    const BASE: [(u8, u8, u8); 16] = [
        (0, 0, 0),
        (0xcd, 0, 0),
        (0, 0xcd, 0),
        (0xcd, 0xcd, 0),
        (0, 0, 0xee),
        (0xcd, 0, 0xcd),
        (0, 0xcd, 0xcd),
        (0xe5, 0xe5, 0xe5),
        (0x7f, 0x7f, 0x7f),
        (0xff, 0, 0),
        (0, 0xff, 0),
        (0xff, 0xff, 0),
        (0x5c, 0x5c, 0xff),
        (0xff, 0, 0xff),
        (0, 0xff, 0xff),
        (0xff, 0xff, 0xff),
    ];
    const STEPS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    Some(match c {
        vt100::Color::Default => return None,
        vt100::Color::Rgb(r, g, b) => (r, g, b),
        vt100::Color::Idx(i @ 0..=15) => BASE[usize::from(i)],
        vt100::Color::Idx(i @ 16..=231) => {
            let n = usize::from(i - 16);
            (STEPS[n / 36], STEPS[n / 6 % 6], STEPS[n % 6])
        }
        vt100::Color::Idx(i) => {
            let v = 8 + (i - 232) * 10;
            (v, v, v)
        }
    })
}

/// A colour as the browser's computed style writes it.
pub fn css((r, g, b): (u8, u8, u8)) -> String {
    format!("rgb({r}, {g}, {b})")
}
