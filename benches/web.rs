//! The web viewer's frame latency, memory and CPU, side by side with asciinema 3's live stream
//! (`asciinema stream --local`), both sharing the same kind of private tmux session the same way:
//! the program runs in a pty (npair attached, asciinema around `tmux attach-session`), the host
//! types a key in that pty, and the page in headless Chromium timestamps the DOM change.
//! Measured with 0, 10, 200 and 1,000 other viewers connected (WebSocket clients that keep
//! reading), npair's row then asciinema's for each count, in one run; the page joins when half
//! of them are in. The viewers come from several loopback addresses, [`PER_ADDRESS`] each, as a
//! room does (npair's cap of 256 connections from one address is on those not yet viewers).
//! Each of them also times each keystroke, to its WebSocket.
//!
//! Then, with the same viewers, a flood of output in the session ([`FLOOD`]): each program's
//! CPU time for it, and npair's CPU time per frame it rendered (see [`flood`] for what that
//! time is made of).
//!
//! `cargo bench --bench web` (needs tmux and chromium; asciinema's rows need asciinema 3, from
//! `NPAIR_ASCIINEMA=PATH` or `asciinema` on PATH, e.g. `cargo install asciinema`: the bench
//! never downloads or builds it, and says so and carries on when it is missing).
//! `NPAIR_BENCH_QUICK=1` runs 20 keystrokes a row and only the 0- and 10-viewer rows, to try
//! the harness. `NPAIR_BENCH_SHARE_ARGS="--no-scrollback"` adds arguments to npair's share
//! (space-separated), e.g. to measure it without the scrollback. `NPAIR_BENCH_VIEWERS=1000`
//! runs only the rows named (comma-separated viewer counts). `NPAIR_BENCH_TLS=1` serves npair's
//! page over HTTPS with a certificate the bench makes (the page's Chromium trusts its key, the
//! viewers speak TLS), to set beside a plain run: what TLS costs per viewer.

// The tests' harness; this bench uses a part of it, so the rest is dead code here.
#[allow(dead_code)]
#[path = "../tests/util/mod.rs"]
mod util;

use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use portable_pty::CommandBuilder;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use util::browser::Browser;
use util::client::usage;
use util::{wait_until, Term, Tmux, DEADLINE};

/// Keystrokes per row: enough that p99 is not just the slowest one.
const SAMPLES: usize = 200;
/// Viewers per loopback source address, under npair's per-address cap of open connections.
const PER_ADDRESS: usize = 200;
/// Other viewers in each row.
const VIEWERS: [usize; 4] = [0, 10, 200, 1000];
const SESSION: &str = "bench";
const COLS: u16 = 100;
const ROWS: u16 = 30;
/// Two seconds of `yes` in the session: about 60 frames at npair's 30 a second, and a few
/// hundred milliseconds of CPU, well above /proc's 10 ms tick. The marker is typed split so
/// that the command line itself does not show it.
const FLOOD: &str = "timeout 2 yes 'npair web bench: a flood of output, about as long as a line of a build log'; echo FLOOD''DONE";
const FLOOD_DONE: &str = "FLOODDONE";

fn quick() -> bool {
    std::env::var_os("NPAIR_BENCH_QUICK").is_some()
}

/// Keystrokes per row: [`SAMPLES`], or 20 for a quick trial.
fn samples() -> usize {
    if quick() {
        20
    } else {
        SAMPLES
    }
}

/// The rows' viewer counts: [`VIEWERS`], the first two for a quick trial, or the counts in
/// `NPAIR_BENCH_VIEWERS` (comma-separated, e.g. `1000` to profile one row).
fn viewer_rows() -> Vec<usize> {
    if let Ok(list) = std::env::var("NPAIR_BENCH_VIEWERS") {
        return list
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .expect("NPAIR_BENCH_VIEWERS: comma-separated counts")
            })
            .collect();
    }
    VIEWERS[..if quick() { 2 } else { VIEWERS.len() }].to_vec()
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Where each page puts the terminal's text: npair's `#screen`, asciinema player's
/// `pre.ap-term-text` (its canvas and svg beside it draw only backgrounds and symbols).
const SCREEN: &str = "#screen, .ap-term-text";

/// The page shows the shell's prompt: it is connected and has drawn the session.
fn ready() -> String {
    format!("((document.querySelector('{SCREEN}') || {{}}).textContent || '').includes('$')")
}

