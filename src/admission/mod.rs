//! Who may try to get in, before anyone has authenticated: three guards, one file each.
//! - This file: places for connections still waiting (SSH unauthenticated, HTTP open).
//! - [`limiter`]: wrong tokens per address, and the lockout after too many.
//! - [`penalty`]: a per-source throttle for connections that never authenticate (key-exchange
//!   floods), before any byte or cryptography is spent on them.
//!
//! The places: a connection is served (read, answered) only while it holds a place, and there
//! are at most `max` places in all and `max_per_addr` per source address. A newcomer past a cap
//! takes the place of a connection that is stalling, never of one that is making progress:
//! - a connection is *stalled* once it has moved no byte for `idle_after` (its transport
//!   stamps its [`Activity`] at every read and write), or has held its place for `hold_max`
//!   whatever it does (a slowloris trickling a byte at a time);
//! - the newcomer pushes out the longest-stalled connection of its own address first, then of
//!   anyone when the total is the cap; with no one stalled, it *queues*: accepted, not read,
//!   until a place frees (an authentication) or someone stalls;
//! - queued connections get places by fairness, not order: the one whose address holds the
//!   fewest places goes first (oldest first among equals), so one address's flood cannot keep
//!   another's guest waiting behind it;
//! - the queue is bounded too (in all and per address); past it, the oldest queued connection
//!   of the address with the most queued is closed.
//!
//! A burst of real guests keeps talking, so each waits for a place and gets one as the guests
//! ahead authenticate; a flood of idle half-open connections stalls, and only ever gives its
//! places up to newcomers. The web viewer uses `idle_after` and `hold_max` of zero: every open
//! connection may be pushed out, oldest first, and nobody queues.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

pub mod limiter;
pub mod penalty;
#[cfg(test)]
mod tests;

/// How often a queued connection looks again for a stalled place (stalling is a matter of
/// time, not of an event). At most one look per tick is made, however many wait.
const TICK: Duration = Duration::from_millis(100);

/// The rules: caps on places and on the queue, and when a connection counts as stalled.
#[derive(Clone, Copy, Debug)]
pub struct Caps {
    pub max: usize,
    pub max_per_addr: usize,
    pub max_queued: usize,
    pub max_queued_per_addr: usize,
    pub idle_after: Duration,
    pub hold_max: Duration,
}

/// The waiting connections. One per server.
pub struct Admission {
    caps: Caps,
    /// When this admission started: activity is stamped in milliseconds since.
    epoch: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The next ticket's number.
    next: u64,
    /// Connections holding a place, by number (oldest first).
    placed: BTreeMap<u64, Entry>,
    /// Connections waiting for a place, by number (oldest first), with the way to give one.
    queued: BTreeMap<u64, (Entry, oneshot::Sender<()>)>,
    /// When a queued connection last looked for a stalled place.
    last_look: Option<Instant>,
}

/// A waiting connection's address, its activity, and the way to push it out.
struct Entry {
    ip: IpAddr,
    activity: Arc<Activity>,
    push_out: oneshot::Sender<()>,
    /// When it got its place.
    since: Instant,
}

/// When a connection last moved a byte: stamped by its transport, read by the admission.
pub struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    /// Something was read or written just now.
    pub fn stamp(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// How long it has been silent at `now`.
    fn idle(&self, now: Instant) -> Duration {
        let last = self.epoch + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        now.saturating_duration_since(last)
    }
}

/// A connection's place (or place in the queue); dropping it (on authentication, or when the
/// connection ends) frees it.
pub struct Ticket {
    id: u64,
    admission: Arc<Admission>,
    activity: Arc<Activity>,
    place: Option<oneshot::Receiver<()>>,
}

/// Resolves with `Ok(())` when the connection has been pushed out and must be closed.
pub type Evicted = oneshot::Receiver<()>;

impl Admission {
    /// Places that any newcomer may take, oldest first: nobody ever queues (the web's rule).
    pub fn new(max: usize, max_per_addr: usize) -> Arc<Admission> {
        Admission::with(Caps {
            max,
            max_per_addr,
            max_queued: 0,
            max_queued_per_addr: 0,
            idle_after: Duration::ZERO,
            hold_max: Duration::ZERO,
        })
    }

