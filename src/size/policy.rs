//! [`SizePolicy`]: the host's choice and the votes, and the size they give.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{Policy, Size};

/// The policy and what it gives now, as `npair status` and `npair size-policy` show them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sizing {
    pub size_policy: Policy,
    /// The session's size.
    pub size: Size,
    /// Read-write guests whose terminal votes; their sizes count under `smallest` only.
    pub size_votes: usize,
    /// The host's terminal, or `--size` when headless.
    pub host_size: Size,
    /// The host's size is `--size`, not a terminal.
    pub headless: bool,
}

/// The votes and the size they give. One per share.
pub struct SizePolicy {
    votes: Mutex<Votes>,
    /// The effective size; changed only by `SizePolicy`, when the policy or a vote changes it.
    effective: watch::Sender<Size>,
}

struct Votes {
    /// The host's choice; changed by `npair size-policy`.
    policy: Policy,
    /// The host's terminal, or `--size` when headless. Always present, so under `smallest` the
    /// session never grows past what the host chose.
    base: Size,
    /// The base is the attached host's terminal, which shows the pty as it is.
    terminal: bool,
    /// One entry per read-write guest with a terminal, keyed by [`Vote::id`], whatever the
    /// policy.
    guests: HashMap<u64, Size>,
    next_id: u64,
}

impl Votes {
    fn effective(&self) -> Size {
        match self.policy {
            Policy::Smallest => self.guests.values().fold(self.base, |acc, s| acc.min(*s)),
            Policy::Host => self.base,
            // A fixed size larger than the terminal is refused when chosen, but the host can
            // shrink its terminal afterwards: it would then see a clipped screen, so the
            // session follows the terminal down until it grows back.
            Policy::Fixed(s) if self.terminal => s.min(self.base),
            Policy::Fixed(s) => s,
        }
    }

    fn sizing(&self) -> Sizing {
        Sizing {
            size_policy: self.policy,
            size: self.effective(),
            size_votes: self.guests.len(),
            host_size: self.base,
            headless: !self.terminal,
        }
    }
}

impl SizePolicy {
    /// A policy of `smallest` from `base`, until [`SizePolicy::start`] says what the host chose.
    pub fn new(base: Size) -> Arc<SizePolicy> {
        Arc::new(SizePolicy {
            votes: Mutex::new(Votes {
                policy: Policy::Smallest,
                base,
                terminal: false,
                guests: HashMap::new(),
                next_id: 0,
            }),
            effective: watch::channel(base).0,
        })
    }

    /// The size a share starting with `policy` from `base` has, before anyone votes: what the
    /// pty is opened at, so that a fixed size is never preceded by a resize.
    pub fn starting_size(policy: Policy, base: Size, terminal: bool) -> Size {
        Votes {
            policy,
            base,
            terminal,
            guests: HashMap::new(),
            next_id: 0,
        }
        .effective()
    }

    /// The host's choice at the start of the share, and its size: its terminal when
    /// `terminal` (attached), `--size` when headless. The caller has checked the choice
    /// ([`Policy::check`]); a fixed size past the terminal is cut to it anyway.
    pub fn start(&self, policy: Policy, base: Size, terminal: bool) {
        self.update(|v| {
            v.policy = policy;
            v.base = base;
            v.terminal = terminal;
        });
    }

    /// Switches to `policy` while sharing; returns the policy and size before and after. The
    /// new size is published at once. Refuses a fixed size larger than the attached host's
    /// terminal ([`Policy::check`]).
    pub fn set_policy(&self, policy: Policy) -> Result<(Sizing, Sizing), String> {
        let mut votes = self.lock();
        policy.check(votes.terminal.then_some(votes.base))?;
        let was = votes.sizing();
        votes.policy = policy;
        self.publish(&votes);
        Ok((was, votes.sizing()))
    }

    /// The policy and the size it gives now.
    pub fn sizing(&self) -> Sizing {
        self.lock().sizing()
    }

    /// The size the session should have now.
    pub fn current(&self) -> Size {
        *self.effective.borrow()
    }

    /// A receiver that sees every change of the effective size.
    pub fn watch(&self) -> watch::Receiver<Size> {
        self.effective.subscribe()
    }

    /// The host's terminal was resized (or `--size` when headless).
    pub fn set_base(&self, size: Size) {
        self.update(|v| v.base = size);
    }

    /// Registers a read-write guest's terminal. The vote lasts as long as the returned guard.
    pub fn vote(self: &Arc<Self>, size: Size) -> Vote {
        let mut id = 0;
        self.update(|v| {
            id = v.next_id;
            v.next_id += 1;
            v.guests.insert(id, size);
        });
        Vote {
            policy: Arc::clone(self),
            id,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Votes> {
        self.votes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, change: impl FnOnce(&mut Votes)) {
        let mut votes = self.lock();
        change(&mut votes);
        self.publish(&votes);
    }

    /// Publishes the size `votes` give, if it changed. Called with the votes lock held, so
    /// that two updates cannot publish out of order.
    fn publish(&self, votes: &Votes) {
        let size = votes.effective();
        self.effective.send_if_modified(|cur| {
            let changed = *cur != size;
            *cur = size;
            changed
        });
    }
}

/// A read-write guest's say in the session size; dropping it withdraws the vote.
pub struct Vote {
    policy: Arc<SizePolicy>,
    id: u64,
}

impl Vote {
    /// The guest's terminal was resized.
    pub fn set(&self, size: Size) {
        self.policy.update(|v| {
            v.guests.insert(self.id, size);
        });
    }
}

impl Drop for Vote {
    fn drop(&mut self) {
        self.policy.update(|v| {
            v.guests.remove(&self.id);
        });
    }
}