/// Records, in the page, when the number of 'Q's on the screen changes. It observes the whole
/// body, as asciinema's player builds its terminal element after the page loads.
fn observe() -> String {
    format!(
        r#"(() => {{
  window.__lat = [];
  const count = () => {{
    const el = document.querySelector('{SCREEN}');
    return el ? (el.textContent.match(/Q/g) || []).length : 0;
  }};
  let last = count();
  new MutationObserver(() => {{
    const c = count();
    if (c !== last) {{ last = c; window.__lat.push([c, performance.timeOrigin + performance.now()]); }}
  }}).observe(document.body, {{ subtree: true, childList: true, characterData: true }});
  return last;
}})()"#
    )
}

/// A program sharing a private tmux session from a pty, as its host runs it.
struct Share {
    /// The program in its pty; killed on drop, before `tmux` (fields drop in order).
    host: Term,
    /// The private tmux server; `kill-server` on drop ends the program's tmux client too.
    tmux: Tmux,
    pid: i32,
    /// The page a viewer opens.
    page: String,
    /// `ws://127.0.0.1:PORT/...`, the page's WebSocket.
    ws: String,
    port: u16,
    /// The WebSocket subprotocol the server insists on, if any.
    protocol: Option<&'static str>,
    /// Served over HTTPS (`NPAIR_BENCH_TLS`): the certificate's Chromium flag.
    tls: Option<String>,
}

/// `NPAIR_BENCH_TLS`: npair's rows over HTTPS.
fn over_tls() -> bool {
    std::env::var_os("NPAIR_BENCH_TLS").is_some_and(|v| v != "0")
}

fn private_session() -> Tmux {
    let tmux = Tmux::new();
    tmux.new_session(SESSION, COLS, ROWS);
    tmux
}

impl Share {
    /// `npair share bench --json --web 127.0.0.1:0`, attached, as the harness's host.
    fn npair() -> Share {
        let tmux = private_session();
        let extra = std::env::var("NPAIR_BENCH_SHARE_ARGS").unwrap_or_default();
        let mut args: Vec<String> = vec!["--web".into(), "127.0.0.1:0".into()];
        args.extend(extra.split_whitespace().map(str::to_owned));
        let tls = over_tls().then(|| {
            let cert = util::tls::Cert::loopback();
            let (c, k) = cert.write(tmux.path());
            for (opt, file) in [("--tls-cert", c), ("--tls-key", k)] {
                args.extend([opt.to_owned(), file.display().to_string()]);
            }
            cert.chromium_flag()
        });
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let host = Term::host_with(&tmux, SESSION, COLS, ROWS, &args);
        let page = host.json()["web_url"].as_str().unwrap().to_owned();
        host.wait_text("$");
        let port = page
            .strip_prefix("http://127.0.0.1:")
            .or_else(|| page.strip_prefix("https://127.0.0.1:"))
            .and_then(|r| r.split('/').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("not a loopback web_url: {page}"));
        Share {
            pid: host.pid(),
            ws: format!("{page}/ws").replacen("http", "ws", 1),
            page,
            port,
            protocol: None,
            tls,
            host,
            tmux,
        }
    }

    /// `asciinema stream --local 127.0.0.1:0 --command 'tmux attach-session -t =bench'` in a pty
    /// with the harness's environment (its `TMUX_TMPDIR`, so the client finds the private
    /// server), as `Term::host_with` runs npair. `page_options` go after the page's `#`.
    fn asciinema(bin: &str, page_options: &str) -> Share {
        let tmux = private_session();
        let mut cmd = CommandBuilder::new(bin);
        cmd.args(["stream", "--local", "127.0.0.1:0", "--command"]);
        cmd.arg(format!("tmux attach-session -t ={SESSION}"));
        tmux.pty_env(&mut cmd);
        cmd.cwd(tmux.path());
        let host = Term::spawn(cmd, COLS, ROWS);
        // "::: Live streaming at http://127.0.0.1:PORT"
        let addr = wait_until("asciinema to say where it streams", || {
            let raw = host.raw_text();
            raw.split("Live streaming at http://")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .map(str::to_owned)
                .ok_or(raw)
        });
        host.wait_text("$");
        let port = addr.rsplit(':').next().unwrap().parse().unwrap();
        Share {
            pid: host.pid(),
            page: format!("http://{addr}/{page_options}"),
            // asciinema 3's server (src/server.rs): `/ws`, subprotocol `v1.alis` or it closes.
            ws: format!("ws://{addr}/ws"),
            port,
            protocol: Some("v1.alis"),
            tls: None,
            host,
            tmux,
        }
    }
}

