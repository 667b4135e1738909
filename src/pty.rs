//! The shared program's pseudo-terminal: spawning into it, its reader and writers,
//! and its size. It knows only bytes in and bytes out, not who reads or writes them.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize, SlavePty};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;

use crate::size::Size;

/// Largest single read from the pty. A chunk is the unit stored in the hub's ring, so this
/// bounds the ring's memory; tmux rarely writes more than a few KiB at once.
pub const READ_CHUNK: usize = 32 * 1024;
/// The most one read of a pty's master returns (the line discipline's buffer, Linux's
/// `N_TTY_BUF_SIZE`): a shorter read took everything there was. Elsewhere unknown: every
/// read reads on until the terminal says it has nothing.
#[cfg(target_os = "linux")]
const TTY_READ_MAX: usize = 4096;
#[cfg(not(target_os = "linux"))]
const TTY_READ_MAX: usize = 0;

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
        let pty = Pty {
            master: Mutex::new(pair.master),
            slave: Mutex::new(pair.slave),
            reading: Arc::default(),
        };
        set_nonblocking(&pty.dup_master()?).context("cannot set up the pseudo-terminal")?;
        Ok(pty)
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

    /// Reads the pty from the runtime (non-blocking, woken by the runtime's own poll) and hands
    /// each chunk to `sink`, in order, as soon as it arrives: the chunk reaches the guests'
    /// tasks with no hand-off between threads, and in attached mode the sink writes it to the
    /// host's terminal first. When `sink` is slow, reading stops and the program in the pty is
    /// slowed, never memory. Call from within the runtime.
    pub fn start_reader(&self, mut sink: impl FnMut(&[u8]) + Send + 'static) -> Result<()> {
        let fd = self
            .dup_master()
            .context("cannot read the pseudo-terminal")?;
        // SAFETY: the descriptor is owned by the `AsyncFd`, open for as long as it lives.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(std::io::Error::from)
            .context("cannot watch the pseudo-terminal")?;
        let reading = Arc::clone(&self.reading);
        tokio::spawn(async move {
            let mut buf = vec![0u8; READ_CHUNK];
            loop {
                let Ok(mut ready) = fd.readable().await else {
                    return;
                };
                // Read and sink with the lock held: see `drain`.
                let _reading = reading.lock();
                match ready.try_io(|fd| read(fd.get_ref(), &mut buf)) {
                    Ok(Ok(0)) => return,
                    Ok(Ok(n)) => {
                        sink(&buf[..n]);
                        if n < TTY_READ_MAX {
                            // All there was: the terminal's next output marks it readable
                            // again, so the read that would only say so (EAGAIN) is saved, on
                            // every echo's way out. A read of the line discipline's whole
                            // buffer may have more behind it, and reads on.
                            ready.clear_ready();
                        }
                    }
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    // EIO: no process has the terminal open any more.
                    Ok(Err(_)) => return,
                    Err(_would_block) => {}
                }
            }
        });
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

    /// The pty's input side, shared by everyone who types.
    pub fn writer(&self) -> Result<Arc<PtyWriter>> {
        let fd = self
            .dup_master()
            .context("cannot write to the pseudo-terminal")?;
        Ok(Arc::new(PtyWriter {
            fd,
            pending: parking_lot::Mutex::new(Vec::new()),
        }))
    }
}

/// Sets `O_NONBLOCK` on the master's open file description (shared by every descriptor of it):
/// the reader is woken by the runtime, and writers that must not wait can try.
fn set_nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor we own, with flags it returned.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn read(fd: &OwnedFd, buf: &mut [u8]) -> std::io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
}

fn write(fd: &OwnedFd, bytes: &[u8]) -> std::io::Result<usize> {
    // SAFETY: `bytes` is valid for `bytes.len()` bytes.
    let n = unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
    usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
}

/// Writes all of `bytes`, waiting (on this thread) while the pty is full.
fn write_all(fd: &OwnedFd, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let mut p = libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one valid pollfd, for a descriptor we own.
                unsafe { libc::poll(&mut p, 1, -1) };
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The pty's input side. Each write goes in whole, so that one writer's escape sequence or
/// UTF-8 character is never split by another's. Writers that may wait call [`PtyWriter::write_whole`]
/// from their own threads (the host's keyboard, the guests' writer); a guest's keystroke is
/// tried at once from the task that received it ([`PtyWriter::try_write`]), with no queue and no
/// hand-off, whenever the pty takes it without waiting.
pub struct PtyWriter {
    fd: OwnedFd,
    /// The rest of a chunk that [`PtyWriter::try_write`] could write only in part: whoever
    /// writes next writes it first, so that the chunk stays whole.
    pending: parking_lot::Mutex<Vec<u8>>,
}

/// What [`PtyWriter::try_write`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Tried {
    /// Written whole.
    Written,
    /// Begun: the rest waits in the writer, for the next write (or [`PtyWriter::write_whole`]
    /// with nothing) to finish.
    Begun,
    /// Nothing written: another writer holds the pty, or it is full.
    Busy,
    /// The pty is gone.
    Failed,
}

impl PtyWriter {
    /// Writes `bytes` whole (after the rest of a chunk begun by `try_write`). Blocks while the
    /// program in the pty is not reading.
    pub fn write_whole(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut pending = self.pending.lock();
        let mut result = write_all(&self.fd, &pending);
        pending.clear();
        if result.is_ok() {
            result = write_all(&self.fd, bytes);
        }
        // Hand the lock straight to a writer that is waiting: one writer's flood cannot starve
        // another's keystrokes (a plain unlock lets the flooding thread take it back at once).
        parking_lot::MutexGuard::unlock_fair(pending);
        result
    }

    /// Writes `bytes` now if no other writer holds the pty and it has room, without waiting.
    pub fn try_write(&self, bytes: &[u8]) -> Tried {
        let Some(mut pending) = self.pending.try_lock() else {
            return Tried::Busy;
        };
        if !pending.is_empty() {
            return Tried::Busy;
        }
        loop {
            return match write(&self.fd, bytes) {
                Ok(n) if n == bytes.len() => Tried::Written,
                Ok(n) => {
                    pending.extend_from_slice(&bytes[n..]);
                    Tried::Begun
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Tried::Busy,
                Err(_) => Tried::Failed,
            };
        }
    }
}

/// Writes every message from `input` to `writer` on a thread of its own, in order. `writing` is
/// told of each message before it is written, and `written` after.
pub fn start_writer<T: AsRef<[u8]> + Send + 'static>(
    writer: Arc<PtyWriter>,
    mut input: mpsc::Receiver<T>,
    mut writing: impl FnMut(&T) + Send + 'static,
    mut written: impl FnMut(&T) + Send + 'static,
) -> Result<()> {
    std::thread::Builder::new()
        .name("pty-writer".into())
        .spawn(move || {
            while let Some(msg) = input.blocking_recv() {
                writing(&msg);
                let result = writer.write_whole(msg.as_ref());
                written(&msg);
                if result.is_err() {
                    break;
                }
            }
        })?;
    Ok(())
}
