//! The recording (`--record FILE.cast`) owns its file: an asciicast v2 of exactly what guests
//! saw. It is a hub subscriber like a guest: the header carries the session size, the first
//! event is the join snapshot, then every output chunk ("o") and every resize ("r"). A gap
//! (the recorder fell a whole ring behind) is filled with a fresh snapshot, as a guest's is.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use bytes::Bytes;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::task::TaskTracker;

use crate::hub::{Event, Hub};
use crate::shutdown::Shutdown;

/// How often buffered events reach the file: a crash loses at most this much of the recording.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Creates the file (failing at once, before the share starts, if it cannot be written) and
/// records on `tasks` until the shutdown.
pub fn start(
    path: &Path,
    term: &str,
    hub: Arc<Hub>,
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
    let path = path.to_path_buf();
    tasks.spawn(record(out, path, started, hub, sub.events, shutdown));
    Ok(())
}

fn event(out: &mut impl Write, started: Instant, code: &str, data: &[u8]) -> std::io::Result<()> {
    let t = started.elapsed().as_secs_f64();
    let line = json!([(t * 1e6).round() / 1e6, code, String::from_utf8_lossy(data)]);
    writeln!(out, "{line}")
}

async fn record(
    mut out: BufWriter<File>,
    path: PathBuf,
    started: Instant,
    hub: Arc<Hub>,
    mut events: tokio::sync::broadcast::Receiver<Event>,
    mut shutdown: Shutdown,
) {
    let mut flush = tokio::time::interval(FLUSH_INTERVAL);
    let result: std::io::Result<()> = async {
        loop {
            let ev = tokio::select! {
                ev = events.recv() => ev,
                _ = flush.tick() => { out.flush()?; continue; }
                _ = shutdown.wait() => break,
            };
            match ev {
                Ok(Event::Output(b)) => event(&mut out, started, "o", &b)?,
                Ok(Event::Resized(s)) => event(
                    &mut out,
                    started,
                    "r",
                    format!("{}x{}", s.cols, s.rows).as_bytes(),
                )?,
                Err(RecvError::Lagged(_)) => {
                    let sub = hub.subscribe();
                    events = sub.events;
                    let snap: Bytes = sub.snapshot;
                    event(&mut out, started, "o", &snap)?;
                }
                Err(RecvError::Closed) => break,
            }
        }
        // What the tmux client drew as it left is in the ring still.
        while let Ok(Event::Output(b)) = events.try_recv() {
            event(&mut out, started, "o", &b)?;
        }
        out.flush()
    }
    .await;
    if let Err(e) = result {
        eprintln!("npair: the recording '{}' stopped: {e}", path.display());
    }
}