/// The other viewers: WebSocket clients that keep reading, as a browser would.
struct Viewers {
    tasks: Vec<JoinHandle<()>>,
    /// Connections refused or failed, with the first reason.
    failed: usize,
    first_error: Option<String>,
}

impl Viewers {
    fn new() -> Viewers {
        Viewers {
            tasks: Vec::new(),
            failed: 0,
            first_error: None,
        }
    }

    /// Connects the viewers numbered in `range`, each timing the keystrokes in `stamp`.
    fn connect(&mut self, rt: &Runtime, share: &Share, range: Range<usize>, stamp: &Arc<Stamp>) {
        rt.block_on(async {
            for i in range {
                // 127.0.0.2, .3, ...: PER_ADDRESS viewers from each.
                let from = std::net::Ipv4Addr::new(127, 0, 0, 2 + (i / PER_ADDRESS) as u8);
                let stamp = Arc::clone(stamp);
                let mut seen = 0;
                let each = move |m: &Message| stamp.arrived(m, &mut seen);
                match viewer(share, from, each).await {
                    Ok(task) => self.tasks.push(task),
                    Err(e) => {
                        self.failed += 1;
                        self.first_error.get_or_insert(e);
                    }
                }
            }
        })
    }

    /// Viewers whose connection is still open.
    fn open(&self) -> usize {
        self.tasks.iter().filter(|t| !t.is_finished()).count()
    }

    /// "" when all `n` connected and are still open; else what happened.
    fn shortfall(&self, n: usize) -> String {
        let open = self.open();
        if open == n {
            return String::new();
        }
        let mut s = format!("{open} of {n} viewers open");
        if self.failed > 0 {
            s += &format!(
                ", {} failed to connect ({})",
                self.failed,
                self.first_error.as_deref().unwrap_or("?")
            );
        }
        s
    }
}

impl Drop for Viewers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// When each keystroke was typed, and when it reached each of the other viewers: the first
/// message a viewer gets after the keystroke that holds a `Q` (npair's changed row, asciinema's
/// echo) is that keystroke's.
#[derive(Default)]
struct Stamp {
    /// The keystroke being timed, from 1 (0: none yet).
    key: AtomicU64,
    /// When it was typed, ms since the epoch (f64 bits).
    typed: AtomicU64,
    /// Keystroke to message, ms, for each viewer it reached.
    arrivals: Mutex<Vec<f64>>,
}

impl Stamp {
    fn typed(&self, key: u64, at: f64) {
        self.arrivals.lock().unwrap().clear();
        self.typed.store(at.to_bits(), Ordering::SeqCst);
        self.key.store(key, Ordering::SeqCst);
    }

    /// A viewer got `m`; `seen` is the last keystroke it was timed for.
    fn arrived(&self, m: &Message, seen: &mut u64) {
        let key = self.key.load(Ordering::SeqCst);
        if key <= *seen || !m.clone().into_data().contains(&b'Q') {
            return;
        }
        *seen = key;
        let at = now_ms() - f64::from_bits(self.typed.load(Ordering::SeqCst));
        self.arrivals.lock().unwrap().push(at);
    }

