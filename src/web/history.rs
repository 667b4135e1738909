//! Each web viewer's scrollback: the one owner of what the shared session's panes have shown
//! since the share began, and of the tmux control-mode client that watches them.
//!
//! Where the history comes from: a second tmux client, `tmux -C attach-session -f
//! ignore-size,read-only`, started with the web viewer. It draws nothing and has no say in
//! the size, so the host and guests see exactly what they saw without it; it only hears each
//! pane's output (`%output %PANE data`). Every pane gets its own terminal model at the pane's
//! size, and the rows that scroll off its top (not from the alternate screen) are kept, each
//! encoded once, like a frame's row, in [`Scrollback`]: at most [`HISTORY_ROWS`] rows (and
//! [`HISTORY_BYTES`]) a pane. tmux's own pane history was the other source weighed: it is
//! bounded by the user's `history-limit` (2000 by default), and nothing in it tells the lines
//! added since the share began from those before it.
//!
//! The privacy rule holds by construction: the client attaches when the share starts, and a
//! model holds nothing but the bytes it received after that. What was on a pane's screen when
//! the share began is unknown to its model (blank), and blank rows scrolled off before
//! anything was kept are not kept.
//!
//! The web server asks [`History::page`] for rows, at most [`PAGE_ROWS`] (and [`PAGE_BYTES`])
//! at a time, for the active pane of the session's current window unless a viewer names one.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::num::NonZeroU16;
use std::process::{ChildStdout, Stdio};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Deserialize;
use tokio::sync::oneshot;
use tokio_util::task::TaskTracker;

use super::render::encode_row;
use crate::hub::Hub;
use crate::shutdown::Shutdown;
use crate::tmux::Tmux;

/// Rows kept for each pane: the issue asks for at least the last 10,000 lines.
pub const HISTORY_ROWS: usize = 10_000;
/// Bytes of encoded rows kept for each pane. 10,000 rows of plain or lightly coloured text
/// take 1 to 3 MB; only rows whose every cell changes colour come near this, and then the
/// oldest rows go first.
pub const HISTORY_BYTES: usize = 32 * 1024 * 1024;
/// Rows in one answer to a viewer: a few screens of scrolling, and the most one request can
/// cost, so a viewer asking in a loop costs only the rows it reads.
pub const PAGE_ROWS: usize = 500;
/// Bytes of rows in one answer at most (at least one row is always sent).
pub const PAGE_BYTES: usize = 512 * 1024;
/// Output of a pane not yet known (just created), held until tmux says what it is; a new
/// pane's first prompt is a few hundred bytes.
const PENDING_BYTES: usize = 256 * 1024;

/// What we ask tmux about the session's panes: id, where it is, its size and cursor, whether
/// it is active, and what its model must assume at the start (alternate screen, the cursor
/// saved by it, scroll region). `-s`: every window of the session.
const LIST_PANES: &str = "list-panes -s -F '#{pane_id} #{window_index} #{pane_index} \
#{pane_width} #{pane_height} #{cursor_x} #{cursor_y} #{window_active} #{pane_active} \
#{alternate_on} #{alternate_saved_x} #{alternate_saved_y} #{scroll_region_upper} \
#{scroll_region_lower}'\n";

/// A command with no effect, whose answer comes after all the pane output tmux read before
/// it: once it is answered, the models have caught up with what viewers see on the screen.
const SYNC: &str = "display-message -p ''\n";
/// How long a viewer's request waits for the models to catch up at most.
const SYNC_TIMEOUT: Duration = Duration::from_secs(2);

/// The scrollback of every pane, fed by the control-mode client's reader.
pub struct History {
    state: Mutex<State>,
}

/// A viewer's request: `{"type":"history", "id"?, "pane"?: "%3", "before"?: N, "after"?: N}`.
/// Without `pane`, the active one; without `before` or `after`, the newest rows.
#[derive(Deserialize)]
pub struct Request {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<u64>,
    pub pane: Option<String>,
    pub before: Option<u64>,
    pub after: Option<u64>,
}

impl History {
    /// No scrollback: every request is answered that it is unavailable, and `why`.
    pub fn off(why: &str) -> Arc<History> {
        let mut state = State::new();
        state.end(why.to_owned());
        Arc::new(History {
            state: Mutex::new(state),
        })
    }
}

