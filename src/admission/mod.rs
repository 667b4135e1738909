//! Who may try to get in, before anyone has authenticated: three guards, one file each.
//! - This file: caps on connections still waiting (SSH unauthenticated, HTTP open).
//! - [`limiter`]: wrong tokens per address, and the lockout after too many.
//! - [`penalty`]: a per-source throttle for connections that never authenticate (key-exchange
//!   floods), before any byte or cryptography is spent on them.
//!
//! The caps: there is a cap on how many connections may
//! wait at once, in all and per source address; a newcomer past a cap pushes out the oldest
//! waiting connection (of its own address first) instead of being turned away. A real guest
//! authenticates within milliseconds, so it is never the oldest: a flood of idle half-open
//! connections only ever pushes out its own, and cannot lock real guests out.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

pub mod limiter;
pub mod penalty;

/// The waiting connections. One per SSH server.
pub struct Admission {
    max: usize,
    max_per_addr: usize,
    /// The next ticket's number, and the waiting connections by number (oldest first).
    waiting: Mutex<(u64, BTreeMap<u64, Waiting>)>,
}

/// A waiting connection's address, and the way to push it out.
type Waiting = (IpAddr, oneshot::Sender<()>);

/// A connection's place among the waiting ones; dropping it (on authentication, or when the
/// connection ends) frees the place.
pub struct Ticket {
    id: u64,
    admission: Arc<Admission>,
}

/// Resolves with `Ok(())` when the connection has been pushed out and must be closed.
pub type Evicted = oneshot::Receiver<()>;

impl Admission {
    pub fn new(max: usize, max_per_addr: usize) -> Arc<Admission> {
        Arc::new(Admission {
            max: max.max(1),
            max_per_addr: max_per_addr.max(1),
            waiting: Mutex::new((0, BTreeMap::new())),
        })
    }

    /// Admits a connection from `ip`, pushing out the oldest waiting one from the same address
    /// when that address is at its cap, or else the oldest of all when the total is.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> (Ticket, Evicted) {
        let mut guard = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let (next, waiting) = &mut *guard;
        let same: Vec<u64> = waiting
            .iter()
            .filter(|(_, (a, _))| *a == ip)
            .map(|(id, _)| *id)
            .collect();
        let victim = if same.len() >= self.max_per_addr {
            same.first().copied()
        } else if waiting.len() >= self.max {
            waiting.keys().next().copied()
        } else {
            None
        };
        if let Some((_, push_out)) = victim.and_then(|v| waiting.remove(&v)) {
            let _ = push_out.send(());
        }
        let id = *next;
        *next += 1;
        let (tx, rx) = oneshot::channel();
        waiting.insert(id, (ip, tx));
        (
            Ticket {
                id,
                admission: Arc::clone(self),
            },
            rx,
        )
    }
}

#[cfg(test)]
impl Admission {
    /// Connections waiting now.
    fn waiting(&self) -> usize {
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .len()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut guard = self
            .admission
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        guard.1.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_flooding_address_pushes_out_only_its_own_oldest() {
        let a = Admission::new(10, 3);
        let (_guest, mut guest_out) = a.admit(ip("10.0.0.9"));
        let mut flood: Vec<_> = (0..50).map(|_| a.admit(ip("10.0.0.1"))).collect();
        assert_eq!(a.waiting(), 4);
        assert!(guest_out.try_recv().is_err(), "the guest was pushed out");
        // The flood's oldest were pushed out; its newest three still wait.
        assert_eq!(flood[0].1.try_recv(), Ok(()));
        assert!(flood[49].1.try_recv().is_err());
    }

    #[test]
    fn past_the_total_the_oldest_of_all_is_pushed_out_and_tickets_free_their_place() {
        let a = Admission::new(4, 4);
        let mut all: Vec<_> = (1..=4)
            .map(|i| a.admit(ip(&format!("10.0.0.{i}"))))
            .collect();
        let newest = a.admit(ip("10.0.0.5"));
        assert_eq!(all[0].1.try_recv(), Ok(()));
        assert!(all[1].1.try_recv().is_err());
        assert_eq!(a.waiting(), 4);
        drop(newest);
        all.clear();
        assert_eq!(a.waiting(), 0);
    }
}