    /// Waits (a second at most) until `n` viewers have the keystroke; their times, in any order.
    fn wait_for(&self, n: usize) -> Vec<f64> {
        let start = Instant::now();
        while self.arrivals.lock().unwrap().len() < n && start.elapsed() < Duration::from_secs(1) {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.arrivals.lock().unwrap().clone()
    }
}

/// One viewer connected from `from`, reading until the server closes; `each` sees every message.
async fn viewer(
    share: &Share,
    from: std::net::Ipv4Addr,
    each: impl FnMut(&Message) + Send + 'static,
) -> Result<JoinHandle<()>, String> {
    let sock = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
    sock.bind((from, 0).into()).map_err(|e| e.to_string())?;
    let tcp = sock
        .connect(([127, 0, 0, 1], share.port).into())
        .await
        .map_err(|e| e.to_string())?;
    let mut req = share.ws.as_str().into_client_request().unwrap();
    if let Some(p) = share.protocol {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
    }
    // A small read buffer: tungstenite zeroes its read buffer (128 KiB by default) before every
    // read, which with 1,000 viewers cost this process more CPU than either server's whole
    // fan-out, on the same two cores as the programs measured.
    if share.tls.is_some() {
        let (tls, _) = util::tls::handshake(tcp).await.map_err(|e| e.to_string())?;
        return read_all(req, tls, each).await;
    }
    read_all(req, tcp, each).await
}

/// The WebSocket handshake on `stream`, then a task that reads every message into `each`.
async fn read_all<S>(
    req: tokio_tungstenite::tungstenite::handshake::client::Request,
    stream: S,
    mut each: impl FnMut(&Message) + Send + 'static,
) -> Result<JoinHandle<()>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (ws, _) = tokio_tungstenite::client_async_with_config(req, stream, Some(config))
        .await
        .map_err(|e| e.to_string())?;
    Ok(tokio::spawn(ws.for_each(move |m| {
        if let Ok(m) = &m {
            each(m);
        }
        async {}
    })))
}

/// What one program did in one row.
struct Row {
    /// Keystroke to page, ms, sorted.
    lat: Vec<f64>,
    /// The other viewers' keystroke times.
    room: Room,
    rss_kib: u64,
    /// RSS with the viewers less RSS without, per viewer.
    kib_per_viewer: Option<u64>,
    flood: Flood,
    /// Viewers that failed or were dropped, if any.
    note: String,
}

impl Row {
    fn p50(&self) -> f64 {
        percentile(&self.lat, 0.5)
    }
    fn p99(&self) -> f64 {
        percentile(&self.lat, 0.99)
    }
    fn max(&self) -> f64 {
        self.lat[self.lat.len() - 1]
    }
}

/// One row: `extra` viewers, the memory they cost, the page's latency, then the flood.
fn measure(rt: &Runtime, mut share: Share, extra: usize) -> Row {
    let idle = usage(share.pid).rss_kib;
    let stamp = Arc::new(Stamp::default());
    let mut viewers = Viewers::new();
    // The page joins in the middle of the room, not last: a server that writes to its viewers in
    // the order it woke their tasks may serve its newest (or oldest) connection first, and a
    // page that is always the newest would time that one viewer's luck, not a typical viewer's.
    // The memory the viewers cost leaves out the page's own (a browser's session costs some
    // servers far more than a plain client's).
    let settled = || {
        std::thread::sleep(Duration::from_millis(500));
        usage(share.pid).rss_kib
    };
    viewers.connect(rt, &share, 0..extra / 2, &stamp);
    let first_half = settled().saturating_sub(idle);
    let mut page = open_page(&share);
    let with_page = settled();
    viewers.connect(rt, &share, extra / 2..extra, &stamp);
    let rss_kib = settled();
    let kib_per_viewer =
        (extra > 0).then(|| (first_half + rss_kib.saturating_sub(with_page)) / extra as u64);
    let (lat, room) = latency(&mut share, &mut page, &stamp, extra);
    drop(page);
    let mut note = viewers.shortfall(extra);
    let flood = flood(rt, &share);
    let after = viewers.shortfall(extra);
    if after != note {
        note = format!(
            "{note}{}after the flood: {after}",
            if note.is_empty() { "" } else { "; " }
        );
    }
    Row {
        lat,
        room,
        rss_kib,
        kib_per_viewer,
        flood,
        note,
    }
}

/// The page, open and showing the prompt.
fn open_page(share: &Share) -> Browser {
    let flags: Vec<String> = share.tls.iter().cloned().collect();
    let mut page = Browser::open_with(&share.page, 1200, 800, &flags);
    page.wait_for("the prompt", &ready(), |v| v.as_bool() == Some(true));
    page
}

/// The other viewers' keystroke times: to each viewer (pooled over viewers and keystrokes), and
/// to the last viewer of each keystroke, both sorted, ms.
#[derive(Default)]
struct Room {
    each: Vec<f64>,
    last: Vec<f64>,
    /// Keystrokes that did not reach every viewer within a second.
    missed: usize,
}