/// Starts the control-mode client of `session` once our own tmux client is attached (the
/// hub has its first output), and the thread that reads it; both end with the share. Never
/// fails the share: without tmux's control mode, viewers are told that scrollback is
/// unavailable and why.
/// `vs16_wide`: our tmux counts U+FE0F as widening (see [`crate::tmux::counts_vs16_wide`]).
pub fn start(
    tmux: &Tmux,
    session: &str,
    vs16_wide: bool,
    hub: &Hub,
    shutdown: Shutdown,
    tasks: &TaskTracker,
) -> Arc<History> {
    let mut state = State::new();
    state.vs16_wide = vs16_wide;
    let history = Arc::new(History {
        state: Mutex::new(state),
    });
    // Subscribed now, so our client's first drawing is not missed.
    let events = hub.subscribe().events;
    let command = tmux.control_command(session);
    tasks.spawn(run(Arc::clone(&history), command, events, shutdown));
    history
}

/// How long the control-mode client waits for our own client to draw before it starts anyway.
const ATTACH_WAIT: Duration = Duration::from_secs(5);

/// Starts the control-mode client after our client's attach (whose notice to control clients
/// must not reach one still introducing itself, see [`Tmux::control_command`]), then ends it
/// with the share (or reaps it when it ends first) and waits for its reader.
async fn run(
    history: Arc<History>,
    mut command: std::process::Command,
    mut events: tokio::sync::broadcast::Receiver<crate::hub::Event>,
    mut shutdown: Shutdown,
) {
    tokio::select! {
        _ = tokio::time::timeout(ATTACH_WAIT, events.recv()) => {}
        _ = shutdown.wait() => return,
    }
    drop(events);
    crate::platform::end_with_npair(&mut command);
    let spawned = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            history
                .state
                .lock()
                .end(format!("cannot start tmux in control mode: {e}"));
            return;
        }
    };
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return;
    };
    history.state.lock().begin(Some(Box::new(stdin)));
    let (ended_tx, ended) = oneshot::channel::<()>();
    let h = Arc::clone(&history);
    let reader = std::thread::Builder::new()
        .name("npair-history".into())
        .spawn(move || {
            observe(&h, stdout, stderr);
            let _ = ended_tx.send(());
        });
    let reader = match reader {
        Ok(r) => r,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            history
                .state
                .lock()
                .end(format!("cannot start a thread: {e}"));
            return;
        }
    };
    tokio::select! {
        _ = shutdown.wait() => { let _ = child.kill(); }
        _ = ended => {}
    }
    let _ = tokio::task::spawn_blocking(move || {
        let _ = child.wait();
        let _ = reader.join();
    })
    .await;
}

/// The reader: feeds every line tmux sends into the state until the client ends.
fn observe(history: &History, stdout: ChildStdout, stderr: impl Read) {
    let mut lines = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        match lines.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = line.strip_suffix(b"\n").unwrap_or(&line);
        history.state.lock().feed(line);
    }
    let mut why = String::new();
    let _ = stderr.take(4096).read_to_string(&mut why);
    let why = why.trim();
    history.state.lock().end(if why.is_empty() {
        "tmux's control-mode client ended".to_owned()
    } else {
        format!("tmux's control-mode client ended: {why}")
    });
}

impl History {
    /// The answer to a viewer's request, as the JSON message the page reads:
    /// `{"type":"history","id","pane","label","active","start","total","first","rows":[runs..]}`,
    /// rows `first..first+rows.len()` of the pane's rows `start..total` (numbered from the
    /// share's start), or `{"type":"history","id","error"}`.
    pub fn page(&self, req: &Request) -> String {
        self.state.lock().reply(req)
    }

    /// Waits until the models have every line tmux read from the panes before now, so that
    /// the newest rows reach the screen a viewer sees (at most [`SYNC_TIMEOUT`]).
    pub async fn catch_up(&self) {
        let synced = self.state.lock().sync();
        let _ = tokio::time::timeout(SYNC_TIMEOUT, synced).await;
    }
}

impl State {
    /// See [`History::page`].
    fn reply(&self, req: &Request) -> String {
        let id = req.id.unwrap_or(0);
        let wanted = match &req.pane {
            Some(p) => p.strip_prefix('%').and_then(|n| n.parse::<u32>().ok()),
            None => self.active,
        };
        let pane = wanted.and_then(|p| self.panes.get(&p).map(|pane| (p, pane)));
        let Some((id_of_pane, pane)) = pane else {
            let error = if let Some(why) = &self.ended {
                format!("scrollback is unavailable ({why})")
            } else if req.pane.is_some() {
                "that pane has closed".to_owned()
            } else {
                "scrollback is not ready yet".to_owned()
            };
            return serde_json::json!({ "type": "history", "id": id, "error": error }).to_string();
        };
        // Panes in other windows are not on the shared screen: their output was never shown.
        if !pane.on_screen {
            let error = format!("pane %{id_of_pane} is not on the shared screen now");
            return serde_json::json!({ "type": "history", "id": id, "error": error }).to_string();
        }
        let kept = &pane.parser.callbacks().kept;
        let (first, rows) = kept.page(req.before, req.after);
        let mut out = format!(
            r#"{{"type":"history","id":{id},"pane":"%{id_of_pane}","label":{},"active":{},"start":{},"total":{},"first":{first},"rows":["#,
            serde_json::Value::from(pane.label.as_str()),
            self.active == Some(id_of_pane),
            kept.start(),
            kept.total,
        );
        for (i, (cols, row)) in rows.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&encode_kept(*cols, row, self.vs16_wide));
        }
        out.push_str("]}");
        out
    }
}

