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
//! A terminal larger than the session (the host's, when a guest's smaller terminal sets the
//! session's size; a guest's on a bigger screen) gets the same output framed (`frame`): made to
//! draw there exactly as on a terminal of the session's size, with nothing stale outside it.
//! The host's terminal is written here too, under the same lock, so that what it is shown
//! follows the model's size in step.
//!
//! The parts, one job each: `scan` publishes only whole escape sequences and characters,
//! `queries` strips terminal queries so that no guest's terminal answers into the session,
//! `region` follows the scroll region that the model keeps to itself, `snapshot` draws the
//! model for a newcomer, and `frame` makes output right for a larger terminal. `oracle`, built only for tests and the `fuzzing` feature, checks the
//! join invariant.

use std::io::Write;
use std::num::NonZeroU16;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{broadcast, Notify};

use crate::size::Size;

mod ahead;
mod frame;
mod pace;
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

/// Whether a future is done at its first poll (for the tests of what waits: `ahead`, `pace`).
#[cfg(test)]
fn ready(f: std::pin::Pin<&mut impl std::future::Future<Output = ()>>) -> bool {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    f.poll(&mut cx).is_ready()
}

pub use ahead::TypistSeat;
pub use frame::{needs_framing, Framed};
use pace::Pace;
pub use pace::WatcherSeat;
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
    /// The same bytes framed for terminals larger than the session, right after their
    /// `Output`, while any subscriber asked for them (see [`Hub::subscribe_for`]).
    Framed(Arc<Framed>),
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
    /// Held by a subscriber whose terminal is larger than the session: it follows
    /// [`Event::Framed`], not [`Event::Output`], and its snapshot is framed too.
    pub framed: Option<FramedSeat>,
    /// The number of the last chunk the snapshot holds: the next [`Event::Output`] is
    /// `seq + 1`, and so on.
    pub seq: u64,
    /// Held by a typist's subscription (see [`Hub::subscribe_as`]).
    pub typist: Option<TypistSeat>,
    /// Held by a watcher's subscription: it takes each event in its turn (see
    /// [`Hub::pace_watchers`]).
    pub watcher: Option<WatcherSeat>,
}

/// How a subscriber takes the output.
enum Role {
    /// It types: it takes the output first.
    Typist,
    /// It watches: it takes the output after the typists, in its slice's turn.
    Watcher,
    /// As it comes (the web page, the recording).
    Free,
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.pace.close();
    }
}

/// A subscriber that takes the framed stream; the hub frames output while any is held.
pub struct FramedSeat(Arc<AtomicUsize>);

impl Drop for FramedSeat {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
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
    /// How many subscribers hold a [`FramedSeat`]; raised under the lock, so that a new one
    /// gets every chunk after its snapshot framed.
    framed_seats: Arc<AtomicUsize>,
    /// Who typed into the session last (see [`Hub::typed`]).
    typist: Mutex<Option<Source>>,
    /// Which chunks the typists have sent on, and how far each slice of watchers may go.
    pace: Arc<Pace>,
}

/// The host's own terminal, in attached mode: written under the hub's lock, in step with the
/// model's size.
struct HostTerminal {
    out: Box<dyn Write + Send>,
    size: Size,
}

