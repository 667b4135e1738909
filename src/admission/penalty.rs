//! Penalties per source for SSH connections that end without authenticating, the idea of
//! OpenSSH 9.8's `PerSourcePenalties` (`noauth:1`), softened so that a real guest behind a
//! flooding address still gets in.
//!
//! Every connection that ends unauthenticated (closed, cut, timed out, pushed out) adds
//! [`NOAUTH_PENALTY`] to its source's pending penalty, which drains in real time and is capped at
//! [`PENALTY_MAX`]. While a source has [`PENALTY_MIN`] or more pending, it is throttled: its new
//! connections wait, before npair sends a byte or does any key exchange, for the source's gate,
//! which opens at most once per [`GATE_INTERVAL`] and then lets every connection waiting at it
//! through together.
//!
//! sshd refuses a penalised source outright, which also locks out a real guest from the same
//! address (behind one NAT, or on the same machine). A gate that lets everyone waiting through
//! does not have to tell the guest from the flood: the guest waits at most one interval, and
//! the flood, whose clients sit waiting for our version line, starts at most a bounded batch of
//! key exchanges per interval (bounded by the cap on unauthenticated connections per address in
//! [`crate::admission`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Added for each connection that ends without authenticating (sshd's `noauth:1`).
pub const NOAUTH_PENALTY: Duration = Duration::from_secs(1);
/// Pending penalty from which a source is throttled: a burst of four connections that never
/// authenticate (sshd waits for 15 s, but then refuses outright; throttling costs a guest at
/// most [`GATE_INTERVAL`], so it can start early). Four also keeps `ssh-audit`'s rate test
/// (three sockets at a time for 1.5 s, after its own two connections) under its 20 a second.
pub const PENALTY_MIN: Duration = Duration::from_secs(4);
/// The most penalty a source can have pending: a flood's source stays throttled for a minute
/// after it stops.
pub const PENALTY_MAX: Duration = Duration::from_secs(60);
/// How often a throttled source's gate opens. A guest from a flooding address waits at most
/// this long before its key exchange starts; the flood gets one batch of handshakes per
/// interval (at most the per-address cap on unauthenticated connections).
pub const GATE_INTERVAL: Duration = Duration::from_millis(250);
/// Sources remembered at most: past this, drained ones are forgotten, then the one closest to
/// draining, so a flood of addresses costs bounded memory.
const MAX_SOURCES: usize = 4096;

/// A source of connections: an IPv4 address, or an IPv6 /64 (what one host or household gets;
/// a single IPv6 host can use any address in its /64).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Source(IpAddr);

impl Source {
    pub fn of(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(_) => Source(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(IpAddr::V4(v4)),
                None => {
                    let s = v6.segments();
                    Source(IpAddr::V6(std::net::Ipv6Addr::new(
                        s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                    )))
                }
            },
        }
    }
}

/// One source's standing.
struct Record {
    /// When its pending penalty will have drained.
    drained: Instant,
    /// When its gate last opened.
    opened: Option<Instant>,
}

/// Whether a connection may start now, or when.
#[derive(Debug, PartialEq, Eq)]
pub enum Turn {
    Now,
    At(Instant),
}

/// The penalties of every source. One per SSH server.
#[derive(Default)]
pub struct Penalties {
    sources: Mutex<HashMap<Source, Record>>,
}

impl Penalties {
    pub fn new() -> Arc<Penalties> {
        Arc::new(Penalties::default())
    }

    /// A connection from `ip`: wait for its [`Attempt::turn`], and mark it
    /// [`Attempt::authenticated`] if it gets that far; otherwise its end is counted against
    /// the source.
    pub fn attempt(self: &Arc<Self>, ip: IpAddr) -> Attempt {
        Attempt {
            penalties: Arc::clone(self),
            source: Source::of(ip),
            authenticated: false,
        }
    }

    /// The penalty `source` has pending at `now`.
    #[cfg(test)]
    fn pending(&self, source: Source, now: Instant) -> Duration {
        let map = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&source)
            .map_or(Duration::ZERO, |r| r.drained.saturating_duration_since(now))
    }

    /// Adds `penalty` to `source` at `now`.
    pub fn penalise(&self, source: Source, penalty: Duration, now: Instant) {
        let mut map = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_SOURCES && !map.contains_key(&source) {
            map.retain(|_, r| r.drained > now);
            if map.len() >= MAX_SOURCES {
                let soonest = map.iter().min_by_key(|(_, r)| r.drained).map(|(s, _)| *s);
                if let Some(s) = soonest {
                    map.remove(&s);
                }
            }
        }
        let r = map.entry(source).or_insert(Record {
            drained: now,
            opened: None,
        });
        r.drained = (r.drained.max(now) + penalty).min(now + PENALTY_MAX);
    }

    /// Whether a connection from `source` arriving at `now` may start at once, or must wait
    /// for the gate. Starting at once opens the gate.
    pub fn turn(&self, source: Source, now: Instant) -> Turn {
        let mut map = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let Some(r) = map.get_mut(&source) else {
            return Turn::Now;
        };
        if r.drained.saturating_duration_since(now) < PENALTY_MIN {
            return Turn::Now;
        }
        match r.opened.map(|t| t + GATE_INTERVAL) {
            Some(next) if next > now => Turn::At(next),
            _ => {
                r.opened = Some(now);
                Turn::Now
            }
        }
    }

    /// The gate of `source` opened at `at` (for everyone who waited for it).
    fn opened(&self, source: Source, at: Instant) {
        let mut map = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = map.get_mut(&source) {
            r.opened = r.opened.max(Some(at));
        }
    }

    /// Sources remembered now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.sources.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// One connection's standing with its source's penalty. Dropping it before