/// A pane's kept rows, oldest first, numbered from the first row kept since the share began.
/// Each is kept as its text with its attributes' escape sequences (vt100's basic formatted
/// form, about the size of what the program wrote) and the width it had, and encoded as a
/// frame's row only when a viewer asks for it: a flood scrolls millions of rows through here,
/// and viewers read a few hundred.
#[derive(Default)]
struct Scrollback {
    rows: VecDeque<(u16, Box<str>)>,
    bytes: usize,
    /// Rows ever kept: the number the next one gets.
    total: u64,
}

impl Scrollback {
    fn push(&mut self, cols: u16, row: String) {
        self.bytes += row.len();
        self.rows.push_back((cols, row.into_boxed_str()));
        self.total += 1;
        while self.rows.len() > HISTORY_ROWS || (self.bytes > HISTORY_BYTES && self.rows.len() > 1)
        {
            if let Some((_, old)) = self.rows.pop_front() {
                self.bytes -= old.len();
            }
        }
    }

    /// The number of the oldest row still kept.
    fn start(&self) -> u64 {
        self.total - self.rows.len() as u64
    }

    /// Rows numbered below `before`, or from `after` on, or the newest: at most [`PAGE_ROWS`]
    /// and about [`PAGE_BYTES`], the ones nearest the row asked from. Returns the number of
    /// the first one and the rows.
    fn page(&self, before: Option<u64>, after: Option<u64>) -> (u64, Vec<&(u16, Box<str>)>) {
        let start = self.start();
        let row = |n: u64| &self.rows[(n - start) as usize];
        let mut out = Vec::new();
        let mut bytes = 0;
        if let (Some(from), None) = (after, before) {
            let mut n = from.max(start);
            while n < self.total && out.len() < PAGE_ROWS && (out.is_empty() || bytes < PAGE_BYTES)
            {
                bytes += row(n).1.len();
                out.push(row(n));
                n += 1;
            }
            return (from.max(start).min(self.total), out);
        }
        let end = before.unwrap_or(self.total).min(self.total);
        let mut n = end;
        while n > start && out.len() < PAGE_ROWS && (out.is_empty() || bytes < PAGE_BYTES) {
            n -= 1;
            bytes += row(n).1.len();
            out.push(row(n));
        }
        out.reverse();
        (n.max(start), out)
    }
}

/// A pane's model's callbacks: rows scrolled off its top go to its scrollback.
struct Kept {
    kept: Scrollback,
    /// The pane's width: the width of the rows it pushes off.
    cols: u16,
    /// Set while the model is resized: rows a shrinking pane pushes off are kept, but blank
    /// ones are padding, not output.
    resizing: bool,
}

impl vt100::Callbacks for Kept {
    fn on_scroll(&mut self, row: vt100::capture::RowContents<'_>, alternate_screen: bool) {
        // A full-screen program's screen is not the session's history.
        if alternate_screen {
            return;
        }
        let mut text = String::new();
        let _ = row.write_formatted_basic(
            &mut text,
            &mut vt100::capture::BasicFormattedCaptureState::new(),
        );
        // Blank rows before anything is kept were on the screen when the share began: the
        // model never saw what they held, and they would only say that something was there.
        if blank(&text) && (self.kept.total == 0 || self.resizing) {
            return;
        }
        self.kept.push(self.cols, text);
    }
}

/// A kept row (see [`Scrollback`]) as a frame's row: drawn into one row of its width, then
/// encoded cell by cell exactly as the live screen's rows are.
fn encode_kept(cols: u16, text: &str, vs16_wide: bool) -> String {
    let mut row = vt100::Parser::new(dim(1), dim(cols), 0);
    row.screen_mut().set_vs16_wide(vs16_wide);
    row.process(text.as_bytes());
    encode_row(row.screen(), 0, cols)
}

