//! The host's own terminal in attached mode: raw mode (restored on every exit path, panics
//! included), its size, and its keystrokes.

use std::io::{IsTerminal, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::size::Size;
use anyhow::{bail, Context, Result};

/// Whether the host's terminal is ours (raw, showing tmux's screen) right now.
static TERMINAL_TAKEN: AtomicBool = AtomicBool::new(false);

/// The host's terminal in raw mode for as long as this guard lives.
pub struct RawMode(());

impl RawMode {
    pub fn enable() -> Result<RawMode> {
        crossterm::terminal::enable_raw_mode().context("cannot put the terminal in raw mode")?;
        TERMINAL_TAKEN.store(true, Ordering::SeqCst);
        Ok(RawMode(()))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        TERMINAL_TAKEN.store(false, Ordering::SeqCst);
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// Gives the host's terminal back before a panic message that ends the share is printed: cooked
/// mode, the main screen, a visible cursor. A panic on another thread (one guest's task) ends
/// only that task; the share goes on, so the terminal is left as it is.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let ends_the_share = std::thread::current().name() == Some("main");
        if ends_the_share && TERMINAL_TAKEN.swap(false, Ordering::SeqCst) {
            let _ = crossterm::terminal::disable_raw_mode();
            let mut out = std::io::stdout();
            let _ = out.write_all(b"\x1b[?1049l\x1b[?25h\x1b[m\r\n");
            let _ = out.flush();
        }
        previous(info);
    }));
}

/// Attached mode needs a terminal on both ends.
pub fn check_terminal() -> Result<()> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        bail!("npair share needs a terminal to show the session in; run it in a terminal, or add --headless to serve without one");
    }
    Ok(())
}

/// The host terminal's size, if it has one.
pub fn size() -> Option<Size> {
    let (cols, rows) = crossterm::terminal::size().ok()?;
    Some(Size::clamped(cols.into(), rows.into()))
}

/// The host's terminal for the session's output: a descriptor of its own for standard output,
/// so that each chunk is one `write`, with no buffer or lock of the standard library's between.
pub fn screen_output() -> Result<std::fs::File> {
    use std::os::fd::AsFd;
    let fd = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .context("cannot write to the terminal")?;
    Ok(std::fs::File::from(fd))
}

/// Bytes read from the host's keyboard at once, at most.
const KEYBOARD_CHUNK: usize = 4096;

/// Reads the host's keystrokes on a thread of their own and hands each read to `typed`, which
/// writes it to the pty straight away (no queue, no other thread: the host's echo is as quick
/// as a local `tmux attach`). Stops when `typed` returns false.
pub fn start_keyboard(mut typed: impl FnMut(&[u8]) -> bool + Send + 'static) -> Result<()> {
    std::thread::Builder::new()
        .name("host-keyboard".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; KEYBOARD_CHUNK];
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => return,
                };
                if !typed(&buf[..n]) {
                    return;
                }
            }
        })?;
    Ok(())
}
