//! The watchers' output goes out a slice at a time. A chunk sent to a crowd at once wakes every
//! watcher's task and every watcher's connection, and whatever the runtime is given next (the
//! typist's next keystroke, the pty's next echo) waits behind all of them: with a thousand
//! watchers, for the whole fan-out. A pacer task instead lets the watchers take the output in
//! slices of [`SLICE`], and yields to the runtime between slices, so that a keystroke waits
//! for one slice at most. It starts each chunk's fan-out once a typist has sent the chunk on
//! (see [`super::ahead`]), and pauses between slices while a keystroke waits for its echo.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::ahead::Ahead;

/// Watchers in a slice, at most (while there are slices to spare): with each one's send taking
/// some 10 µs of CPU, a keystroke waits at most a fraction of a millisecond per hop.
const SLICE: usize = 16;
/// Slices; past `SLICES * SLICE` watchers, slices grow.
const SLICES: usize = 64;

/// The watchers' side of the hub's output: what they have been let take, slice by slice.
pub(super) struct Pace {
    /// The typists, whom each chunk waits for.
    pub(super) ahead: Ahead,
    /// The number of events sent to the watchers so far, and of the last chunk among them.
    latest: Mutex<(u64, u64)>,
    more: Notify,
    slices: Box<[Slice]>,
    /// Watchers seated, in all slices: with none, a chunk does not wake the pacer (the typist's
    /// echo is then the only task a chunk wakes).
    watchers: AtomicUsize,
    /// Whether a pacer runs: without one (an own view's hub, a test's), nobody waits.
    running: AtomicBool,
    closed: AtomicBool,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            ahead: Ahead::default(),
            latest: Mutex::default(),
            more: Notify::new(),
            slices: (0..SLICES).map(|_| Slice::default()).collect(),
            watchers: AtomicUsize::new(0),
            running: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }
    }
}

#[derive(Default)]
struct Slice {
    /// Watchers of this slice may take the events up to this one (numbered from 1).
    released: AtomicU64,
    go: Notify,
    seats: AtomicUsize,
}

/// Held by a paced watcher: its place in a slice, and how far along it is.
pub struct WatcherSeat {
    pace: Arc<Pace>,
    slice: usize,
    /// The number of the last event taken.
    taken: u64,
}

impl Drop for WatcherSeat {
    fn drop(&mut self) {
        self.pace.slices[self.slice]
            .seats
            .fetch_sub(1, Ordering::SeqCst);
        self.pace.watchers.fetch_sub(1, Ordering::SeqCst);
    }
}

impl WatcherSeat {
    /// Waits until this watcher may take its next event.
    pub async fn turn(&self) {
        let slice = &self.pace.slices[self.slice];
        loop {
            let go = slice.go.notified();
            if !self.pace.running.load(Ordering::SeqCst)
                || slice.released.load(Ordering::SeqCst) > self.taken
            {
                return;
            }
            go.await;
        }
    }

    /// This watcher has taken an event.
    pub fn took(&mut self) {
        self.taken += 1;
    }
}

impl Pace {
    /// A seat for a watcher that has taken `taken` events: in the first slice with room, or
    /// else the fullest's opposite. Take it under the hub's lock.
    pub(super) fn seat(self: &Arc<Self>, taken: u64) -> WatcherSeat {
        let seats = |i: usize| self.slices[i].seats.load(Ordering::SeqCst);
        let slice = (0..SLICES)
            .find(|&i| seats(i) < SLICE)
            .or_else(|| (0..SLICES).min_by_key(|&i| seats(i)))
            .unwrap_or(0);
        self.slices[slice].seats.fetch_add(1, Ordering::SeqCst);
        self.watchers.fetch_add(1, Ordering::SeqCst);
        WatcherSeat {
            pace: Arc::clone(self),
            slice,
            taken,
        }
    }

    /// The watchers have been sent events up to `events`, of which the last chunk is `chunk`.
    /// Call under the hub's lock. With no watcher seated the pacer sleeps on: a watcher seated
    /// later waits only for what comes after it, and the pacer lets it take that.
    pub(super) fn published(&self, events: u64, chunk: u64) {
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = (events, chunk);
        if self.watchers.load(Ordering::SeqCst) > 0 {
            self.more.notify_one();
        }
    }