/// Whether a kept row's text draws nothing: only spaces and escape sequences.
fn blank(text: &str) -> bool {
    let mut in_escape = false;
    for c in text.chars() {
        match c {
            '\x1b' => in_escape = true,
            // A CSI sequence ends with a letter; `[` and the parameters come before.
            c if in_escape => in_escape = !c.is_ascii_alphabetic() || c == '[',
            ' ' => {}
            _ => return false,
        }
    }
    true
}

struct Pane {
    parser: vt100::Parser<Kept>,
    /// "window 0, pane 1", for the page to say which pane it shows.
    label: String,
    /// In the session's current window, so on the shared screen: only such panes are shown.
    on_screen: bool,
}

impl Pane {
    /// `vs16_wide`: count columns as our tmux does (see `tmux::counts_vs16_wide`).
    fn new(info: &PaneInfo, vs16_wide: bool) -> Pane {
        let mut pane = Pane {
            parser: vt100::Parser::new_with_callbacks(
                dim(info.rows),
                dim(info.cols),
                0,
                Kept {
                    kept: Scrollback::default(),
                    cols: info.cols,
                    resizing: false,
                },
            ),
            label: info.label(),
            on_screen: info.on_screen,
        };
        pane.parser.screen_mut().set_vs16_wide(vs16_wide);
        pane
    }

    /// A model for a pane that was there before the share: its screen is unknown (blank), but
    /// the cursor, the scroll region and the alternate screen are where tmux says, so that
    /// what follows scrolls as it does in tmux.
    fn at_share_start(info: &PaneInfo, vs16_wide: bool) -> Pane {
        let mut pane = Pane::new(info, vs16_wide);
        let mut setup = String::new();
        if info.alternate {
            if let Some((x, y)) = info.alternate_saved {
                setup += &format!("\x1b[{};{}H", y + 1, x + 1);
            }
            setup += "\x1b[?1049h";
        }
        if info.region != (0, info.rows.saturating_sub(1)) {
            setup += &format!("\x1b[{};{}r", info.region.0 + 1, info.region.1 + 1);
        }
        setup += &format!("\x1b[{};{}H", info.cursor.1 + 1, info.cursor.0 + 1);
        pane.parser.process(setup.as_bytes());
        pane
    }

    fn update(&mut self, info: &PaneInfo) {
        self.label = info.label();
        self.on_screen = info.on_screen;
        let (rows, cols) = self.parser.screen().size();
        if (rows.get(), cols.get()) != (info.rows, info.cols) {
            // Rows a shorter pane pushes off keep the old width; later rows have the new one.
            self.parser.callbacks_mut().resizing = true;
            self.parser.set_size(dim(info.rows), dim(info.cols));
            let cb = self.parser.callbacks_mut();
            cb.resizing = false;
            cb.cols = info.cols;
        }
    }
}

fn dim(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN)
}

/// One line of our `list-panes` answer.
#[derive(Debug, PartialEq)]
struct PaneInfo {
    id: u32,
    window: u32,
    index: u32,
    cols: u16,
    rows: u16,
    /// (x, y)
    cursor: (u16, u16),
    active: bool,
    /// In the session's current window.
    on_screen: bool,
    alternate: bool,
    alternate_saved: Option<(u16, u16)>,
    region: (u16, u16),
}

impl PaneInfo {
    fn parse(line: &str) -> Option<PaneInfo> {
        let mut f = line.split(' ');
        let id = f.next()?.strip_prefix('%')?.parse().ok()?;
        let mut num = || f.next().and_then(|v| v.parse::<u64>().ok());
        let (window, index) = (num()?, num()?);
        let (cols, rows, x, y) = (num()?, num()?, num()?, num()?);
        let (wa, pa, alt, sx, sy, top, bottom) =
            (num()?, num()?, num()?, num()?, num()?, num()?, num()?);
        let small = |v: u64| u16::try_from(v).ok();
        let cols = small(cols)?.max(1);
        let rows = small(rows)?.max(1);
        let clamp = |v: u64, max: u16| small(v).unwrap_or(max).min(max - 1);
        Some(PaneInfo {
            id,
            window: u32::try_from(window).ok()?,
            index: u32::try_from(index).ok()?,
            cols,
            rows,
            cursor: (clamp(x, cols), clamp(y, rows)),
            active: wa == 1 && pa == 1,
            on_screen: wa == 1,
            alternate: alt == 1,
            // tmux says 4294967295 when nothing is saved.
            alternate_saved: small(sx)
                .zip(small(sy))
                .filter(|&(x, y)| x < cols && y < rows),
            region: (clamp(top, rows), clamp(bottom, rows)),
        })
    }

    fn label(&self) -> String {
        format!("window {}, pane {}", self.window, self.index)
    }
}