struct Inner {
    /// Holds back the tail of a read that ends inside an escape sequence or UTF-8 character.
    boundary: Boundary,
    parser: vt100::Parser,
    /// The scroll region, which vt100 tracks but does not expose (see [`RegionTracker`]).
    region: RegionTracker,
    region_parser: vte::Parser,
    /// Watchers' output.
    tx: broadcast::Sender<Event>,
    /// Typists' output, sent first (see `ahead`).
    typists: broadcast::Sender<Event>,
    /// Chunks published so far: the number of the last.
    published: u64,
    /// Events sent to the watchers so far.
    watched: u64,
    host: Option<HostTerminal>,
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
                // While anyone takes the framed stream, each chunk takes two places.
                tx: broadcast::channel(RING_CHUNKS).0,
                typists: broadcast::channel(RING_CHUNKS).0,
                published: 0,
                watched: 0,
                host: None,
            }),
            redraws: Notify::new(),
            framed_seats: Arc::default(),
            typist: Mutex::new(None),
            pace: Arc::default(),
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
    ///
    /// The host's terminal (see [`Hub::show_host`]) gets everything, queries included (it
    /// answers them, as with a local `tmux attach`): first, before the model sees it, when its
    /// size is the session's; framed, when it is larger. Only a clipboard write made while a
    /// guest was the last to type is kept from it: that copy was the guest's, not the host's.
    pub fn process(&self, chunk: &[u8]) {
        let guest_typed = matches!(self.typed_last(), Some(Source::Guest(_)));
        let mut inner = self.lock();
        let Inner {
            boundary,
            parser,
            region,
            region_parser,
            tx,
            typists,
            published,
            watched,
            host,
        } = &mut *inner;
        let out = boundary.complete(chunk);
        let uncut = boundary.take_uncut();
        let session = size_of(parser.screen());
        let host_framed = host
            .as_ref()
            .filter(|h| needs_framing(session, h.size))
            .map(|h| h.size);
        let for_host = |b: Bytes| match guest_typed {
            true => queries::strip_clipboard(b),
            false => b,
        };
        if let (None, Some(h)) = (host_framed, host.as_mut()) {
            // A large copy, cut for guests, reaches the host's terminal whole when it is the
            // host's.
            match (uncut, &out) {
                (Some(u), _) if !guest_typed => h.show(&u),
                (_, Some(b)) => h.show(&for_host(b.clone())),
                (_, None) => {}
            }
        }
        let Some(bytes) = out else {
            return;
        };
        let seats = self.framed_seats.load(Ordering::SeqCst);
        let framed = if seats > 0 || host_framed.is_some() {
            Some(frame::frame(parser, bytes.clone()))
        } else {
            parser.process(&bytes);
            None
        };
        if let (Some(f), Some(h), Some(term)) = (&framed, host.as_mut(), host_framed) {
            let shown = match guest_typed {
                true => f.map_output(for_host).for_terminal(session, term),
                false => f.for_terminal(session, term),
            };
            h.show(&shown);
        }
        region_parser.advance(region, &bytes);
        *published += 1;
        let mut events = vec![Event::Output(queries::strip_queries(bytes))];
        if let (Some(f), true) = (framed, seats > 0) {
            events.push(Event::Framed(Arc::new(
                f.map_output(queries::strip_queries),
            )));
        }
        // The typists' first (see `ahead`). No receivers is fine: output is still in the model
        // for whoever joins later.
        if self.pace.ahead.published(*published) {
            for event in &events {
                let _ = typists.send(event.clone());
            }
        }
        self.pace.ahead.answered();
        *watched += events.len() as u64;
        for event in events {
            let _ = tx.send(event);
        }
        self.pace.published(*watched, *published);
    }

    /// Notes who is about to type into the session: call before the keystrokes are written,
    /// so that what the session answers them with is judged by its typist.
    pub fn typed(&self, who: Source) {
        *self.typist.lock().unwrap_or_else(|e| e.into_inner()) = Some(who);
        self.pace.ahead.typed();
    }

    /// Who typed into the session last, if anyone has since [`Hub::forget_typist`].
    pub fn typed_last(&self) -> Option<Source> {
        *self.typist.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts over, for a tmux client attached again.
    pub(crate) fn forget_typist(&self) {
        *self.typist.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// From now on the host's terminal, of size `size`, is shown the session (attached mode).
    pub(crate) fn show_host(&self, out: Box<dyn Write + Send>, size: Size) {
        self.lock().host = Some(HostTerminal { out, size });
    }

    /// The host's terminal is now of size `size`. Where it is larger than the session, its
    /// terminal has just reflowed or grown around a screen that tmux will not draw again (the
    /// session keeps its size), so it is repainted from the model.
    pub(crate) fn host_resized(&self, size: Size) {
        let mut inner = self.lock();
        let Inner {
            parser,
            region,
            host,
            ..
        } = &mut *inner;
        let Some(h) = host else { return };
        h.size = size;
        let session = size_of(parser.screen());
        if session.fits_in(size) {
            let paint = snapshot::repaint(parser.screen(), region);
            h.show(&frame::frame_fresh(session, &paint).for_terminal(session, size));
        }
    }

    /// Sets whether the model counts a character followed by U+FE0F as two columns, as the
    /// program drawing on it (tmux) does, so that the model's columns stay tmux's.
    pub(crate) fn set_vs16_wide(&self, wide: bool) {
        self.lock().parser.screen_mut().set_vs16_wide(wide);
    }

    /// Changes the model's size. Call before resizing the pty, so that the redraw tmux sends
    /// in answer is parsed at the new size.
    ///
    /// A host's terminal larger than the new size is blanked, so that nothing of the old
    /// screen stays outside the new one; tmux's redraw paints the inside.
    pub(crate) fn resize(&self, size: Size) {
        let mut inner = self.lock();
        inner
            .parser
            .screen_mut()
            .set_size(nz(size.rows), nz(size.cols));
        inner.region.resize(size.rows);
        if inner
            .host
            .as_ref()
            .is_some_and(|h| needs_framing(size, h.size))
        {
            // Blank, with the model's region (a reset would give the whole, taller screen) and
            // its cursor, from which tmux may go on relatively before it redraws.
            let screen = inner.parser.screen();
            let (top, bottom) = screen.scroll_region();
            let mut blank = format!("\x1b[m\x1b[2J\x1b[{};{}r", top + 1, bottom + 1);
            blank.push_str(&screen.cursor_state_formatted());
            blank.push_str("\x1b[m");
            blank.push_str(&screen.attributes_formatted());
            if let Some(h) = inner.host.as_mut() {
                h.show(blank.as_bytes());
            }
        }
        let _ = inner.typists.send(Event::Resized(size));
        let _ = inner.tx.send(Event::Resized(size));
        inner.watched += 1;
        self.pace.published(inner.watched, inner.published);
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

    /// Subscribes to the output from now on, with a snapshot of the screen as of now, for a
    /// terminal of the session's size.
    pub fn subscribe(&self) -> Subscription {
        self.subscribe_for(None)
    }

    /// Subscribes for a terminal of size `term` (`None`: unknown, taken as the session's). A
    /// terminal larger than the session gets its snapshot and output framed
    /// ([`Subscription::framed`]).
    pub fn subscribe_for(&self, term: Option<Size>) -> Subscription {
        self.subscribe_with(term, Role::Free)
    }

    /// Subscribes as [`Hub::subscribe_for`] does; a `typist` (a subscriber that types) gets each
    /// chunk before the watchers, who wait for it to send the chunk on ([`Hub::sent_on`]) and
    /// then take it in their turn ([`Subscription::watcher`]).
    pub fn subscribe_as(&self, term: Option<Size>, typist: bool) -> Subscription {
        self.subscribe_with(
            term,
            match typist {
                true => Role::Typist,
                false => Role::Watcher,
            },
        )
    }

    fn subscribe_with(&self, term: Option<Size>, role: Role) -> Subscription {
        let inner = self.lock();
        let snapshot = snapshot::snapshot(inner.parser.screen(), &inner.region);
        let size = size_of(inner.parser.screen());
        let (snapshot, framed) = match term.filter(|&t| needs_framing(size, t)) {
            Some(t) => {
                self.framed_seats.fetch_add(1, Ordering::SeqCst);
                let seat = FramedSeat(Arc::clone(&self.framed_seats));
                let framed = frame::frame_fresh(size, &snapshot).for_terminal(size, t);
                (framed, Some(seat))
            }
            None => (Bytes::from(snapshot), None),
        };
        let (events, typist, watcher) = match role {
            Role::Typist => (
                inner.typists.subscribe(),
                Some(self.pace.ahead.seat()),
                None,
            ),
            Role::Watcher => (
                inner.tx.subscribe(),
                None,
                Some(self.pace.seat(inner.watched)),
            ),
            Role::Free => (inner.tx.subscribe(), None, None),
        };
        Subscription {
            snapshot,
            events,
            size,
            framed,
            seq: inner.published,
            typist,
            watcher,
        }
    }

    /// A typist has sent chunk `seq` on (see [`Subscription::seq`]): watchers may send it too.
    pub fn sent_on(&self, seq: u64) {
        self.pace.ahead.delivered(seq);
    }

    /// Lets the watchers ([`Hub::subscribe_as`]) take the output a slice at a time, after the
    /// typists, for as long as the hub lives. Without it running, watchers take the output as
    /// it comes.
    pub fn pace_watchers(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        Arc::clone(&self.pace).run()
    }
}

fn size_of(screen: &vt100::Screen) -> Size {
    let (rows, cols) = screen.size();
    Size::new(cols.get(), rows.get())
}

impl HostTerminal {
    /// Writes to the host's terminal; a terminal that is gone is the share's end, seen elsewhere.
    fn show(&mut self, bytes: &[u8]) {
        let _ = self.out.write_all(bytes).and_then(|_| self.out.flush());
    }
}