/// [`SAMPLES`] keystrokes typed in the host's pty, each timed to the page's DOM change, and to
/// each of the `viewers` others' WebSocket.
fn latency(
    share: &mut Share,
    page: &mut Browser,
    stamp: &Stamp,
    viewers: usize,
) -> (Vec<f64>, Room) {
    let base = page.eval(&observe()).as_u64().unwrap() as usize;
    let mut lat = Vec::new();
    let mut room = Room::default();
    for i in 1..=samples() {
        let t0 = now_ms();
        stamp.typed(i as u64, t0);
        share.host.type_str("Q");
        let seen = page.wait_for(
            "the keystroke",
            &format!(
                "(window.__lat.find((e) => e[0] === {}) || [])[1] || 0",
                base + i
            ),
            |v| v.as_f64().unwrap_or(0.0) > 0.0,
        );
        lat.push(seen.as_f64().unwrap() - t0);
        if viewers > 0 {
            let got = stamp.wait_for(viewers);
            if got.len() < viewers {
                room.missed += 1;
            } else {
                room.last.push(got.iter().copied().fold(0.0, f64::max));
            }
            room.each.extend(got);
        }
        std::thread::sleep(Duration::from_millis(100 + (i as u64 * 7) % 50));
    }
    share.host.type_str("\x15"); // C-u: clear the typed line before the flood
    for v in [&mut lat, &mut room.each, &mut room.last] {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    }
    (lat, room)
}

/// A program's CPU time so far (user + system, all threads), ms.
fn cpu_ms(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces: state is
    // field 3, utime 14 and stime 15 (proc(5)).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    ticks * 1000.0 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// What the flood cost one program.
struct Flood {
    /// Bytes tmux's client wrote through the program to the host's terminal, MB.
    mb: f64,
    cpu_ms: f64,
    /// npair's frames rendered meanwhile (from the frames' sequence numbers).
    frames: Option<u64>,
}

/// Runs [`FLOOD`] in the session with the row's viewers still reading (the page is closed,
/// so Chromium does not compete for the two cores) plus one that counts frames.
///
/// npair's CPU per frame is made of three parts: reading tmux's output and parsing it into
/// the screen model (per byte; the same in every row), rendering and encoding a frame (once
/// per frame for all viewers: flat in the number of viewers), and writing the frame to each
/// viewer's socket (a WebSocket write and a syscall per viewer per frame: the only part that
/// grows with viewers). The growth over the 0-viewer row, divided by the viewers, is that
/// last part's cost per viewer per frame.
fn flood(rt: &Runtime, share: &Share) -> Flood {
    let seq = Arc::new(AtomicU64::new(0));
    let counter = {
        let seq = Arc::clone(&seq);
        rt.block_on(viewer(share, [127, 0, 0, 1].into(), move |m| {
            if let Some(s) = frame_seq(m) {
                seq.store(s, Ordering::Relaxed);
            }
        }))
        .unwrap_or_else(|e| panic!("the frame counter could not connect: {e}"))
    };
    std::thread::sleep(Duration::from_millis(300));
    let (bytes0, seq0, cpu0) = (
        share.host.raw.lock().unwrap().len(),
        seq.load(Ordering::Relaxed),
        cpu_ms(share.pid),
    );
    share.tmux.send(SESSION, &[FLOOD, "Enter"]);
    share.host.wait_text(FLOOD_DONE);
    // Settled: npair's last frame out, nothing left to do.
    let mut last = (seq.load(Ordering::Relaxed), cpu_ms(share.pid));
    let mut still = 0;
    let start = Instant::now();
    while still < 3 && start.elapsed() < DEADLINE {
        std::thread::sleep(Duration::from_millis(100));
        let now = (seq.load(Ordering::Relaxed), cpu_ms(share.pid));
        still = if now == last { still + 1 } else { 0 };
        last = now;
    }
    counter.abort();
    Flood {
        mb: (share.host.raw.lock().unwrap().len() - bytes0) as f64 / 1e6,
        cpu_ms: last.1 - cpu0,
        frames: (share.protocol.is_none()).then(|| last.0 - seq0),
    }
}

/// The sequence number of an npair frame (`{"type":"frame","seq":N,...`).
fn frame_seq(m: &Message) -> Option<u64> {
    let Message::Text(t) = m else { return None };
    let rest = t.as_str().split_once("\"seq\":")?.1;
    let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

/// asciinema 3 from `NPAIR_ASCIINEMA` or PATH, or why not.
fn find_asciinema() -> Result<(String, String), String> {
    let (bin, from) = match std::env::var("NPAIR_ASCIINEMA") {
        Ok(b) => (b, "NPAIR_ASCIINEMA"),
        Err(_) => ("asciinema".to_owned(), "PATH"),
    };
    let out = Command::new(&bin)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run `{bin}` (from {from}): {e}"))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    // "asciinema 3.2.0"
    let major: u32 = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major < 3 {
        return Err(format!(
            "`{bin} --version` (from {from}) says {version:?}; `asciinema stream` needs 3 or later"
        ));
    }
    Ok((bin, version))
}

/// A row of asciinema's that panicked (a harness wait timed out, say) reports why instead of
/// ending the bench; its Drops have stopped asciinema, tmux and Chromium.
fn asciinema_row(rt: &Runtime, bin: &str, extra: usize) -> Result<Row, String> {
    catch_unwind(AssertUnwindSafe(|| {
        measure(rt, Share::asciinema(bin, "#bufferTime=0"), extra)
    }))
    .map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panicked".into())
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    })
}

