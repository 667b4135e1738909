//! Wrong-token attempts per source address: an address that guesses wrong too often is refused
//! outright until its window is over. One per transport; the SSH server's also keeps, for
//! `npair status`, how many wrong tokens each address has sent since the share began.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Wrong tokens one address may try per [`FAILURE_WINDOW`] before all its attempts are refused.
pub const MAX_FAILURES: u32 = 10;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most; past this, expired entries are swept (and new addresses'
/// totals are no longer listed), so a flood of addresses costs bounded memory.
const MAX_ENTRIES: usize = 4096;

/// Failure counts per address.
#[derive(Default)]
pub struct FailureLimiter {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The current window of each address: when it began, and its failures in it.
    windows: HashMap<IpAddr, (Instant, u32)>,
    /// Every wrong token (or attempt while locked out) per address since the share began.
    totals: HashMap<IpAddr, u64>,
}

/// What a wrong token did to its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Counted; the address may try again.
    Counted,
    /// This one locked the address out for the rest of its window.
    LockedOut,
}

/// One address's wrong tokens, for `npair status`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FailedLogins {
    pub address: IpAddr,
    /// Wrong tokens (and attempts refused while locked out) since the share began.
    pub count: u64,
    /// Whether the address is refused outright now.
    pub locked_out: bool,
}

impl Inner {
    fn locked(&self, ip: IpAddr) -> bool {
        self.windows
            .get(&ip)
            .is_some_and(|(start, n)| start.elapsed() < FAILURE_WINDOW && *n >= MAX_FAILURES)
    }

    fn count(&mut self, ip: IpAddr) {
        if self.totals.len() < MAX_ENTRIES || self.totals.contains_key(&ip) {
            *self.totals.entry(ip).or_default() += 1;
        }
    }
}

impl FailureLimiter {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `ip` may try a token now. A refused attempt is counted in the totals.
    pub fn allowed(&self, ip: IpAddr) -> bool {
        let mut inner = self.lock();
        if inner.locked(ip) {
            inner.count(ip);
            return false;
        }
        true
    }

    /// Counts a wrong token from `ip`.
    pub fn failed(&self, ip: IpAddr) -> Failure {
        let mut inner = self.lock();
        if inner.windows.len() >= MAX_ENTRIES {
            inner
                .windows
                .retain(|_, (start, _)| start.elapsed() < FAILURE_WINDOW);
        }
        inner.count(ip);
        let entry = inner.windows.entry(ip).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= FAILURE_WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
        if entry.1 == MAX_FAILURES {
            Failure::LockedOut
        } else {
            Failure::Counted
        }
    }

    /// Every address that sent a wrong token since the share began, most first.
    pub fn summary(&self) -> Vec<FailedLogins> {
        let inner = self.lock();
        let mut v: Vec<FailedLogins> = inner
            .totals
            .iter()
            .map(|(&address, &count)| FailedLogins {
                address,
                count,
                locked_out: inner.locked(address),
            })
            .collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then(a.address.cmp(&b.address)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_too_many_failures_and_others_are_not() {
        let l = FailureLimiter::default();
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        for i in 1..=MAX_FAILURES {
            assert!(l.allowed(a));
            let want = if i == MAX_FAILURES {
                Failure::LockedOut
            } else {
                Failure::Counted
            };
            assert_eq!(l.failed(a), want);
        }
        assert!(!l.allowed(a));
        assert!(l.allowed(b));
        assert_eq!(l.failed(b), Failure::Counted);
        assert_eq!(
            l.summary(),
            vec![
                FailedLogins {
                    address: a,
                    count: u64::from(MAX_FAILURES) + 1,
                    locked_out: true
                },
                FailedLogins {
                    address: b,
                    count: 1,
                    locked_out: false
                },
            ]
        );
    }
}
