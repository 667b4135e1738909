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

use std::io::{BufRead, BufReader, Read};
use std::process::{ChildStdout, Stdio};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Deserialize;
use tokio::sync::oneshot;
use tokio_util::task::TaskTracker;

use crate::hub::Hub;

mod control;
mod pane;
mod scrollback;
#[cfg(test)]
mod tests;

use crate::shutdown::Shutdown;
use crate::tmux::Tmux;
use control::State;
use scrollback::encode_kept;

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
