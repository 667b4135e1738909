//! Own views: a read-write guest looking around on its own (another window, its own copy mode
//! and scrolling) while the host and everyone else go on seeing the shared screen.
//!
//! An own view is a tmux client of the guest's own, on a session grouped with the shared one
//! (the same windows, its own current window), in a pty of its own, with its own [`Hub`] that
//! feeds that guest alone. Its pty always has the session's size, so tmux sizes no window
//! differently for it: the host's screen never moves. It changes nothing of the shared
//! session (no option, no environment, not its current window), and leaves nothing behind: when
//! it is dropped, its grouped session goes, and with it its client. Should npair die first,
//! the client dies with the pty and tmux destroys the session (`destroy-unattached`, an option
//! of that session only).
//!
//! A guest switches with an escape typed in the session, as ssh's `~.` and telnet's `^]` are:
//! Ctrl-] then `o` for its own view, Ctrl-] then `f` to follow the host again (Ctrl-] twice
//! types one). [`Escapes`] finds them in the guest's keystrokes.

use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use tokio::sync::watch;

use crate::hub::{Hub, Input, Source};
use crate::input::Keystrokes;
use crate::pty::Pty;
use crate::size::SizePolicy;
use crate::tmux::Tmux;

/// The escape's first key, Ctrl-] (as telnet's): rare in a shell, and typed twice it is
/// itself.
pub const ESCAPE: u8 = 0x1d;
/// How a guest is told the keys, wherever npair tells them.
pub const KEYS_HINT: &str = "guests: Ctrl-] o looks around on your own, Ctrl-] f follows the host";
/// How a guest in its own view is told the way back.
const FOLLOW_HINT: &str = "Ctrl-] f follows the host again";
/// Keystroke chunks waiting for an own view's pty: its one typist's, so a few are enough.
const INPUT_QUEUE: usize = 16;

/// What an escape asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    Own,
    Follow,
}

/// Finds escapes in one guest's keystrokes, across chunks.
#[derive(Default)]
pub struct Escapes {
    /// The last chunk ended with the escape key.
    pending: bool,
}

impl Escapes {
    /// `data` without its escapes, and the last switch asked for in it.
    pub fn scan(&mut self, data: &[u8]) -> (Vec<u8>, Option<Switch>) {
        let mut out = Vec::with_capacity(data.len());
        let mut switch = None;
        for &b in data {
            if std::mem::take(&mut self.pending) {
                match b {
                    b'o' => switch = Some(Switch::Own),
                    b'f' => switch = Some(Switch::Follow),
                    ESCAPE => out.push(ESCAPE),
                    // Not an escape after all: both keys go on.
                    _ => out.extend_from_slice(&[ESCAPE, b]),
                }
            } else if b == ESCAPE {
                self.pending = true;
            } else {
                out.push(b);
            }
        }
        (out, switch)
    }
}

/// What opening an own view takes: the shared session and how our own client runs.
pub struct Views {
    pub tmux: Tmux,
    /// The shared session.
    pub session: String,
    /// The TERM our tmux clients run under.
    pub term: String,
    /// Terminal features our headless clients assume (see `share::attach`).
    pub features: &'static str,
    pub vs16_wide: bool,
    /// The shared session's size, which an own view keeps.
    pub sizes: Arc<SizePolicy>,
}

/// One guest's own view. Dropping it ends it and removes what it made in tmux.
pub struct OwnView {
    /// Its screen model and output, for its guest alone.
    pub hub: Arc<Hub>,
    /// Its guest's keystrokes, to its pty.
    keys: Keystrokes,
    /// Its guest.
    id: u64,
    /// True once its tmux client has ended (the guest detached it, say).
    ended: watch::Receiver<bool>,
    tmux: Tmux,
    /// The grouped session, ours.
    group: String,
    /// Keeps the pty at the session's size.
    resizer: tokio::task::JoinHandle<()>,
}

