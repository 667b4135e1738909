//! The shared program's pseudo-terminal: spawning into it, its reader and writer threads,
//! and its size. It knows only bytes in and bytes out, not who reads or writes them.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Context, Result};
use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize, SlavePty};
use tokio::sync::mpsc;

use crate::size::Size;

/// Largest single read from the pty. A chunk is the unit stored in the hub's ring, so this
/// bounds the ring's memory; tmux rarely writes more than a few KiB at once.
pub const READ_CHUNK: usize = 32 * 1024;

/// One pty, kept open for the whole share so that a tmux client that was detached by a guest
/// can be replaced by a new one without the readers noticing.
pub struct Pty {
    /// `MasterPty` is not `Sync`; resizes come from one task at a time.
    master: Mutex<Box<dyn MasterPty + Send>>,
    /// Kept open on purpose: with it the reader never sees end-of-file between two clients.
    /// The end of a client is seen by waiting for its process instead.
    /// `SlavePty` is not `Sync` either; only the attach loop spawns.
    slave: Mutex<Box<dyn SlavePty + Send>>,
}

fn pty_size(size: Size) -> PtySize {
    PtySize {
        rows: size.rows,
        cols: size.cols,
        pixel_width: 0,
        pixel_height: 0,
    }
}

impl Pty {
    pub fn open(size: Size) -> Result<Pty> {
        let pair = native_pty_system()
            .openpty(pty_size(size))
            .context("cannot open a pseudo-terminal")?;
        Ok(Pty {
            master: Mutex::new(pair.master),
            slave: Mutex::new(pair.slave),
        })
    }

    /// Starts `cmd` with the pty as its controlling terminal.
    pub fn spawn(&self, cmd: CommandBuilder) -> Result<Box<dyn Child + Send + Sync>> {
        let slave = self.slave.lock().unwrap_or_else(|e| e.into_inner());
        slave.spawn_command(cmd)
    }

    /// The terminal device's path (`/dev/pts/N`): tmux names its clients by it.
    pub fn tty_name(&self) -> Option<PathBuf> {
        self.master.lock().ok()?.tty_name()
    }

    /// Changes the pty's size; the program in it gets SIGWINCH.
    pub fn resize(&self, size: Size) -> Result<()> {
        let master = self.master.lock().unwrap_or_else(|e| e.into_inner());
        master
            .resize(pty_size(size))
            .context("cannot resize the pseudo-terminal")
    }

    /// Reads the pty on a thread of its own and hands each chunk to `sink`, in order.
    /// When `sink` is slow, reading stops and the program in the pty is slowed, never memory.
    pub fn start_reader(&self, mut sink: impl FnMut(&[u8]) + Send + 'static) -> Result<()> {
        let master = self.master.lock().unwrap_or_else(|e| e.into_inner());
        let mut reader = master
            .try_clone_reader()
            .context("cannot read the pseudo-terminal")?;
        std::thread::Builder::new()
            .name("pty-reader".into())
            .spawn(move || {
                let mut buf = vec![0u8; READ_CHUNK];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => sink(&buf[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    }
                }
            })?;
        Ok(())
    }

    /// Writes every message from `input` to the pty whole, one at a time, so that one writer's
    /// escape sequence or UTF-8 character is never split by another's. `written` is told of
    /// each message after it is written.
    pub fn start_writer<T: AsRef<[u8]> + Send + 'static>(
        &self,
        mut input: mpsc::Receiver<T>,
        mut written: impl FnMut(&T) + Send + 'static,
    ) -> Result<()> {
        let master = self.master.lock().unwrap_or_else(|e| e.into_inner());
        let mut writer = master
            .take_writer()
            .context("cannot write to the pseudo-terminal")?;
        std::thread::Builder::new()
            .name("pty-writer".into())
            .spawn(move || {
                while let Some(msg) = input.blocking_recv() {
                    if writer
                        .write_all(msg.as_ref())
                        .and_then(|_| writer.flush())
                        .is_err()
                    {
                        break;
                    }
                    written(&msg);
                }
                // Dropping the writer would type "\n" and ^D into whatever holds the pty (a
                // portable-pty habit); the share is over by now, so leave it unwritten.
                std::mem::forget(writer);
            })?;
        Ok(())
    }
}