/// [`Attempt::authenticated`] counts [`NOAUTH_PENALTY`] against the source, whatever path
/// ends the connection.
pub struct Attempt {
    penalties: Arc<Penalties>,
    source: Source,
    authenticated: bool,
}

impl Attempt {
    /// Waits until this connection may start: at once for a source in good standing, until
    /// the gate next opens for a throttled one.
    pub async fn turn(&self) {
        if let Turn::At(at) = self.penalties.turn(self.source, Instant::now()) {
            tokio::time::sleep_until(at.into()).await;
            self.penalties.opened(self.source, at);
        }
    }

    /// The connection authenticated: its end costs its source nothing.
    pub fn authenticated(&mut self) {
        self.authenticated = true;
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.authenticated {
            self.penalties
                .penalise(self.source, NOAUTH_PENALTY, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(s: &str) -> Source {
        Source::of(s.parse().unwrap())
    }

    #[test]
    fn a_source_is_throttled_after_a_burst_of_unauthenticated_connections_and_recovers() {
        let p = Penalties::new();
        let (a, b) = (src("10.0.0.1"), src("10.0.0.2"));
        let t0 = Instant::now();
        let burst = (PENALTY_MIN.as_secs_f64() / NOAUTH_PENALTY.as_secs_f64()).ceil() as u32;
        for _ in 0..burst - 1 {
            p.penalise(a, NOAUTH_PENALTY, t0);
            assert_eq!(p.turn(a, t0), Turn::Now);
        }
        p.penalise(a, NOAUTH_PENALTY, t0);
        // The first connection after the burst opens the gate; the next waits for it.
        assert_eq!(p.turn(a, t0), Turn::Now);
        assert_eq!(p.turn(a, t0), Turn::At(t0 + GATE_INTERVAL));
        // Another source is not affected.
        assert_eq!(p.turn(b, t0), Turn::Now);
        // The penalty drains in real time: one second later the source is no longer throttled.
        assert_eq!(p.turn(a, t0 + NOAUTH_PENALTY), Turn::Now);
        assert_eq!(p.turn(a, t0 + NOAUTH_PENALTY), Turn::Now);
    }

    #[test]
    fn everyone_waiting_goes_through_when_the_gate_opens_and_it_opens_once_per_interval() {
        let p = Penalties::new();
        let a = src("10.0.0.1");
        let t0 = Instant::now();
        for _ in 0..30 {
            p.penalise(a, NOAUTH_PENALTY, t0);
        }
        assert_eq!(p.turn(a, t0), Turn::Now);
        // A flood and a guest arriving within the interval all wait for the same opening:
        // the guest is never behind the flood.
        let open = t0 + GATE_INTERVAL;
        for i in 1..=10 {
            assert_eq!(p.turn(a, t0 + GATE_INTERVAL / 20 * i), Turn::At(open));
        }
        p.opened(a, open);
        // Whoever arrives after the opening waits for the next one.
        assert_eq!(
            p.turn(a, open + Duration::from_millis(1)),
            Turn::At(open + GATE_INTERVAL)
        );
        // Started connections per interval, however many arrive: one batch.
    }

    #[test]
    fn the_penalty_is_capped_and_memory_is_bounded() {
        let p = Penalties::new();
        let a = src("10.0.0.1");
        let t0 = Instant::now();
        for _ in 0..1000 {
            p.penalise(a, NOAUTH_PENALTY, t0);
        }
        assert_eq!(p.pending(a, t0), PENALTY_MAX);
        assert_eq!(p.turn(a, t0 + PENALTY_MAX), Turn::Now);
        for i in 0..(MAX_SOURCES as u32 + 100) {
            p.penalise(
                Source::of(IpAddr::V4(i.to_be_bytes().into())),
                NOAUTH_PENALTY,
                t0,
            );
        }
        assert!(p.len() <= MAX_SOURCES);
    }

    #[test]
    fn an_ipv6_source_is_its_slash_64_and_a_mapped_ipv4_address_is_itself() {
        assert_eq!(src("2001:db8:1:2:3:4:5:6"), src("2001:db8:1:2:ffff::1"));
        assert_ne!(src("2001:db8:1:2::1"), src("2001:db8:1:3::1"));
        assert_eq!(src("::ffff:10.0.0.1"), src("10.0.0.1"));
    }

    #[test]
    fn an_attempt_that_never_authenticates_costs_its_source_and_one_that_does_not() {
        let p = Penalties::new();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        drop(p.attempt(ip));
        let mut ok = p.attempt(ip);
        ok.authenticated();
        drop(ok);
        let left = p.pending(Source::of(ip), Instant::now());
        assert!(
            left > NOAUTH_PENALTY / 2 && left <= NOAUTH_PENALTY,
            "{left:?}"
        );
    }
}
