//! The recording (`--record FILE.cast`) owns its file: an asciicast v2 of exactly what guests
//! saw. It is a hub subscriber like a guest: the header carries the session size, the first
//! event is the join snapshot, then every output chunk ("o") and every resize ("r"). A gap
//! (the recorder fell a whole ring behind) is filled with a fresh snapshot, as a guest's is.
//!
//! Who typed is marked ("m" events, `alice typing`, which asciinema 2.2 and later show as
//! markers), once each time a guest starts typing after a pause. What anyone typed is never
//! recorded: no input ("i") events, which would hold a read-write guest's every keystroke,
//! passwords typed at a prompt that does not echo them included.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use bytes::Bytes;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use crate::hub::{Event, Hub};
use crate::registry::Typing;
use crate::shutdown::Shutdown;

/// Events on their way to the file's writer thread. Past this the recorder waits for the disk,
/// falls behind the hub, and catches up with a snapshot, as a slow guest does.
const RECORD_QUEUE: usize = 256;

/// Creates the file (failing at once, before the share starts, if it cannot be written) and
/// records on `tasks` until the shutdown, with a marker when someone starts `typing`.
pub fn start(
    path: &Path,
    term: &str,
    hub: Arc<Hub>,
    typing: watch::Receiver<Typing>,
    shutdown: Shutdown,
    tasks: &TaskTracker,
) -> Result<()> {
    let file = File::create(path).with_context(|| {
        format!(
            "cannot create the recording '{}'; choose a writable path for --record",
            path.display()
        )
    })?;
    let mut out = BufWriter::new(file);
    let sub = hub.subscribe();
    let header = json!({
        "version": 2,
        "width": sub.size.cols,
        "height": sub.size.rows,
        "timestamp": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "env": { "TERM": term },
    });
    writeln!(out, "{header}")?;
    let started = Instant::now();
    event(&mut out, started, "o", &sub.snapshot)?;
    out.flush()?;
    // The file is written on a thread of its own, never on the runtime's: a slow disk stalls
    // only the recording.
    let (lines, queued) = tokio::sync::mpsc::channel(RECORD_QUEUE);
    let path = path.to_path_buf();
    tasks.spawn_blocking(move || write(out, queued, &path));
    tasks.spawn(record(lines, started, hub, (sub.events, typing), shutdown));
    Ok(())
}

/// Writes each event's line, flushing whenever no more are waiting (so a crash loses only what
/// was still queued), until the recorder is done.
fn write(mut out: BufWriter<File>, mut queued: tokio::sync::mpsc::Receiver<Vec<u8>>, path: &Path) {
    let result: std::io::Result<()> = (|| {
        while let Some(line) = queued.blocking_recv() {
            out.write_all(&line)?;
            if queued.is_empty() {
                out.flush()?;
            }
        }
        out.flush()
    })();
    if let Err(e) = result {
        eprintln!("npair: the recording '{}' stopped: {e}", path.display());
    }
}

fn event(out: &mut impl Write, started: Instant, code: &str, data: &[u8]) -> std::io::Result<()> {
    let t = started.elapsed().as_secs_f64();
    let line = json!([(t * 1e6).round() / 1e6, code, String::from_utf8_lossy(data)]);
    writeln!(out, "{line}")
}

/// Follows the hub and who is typing, and turns them into the recording's lines.
async fn record(
    lines: tokio::sync::mpsc::Sender<Vec<u8>>,
    started: Instant,
    hub: Arc<Hub>,
    (mut events, mut typing): (
        tokio::sync::broadcast::Receiver<Event>,
        watch::Receiver<Typing>,
    ),
    mut shutdown: Shutdown,
) {
    let line = |code: &str, data: &[u8]| {
        let mut out = Vec::new();
        let _ = event(&mut out, started, code, data);
        out
    };
    let mut typed_before = Typing::default();
    loop {
        let ev = tokio::select! {
            ev = events.recv() => ev,
            Ok(()) = typing.changed() => {
                let now = typing.borrow_and_update().clone();
                let marks: Vec<u8> = now
                    .started_since(&typed_before)
                    .flat_map(|t| line("m", format!("{} typing", t.name).as_bytes()))
                    .collect();
                typed_before = now;
                if !marks.is_empty() && lines.send(marks).await.is_err() {
                    return;
                }
                continue;
            }
            _ = shutdown.wait() => break,
        };
        let next = match ev {
            Ok(Event::Output(b)) => line("o", &b),
            // What guests larger than the session are sent; the recording is at its size.
            Ok(Event::Framed(_)) => continue,
            Ok(Event::Resized(s)) => line("r", format!("{}x{}", s.cols, s.rows).as_bytes()),
            Err(RecvError::Lagged(_)) => {
                let sub = hub.subscribe();
                events = sub.events;
                let snap: Bytes = sub.snapshot;
                line("o", &snap)
            }
            Err(RecvError::Closed) => break,
        };
        // The writer is gone only when the file failed; it said so.
        if lines.send(next).await.is_err() {
            return;
        }
    }
    // What the tmux client drew as it left is in the ring still.
    while let Ok(ev) = events.try_recv() {
        let Event::Output(b) = ev else { continue };
        if lines.send(line("o", &b)).await.is_err() {
            return;
        }
    }
}
