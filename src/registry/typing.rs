//! Who is typing: each guest's last keystroke, and the list of guests typing now, watched by
//! the host's side (its status line), the web viewers and the recording.
//!
//! A keystroke only stores a time in the guest's [`Stamp`] (two atomics, no lock, no
//! allocation): the keystroke path stays as cheap as it was. When a keystroke starts a spell of
//! typing (the guest's first, or one after a pause of [`TYPING_SHOWN`]), it also wakes the
//! registry's follower ([`Registry::follow_typing`]), which works out who is typing and sleeps
//! until the first of them stops. Times are milliseconds since the registry began, so that the
//! logic here is plain arithmetic, tested without a clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::Registry;
use crate::shutdown::Shutdown;

/// How long a guest shows as typing after its last keystroke, and so the pause after which its
/// next keystroke starts a new spell (and a new marker in the recording): long enough to last
/// through a thought in mid-sentence, short enough to be gone when it has stopped.
pub const TYPING_SHOWN: Duration = Duration::from_secs(3);
const SHOWN_MS: u64 = TYPING_SHOWN.as_millis() as u64;

/// Names listed before the rest are counted: a status line holds a few.
const NAMES_SHOWN: usize = 3;

/// The registry's clock: milliseconds since it began, plus one, so that 0 means "never".
pub(super) struct Clock {
    start: Instant,
}

impl Clock {
    pub(super) fn new() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    pub(super) fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 + 1
    }

    fn instant(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms.saturating_sub(1))
    }
}

/// When one guest last typed, and how many spells of typing it has started.
#[derive(Default)]
pub(super) struct Stamp {
    /// The last keystroke's time ([`Clock::now`]); 0: never.
    last: AtomicU64,
    starts: AtomicU64,
}

impl Stamp {
    /// A keystroke at `now`; true when it starts a spell. Only the guest's own connection
    /// writes its stamp, one keystroke at a time, so a load and a store do (no read-modify-write).
    pub(super) fn typed(&self, now: u64) -> bool {
        let before = self.last.load(Ordering::Relaxed);
        let starts = before == 0 || now.saturating_sub(before) >= SHOWN_MS;
        if starts {
            self.starts.fetch_add(1, Ordering::Relaxed);
        }
        // Release: whoever reads this time also reads the count of spells that goes with it.
        self.last.store(now, Ordering::Release);
        starts
    }

    /// The last keystroke's time (0: never) and the spells started up to it.
    pub(super) fn read(&self) -> (u64, u64) {
        let last = self.last.load(Ordering::Acquire);
        (last, self.starts.load(Ordering::Relaxed))
    }
}

/// A guest typing now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Typist {
    pub id: u64,
    /// Its name, or `guest N`.
    pub name: Arc<str>,
    /// Which of its spells of typing this is: a new number is a new spell.
    pub spell: u64,
}

/// The guests typing now, in the order they joined.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Typing(pub Vec<Typist>);

impl Typing {
    /// What the host's status line and the web page show: `alice typing`,
    /// `alice, bob typing`, `alice, bob, carol +2 typing`; `None` when nobody types.
    pub fn line(&self) -> Option<String> {
        let names: Vec<&str> = self.0.iter().map(|t| t.name.as_ref()).collect();
        match names.len() {
            0 => None,
            n if n <= NAMES_SHOWN => Some(format!("{} typing", names.join(", "))),
            n => Some(format!(
                "{} +{} typing",
                names[..NAMES_SHOWN].join(", "),
                n - NAMES_SHOWN
            )),
        }
    }

    /// Those who started a spell of typing since `before`: each spell once, however the
    /// changes in between were seen.
    pub fn started_since<'a>(&'a self, before: &'a Typing) -> impl Iterator<Item = &'a Typist> {
        self.0
            .iter()
            .filter(move |t| !before.0.iter().any(|b| b.id == t.id && b.spell == t.spell))
    }
}

/// One guest's stamp as the follower reads it.
pub(super) struct Seen {
    pub(super) id: u64,
    pub(super) name: Arc<str>,
    pub(super) last: u64,
    pub(super) starts: u64,
}

/// Who is typing at `now`, and when that next changes by itself (the first of them stops).
pub(super) fn typing_at(now: u64, seen: &[Seen]) -> (Typing, Option<u64>) {
    let typing: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.last != 0 && now < s.last + SHOWN_MS)
        .collect();
    let next = typing.iter().map(|s| s.last + SHOWN_MS).min();
    let typists = typing
        .iter()
        .map(|s| Typist {
            id: s.id,
            name: Arc::clone(&s.name),
            spell: s.starts,
        })
        .collect();
    (Typing(typists), next)
}

/// The registry's side of typing: its clock, the follower's wake-up, and what it shows.
pub(super) struct Typists {
    pub(super) clock: Clock,
    /// Wakes the follower when a spell starts or a guest leaves.
    pub(super) wake: Notify,
    pub(super) shown: watch::Sender<Typing>,
}

impl Typists {
    pub(super) fn new() -> Typists {
        Typists {
            clock: Clock::new(),
            wake: Notify::new(),
            shown: watch::channel(Typing::default()).0,
        }
    }
}