impl Views {
    /// Opens an own view for guest `id`. Runs tmux commands: call it off the runtime.
    pub fn open(&self, id: u64) -> Result<OwnView> {
        let group = format!("npair-{}-own-{id}", std::process::id());
        self.tmux.new_grouped_session(&self.session, &group)?;
        let opened = self.attach(&group, id);
        if opened.is_err() {
            self.tmux.kill_session(&group);
        }
        opened
    }

    fn attach(&self, group: &str, id: u64) -> Result<OwnView> {
        let size = self.sizes.current();
        let hub = Arc::new(Hub::new(size));
        hub.set_vs16_wide(self.vs16_wide);
        let pty = Arc::new(Pty::open(size)?);
        {
            let hub = Arc::clone(&hub);
            pty.start_reader(move |chunk| hub.process(chunk))?;
        }
        let mut child = pty
            .spawn(
                self.tmux
                    .attach_command(group, &self.term, Some(self.features))?,
            )
            .context("cannot start a tmux client for the own view")?;
        let keys = Keystrokes::start(pty.writer()?, Arc::clone(&hub), INPUT_QUEUE)?;
        let (ended_tx, ended) = watch::channel(false);
        std::thread::spawn(move || {
            let _ = child.wait();
            ended_tx.send_replace(true);
        });
        if let Some(tty) = pty.tty_name() {
            if self.tmux.wait_for_client(group) {
                // Its session goes with its client, should npair not get to remove it.
                self.tmux.set_destroy_unattached(group);
                self.tmux
                    .display_message(&tty, &format!("npair: your own view ({FOLLOW_HINT})"));
            }
        }
        let resizer = tokio::spawn(follow_size(
            self.sizes.watch(),
            Arc::clone(&hub),
            Arc::clone(&pty),
        ));
        Ok(OwnView {
            hub,
            keys,
            id,
            ended,
            tmux: self.tmux.clone(),
            group: group.to_owned(),
            resizer,
        })
    }
}

impl OwnView {
    /// Types `bytes` into the own view; waits while its pty is not keeping up.
    pub async fn type_bytes(&self, bytes: Bytes) {
        let from = Source::Guest(self.id);
        self.keys.send(Input { from, bytes }).await;
    }

    /// Whether its tmux client has ended.
    pub fn has_ended(&self) -> bool {
        *self.ended.borrow()
    }

    /// Resolves when its tmux client ends.
    pub async fn ended(&self) {
        let mut ended = self.ended.clone();
        let _ = ended.wait_for(|e| *e).await;
    }
}

impl Drop for OwnView {
    fn drop(&mut self) {
        self.resizer.abort();
        // The client goes with its session.
        self.tmux.kill_session(&self.group);
    }
}

/// Keeps an own view at the shared session's size: the model first, then the pty, as for the
/// shared client.
async fn follow_size(mut sizes: watch::Receiver<crate::size::Size>, hub: Arc<Hub>, pty: Arc<Pty>) {
    while sizes.changed().await.is_ok() {
        let size = *sizes.borrow_and_update();
        hub.resize(size);
        let _ = pty.resize(size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_switch_views_and_everything_else_is_typed() {
        let mut e = Escapes::default();
        assert_eq!(e.scan(b"ls\r"), (b"ls\r".to_vec(), None));
        assert_eq!(e.scan(b"a\x1dob"), (b"ab".to_vec(), Some(Switch::Own)));
        assert_eq!(e.scan(b"\x1df"), (vec![], Some(Switch::Follow)));
        // Twice is the key itself (vim's tag jump), and an escape cut between two reads counts.
        assert_eq!(e.scan(b"\x1d\x1d"), (vec![ESCAPE], None));
        assert_eq!(e.scan(b"x\x1d"), (b"x".to_vec(), None));
        assert_eq!(e.scan(b"o"), (vec![], Some(Switch::Own)));
        // Any other key after it: both are typed.
        assert_eq!(e.scan(b"\x1dq"), (vec![ESCAPE, b'q'], None));
    }
}
