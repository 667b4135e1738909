//! Our tmux client's life: attached until the share ends, again after a guest detaches it, and
//! detached the way `prefix d` does when the share ends; and the signals that end it.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot};

use super::End;
use crate::hub::{Hub, Source};
use crate::pty::Pty;
use crate::tmux::Tmux;

/// How long our tmux client gets to detach cleanly (restoring the host's terminal) before it
/// is killed.
const DETACH_TIMEOUT: Duration = Duration::from_secs(2);
/// A tmux client that exits this soon after starting, this many times in a row, is failing,
/// not being detached by a guest: give up instead of looping.
const QUICK_EXIT: Duration = Duration::from_secs(2);
const MAX_QUICK_EXITS: u32 = 5;

/// What tmux may assume of the terminal when headless. Attached, the host's terminal answers
/// tmux's questions; headless, nobody does, and tmux would fall back to what `xterm-256color`
/// promises: true colours sent as the nearest of 256, underline styles and colours as a plain
/// underline, no strikethrough or overline. Each feature claimed here is one that guests'
/// terminals commonly have and that a terminal without it skips: true colour (`RGB`), styled
/// and coloured underlines (`usstyle`: `4:3`, `58:2::r:g:b`, colon forms that a terminal which
/// does not know them ignores as one parameter), strikethrough and overline (SGR 9 and 53), and
/// synchronized updates around redraws (`sync`: a DCS that other terminals swallow, which keeps
/// a full redraw from flickering). Left out: anything that would make guests' terminals send
/// something back (focus events, extended keys), write their clipboards or titles, or that the
/// screen model cannot follow (left and right margins, rectangle fills). `-T` only adds: tmux
/// still claims, for any `xterm*` TERM (its default `terminal-features`), the clipboard, titles
/// and the cursor's colour and style; the hub removes the clipboard, title and colour writes
/// from what guests get (`hub/queries.rs`), and keeps the style, which is drawing.
pub(super) const HEADLESS_FEATURES: &str = "RGB,usstyle,strikethrough,overline,sync";

/// Our tmux client in the share's pty, and what deciding its fate takes.
pub(super) struct Client<'a> {
    pub(super) tmux: &'a Tmux,
    /// The shared session.
    pub(super) name: &'a str,
    /// The TERM our client runs under.
    pub(super) term: &'a str,
    pub(super) pty: &'a Pty,
    /// The pty's device: our client's name for tmux.
    pub(super) tty: &'a Path,
    /// The host's terminal shows the client (not `--headless`).
    pub(super) attached: bool,
    /// Knows who typed last: a detach the host typed ends the share, one a guest typed does not.
    pub(super) hub: &'a Hub,
    pub(super) notices: &'a mpsc::Sender<String>,
}

impl Client<'_> {
    /// Runs our tmux client until the share ends (a signal, or `ends`), attaching it again when
    /// a guest detaches it.
    pub(super) async fn until_the_end(
        &self,
        signals: &mut Signals,
        mut ends: mpsc::Receiver<End>,
    ) -> Result<End> {
        let Client {
            tmux,
            name,
            term,
            pty,
            tty,
            attached,
            hub,
            notices,
        } = *self;
        let mut quick_exits = 0;
        loop {
            let mut child = pty
                .spawn(tmux.attach_command(name, term, (!attached).then_some(HEADLESS_FEATURES))?)
                .context("cannot start `tmux attach-session`")?;
            let mut killer = child.clone_killer();
            let started = Instant::now();
            let (exited_tx, mut exited_rx) = oneshot::channel();
            std::thread::spawn(move || {
                let _ = exited_tx.send(child.wait());
            });

            let ended = tokio::select! {
                sig = signals.recv() => Some(End::Signal(sig)),
                Some(end) = ends.recv() => Some(end),
                // Our client exited: see below whether the share ends.
                _ = &mut exited_rx => None,
            };
            if let Some(end) = ended {
                // Detach the way `prefix d` does, so tmux puts the host's terminal back.
                let (t, path) = (tmux.clone(), tty.to_path_buf());
                let _ = tokio::task::spawn_blocking(move || t.detach_client(&path)).await;
                if tokio::time::timeout(DETACH_TIMEOUT, &mut exited_rx)
                    .await
                    .is_err()
                {
                    let _ = killer.kill();
                }
                return Ok(end);
            }

            let (t, n) = (tmux.clone(), name.to_owned());
            let alive = tokio::task::spawn_blocking(move || t.has_session(&n))
                .await
                .unwrap_or(false);
            if !alive {
                return Ok(End::SessionGone);
            }
            if attached && hub.typed_last() == Some(Source::Host) {
                return Ok(End::HostDetached);
            }
            // A guest detached our client (prefix + d, or `tmux detach` in the shared shell), or
            // something outside did: only the host ends the share, so attach again.
            quick_exits = if started.elapsed() < QUICK_EXIT {
                quick_exits + 1
            } else {
                0
            };
            if quick_exits >= MAX_QUICK_EXITS {
                return Ok(End::ClientFailing);
            }
            let _ = notices.try_send("the tmux client was detached by a guest; attaching again (only the host can end the share)".to_owned());
            hub.forget_typist();
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP, each of which ends the share.
pub(super) struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    pub(super) fn new() -> Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
        }
    }
}