    /// The hub is gone: the pacer ends.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.more.notify_one();
    }

    /// Lets the watchers take the output, slice by slice, for as long as the hub lives. Each
    /// chunk waits for the typists first (see [`Ahead::wait`]).
    pub(super) async fn run(self: Arc<Self>) {
        let _running = Running::start(&self);
        let mut done = 0;
        loop {
            let more = self.more.notified();
            if self.closed.load(Ordering::SeqCst) {
                return;
            }
            let (events, chunk) = *self.latest.lock().unwrap_or_else(|e| e.into_inner());
            if events == done {
                more.await;
                continue;
            }
            self.ahead.wait(chunk).await;
            for slice in &self.slices {
                slice.released.store(events, Ordering::SeqCst);
                if slice.seats.load(Ordering::SeqCst) > 0 {
                    self.ahead.echo_first().await;
                    slice.go.notify_waiters();
                    tokio::task::yield_now().await;
                }
            }
            done = events;
        }
    }
}

/// Marks the pacer as running while it lives; when it stops, watchers stop waiting for it.
struct Running<'a>(&'a Pace);

impl<'a> Running<'a> {
    fn start(pace: &'a Pace) -> Self {
        pace.running.store(true, Ordering::SeqCst);
        Running(pace)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::SeqCst);
        for slice in &self.0.slices {
            slice.go.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::ready;
    use std::pin::pin;
    use std::time::Duration;

    #[tokio::test]
    async fn without_a_pacer_watchers_take_the_output_as_it_comes() {
        let pace = Arc::new(Pace::default());
        let seat = pace.seat(0);
        pace.published(1, 1);
        assert!(ready(pin!(seat.turn()).as_mut()));
    }

    // Paused: the typists' moment (3 ms) passes only when the test says so.
    #[tokio::test(start_paused = true)]
    async fn watchers_take_an_event_once_the_pacer_lets_them_and_the_typist_goes_first() {
        let pace = Arc::new(Pace::default());
        let typist = pace.ahead.seat();
        let mut watchers: Vec<WatcherSeat> = (0..40).map(|_| pace.seat(0)).collect();
        let pacer = tokio::spawn(Arc::clone(&pace).run());
        tokio::task::yield_now().await;
        // Nothing published: everyone waits.
        assert!(!ready(pin!(watchers[0].turn()).as_mut()));
        // A chunk the typist has not sent on yet: the watchers still wait.
        assert!(pace.ahead.published(1));
        pace.published(1, 1);
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        assert!(!ready(pin!(watchers[39].turn()).as_mut()));
        // Once it has, every slice has its turn.
        pace.ahead.delivered(1);
        for w in &watchers {
            tokio::time::timeout(Duration::from_secs(10), w.turn())
                .await
                .expect("a watcher never had its turn");
        }
        // Having taken it, each waits for the next.
        for w in &mut watchers {
            w.took();
        }
        assert!(!ready(pin!(watchers[20].turn()).as_mut()));
        drop(typist);
        pace.close();
        tokio::time::timeout(Duration::from_secs(10), pacer)
            .await
            .expect("the pacer outlived its hub")
            .unwrap();
        // With the pacer gone, nobody waits for it.
        assert!(ready(pin!(watchers[20].turn()).as_mut()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_watcher_seated_after_chunks_nobody_watched_takes_the_next() {
        let pace = Arc::new(Pace::default());
        let pacer = tokio::spawn(Arc::clone(&pace).run());
        tokio::task::yield_now().await;
        // Two chunks with nobody watching: the pacer is not woken for them.
        pace.published(1, 1);
        pace.published(2, 2);
        let seat = pace.seat(2);
        assert!(
            !ready(pin!(seat.turn()).as_mut()),
            "took what came before it"
        );
        pace.published(3, 3);
        tokio::time::timeout(Duration::from_secs(10), seat.turn())
            .await
            .expect("a watcher seated late never had its turn");
        pace.close();
        pacer.await.unwrap();
    }

    #[test]
    fn watchers_fill_a_slice_before_the_next_and_leave_room_behind() {
        let pace = Arc::new(Pace::default());
        let seats: Vec<WatcherSeat> = (0..SLICE + 1).map(|_| pace.seat(0)).collect();
        assert!(seats[..SLICE].iter().all(|s| s.slice == 0));
        assert_eq!(seats[SLICE].slice, 1);
        drop(seats);
        assert_eq!(pace.seat(0).slice, 0, "a slice left empty is used again");
        // Past every slice's room, the least full takes the next.
        let all: Vec<WatcherSeat> = (0..SLICES * SLICE + 1).map(|_| pace.seat(0)).collect();
        assert_eq!(
            all.iter()
                .filter(|s| s.slice == all[SLICES * SLICE].slice)
                .count(),
            SLICE + 1
        );
    }
}
