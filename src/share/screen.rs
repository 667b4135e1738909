//! The shared screen: our tmux client's pty, the hub that models and fans out what it draws,
//! the size policy, and the two ways in: the host's keyboard thread, and the writer thread that
//! takes guests' keystrokes in turn.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::mpsc;

use crate::host::{self, RawMode};
use crate::hub::{Hub, Input, Source};
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
    /// Guests' keystrokes, to the pty writer thread.
    pub(super) input: mpsc::Sender<Input>,
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
            hub.show_host(Box::new(std::io::stdout()), host);
        }
        {
            let hub = Arc::clone(&hub);
            pty.start_reader(move |chunk| hub.process(chunk))?;
        }
        let writer = pty.take_writer()?;
        let (input, input_rx) = mpsc::channel::<Input>(INPUT_QUEUE);
        {
            let hub = Arc::clone(&hub);
            crate::pty::start_writer(Arc::clone(&writer), input_rx, move |i: &Input| {
                hub.typed(i.from)
            })?;
        }
        let raw = if attached {
            let raw = RawMode::enable()?;
            let hub = Arc::clone(&hub);
            host::start_keyboard(move |bytes| {
                // Written here, on the keyboard's own thread: the host's keystrokes wait for no
                // queue, and at most for the one guest chunk being written (the lock is fair).
                hub.typed(Source::Host);
                writer.write_whole(bytes).is_ok()
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
            input,
            _raw: raw,
        })
    }
}