    pub fn with(caps: Caps) -> Arc<Admission> {
        let caps = Caps {
            max: caps.max.max(1),
            max_per_addr: caps.max_per_addr.max(1),
            ..caps
        };
        Arc::new(Admission {
            caps,
            epoch: Instant::now(),
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a connection from `ip`: it gets a place now (pushing out a stalled connection if
    /// a cap is reached) or queues for one ([`Ticket::placed`]).
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> (Ticket, Evicted) {
        let now = Instant::now();
        let activity = Arc::new(Activity {
            epoch: self.epoch,
            last_ms: AtomicU64::new(0),
        });
        activity.stamp();
        let (push_out, evicted) = oneshot::channel();
        let (give, place) = oneshot::channel();
        let mut s = self.lock();
        let id = s.next;
        s.next += 1;
        let entry = Entry {
            ip,
            activity: Arc::clone(&activity),
            push_out,
            since: now,
        };
        s.queued.insert(id, (entry, give));
        self.place_queued(&mut s, now);
        if s.queued.contains_key(&id) {
            self.trim_queue(&mut s, ip);
        }
        drop(s);
        let ticket = Ticket {
            id,
            admission: Arc::clone(self),
            activity,
            place: Some(place),
        };
        (ticket, evicted)
    }

    /// Whether `e` may be pushed out at `now`.
    fn stalled(&self, e: &Entry, now: Instant) -> bool {
        e.activity.idle(now) >= self.caps.idle_after
            || now.saturating_duration_since(e.since) >= self.caps.hold_max
    }

    /// Gives places to queued connections while any can have one (freely, or in place of a
    /// stalled connection), fewest places of their address first.
    fn place_queued(&self, s: &mut State, now: Instant) {
        // Each round places one connection or stops.
        for _ in 0..s.queued.len() {
            let mut held: HashMap<IpAddr, usize> = HashMap::new();
            for e in s.placed.values() {
                *held.entry(e.ip).or_default() += 1;
            }
            // The longest-stalled first.
            let mut stalled: Vec<(Duration, u64, IpAddr)> = s
                .placed
                .iter()
                .filter(|(_, e)| self.stalled(e, now))
                .map(|(id, e)| (e.activity.idle(now), *id, e.ip))
                .collect();
            stalled.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let full = s.placed.len() >= self.caps.max;
            if full && stalled.is_empty() {
                return;
            }
            let own_stalled = |ip: IpAddr| stalled.iter().find(|v| v.2 == ip).map(|v| v.1);
            let choice = s
                .queued
                .iter()
                .filter_map(|(id, (e, _))| {
                    let mine = held.get(&e.ip).copied().unwrap_or(0);
                    let victim = if mine >= self.caps.max_per_addr {
                        Some(own_stalled(e.ip)?)
                    } else if full {
                        Some(own_stalled(e.ip).unwrap_or(stalled[0].1))
                    } else {
                        None
                    };
                    Some(((mine, *id), victim))
                })
                .min_by_key(|(key, _)| *key);
            let Some(((_, id), victim)) = choice else {
                return;
            };
            if let Some(v) = victim.and_then(|v| s.placed.remove(&v)) {
                let _ = v.push_out.send(());
            }
            if let Some((mut e, give)) = s.queued.remove(&id) {
                e.since = now;
                e.activity.stamp();
                if give.send(()).is_ok() {
                    s.placed.insert(id, e);
                }
            }
        }
    }

    /// Keeps the queue within its caps after `ip` queued a connection: closes the oldest
    /// queued of `ip` past its own cap, or else of the address with the most queued.
    fn trim_queue(&self, s: &mut State, ip: IpAddr) {
        let mut counts: HashMap<IpAddr, usize> = HashMap::new();
        for (e, _) in s.queued.values() {
            *counts.entry(e.ip).or_default() += 1;
        }
        let over = if counts.get(&ip).copied().unwrap_or(0) > self.caps.max_queued_per_addr {
            Some(ip)
        } else if s.queued.len() > self.caps.max_queued {
            counts.into_iter().max_by_key(|(_, n)| *n).map(|(a, _)| a)
        } else {
            None
        };
        let oldest = over.and_then(|a| {
            s.queued
                .iter()
                .find(|(_, (e, _))| e.ip == a)
                .map(|(id, _)| *id)
        });
        if let Some((e, _)) = oldest.and_then(|id| s.queued.remove(&id)) {
            let _ = e.push_out.send(());
        }
    }

    /// A queued connection's periodic look for a stalled place; at most one per [`TICK`].
    fn look(&self) {
        let now = Instant::now();
        let mut s = self.lock();
        if s.last_look
            .is_some_and(|t| now.saturating_duration_since(t) < TICK)
        {
            return;
        }
        s.last_look = Some(now);
        self.place_queued(&mut s, now);
    }
}

#[cfg(test)]
impl Admission {
    /// Connections holding a place, and queued, now.
    fn counts(&self) -> (usize, usize) {
        let s = self.lock();
        (s.placed.len(), s.queued.len())
    }

    /// Looks for stalled places as at `now`, whatever the tick.
    fn look_at(&self, now: Instant) {
        let mut s = self.lock();
        self.place_queued(&mut s, now);
    }
}

impl Ticket {
    /// Where this connection's transport stamps its reads and writes.
    pub fn activity(&self) -> Arc<Activity> {
        Arc::clone(&self.activity)
    }

    /// Waits until the connection holds a place: true then, false when it was pushed out of
    /// the queue instead. The future owns what it needs, so the ticket can move on meanwhile.
    pub fn placed(&mut self) -> impl std::future::Future<Output = bool> + Send + 'static {
        let place = self.place.take();
        let admission = Arc::clone(&self.admission);
        async move {
            let Some(mut place) = place else { return true };
            // Bounded by the caller's deadline; each turn is one tick.
            loop {
                tokio::select! {
                    r = &mut place => return r.is_ok(),
                    _ = tokio::time::sleep(TICK) => admission.look(),
                }
            }
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut s = self.admission.lock();
        s.queued.remove(&self.id);
        if s.placed.remove(&self.id).is_some() {
            self.admission.place_queued(&mut s, Instant::now());
        }
    }
}
