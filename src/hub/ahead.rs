//! The typists' output goes out first. With a crowd watching, every chunk wakes hundreds of
//! tasks, and the typist's echo waited its turn among them. Subscribers that type (read-write
//! guests) take the output from a channel of their own, sent to before the watchers', and the
//! watchers are let take a chunk once a typist has sent it on, or a moment has passed (see
//! [`super::pace`]): the people typing do not feel the audience.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The longest the watchers are held back for the typists. A typist that is slower than this
/// (a stalled connection) no longer holds anyone back; it is more than a chunk behind, and
/// watchers do not wait for a typist that is behind at all.
const AHEAD_LIMIT: Duration = Duration::from_millis(3);

/// Which chunks the typists have sent on, and whether a keystroke waits for its echo.
pub(super) struct Ahead {
    /// The number of the last chunk that a typist has sent on (or that had no typist to wait
    /// for). Chunks are numbered from 1, under the hub's lock.
    delivered: AtomicU64,
    released: Notify,
    /// How many typists are subscribed.
    seats: Arc<AtomicUsize>,
    /// When the last keystroke was written, in µs after `epoch` (at least 1), while no output
    /// has followed it; 0 otherwise.
    keystroke: AtomicU64,
    epoch: Instant,
    answered: Notify,
}

impl Default for Ahead {
    fn default() -> Self {
        Ahead {
            delivered: AtomicU64::new(0),
            released: Notify::new(),
            seats: Arc::default(),
            keystroke: AtomicU64::new(0),
            epoch: Instant::now(),
            answered: Notify::new(),
        }
    }
}

/// Held by a subscriber that types: chunks wait for it (see [`Ahead`]).
pub struct TypistSeat(Arc<AtomicUsize>);

impl Drop for TypistSeat {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Ahead {
    /// A typist's seat. Take it under the hub's lock.
    pub(super) fn seat(&self) -> TypistSeat {
        self.seats.fetch_add(1, Ordering::SeqCst);
        TypistSeat(Arc::clone(&self.seats))
    }

    /// Whether chunk `seq`, published now, has typists to wait for. Call under the hub's lock.
    pub(super) fn published(&self, seq: u64) -> bool {
        let typists = self.seats.load(Ordering::SeqCst) > 0;
        if !typists {
            self.delivered.fetch_max(seq, Ordering::SeqCst);
        }
        typists
    }

    /// A typist has sent chunk `seq` on.
    pub(super) fn delivered(&self, seq: u64) {
        if self.delivered.fetch_max(seq, Ordering::SeqCst) < seq {
            self.released.notify_waiters();
        }
    }

    /// A keystroke (the host's or a guest's) is being written to the session.
    pub(super) fn typed(&self) {
        let at = self.epoch.elapsed().as_micros() as u64;
        self.keystroke.store(at.max(1), Ordering::SeqCst);
    }

    /// The session has written output: the keystrokes before it have their answer.
    pub(super) fn answered(&self) {
        if self.keystroke.swap(0, Ordering::SeqCst) != 0 {
            self.answered.notify_waiters();
        }
    }

    /// Waits while a keystroke waits for its echo: at most [`AHEAD_LIMIT`] after it was
    /// written. The watchers' fan-out pauses here between slices, leaving the CPU to the
    /// keystroke's way through the session and back.
    pub(super) async fn echo_first(&self) {
        loop {
            let answered = self.answered.notified();
            let at = self.keystroke.load(Ordering::SeqCst);
            if at == 0 {
                return;
            }
            let deadline = self.epoch + Duration::from_micros(at) + AHEAD_LIMIT;
            if tokio::time::timeout_at(deadline, answered).await.is_err() {
                return;
            }
        }
    }

    /// Waits until a typist has sent chunk `seq` on, if one is about to: at most
    /// [`AHEAD_LIMIT`], and not at all when the typists are further behind.
    pub(super) async fn wait(&self, seq: u64) {
        let deadline = Instant::now() + AHEAD_LIMIT;
        loop {
            let released = self.released.notified();
            let delivered = self.delivered.load(Ordering::SeqCst);
            if delivered >= seq || delivered + 1 < seq {
                return;
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::ready;
    use std::pin::pin;

    #[tokio::test]
    async fn a_watcher_waits_for_a_typist_one_chunk_behind_and_no_longer() {
        let ahead = Ahead::default();
        let _typist = ahead.seat();
        assert!(ahead.published(1));
        let mut wait = pin!(ahead.wait(1));
        assert!(!ready(wait.as_mut()), "went out before the typist's echo");
        ahead.delivered(1);
        assert!(ready(wait.as_mut()));

        // A typist that does not send the chunk on holds the watchers back for a moment only.
        assert!(ahead.published(2));
        let mut wait = pin!(ahead.wait(2));
        assert!(!ready(wait.as_mut()));
        let gave_up = tokio::time::timeout(Duration::from_secs(10), wait).await;
        assert!(gave_up.is_ok(), "held back for good");
        // And not at all once it is more than a chunk behind.
        assert!(ahead.published(3));
        assert!(ready(pin!(ahead.wait(3)).as_mut()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_keystroke_holds_the_fan_out_until_its_echo_or_a_moment_has_passed() {
        let ahead = Ahead::default();
        assert!(
            ready(pin!(ahead.echo_first()).as_mut()),
            "held with nothing typed"
        );
        ahead.typed();
        let mut wait = pin!(ahead.echo_first());
        assert!(
            !ready(wait.as_mut()),
            "went on while the keystroke was on its way"
        );
        ahead.answered();
        assert!(ready(wait.as_mut()));
        // A keystroke that the session does not answer holds the fan-out for a moment only.
        ahead.typed();
        let mut wait = pin!(ahead.echo_first());
        assert!(!ready(wait.as_mut()));
        tokio::time::advance(AHEAD_LIMIT + Duration::from_millis(1)).await;
        assert!(ready(wait.as_mut()), "held for longer than its moment");
    }

    #[tokio::test]
    async fn without_typists_nobody_waits() {
        let ahead = Ahead::default();
        drop(ahead.seat());
        assert!(!ahead.published(1));
        assert!(ready(pin!(ahead.wait(1)).as_mut()));
    }
}