impl Registry {
    /// The guests typing now, watched.
    pub fn watch_typing(&self) -> watch::Receiver<Typing> {
        self.typing.shown.subscribe()
    }

    /// Keeps [`Registry::watch_typing`] up to date until the shutdown: woken when a guest
    /// starts typing or leaves, and when the first typist's [`TYPING_SHOWN`] runs out.
    pub async fn follow_typing(self: Arc<Self>, mut shutdown: Shutdown) {
        loop {
            let t = &self.typing;
            let (typing, next) = typing_at(t.clock.now(), &self.stamps());
            t.shown.send_if_modified(|shown| {
                let changed = *shown != typing;
                *shown = typing;
                changed
            });
            let stops = async {
                match next {
                    Some(ms) => tokio::time::sleep_until(t.clock.instant(ms)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = t.wake.notified() => {}
                () = stops => {}
                _ = shutdown.wait() => return,
            }
        }
    }

    /// Every guest's stamp, for those that ever typed.
    fn stamps(&self) -> Vec<Seen> {
        let entries: Vec<_> = self.lock().guests.values().cloned().collect();
        entries
            .iter()
            .filter_map(|e| {
                let (last, starts) = e.typed.read();
                (last != 0).then(|| Seen {
                    id: e.id,
                    name: e.name(&e.state()),
                    last,
                    starts,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(id: u64, stamp: &Stamp) -> Seen {
        let (last, starts) = stamp.read();
        Seen {
            id,
            name: format!("g{id}").into(),
            last,
            starts,
        }
    }

    #[test]
    fn a_spell_starts_at_the_first_keystroke_and_after_a_pause() {
        let s = Stamp::default();
        assert_eq!(s.read(), (0, 0));
        assert!(s.typed(100));
        assert!(!s.typed(900));
        assert!(!s.typed(900 + SHOWN_MS - 1));
        assert_eq!(s.read(), (900 + SHOWN_MS - 1, 1));
        // A pause of TYPING_SHOWN: a new spell.
        assert!(s.typed(900 + 2 * SHOWN_MS - 1));
        assert_eq!(s.read().1, 2);
    }

    #[test]
    fn a_guest_shows_as_typing_until_its_last_keystroke_is_typing_shown_old() {
        let (a, b) = (Stamp::default(), Stamp::default());
        a.typed(1_000);
        let (typing, next) = typing_at(1_500, &[seen(1, &a), seen(2, &b)]);
        assert_eq!(typing.line().as_deref(), Some("g1 typing"));
        assert_eq!(next, Some(1_000 + SHOWN_MS));
        // More keystrokes push the end on; another typist joins the line.
        a.typed(2_000);
        b.typed(2_500);
        let (typing, next) = typing_at(2_600, &[seen(1, &a), seen(2, &b)]);
        assert_eq!(typing.line().as_deref(), Some("g1, g2 typing"));
        assert_eq!(next, Some(2_000 + SHOWN_MS));
        // The first stops: the follower wakes then, and the next end is the second's.
        let (typing, next) = typing_at(2_000 + SHOWN_MS, &[seen(1, &a), seen(2, &b)]);
        assert_eq!(typing.line().as_deref(), Some("g2 typing"));
        assert_eq!(next, Some(2_500 + SHOWN_MS));
        let (typing, next) = typing_at(2_500 + SHOWN_MS, &[seen(1, &a), seen(2, &b)]);
        assert_eq!((typing.line(), next), (None, None));
    }

    #[test]
    fn each_spell_is_started_once_however_the_changes_were_seen() {
        let a = Stamp::default();
        a.typed(1_000);
        let (first, _) = typing_at(1_000, &[seen(1, &a)]);
        let none = Typing::default();
        assert_eq!(first.started_since(&none).count(), 1);
        // Still the same spell a moment later: nothing new.
        a.typed(1_200);
        let (later, _) = typing_at(1_300, &[seen(1, &a)]);
        assert_eq!(later.started_since(&first).count(), 0);
        // Stopped and started again, with the pause itself never seen: a new spell all the same.
        a.typed(1_200 + SHOWN_MS + 10);
        let (again, _) = typing_at(1_200 + SHOWN_MS + 20, &[seen(1, &a)]);
        assert_eq!(again, later.clone().with_spell(0, 2));
        assert_eq!(again.started_since(&later).count(), 1);
    }

    #[test]
    fn the_line_names_a_few_and_counts_the_rest() {
        let t = |names: &[&str]| {
            Typing(
                names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| Typist {
                        id: i as u64,
                        name: (*n).into(),
                        spell: 1,
                    })
                    .collect(),
            )
        };
        assert_eq!(t(&[]).line(), None);
        assert_eq!(t(&["alice"]).line().as_deref(), Some("alice typing"));
        assert_eq!(
            t(&["alice", "bob"]).line().as_deref(),
            Some("alice, bob typing")
        );
        assert_eq!(
            t(&["a", "b", "c", "d", "e"]).line().as_deref(),
            Some("a, b, c +2 typing")
        );
    }

    impl Typing {
        fn with_spell(mut self, i: usize, spell: u64) -> Typing {
            self.0[i].spell = spell;
            self
        }
    }
}
