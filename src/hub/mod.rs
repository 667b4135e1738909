//! The hub owns the shared screen: the vt100 screen model of the one tmux client, the
//! scroll-region tracker that completes it, and the broadcast ring that carries the client's
//! output to every subscriber, all behind one lock.
//!
//! The join invariant: a subscriber gets, under that lock, a snapshot that reproduces the
//! screen and a receiver for every chunk published after it, with no gap and no repeat, so
//! that snapshot + chunks gives it the screen of a terminal that saw everything. Output is
//! stored once in the ring, whatever the number of subscribers; a subscriber that falls a whole
//! ring behind gets `Lagged` and subscribes again, which repaints it from the model (state, not
//! history).
//!
//! It knows nothing of SSH, the web or tmux. It also names what transports send the other
//! way: keystrokes travel as [`Input`], marked with their [`Source`], to the input queue that
//! `share` hands the transports, so that a transport depends on the hub, not on the pty.
//!
//! The parts, one job each: `scan` publishes only whole escape sequences and characters,
//! `queries` strips terminal queries so that no guest's terminal answers into the session,
//! `region` follows the scroll region that the model keeps to itself, and `snapshot` draws the
//! model for a newcomer. `oracle`, built only for tests and the `fuzzing` feature, checks the
//! join invariant.

use std::num::NonZeroU16;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::{broadcast, Notify};

use crate::size::Size;

mod queries;
mod region;
mod scan;
mod snapshot;

#[cfg(any(test, feature = "fuzzing"))]
mod oracle;
#[cfg(feature = "fuzzing")]
pub use oracle::host_and_joiner;
#[cfg(test)]
mod tests;

use region::RegionTracker;
use scan::Boundary;

/// Chunks kept in the ring for subscribers that are behind. A chunk is one pty read (at most
/// [`crate::pty::READ_CHUNK`] bytes), so the ring holds at most 256 × 32 KiB = 8 MiB, shared by
/// every guest; a guest further behind than that is repainted from the model instead.
pub(crate) const RING_CHUNKS: usize = 256;

/// What a subscriber receives, in order.
#[derive(Clone, Debug)]
pub enum Event {
    /// Bytes the tmux client wrote to its terminal.
    Output(Bytes),
    /// The session size changed; a subscriber whose terminal no longer matches should
    /// subscribe again to be repainted at the new size.
    Resized(Size),
}

/// A new subscriber's starting point: `snapshot` reproduces the screen as of the moment of
/// subscription, and `events` carries everything after it, with no gap and no repeat.
pub struct Subscription {
    pub snapshot: Bytes,
    pub events: broadcast::Receiver<Event>,
    pub(crate) size: Size,
}

/// Who typed an input chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Host,
    Guest(u64),
}

/// A chunk of keystrokes on its way to the pty, written whole.
pub struct Input {
    pub from: Source,
    pub bytes: Bytes,
}

impl AsRef<[u8]> for Input {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// The screen model and the ring, behind one lock so that a snapshot and a subscription are
/// taken at the same point of the stream.
pub struct Hub {
    inner: Mutex<Inner>,
    /// Subscribers painted from the model that want the source to draw the screen again.
    redraws: Notify,
}

struct Inner {
    /// Holds back the tail of a read that ends inside an escape sequence or UTF-8 character.
    boundary: Boundary,
    parser: vt100::Parser,
    /// The scroll region, which vt100 tracks but does not expose (see [`RegionTracker`]).
    region: RegionTracker,
    region_parser: vte::Parser,
    tx: broadcast::Sender<Event>,
}

fn nz(v: u16) -> NonZeroU16 {
    NonZeroU16::new(v.max(1)).unwrap_or(NonZeroU16::MIN)
}

impl Hub {
    pub fn new(size: Size) -> Hub {
        Hub {
            inner: Mutex::new(Inner {
                boundary: Boundary::default(),
                parser: vt100::Parser::new(nz(size.rows), nz(size.cols), 0),
                region: RegionTracker::full(size.rows),
                region_parser: vte::Parser::new(),
                tx: broadcast::channel(RING_CHUNKS).0,
            }),
            redraws: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a screen that is at worst stale; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Feeds one read of the tmux client's output to the model and to every subscriber.
    ///
    /// Only whole escape sequences and characters are published: a read that ends inside one
    /// keeps that tail back until the next read completes it, so that a snapshot is never
    /// taken, and a subscriber never starts, in the middle of a sequence.
    pub fn process(&self, chunk: &[u8]) {
        let mut inner = self.lock();
        let Inner {
            boundary,
            parser,
            region,
            region_parser,
            tx,
        } = &mut *inner;
        let Some(bytes) = boundary.complete(chunk) else {
            return;
        };
        let bytes = queries::strip_queries(bytes);
        parser.process(&bytes);
        region_parser.advance(region, &bytes);
        // No receivers is fine: output is still in the model for whoever joins later.
        let _ = tx.send(Event::Output(bytes));
    }

    /// Sets whether the model counts a character followed by U+FE0F as two columns, as the
    /// program drawing on it (tmux) does, so that the model's columns stay tmux's.
    pub(crate) fn set_vs16_wide(&self, wide: bool) {
        self.lock().parser.screen_mut().set_vs16_wide(wide);
    }

    /// Changes the model's size. Call before resizing the pty, so that the redraw tmux sends
    /// in answer is parsed at the new size.
    pub(crate) fn resize(&self, size: Size) {
        let mut inner = self.lock();
        inner
            .parser
            .screen_mut()
            .set_size(nz(size.rows), nz(size.cols));
        inner.region.resize(size.rows);
        let _ = inner.tx.send(Event::Resized(size));
    }

    /// A copy of the current screen (for renderers and tests).
    pub(crate) fn screen(&self) -> vt100::Screen {
        self.lock().parser.screen().clone()
    }

    /// Asks the source of the output to draw the whole screen again, for a subscriber just
    /// painted from the model. The model holds everything a terminal needs to draw on (modes,
    /// the alternate screen, the scroll region, the cursor, every cell with its attributes),
    /// which makes the first paint instant and, nearly always, exact; but not everything the
    /// source can draw (a character cluster longer than a cell holds). A redraw from the
    /// source, arriving after the snapshot, makes the newcomer's cells exact; subscribers
    /// already in receive the same cells they have. Requests made before the source's next
    /// turn count as one.
    pub fn request_redraw(&self) {
        self.redraws.notify_one();
    }

    /// Waits for the next [`Hub::request_redraw`].
    pub async fn redraw_requested(&self) {
        self.redraws.notified().await;
    }

    /// Subscribes to the output from now on, with a snapshot of the screen as of now.
    pub fn subscribe(&self) -> Subscription {
        let inner = self.lock();
        let snapshot = snapshot::snapshot(inner.parser.screen(), &inner.region);
        let (rows, cols) = inner.parser.screen().size();
        Subscription {
            snapshot: Bytes::from(snapshot),
            events: inner.tx.subscribe(),
            size: Size::new(cols.get(), rows.get()),
        }
    }
}
