//! The typists' output goes out first. With a crowd watching, every chunk wakes hundreds of
//! tasks, and the typist's echo waited its turn among them. Subscribers that type (read-write
//! guests) take the output from a channel of their own, sent to before the watchers', and the
//! watchers are let take a chunk once a typist has sent it on, or a moment has passed (see
//! [`super::pace`]): the people typing do not feel the audience.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// The longest the watchers are held back for the typists. A typist that is slower than this
/// (a stalled connection) no longer holds anyone back; it is more than a chunk behind, and
/// watchers do not wait for a typist that is behind at all.
const AHEAD_LIMIT: Duration = Duration::from_millis(3);

/// Which chunks the typists have sent on.
#[derive(Default)]
pub(super) struct Ahead {
    /// The number of the last chunk that a typist has sent on (or that had no typist to wait
    /// for). Chunks are numbered from 1, under the hub's lock.
    delivered: AtomicU64,
    released: Notify,
    /// How many typists are subscribed.
    seats: Arc<AtomicUsize>,
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

    /// Waits until a typist has sent chunk `seq` on, if one is about to: at most
    /// [`AHEAD_LIMIT`], and not at all when the typists are further behind.
    pub(super) async fn wait(&self, seq: u64) {
        let deadline = tokio::time::Instant::now() + AHEAD_LIMIT;
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
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};

    fn ready(f: std::pin::Pin<&mut impl Future<Output = ()>>) -> bool {
        f.poll(&mut Context::from_waker(Waker::noop())).is_ready()
    }

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

    #[tokio::test]
    async fn without_typists_nobody_waits() {
        let ahead = Ahead::default();
        drop(ahead.seat());
        assert!(!ahead.published(1));
        assert!(ready(pin!(ahead.wait(1)).as_mut()));
    }
}
