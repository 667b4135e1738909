//! The shared program's pseudo-terminal: spawning into it, its reader and writer threads,
//! and its size. It knows only bytes in and bytes out, not who reads or writes them.

use std::io::{Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// Held by the reader from a read until its sink returns, so that `drain` can tell read
    /// bytes that are still on their way from bytes that have arrived.
    reading: Arc<parking_lot::Mutex<()>>,
}

/// How often `drain` looks whether the reader has caught up.
const DRAIN_POLL: Duration = Duration::from_millis(2);

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
            reading: Arc::default(),
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

    /// Reads the pty on a thread of its own and hands each chunk to `sink`, in order, as soon
    /// as it arrives (in attached mode the sink writes it to the host's terminal first, with no
    /// hop through the runtime). When `sink` is slow, reading stops and the program in the pty
    /// is slowed, never memory.
    pub fn start_reader(&self, mut sink: impl FnMut(&[u8]) + Send + 'static) -> Result<()> {
        let file = std::fs::File::from(
            self.dup_master()
                .context("cannot read the pseudo-terminal")?,
        );
        let reading = Arc::clone(&self.reading);
        std::thread::Builder::new()
            .name("pty-reader".into())
            .spawn(move || {
                let mut buf = vec![0u8; READ_CHUNK];
                loop {
                    // Wait for output without the lock, then read and sink it with the lock held:
                    // see `drain`.
                    let mut p = libc::pollfd {
                        fd: file.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: one valid pollfd, for a descriptor we own.
                    if unsafe { libc::poll(&mut p, 1, -1) } < 0 {
                        if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                        {
                            continue;
                        }
                        return;
                    }
                    let _reading = reading.lock();
                    match (&file).read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => sink(&buf[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        // EIO: no process has the terminal open any more.
                        Err(_) => return,
                    }
                }
            })?;
        Ok(())
    }

    /// Waits (at most `limit`) until everything written to the terminal so far has been read
    /// and handed to the reader's sink: the last words of a tmux client that has exited (its
    /// detach message, leaving the alternate screen) reach the host and the guests before the
    /// share ends.
    pub async fn drain(&self, limit: Duration) {
        let Ok(fd) = self.dup_master() else { return };
        let unread = || {
            let mut n: libc::c_int = 0;
            // SAFETY: FIONREAD writes one int, to `n`.
            let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
            r == 0 && n > 0
        };
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            {
                // Nothing unread while the reader is between reads: all of it is with the sink.
                let _idle = self.reading.lock();
                if !unread() {
                    return;
                }
            }
            tokio::time::sleep(DRAIN_POLL).await;
        }
    }

    /// A second descriptor of the master (sharing its open file description and so its flags).
    fn dup_master(&self) -> std::io::Result<OwnedFd> {
        let master = self.master.lock().unwrap_or_else(|e| e.into_inner());
        let raw = master
            .as_raw_fd()
            .ok_or_else(|| std::io::Error::other("the pseudo-terminal has no descriptor"))?;
        // SAFETY: `raw` is the master's descriptor, open for as long as `master` is (we hold
        // it), and borrowed only to duplicate it.
        unsafe { BorrowedFd::borrow_raw(raw) }.try_clone_to_owned()
    }

    /// The pty's input side, taken once and shared by everyone who types.
    pub fn take_writer(&self) -> Result<Arc<PtyWriter>> {
        let master = self.master.lock().unwrap_or_else(|e| e.into_inner());
        let writer = master
            .take_writer()
            .context("cannot write to the pseudo-terminal")?;
        Ok(Arc::new(PtyWriter {
            writer: parking_lot::Mutex::new(ManuallyDrop::new(writer)),
        }))
    }
}

/// The pty's input side. Each write goes in whole, so that one writer's escape sequence or
/// UTF-8 character is never split by another's. Writers call it from their own threads (the
/// host's keyboard, the guests' writer), so the host's keystrokes take no queue and no hop.
pub struct PtyWriter {
    /// Never dropped: dropping portable-pty's writer types "\n" and ^D into whatever holds the
    /// pty (a portable-pty habit), and the pty lives as long as the share anyway.
    writer: parking_lot::Mutex<ManuallyDrop<Box<dyn Write + Send>>>,
}

impl PtyWriter {
    /// Writes `bytes` whole. Blocks while the program in the pty is not reading.
    pub fn write_whole(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut w = self.writer.lock();
        let result = w.write_all(bytes).and_then(|_| w.flush());
        // Hand the lock straight to a writer that is waiting: one writer's flood cannot starve
        // another's keystrokes (a plain unlock lets the flooding thread take it back at once).
        parking_lot::MutexGuard::unlock_fair(w);
        result
    }
}

/// Writes every message from `input` to `writer` on a thread of its own, in order. `writing` is
/// told of each message before it is written.
pub fn start_writer<T: AsRef<[u8]> + Send + 'static>(
    writer: Arc<PtyWriter>,
    mut input: mpsc::Receiver<T>,
    mut writing: impl FnMut(&T) + Send + 'static,
) -> Result<()> {
    std::thread::Builder::new()
        .name("pty-writer".into())
        .spawn(move || {
            while let Some(msg) = input.blocking_recv() {
                writing(&msg);
                if writer.write_whole(msg.as_ref()).is_err() {
                    break;
                }
            }
        })?;
    Ok(())
}