fn opt(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "-".into()
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and `cargo test --benches` probe bench targets
    }
    // The bench holds two sockets per viewer (its end of npair's or asciinema's is the other
    // program's), two thousand in the largest row; asciinema inherits the limit.
    npair::share::net::raise_open_files_limit();
    let asciinema = find_asciinema();
    match &asciinema {
        Ok((bin, version)) => println!("asciinema: {bin} ({version})"),
        Err(why) => println!(
            "asciinema rows skipped: {why}. Install asciinema 3 (`cargo install asciinema`) and \
             set NPAIR_ASCIINEMA=PATH or put it on PATH."
        ),
    }
    println!(
        "web viewer: host keystroke -> page DOM update, {} keystrokes per row, idle gaps \
         of 100-150 ms; asciinema's page opened as http://ADDR/#bufferTime=0 (no jitter buffer, \
         like npair's page)",
        samples()
    );
    if over_tls() {
        println!("npair's page and viewers over HTTPS (NPAIR_BENCH_TLS): a self-made P-256 certificate, TLS 1.3");
    }
    println!("        | npair                                 | asciinema                             | npair/asciinema");
    println!("viewers | p50 ms p99 ms max ms  RSS KiB KiB/vwr | p50 ms p99 ms max ms  RSS KiB KiB/vwr |   p50   p99 KiB/vwr");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut floods = Vec::new();
    let mut notes = Vec::new();
    let mut rooms = Vec::new();
    for extra in viewer_rows() {
        let np = measure(&rt, Share::npair(), extra);
        let ac = asciinema
            .as_ref()
            .ok()
            .map(|(bin, _)| asciinema_row(&rt, bin, extra));
        let mut line = format!(
            "{:>7} | {:>6.1} {:>6.1} {:>6.1} {:>8} {:>7} |",
            extra,
            np.p50(),
            np.p99(),
            np.max(),
            np.rss_kib,
            opt(np.kib_per_viewer)
        );
        match &ac {
            Some(Ok(a)) => {
                line += &format!(
                    " {:>6.1} {:>6.1} {:>6.1} {:>8} {:>7} | {:>5} {:>5} {:>7}",
                    a.p50(),
                    a.p99(),
                    a.max(),
                    a.rss_kib,
                    opt(a.kib_per_viewer),
                    ratio(np.p50(), a.p50()),
                    ratio(np.p99(), a.p99()),
                    match (np.kib_per_viewer, a.kib_per_viewer) {
                        (Some(n), Some(a)) => ratio(n as f64, a as f64),
                        _ => "-".into(),
                    }
                )
            }
            Some(Err(why)) => line += &format!(" failed: {why}"),
            None => line += " skipped",
        }
        println!("{line}");
        for (who, row) in [
            ("npair", Some(&np)),
            ("asciinema", ac.as_ref().and_then(|r| r.as_ref().ok())),
        ] {
            if let Some(r) = row.filter(|r| !r.note.is_empty()) {
                notes.push(format!("{who} with {extra} viewers: {}", r.note));
            }
        }
        if extra > 0 {
            let cols = |r: &Room| {
                if r.last.is_empty() {
                    return (format!("{:>29}", "-"), None);
                }
                let q = [
                    percentile(&r.each, 0.5),
                    percentile(&r.each, 0.99),
                    percentile(&r.last, 0.5),
                    percentile(&r.last, 0.99),
                ];
                let missed = if r.missed > 0 {
                    format!(" ({} missed)", r.missed)
                } else {
                    String::new()
                };
                (
                    format!(
                        "{:>6.1} {:>6.1} {:>7.1} {:>7.1}{missed}",
                        q[0], q[1], q[2], q[3]
                    ),
                    Some(q),
                )
            };
            let (n_text, n_q) = cols(&np.room);
            let (a_text, a_q) = ac
                .as_ref()
                .and_then(|r| r.as_ref().ok())
                .map(|a| cols(&a.room))
                .unwrap_or_else(|| (format!("{:>29}", "skipped"), None));
            let ratios = match (n_q, a_q) {
                (Some(n), Some(a)) => format!(
                    "{:>5} {:>5} {:>6}",
                    ratio(n[0], a[0]),
                    ratio(n[1], a[1]),
                    ratio(n[2], a[2])
                ),
                _ => "-".into(),
            };
            rooms.push(format!("{extra:>7} | {n_text} | {a_text} | {ratios}"));
        }
        floods.push((extra, np.flood, ac.and_then(Result::ok).map(|a| a.flood)));
    }
    for n in &notes {
        println!("  note: {n}");
    }
    if !rooms.is_empty() {
        println!();
        println!(
            "the other viewers: keystroke -> the message reaching each WebSocket client (all \
             viewers and keystrokes), and -> the last viewer of each keystroke"
        );
        println!("        | npair                         | asciinema                     | npair/asciinema");
        println!("viewers |  each p50 p99  last p50 p99    |  each p50 p99  last p50 p99    |   p50   p99 last50");
        for r in &rooms {
            println!("{r}");
        }
    }

    if let Ok((bin, _)) = &asciinema {
        // The page as asciinema serves it: the player's adaptive jitter buffer, 50 ms at least.
        match catch_unwind(AssertUnwindSafe(|| {
            let mut share = Share::asciinema(bin, "");
            let mut page = open_page(&share);
            latency(&mut share, &mut page, &Stamp::default(), 0).0
        })) {
            Ok(lat) => println!(
                "asciinema's page as served (adaptive jitter buffer), 0 viewers: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                percentile(&lat, 0.5),
                percentile(&lat, 0.99),
                lat[lat.len() - 1]
            ),
            Err(_) => println!("asciinema's page as served: failed (see the panic above)"),
        }
    }

    println!();
    println!(
        "flood: `timeout 2 yes LINE` in the session, the row's viewers reading (the page closed) \
         plus one counting npair's frames; CPU = the server process's utime+stime"
    );
    println!("        | npair                                                | asciinema       | npair/asciinema");
    println!(
        "viewers |    MB CPU ms frames ms/frame    x 0 us/viewer/frame |    MB    CPU ms |    CPU"
    );
    let base = floods
        .first()
        .and_then(|(_, f, _)| Some(f.cpu_ms / f.frames.filter(|&n| n > 0)? as f64));
    for (extra, np, ac) in &floods {
        let per_frame = np.frames.filter(|&f| f > 0).map(|f| np.cpu_ms / f as f64);
        let (times, per_viewer) = match (per_frame, base) {
            (Some(p), Some(b)) => (
                ratio(p, b),
                if *extra > 0 {
                    format!("{:.1}", (p - b) * 1000.0 / *extra as f64)
                } else {
                    "-".into()
                },
            ),
            _ => ("-".into(), "-".into()),
        };
        let mut line = format!(
            "{:>7} | {:>5.2} {:>6.0} {:>6} {:>8.2} {:>6} {:>15} |",
            extra,
            np.mb,
            np.cpu_ms,
            opt(np.frames),
            per_frame.unwrap_or(0.0),
            times,
            per_viewer
        );
        match ac {
            Some(a) => {
                line += &format!(
                    " {:>5.2} {:>9.0} | {:>6}",
                    a.mb,
                    a.cpu_ms,
                    ratio(np.cpu_ms, a.cpu_ms)
                )
            }
            None => line += &format!(" {:>15} |", "-"),
        }
        println!("{line}");
    }
    println!(
        "  MB: tmux's output that reached the host's terminal through the program. tmux stops \
         sending a client that drains its terminal slowly and redraws the screen instead, so the \
         two programs did not see the same bytes; the flood is the same 2 s of `yes`."
    );
}
