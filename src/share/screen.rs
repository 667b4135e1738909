//! The shared screen: our tmux client's pty, the hub that models and fans out what it draws,
//! the size policy, and the two ways in: the host's keyboard thread, and the guests'
//! [`Keystrokes`].

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::host::{self, RawMode};
use crate::hub::{Hub, Source};
use crate::input::Keystrokes;
use crate::pty::Pty;
use crate::size::{Size, SizePolicy};

/// Guests' keystroke chunks waiting for the pty (the host's take no queue: its keyboard thread
/// writes them itself). A chunk is one SSH packet (at most 32 KiB), so the queue holds 8 MiB at
/// worst; a full queue pauses the typists (their TCP windows close), not npair.
const INPUT_QUEUE: usize = 256;

/// The pty, the hub and the size policy of one share, with its keyboards wired in.
pub(super) struct Screen {
    pub(super) hub: Arc<Hub>,
    pub(super) sizes: Arc<SizePolicy>,
    pub(super) pty: Arc<Pty>,
    /// The pty's device: our tmux client's name for tmux.
    pub(super) tty: PathBuf,
    /// Guests' keystrokes, to the pty.
    pub(super) keys: Arc<Keystrokes>,
    /// The host's terminal in raw mode while attached; dropping it puts the terminal back.
    _raw: Option<RawMode>,
}

impl Screen {
    /// Opens the pty at `size` and starts its reader (to the hub, and to the host's terminal,
    /// of size `host`, when attached), the guests' writer, and the host's keyboard when
    /// attached.
    /// `vs16_wide`: the tmux client counts U+FE0F as widening (see `tmux::counts_vs16_wide`).
    pub(super) fn start(size: Size, host: Option<Size>, vs16_wide: bool) -> Result<Screen> {
        let attached = host.is_some();
        let hub = Arc::new(Hub::new(size));
        hub.set_vs16_wide(vs16_wide);
        let sizes = SizePolicy::new(size);
        let pty = Arc::new(Pty::open(size)?);
        let tty = pty
            .tty_name()
            .context("the pseudo-terminal has no device name")?;
        if let Some(host) = host {
            // The hub shows the host each chunk as it takes it: first, before its model, when the
            // host's terminal is the session's size, as with a local `tmux attach`.
            hub.show_host(Box::new(host::screen_output()?), host);
        }
        {
            let hub = Arc::clone(&hub);
            pty.start_reader(move |chunk| hub.process(chunk))?;
        }
        tokio::spawn(hub.pace_watchers());
        let keys = Arc::new(Keystrokes::start(
            pty.writer()?,
            Arc::clone(&hub),
            INPUT_QUEUE,
        )?);
        let raw = if attached {
            let raw = RawMode::enable()?;
            let keys = Arc::clone(&keys);
            host::start_keyboard(move |bytes| {
                // Written here, on the keyboard's own thread: the host's keystrokes wait for no
                // queue, and at most for the one guest chunk being written (the lock is fair).
                keys.hub().typed(Source::Host);
                keys.writer().write_whole(bytes).is_ok()
            })?;
            Some(raw)
        } else {
            None
        };
        Ok(Screen {
            hub,
            sizes,
            pty,
            tty,
            keys,
            _raw: raw,
        })
    }
}