/// What the control-mode client has told us: the panes' models, which one is active, and
/// where in its conversation we are.
struct State {
    /// Our tmux counts U+FE0F as widening (see `tmux::counts_vs16_wide`).
    vs16_wide: bool,
    panes: HashMap<u32, Pane>,
    active: Option<u32>,
    /// No answer about the panes yet: output until then is already in the cursor positions
    /// the answer gives, and is dropped.
    first: bool,
    /// Where our commands go (tmux's stdin); `None` once it is closed (and in unit tests).
    commands: Option<Box<dyn Write + Send>>,
    /// The answers still to come to what we asked, in the order asked.
    expected: VecDeque<Expect>,
    /// Something changed while `list-panes` was out: ask again once it is answered.
    again: bool,
    /// Viewers waiting for the next [`SYNC`] to be sent (one is out already).
    next_sync: Vec<oneshot::Sender<()>>,
    /// Inside a `%begin`/`%end` block: whether it answers us, and its lines.
    block: Option<(bool, Vec<String>)>,
    /// Output of panes not known yet, until the next answer (see [`PENDING_BYTES`]).
    pending: HashMap<u32, Vec<u8>>,
    pending_bytes: usize,
    /// Why there is no more history, once the client has ended.
    ended: Option<String>,
}

/// What an answer from tmux is to.
enum Expect {
    Panes,
    /// A [`SYNC`]: the viewers waiting for it.
    Sync(Vec<oneshot::Sender<()>>),
}

/// One line from tmux in control mode, outside a block.
#[derive(Debug, PartialEq)]
enum Line {
    Output {
        pane: u32,
        data: Vec<u8>,
    },
    /// `%begin TIME NUMBER FLAGS`; flag 1: a command this client sent.
    Begin {
        ours: bool,
    },
    /// Something that may move, resize, add or remove panes or change the active one.
    Changed,
    Exit(String),
    Other,
}

impl Line {
    fn parse(line: &[u8]) -> Line {
        let (word, rest) = match line.iter().position(|&b| b == b' ') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &[][..]),
        };
        match word {
            b"%output" => {
                let (pane, data) = match rest.iter().position(|&b| b == b' ') {
                    Some(i) => (&rest[..i], &rest[i + 1..]),
                    None => (rest, &[][..]),
                };
                let pane = std::str::from_utf8(pane)
                    .ok()
                    .and_then(|p| p.strip_prefix('%'))
                    .and_then(|p| p.parse().ok());
                match pane {
                    Some(pane) => Line::Output {
                        pane,
                        data: unescape(data),
                    },
                    None => Line::Other,
                }
            }
            b"%begin" => Line::Begin {
                ours: rest
                    .rsplit(|&b| b == b' ')
                    .next()
                    .and_then(|f| std::str::from_utf8(f).ok())
                    .and_then(|f| f.parse::<u32>().ok())
                    .is_some_and(|f| f & 1 == 1),
            },
            b"%layout-change"
            | b"%window-pane-changed"
            | b"%session-window-changed"
            | b"%session-changed"
            | b"%window-add"
            | b"%window-close"
            | b"%unlinked-window-add"
            | b"%unlinked-window-close"
            | b"%sessions-changed" => Line::Changed,
            b"%exit" => Line::Exit(String::from_utf8_lossy(rest).into_owned()),
            _ => Line::Other,
        }
    }
}

/// `%output` data: bytes below 32 and the backslash come as `\ooo` (octal).
fn unescape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if b == b'\\'
            && i + 3 < data.len()
            && data[i + 1..=i + 3]
                .iter()
                .all(|d| (b'0'..=b'7').contains(d))
        {
            let v = data[i + 1..=i + 3]
                .iter()
                .fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

impl State {
    fn new() -> State {
        State {
            vs16_wide: true,
            panes: HashMap::new(),
            active: None,
            first: true,
            commands: None,
            expected: VecDeque::new(),
            again: false,
            next_sync: Vec::new(),
            block: None,
            pending: HashMap::new(),
            pending_bytes: 0,
            ended: None,
        }
    }

    /// The client is there: commands go to `commands`, and the first is about the panes.
    fn begin(&mut self, commands: Option<Box<dyn Write + Send>>) {
        self.commands = commands;
        self.ask(Expect::Panes);
    }

    /// Sends a command; its answer is expected after those asked before. (Under the state's
    /// lock, so that the order of the answers is the order of `expected`.)
    fn ask(&mut self, what: Expect) {
        let command = match what {
            Expect::Panes => LIST_PANES,
            Expect::Sync(_) => SYNC,
        };
        if let Some(w) = &mut self.commands {
            if w.write_all(command.as_bytes())
                .and_then(|()| w.flush())
                .is_err()
            {
                self.commands = None;
                self.end("tmux's control-mode client stopped reading".to_owned());
                return;
            }
        }
        self.expected.push_back(what);
    }

    /// No more history will come: viewers waiting for a [`SYNC`] are let go.
    fn end(&mut self, why: String) {
        self.ended.get_or_insert(why);
        self.expected.clear();
        self.next_sync.clear();
        self.commands = None;
    }

    /// A receiver that resolves once everything tmux read from the panes before now is in
    /// the models (or at once, with an error, when the client has ended).
    fn sync(&mut self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        if self.ended.is_some() {
            return rx;
        }
        // One out at a time, however many viewers ask: the others wait for the next.
        if self.expected.iter().any(|e| matches!(e, Expect::Sync(_))) {
            self.next_sync.push(tx);
        } else {
            self.ask(Expect::Sync(vec![tx]));
        }
        rx
    }

    /// Takes one line from tmux (without its newline).
    fn feed(&mut self, line: &[u8]) {
        if let Some((ours, body)) = &mut self.block {
            let end = line.starts_with(b"%end ") || line.starts_with(b"%error ");
            if !end {
                if *ours {
                    body.push(String::from_utf8_lossy(line).into_owned());
                }
                return;
            }
            let ours = *ours;
            let body = std::mem::take(body);
            self.block = None;
            if ours {
                self.answered(line.starts_with(b"%end "), &body);
            }
            return;
        }
        match Line::parse(line) {
            Line::Output { pane, data } => self.output(pane, &data),
            Line::Begin { ours } => self.block = Some((ours, Vec::new())),
            Line::Changed => {
                if self.expected.iter().any(|e| matches!(e, Expect::Panes)) {
                    self.again = true;
                } else {
                    self.ask(Expect::Panes);
                }
            }
            Line::Exit(why) => self.end(if why.is_empty() {
                "tmux's control-mode client exited".to_owned()
            } else {
                format!("tmux's control-mode client exited: {why}")
            }),
            Line::Other => {}
        }
    }

    /// The answer to the oldest command still out: `ok` unless it was `%error`.
    fn answered(&mut self, ok: bool, body: &[String]) {
        match self.expected.pop_front() {
            Some(Expect::Panes) => {
                if ok {
                    self.panes_are(body);
                }
                if std::mem::take(&mut self.again) {
                    self.ask(Expect::Panes);
                }
            }
            Some(Expect::Sync(waiting)) => {
                for w in waiting {
                    let _ = w.send(());
                }
                if !self.next_sync.is_empty() {
                    let next = std::mem::take(&mut self.next_sync);
                    self.ask(Expect::Sync(next));
                }
            }
            None => {}
        }
    }

    fn output(&mut self, pane: u32, data: &[u8]) {
        if let Some(p) = self.panes.get_mut(&pane) {
            p.parser.process(data);
        } else if !self.first && self.pending_bytes + data.len() <= PENDING_BYTES {
            self.pending_bytes += data.len();
            self.pending
                .entry(pane)
                .or_default()
                .extend_from_slice(data);
        }
    }

    /// Our `list-panes` answer: models for new panes, sizes for the others, the active pane;
    /// panes gone from the session are dropped with their history.
    fn panes_are(&mut self, body: &[String]) {
        let infos: Vec<PaneInfo> = body.iter().filter_map(|l| PaneInfo::parse(l)).collect();
        self.panes.retain(|id, _| infos.iter().any(|i| i.id == *id));
        self.active = None;
        for info in &infos {
            if info.active {
                self.active = Some(info.id);
            }
            match self.panes.get_mut(&info.id) {
                Some(p) => p.update(info),
                None if self.first => {
                    self.panes
                        .insert(info.id, Pane::at_share_start(info, self.vs16_wide));
                }
                None => {
                    // A pane made during the share starts blank with its cursor at the top;
                    // what it printed before this answer is replayed into it.
                    let mut p = Pane::new(info, self.vs16_wide);
                    if let Some(early) = self.pending.remove(&info.id) {
                        p.parser.process(&early);
                    }
                    self.panes.insert(info.id, p);
                }
            }
        }
        self.first = false;
        self.pending.clear();
        self.pending_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_unescaped_from_octal() {
        assert_eq!(
            Line::parse(br"%output %12 a\033[31mb\134c\015\012\ 9\12"),
            Line::Output {
                pane: 12,
                data: b"a\x1b[31mb\\c\r\n\\ 9\\12".to_vec()
            }
        );
        assert_eq!(unescape("é\\011x".as_bytes()), "é\tx".as_bytes());
        assert_eq!(
            Line::parse(b"%output %1 "),
            Line::Output {
                pane: 1,
                data: vec![]
            }
        );
        assert_eq!(Line::parse(b"%output nonsense"), Line::Other);
    }

    const PANES_80X23: &str = "%0 0 0 80 23 2 3 1 1 0 4294967295 4294967295 0 22";

    /// Feeds tmux's answer to the oldest command still out.
    fn answer(state: &mut State, lines: &[&str]) {
        state.feed(b"%begin 1796170729 266 1");
        for l in lines {
            state.feed(l.as_bytes());
        }
        state.feed(b"%end 1796170729 266 1");
    }

    /// What the state waits for answers to: 'p' for the panes, 's' for a sync.
    fn expected(state: &State) -> String {
        state
            .expected
            .iter()
            .map(|e| match e {
                Expect::Panes => 'p',
                Expect::Sync(_) => 's',
            })
            .collect()
    }

    fn texts(state: &State, req: &Request) -> (serde_json::Value, Vec<String>) {
        let v: serde_json::Value = serde_json::from_str(&state.reply(req)).unwrap();
        let rows = v["rows"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|runs| {
                        runs.as_array()
                            .unwrap()
                            .iter()
                            .map(|r| r["t"].as_str().unwrap())
                            .collect::<String>()
                    })
                    .collect()
            })
            .unwrap_or_default();
        (v, rows)
    }

    fn newest() -> Request {
        Request {
            kind: "history".into(),
            id: Some(7),
            pane: None,
            before: None,
            after: None,
        }
    }

    #[test]
    fn blocks_answer_our_questions_and_output_scrolls_into_history() {
        let mut s = State::new();
        s.begin(None);
        assert_eq!(expected(&s), "p");
        // Output before the first answer is already in the cursor it gives.
        s.feed(br"%output %0 dropped\015\012");
        // Someone else's block is not ours, even when its lines look like ours.
        s.feed(b"%begin 1 2 0");
        s.feed(PANES_80X23.replace("%0", "%9").as_bytes());
        s.feed(b"%end 1 2 0");
        assert!(s.panes.is_empty());
        answer(&mut s, &[PANES_80X23]);
        assert_eq!(expected(&s), "");
        assert_eq!(s.active, Some(0));
        // The cursor is on row 3 of 23: lines 1 to 20 fill the screen, and each one after
        // scrolls a row off.
        let mut out = String::from("%output %0 ");
        for i in 1..=25 {
            out += &format!("line{i}\\015\\012");
        }
        s.feed(out.as_bytes());
        let (v, rows) = texts(&s, &newest());
        assert_eq!(v["id"], 7);
        assert_eq!(v["pane"], "%0");
        assert_eq!(v["label"], "window 0, pane 0");
        assert_eq!(v["active"], true);
        // The 3 blank rows scrolled off first held what was there before the share: dropped.
        assert_eq!(rows, ["  line1", "line2", "line3"]);
        assert_eq!(
            (v["start"].as_u64(), v["total"].as_u64()),
            (Some(0), Some(3))
        );

        // A change while a question is out is asked again once the answer is in.
        s.feed(b"%layout-change @0 x y *");
        s.feed(b"%window-pane-changed @0 %1");
        assert_eq!(expected(&s), "p");
        // Viewers' syncs: one out at a time, the others wait for the next.
        let mut first_sync = s.sync();
        let mut second_sync = s.sync();
        assert_eq!(expected(&s), "ps");
        answer(&mut s, &[PANES_80X23]);
        assert_eq!(expected(&s), "sp");
        answer(&mut s, &[""]);
        assert_eq!(first_sync.try_recv(), Ok(()));
        assert!(second_sync.try_recv().is_err());
        assert_eq!(expected(&s), "ps");
        // A new pane's output before tmux told us of it is replayed into its model.
        s.feed(br"%output %1 \033[1mnew\033[m");
        let second = "%1 0 1 40 23 3 0 1 1 0 4294967295 4294967295 0 22";
        let first = PANES_80X23.replace(" 1 1 0 ", " 1 0 0 ");
        answer(&mut s, &[&first, second]);
        answer(&mut s, &[]);
        assert_eq!(second_sync.try_recv(), Ok(()));
        assert_eq!(expected(&s), "");
        assert_eq!(s.active, Some(1));
        assert_eq!(s.panes[&1].parser.screen().contents(), "new");
        // A pane that closed is dropped with its history.
        s.feed(b"%window-close @1");
        answer(&mut s, &[second]);
        assert_eq!(s.panes.keys().collect::<Vec<_>>(), [&1]);
        let (v, _) = texts(
            &s,
            &Request {
                pane: Some("%0".into()),
                ..newest()
            },
        );
        assert_eq!(v["error"], "that pane has closed");
        // A pane in another window is not on the shared screen: it is not shown.
        s.feed(b"%session-window-changed $0 @1");
        answer(&mut s, &[&second.replace(" 1 1 0 ", " 0 1 0 ")]);
        assert_eq!(s.active, None);
        let (v, _) = texts(
            &s,
            &Request {
                pane: Some("%1".into()),
                ..newest()
            },
        );
        assert_eq!(v["error"], "pane %1 is not on the shared screen now");
        // Once the client has ended, nobody waits for it.
        let mut waiting = s.sync();
        s.feed(b"%exit");
        assert!(s.ended.is_some());
        assert!(waiting.try_recv().is_err() && s.sync().try_recv().is_err());
        assert_eq!(expected(&s), "");
    }

    #[test]
    fn rows_keep_their_style_and_full_screen_programs_are_not_history() {
        let mut s = State::new();
        s.begin(None);
        answer(&mut s, &["%0 0 0 20 3 0 2 1 1 0 4294967295 4294967295 0 2"]);
        s.feed(br"%output %0 \033[31mred\033[m plain\015\012next\015\012\033[?1049halt1\015\012alt2\015\012alt3\015\012alt4\033[?1049l\015\012");
        let (v, rows) = texts(&s, &newest());
        assert_eq!(rows, ["red plain"]);
        assert_eq!(
            v["rows"][0],
            serde_json::json!([{"t": "red", "fg": 1}, {"t": " plain"}])
        );
    }

    #[test]
    fn a_pane_made_smaller_keeps_the_rows_it_pushes_off_whole() {
        let mut s = State::new();
        s.begin(None);
        answer(&mut s, &["%0 0 0 20 3 0 0 1 1 0 4294967295 4294967295 0 2"]);
        s.feed(br"%output %0 abcdefghijklmnop\015\012second\015\012third");
        s.feed(b"%layout-change @0 x y *");
        answer(&mut s, &["%0 0 0 10 2 5 1 1 1 0 4294967295 4294967295 0 1"]);
        assert_eq!(texts(&s, &newest()).1, ["abcdefghijklmnop"]);
        s.feed(br"%output %0 \015\012fourth");
        assert_eq!(texts(&s, &newest()).1, ["abcdefghijklmnop", "second"]);
    }

    #[test]
    fn a_row_of_spaces_and_escapes_is_blank() {
        assert!(blank(""));
        assert!(blank("   \x1b[31;1m  \x1b[m"));
        assert!(!blank("\x1b[31mx"));
        assert!(!blank("  m"));
        // A kept row comes back as the frame row it was, colours and all.
        assert_eq!(
            encode_kept(10, "a\x1b[31mb\x1b[m界", true),
            r#"[{"t":"a"},{"t":"b","fg":1},{"t":"界","w":1}]"#
        );
    }

    #[test]
    fn history_is_bounded_and_paged() {
        let mut sb = Scrollback::default();
        for i in 0..HISTORY_ROWS + 5 {
            sb.push(80, format!("[{i}]"));
        }
        assert_eq!(sb.rows.len(), HISTORY_ROWS);
        assert_eq!((sb.start(), sb.total), (5, HISTORY_ROWS as u64 + 5));
        let (first, rows) = sb.page(None, None);
        assert_eq!(first, sb.total - PAGE_ROWS as u64);
        assert_eq!(rows.len(), PAGE_ROWS);
        assert_eq!(
            rows.last().map(|r| &*r.1),
            Some(&*format!("[{}]", HISTORY_ROWS + 4))
        );
        // Older pages end at the oldest row kept.
        let (first, rows) = sb.page(Some(105), None);
        assert_eq!((first, rows.len()), (5, 100));
        assert_eq!(&*rows[0].1, "[5]");
        let (first, rows) = sb.page(Some(3), None);
        assert_eq!((first, rows.len()), (5, 0));
        // Newer pages start where asked.
        let (first, rows) = sb.page(None, Some(sb.total - 2));
        assert_eq!((first, rows.len()), (sb.total - 2, 2));
        let (_, rows) = sb.page(None, Some(sb.total + 9));
        assert!(rows.is_empty());

        // Bytes are bounded too: huge rows push out old ones.
        let mut sb = Scrollback::default();
        let big = "x".repeat(HISTORY_BYTES / 4);
        for _ in 0..10 {
            sb.push(80, big.clone());
        }
        assert!(
            sb.bytes <= HISTORY_BYTES && sb.rows.len() == 4,
            "{}",
            sb.rows.len()
        );
        // An answer holds about PAGE_BYTES at most, and never nothing.
        let (_, rows) = sb.page(None, None);
        assert_eq!(rows.len(), 1);
    }
}
